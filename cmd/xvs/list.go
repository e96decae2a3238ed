package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/xvs-project/xvs/control"
	"github.com/xvs-project/xvs/dataplane"
	"github.com/xvs-project/xvs/internal/ipvsadm"
)

// defaultAdminSocket is where `xvs run` serves the admin API and where
// `xvs list` looks for it.
const defaultAdminSocket = "/run/xvs/xvs.sock"

// listenAdmin serves the admin API on a unix socket only root can use.
func listenAdmin(path string, d *control.Director, reload func() error) (*http.Server, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	os.Remove(path) // a stale socket of a director that died
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	srv := &http.Server{Handler: control.AdminHandler(d, reload)}
	go srv.Serve(ln)
	return srv, nil
}

// adminClient talks HTTP over the admin socket.
func adminClient(socket string) *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		}},
	}
}

// adminGet fetches a path of the admin API into v.
func adminGet(socket, path string, v any) error {
	resp, err := adminClient(socket).Get("http://xvs" + path)
	if err != nil {
		return fmt.Errorf("is xvs running? %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("admin API: %s: %s", resp.Status, b)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// cmdList prints the running director's virtual services, or with -c its
// connection table, as ipvsadm -L prints IPVS's.
func cmdList(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o ipvsadm.Options
	conns := fs.Bool("c", false, "list the connection table (ipvsadm -Lc)")
	fs.BoolVar(&o.Numeric, "n", false, "numeric addresses and ports (ipvsadm -n)")
	fs.BoolVar(&o.Stats, "stats", false, "cumulative counters: connections, packets and bytes each way")
	fs.BoolVar(&o.Rate, "rate", false, "rates: connections, packets and bytes per second each way")
	fs.BoolVar(&o.Exact, "exact", false, "exact numbers with --stats and --rate, not K/M/G")
	fs.BoolVar(&o.Thresholds, "thresholds", false, "upper and lower connection thresholds")
	fs.BoolVar(&o.PersistentConn, "persistent-conn", false, "persistence templates per real server")
	queues := fs.Bool("queues", false, "the dataplane's layout: interfaces and channels, workers, their CPUs and queues")
	asJSON := fs.Bool("json", false, "the services as JSON, for scripts")
	socket := fs.String("admin", defaultAdminSocket, "admin socket of the running xvs")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if !o.Numeric {
		o.Resolver = systemResolver{}
	}
	var err error
	if *queues {
		var l dataplane.Layout
		if err := adminGet(*socket, "/v1/queues", &l); err != nil {
			fmt.Fprintln(stderr, "xvs list:", err)
			return 1
		}
		if *asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			err = enc.Encode(l)
		} else {
			err = writeLayout(stdout, l)
		}
		if err != nil {
			fmt.Fprintln(stderr, "xvs list:", err)
			return 1
		}
		return 0
	}
	if *conns {
		var entries []control.ConnEntry
		if err := adminGet(*socket, "/v1/connections", &entries); err != nil {
			fmt.Fprintln(stderr, "xvs list:", err)
			return 1
		}
		if err := ipvsadm.WriteConns(stdout, connRows(entries), o); err != nil {
			fmt.Fprintln(stderr, "xvs list:", err)
			return 1
		}
		return 0
	}
	var list control.ServiceList
	if err = adminGet(*socket, "/v1/services", &list); err != nil {
		fmt.Fprintln(stderr, "xvs list:", err)
		return 1
	}
	o.ConnTableSize = list.ConnTableSize
	if *asJSON {
		err = ipvsadm.WriteJSON(stdout, list.Services)
	} else {
		err = ipvsadm.WriteServices(stdout, list.Services, o)
	}
	if err != nil {
		fmt.Fprintln(stderr, "xvs list:", err)
		return 1
	}
	return 0
}

// writeLayout prints the dataplane's layout: one line per interface, then
// one per worker with its CPU and, per queue it serves, the frames and
// batches received there.
func writeLayout(w io.Writer, l dataplane.Layout) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "CPUs allowed %s, workers on %s; %d re-layouts, %d failed\n", dataplane.FormatCPUs(l.AllowedCPUs), dataplane.FormatCPUs(l.CPUs), l.Relayouts, l.LayoutErrors)
	fmt.Fprintln(tw, "Side\tInterface\tChannels\tFrom\tXDP")
	for _, it := range l.Interfaces {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", it.Side, it.Name, it.Channels, it.ChannelsFrom, it.XDPMode)
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "Worker\tCPU\tSocket\tQueue\tFrames\tBatches")
	for _, wl := range l.Workers {
		for i, q := range wl.Queues {
			worker, cpu, mode := "", "", ""
			if i == 0 {
				worker, cpu, mode = strconv.Itoa(wl.Worker), strconv.Itoa(wl.CPU), wl.SocketMode
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s %d\t%d\t%d\n", worker, cpu, mode, q.Side, q.Queue, q.Frames, q.Batches)
		}
	}
	return tw.Flush()
}

// connRows turns the admin API's connections into ipvsadm's rows.
func connRows(entries []control.ConnEntry) []ipvsadm.Conn {
	rows := make([]ipvsadm.Conn, 0, len(entries))
	for _, e := range entries {
		c, _ := netip.ParseAddrPort(e.Source)
		v, _ := netip.ParseAddrPort(e.Virtual)
		d, _ := netip.ParseAddrPort(e.Destination)
		rows = append(rows, ipvsadm.Conn{Protocol: e.Proto, Expires: e.Expire, State: e.State, Client: c, Virtual: v, Dest: d})
	}
	return rows
}

// systemResolver names addresses through the system resolver (with a
// short timeout) and ports through /etc/services, as ipvsadm does without
// -n.
type systemResolver struct{}

// HostName returns the first name of addr, or "". Answers, failures
// included, are remembered for the rest of the listing.
func (systemResolver) HostName(addr netip.Addr) string {
	hostMu.Lock()
	defer hostMu.Unlock()
	if name, ok := hostNames[addr]; ok {
		return name
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	name := ""
	if names, err := net.DefaultResolver.LookupAddr(ctx, addr.String()); err == nil && len(names) > 0 {
		name = strings.TrimSuffix(names[0], ".")
	}
	hostNames[addr] = name
	return name
}

var (
	hostMu    sync.Mutex
	hostNames = map[netip.Addr]string{}
)

// ServiceName returns the /etc/services name of port for protocol, or "".
func (systemResolver) ServiceName(port uint16, protocol string) string {
	servicesOnce.Do(loadServices)
	return services[fmt.Sprintf("%d/%s", port, strings.ToLower(protocol))]
}

var (
	servicesOnce sync.Once
	services     map[string]string // "80/tcp" -> "http"
)

func loadServices() {
	services = map[string]string{}
	b, err := os.ReadFile("/etc/services")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if _, dup := services[f[1]]; !dup {
			services[f[1]] = f[0]
		}
	}
}

func cmdReload(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("reload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	socket := fs.String("admin", defaultAdminSocket, "admin socket of the running xvs")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	c := adminClient(*socket)
	resp, err := c.Post("http://xvs/v1/reload", "text/plain", nil)
	if err != nil {
		fmt.Fprintln(stderr, "xvs reload: is xvs running?", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "xvs reload: refused, the running configuration stays:\n%s", body)
		return 1
	}
	fmt.Fprintln(stdout, "xvs reload: new configuration applied")
	return 0
}
