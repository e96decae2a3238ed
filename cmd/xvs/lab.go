package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/xvs-project/xvs/lab"
)

func cmdLab(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: xvs lab up [--prefix P] | xvs lab down [--prefix P]")
		return 2
	}
	fs := flag.NewFlagSet("lab "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	prefix := fs.String("prefix", lab.DefaultPrefix, "namespace name prefix")
	ns := fs.String("ns", "", "namespace (lab serve)")
	name := fs.String("name", "", "server name (lab serve)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	switch args[0] {
	case "up":
		cfg := lab.Default()
		cfg.Prefix = *prefix
		l, err := lab.Up(cfg)
		if err != nil {
			fmt.Fprintln(stderr, "xvs lab up:", err)
			return 1
		}
		exe, err := os.Executable()
		if err == nil {
			err = l.StartDaemons(exe, "lab", "serve")
		}
		if err != nil {
			fmt.Fprintln(stderr, "xvs lab up: starting the real servers:", err)
			l.Down()
			return 1
		}
		printLab(stdout, l)
		return 0
	case "down":
		if err := lab.Down(*prefix); err != nil {
			fmt.Fprintln(stderr, "xvs lab down:", err)
			return 1
		}
		fmt.Fprintf(stdout, "lab %s is down\n", *prefix)
		return 0
	case "serve":
		if err := lab.ServeForever(*ns, *name); err != nil {
			fmt.Fprintln(stderr, "xvs lab serve:", err)
			return 1
		}
		return 0
	}
	fmt.Fprintf(stderr, "xvs lab: unknown subcommand %q\n", args[0])
	return 2
}

func printLab(w io.Writer, l *lab.Lab) {
	fmt.Fprintf(w, "lab %s is up:\n", l.Prefix)
	fmt.Fprintf(w, "  %-12s %s on eth0\n", l.ClientNS, l.ClientAddr)
	fmt.Fprintf(w, "  %-12s %s (%s, VIP %s), %s (%s)\n", l.LBNS, l.WANIf, l.WANAddr, l.VIP, l.LANIf, l.LANAddr)
	for i, ns := range l.ServerNS {
		fmt.Fprintf(w, "  %-12s %s, HTTP :80 and UDP :53 answer %q\n", ns, l.ServerAddrs[i], l.ServerNames[i])
	}
	fmt.Fprintf(w, "run the director with: ip netns exec %s xvs run\n", l.LBNS)
}

// startDirector runs this binary's `xvs run` in the lab's director
// namespace (see lab.StartDirector) and waits until it forwards.
func startDirector(l *lab.Lab, dir string, extra ...string) (*lab.Director, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return lab.StartDirector(l, exe, dir, extra...)
}

// scrape reads the director's Prometheus counters from inside its namespace.
// Only the connection is made inside: net/http would dial on a goroutine of
// its own, outside the namespace.
func scrape(ns, addr string) (map[string]float64, error) {
	var conn net.Conn
	err := lab.Do(ns, func() error {
		var err error
		conn, err = net.DialTimeout("tcp", addr, 2*time.Second)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("connecting to the metrics listener: %w", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(conn, "GET /metrics HTTP/1.0\r\nHost: %s\r\n\r\n", addr); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return parseMetrics(resp.Body)
}

// parseMetrics reads the samples of the Prometheus text format, keyed
// `name{labels}` as the exposition writes them.
func parseMetrics(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out, sc.Err()
}

func cmdDemo(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	requests := fs.Int("requests", 1000, "HTTP requests, each on a new TCP connection")
	datagrams := fs.Int("datagrams", 1000, "UDP datagrams")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(stderr, "xvs demo: must run as root (it creates network namespaces and attaches XDP)")
		return 1
	}
	fmt.Fprintln(stdout, "== building the lab")
	l, err := lab.Up(lab.Default())
	if err != nil {
		fmt.Fprintln(stderr, "xvs demo:", err)
		return 1
	}
	defer func() {
		if err := l.Down(); err != nil {
			fmt.Fprintln(stderr, "xvs demo: lab down:", err)
		}
		fmt.Fprintln(stdout, "== lab removed")
	}()
	if err := l.StartServers(); err != nil {
		fmt.Fprintln(stderr, "xvs demo: real servers:", err)
		return 1
	}
	printLab(stdout, l)
	dir, err := os.MkdirTemp("", "xvs-demo-")
	if err != nil {
		fmt.Fprintln(stderr, "xvs demo:", err)
		return 1
	}
	defer os.RemoveAll(dir)

	fmt.Fprintln(stdout, "== starting the director: ip netns exec", l.LBNS, "xvs run  (embedded default config)")
	d, err := startDirector(l, dir)
	if err != nil {
		fmt.Fprintln(stderr, "xvs demo:", err)
		return 1
	}
	fmt.Fprintf(stdout, "== sending %d HTTP requests (new TCP connection each) and %d UDP datagrams to %s from %s\n",
		*requests, *datagrams, l.VIP, l.ClientNS)
	res, err := lab.RunTraffic(l.ClientNS, lab.TrafficConfig{VIP: l.VIP, Requests: *requests, Datagrams: *datagrams})
	metrics, merr := scrape(l.LBNS, "127.0.0.1:9333")
	var listing, lerr bytes.Buffer
	Main([]string{"list", "-n", "--stats", "--admin", d.Admin}, &listing, &lerr)
	serr := d.Stop()
	if err != nil {
		fmt.Fprintln(stderr, "xvs demo: traffic:", err)
		return 1
	}
	fmt.Fprintln(stdout, res.String())
	if merr == nil {
		printMetrics(stdout, metrics, res.Elapsed)
	} else {
		fmt.Fprintln(stderr, "xvs demo: reading the director's metrics:", merr)
	}
	fmt.Fprintln(stdout, "== xvs list -n --stats (as ipvsadm -Ln --stats)")
	fmt.Fprint(stdout, listing.String(), lerr.String())
	fmt.Fprintln(stdout, "== director log")
	fmt.Fprint(stdout, d.Log())
	if serr != nil {
		fmt.Fprintln(stderr, "xvs demo: director:", serr)
		return 1
	}
	if res.TCP.Failed+res.UDP.Failed > 0 || res.NonVIPReplies > 0 {
		fmt.Fprintf(stdout, "== FAILED: %d TCP and %d UDP failures, %d replies not from the VIP\n", res.TCP.Failed, res.UDP.Failed, res.NonVIPReplies)
		return 1
	}
	fmt.Fprintln(stdout, "== OK: no failures, every reply came from the VIP")
	return 0
}

func printMetrics(w io.Writer, m map[string]float64, elapsed time.Duration) {
	fwd := m["xvs_frames_forwarded_total"]
	fmt.Fprintf(w, "== director: %.0f frames received on WAN, %.0f on LAN, %.0f forwarded (%.0f frames/s over the run)\n",
		m[`xvs_frames_received_total{side="wan"}`], m[`xvs_frames_received_total{side="lan"}`], fwd, fwd/elapsed.Seconds())
	var drops []string
	for k, v := range m {
		if strings.HasPrefix(k, "xvs_frames_dropped_total") && v > 0 {
			drops = append(drops, fmt.Sprintf("%s %.0f", strings.TrimSuffix(strings.TrimPrefix(k, `xvs_frames_dropped_total{reason="`), `"}`), v))
		}
	}
	sort.Strings(drops)
	if len(drops) == 0 {
		drops = []string{"none"}
	}
	fmt.Fprintf(w, "== director drops: %s\n", strings.Join(drops, ", "))
}
