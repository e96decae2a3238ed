package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/xvs-project/xvs/control"
)

// cmdEdit changes a virtual service's real servers in the running
// director, with ipvsadm's letters: -a add, -e edit, -d delete; -t or -u
// the TCP or UDP service VIP:PORT; -r the real server IP:PORT; -w weight,
// -x upper and -y lower connection threshold. -m (masquerading, NAT) is
// accepted, as the only forwarding xvs has. The change lasts until the
// next reload.
func cmdEdit(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("edit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	add := fs.Bool("a", false, "add a real server (ipvsadm -a)")
	edit := fs.Bool("e", false, "edit a real server's weight or thresholds (ipvsadm -e)")
	del := fs.Bool("d", false, "delete a real server (ipvsadm -d)")
	tcp := fs.String("t", "", "the TCP virtual service, VIP:PORT")
	udp := fs.String("u", "", "the UDP virtual service, VIP:PORT")
	real := fs.String("r", "", "the real server, IP:PORT")
	weight := fs.String("w", "", "weight, 0..65535")
	upper := fs.String("x", "", "upper connection threshold (uthreshold)")
	lower := fs.String("y", "", "lower connection threshold (lthreshold)")
	fs.Bool("m", true, "masquerading (NAT), the only forwarding method xvs has")
	socket := fs.String("admin", defaultAdminSocket, "admin socket of the running xvs")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	bad := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "xvs edit: "+format+"\n", a...)
		return 2
	}
	var e control.RealEdit
	switch {
	case *add && !*edit && !*del:
		e.Op = "add"
	case *edit && !*add && !*del:
		e.Op = "edit"
	case *del && !*add && !*edit:
		e.Op = "delete"
	default:
		return bad("give exactly one of -a, -e, -d")
	}
	svc := *tcp
	e.Protocol = "TCP"
	if *udp != "" {
		svc, e.Protocol = *udp, "UDP"
	}
	if (*tcp == "") == (*udp == "") {
		return bad("give exactly one of -t VIP:PORT, -u VIP:PORT")
	}
	var err error
	if e.Service, err = netip.ParseAddrPort(svc); err != nil {
		return bad("service %q: want VIP:PORT", svc)
	}
	if e.Real, err = netip.ParseAddrPort(*real); err != nil {
		return bad("real server %q (-r): want IP:PORT", *real)
	}
	for _, x := range []struct {
		flag, val string
		dst       **int
	}{{"-w", *weight, &e.Weight}, {"-x", *upper, &e.UThreshold}, {"-y", *lower, &e.LThreshold}} {
		if x.val == "" {
			continue
		}
		n, err := strconv.Atoi(x.val)
		if err != nil {
			return bad("%s %q is not a number", x.flag, x.val)
		}
		*x.dst = &n
	}
	body, _ := json.Marshal(e)
	resp, err := adminClient(*socket).Post("http://xvs/v1/reals", "application/json", bytes.NewReader(body))
	if err != nil {
		fmt.Fprintln(stderr, "xvs edit: is xvs running?", err)
		return 1
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "xvs edit: %s\n", strings.TrimSpace(string(msg)))
		return 1
	}
	fmt.Fprintf(stdout, "xvs edit: %s %s in %s %s (until the next reload)\n", e.Op, e.Real, e.Protocol, e.Service)
	return 0
}
