package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xvs-project/xvs/control"
	"github.com/xvs-project/xvs/lab"
)

// The operations tests (issue 8): the metrics listener, off unless asked
// for and on loopback unless told otherwise, counts what traffic did; the
// admin socket is root's alone.

// runDirectorWith is runDirector with extra `xvs run` arguments and the
// director's files in dir.
func runDirectorWith(t *testing.T, l *lab.Lab, dir string, args ...string) *lab.Director {
	t.Helper()
	d, err := startDirector(l, dir, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Stop(); err != nil {
			t.Errorf("director: %v\n%s", err, d.Log())
		}
		log := d.Log()
		if strings.Contains(log, "panic") {
			t.Errorf("the director panicked:\n%s", log)
		}
		if !strings.Contains(log, "stopped: XDP detached, sockets closed") {
			t.Errorf("the director did not stop cleanly:\n%s", log)
		}
		if t.Failed() {
			t.Logf("director log:\n%s", log)
		}
	})
	return d
}

// nsHTTPClient returns an HTTP client whose connections are made inside
// namespace ns (the socket keeps its namespace once made, whichever thread
// uses it later).
func nsHTTPClient(ns string) *http.Client {
	return &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			DisableKeepAlives: true,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				var conn net.Conn
				err := lab.Do(ns, func() error {
					var d net.Dialer
					var err error
					conn, err = d.DialContext(ctx, network, addr)
					return err
				})
				return conn, err
			},
		},
	}
}

// scrapeHTTP GETs url with c and returns the samples of the Prometheus
// text format, keyed `name{labels}` as the exposition writes them.
func scrapeHTTP(t *testing.T, c *http.Client, url string) map[string]float64 {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s, Content-Type %q:\n%s", url, resp.Status, resp.Header.Get("Content-Type"), b)
	}
	out, err := parseMetrics(resp.Body)
	if err != nil {
		t.Fatalf("reading %s: %v", url, err)
	}
	return out
}

// sumPrefix sums the samples whose key starts with prefix and contains
// every one of labels.
func sumPrefix(m map[string]float64, prefix string, labels ...string) (sum float64, n int) {
next:
	for k, v := range m {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		for _, l := range labels {
			if !strings.Contains(k, l) {
				continue next
			}
		}
		sum += v
		n++
	}
	return sum, n
}

// TestOpsMetrics runs the director with --metrics naming only a port:
// the listener binds 127.0.0.1 and says so; scraped from inside the
// director's namespace, the frame, queue and connection metrics move by
// at least what a known load sent; pprof is not served without --pprof;
// and from the client, the director's WAN address does not serve metrics
// although it takes TCP connections on another port.
func TestOpsMetrics(t *testing.T) {
	l := upLab(t)
	d := runDirectorWith(t, l, t.TempDir(), "--metrics", ":9333")
	if log := d.Log(); !strings.Contains(log, "metrics on loopback only") || !strings.Contains(log, `"listen": "127.0.0.1:9333"`) {
		t.Fatalf("no log line for the loopback metrics listener:\n%s", log)
	}
	c := nsHTTPClient(l.LBNS)
	trafficUntilOK(t, l, 5*time.Second) // ARP settled: what follows is counted exactly
	before := scrapeHTTP(t, c, "http://127.0.0.1:9333/metrics")

	const requests, datagrams = 300, 300
	res, err := lab.RunTraffic(l.ClientNS, lab.TrafficConfig{VIP: l.VIP, Requests: requests, Datagrams: datagrams})
	if err != nil {
		t.Fatal(err)
	}
	if res.TCP.Failed != 0 || res.UDP.Failed != 0 {
		t.Fatalf("traffic failed: %s", res.String())
	}
	time.Sleep(200 * time.Millisecond) // the last ACKs and FINs, and a worker round to publish them
	after := scrapeHTTP(t, c, "http://127.0.0.1:9333/metrics")
	delta := func(k string) float64 { return after[k] - before[k] }

	// Every HTTP exchange is at least SYN, ACK and the request from the
	// client and SYN-ACK and the response from the server; every UDP
	// exchange one datagram each way.
	for _, x := range []struct {
		key  string
		min  float64
		what string
	}{
		{`xvs_frames_received_total{side="wan"}`, 3*requests + datagrams, "frames received on WAN"},
		{`xvs_frames_received_total{side="lan"}`, 2*requests + datagrams, "frames received on LAN"},
		{`xvs_frames_forwarded_total`, 5*requests + 2*datagrams, "frames forwarded"},
	} {
		if got := delta(x.key); got < x.min {
			t.Errorf("%s (%s) moved by %v, want at least %v", x.what, x.key, got, x.min)
		}
	}
	// Per service and real server: connections and packets each way,
	// summed over the real servers, moved at least as much as the
	// traffic; every real server is up.
	for _, x := range []struct {
		prefix, label string
		min           float64
	}{
		{"xvs_real_connections_total{", `protocol="TCP"`, requests},
		// UDP flows whose source port the warm-up already used are
		// not new connections: most are.
		{"xvs_real_connections_total{", `protocol="UDP"`, datagrams * 9 / 10},
		{"xvs_real_packets_total{", `direction="in"`, 3*requests + datagrams},
		{"xvs_real_packets_total{", `direction="out"`, 2*requests + datagrams},
		{"xvs_service_packets_total{", `direction="in"`, 3*requests + datagrams},
	} {
		a, n := sumPrefix(after, x.prefix, x.label)
		b, _ := sumPrefix(before, x.prefix, x.label)
		if n == 0 || a-b < x.min {
			t.Errorf("%s%s} summed over %d series moved by %v, want at least %v", x.prefix, x.label, n, a-b, x.min)
		}
	}
	if up, n := sumPrefix(after, "xvs_real_up{"); n == 0 || up != float64(n) {
		t.Errorf("xvs_real_up: %v of %d real servers up, want all", up, n)
	}
	// The gauge is the table: as many entries as the admin API lists.
	var entries []control.ConnEntry
	if err := adminGet(d.Admin, "/v1/connections", &entries); err != nil {
		t.Fatal(err)
	}
	perProto := map[string]int{}
	for _, e := range entries {
		perProto[e.Proto+" "+e.State]++
	}
	t.Logf("connection table after %d requests and %d datagrams: %d entries %v; xvs_connections %v before, %v after",
		requests, datagrams, len(entries), perProto, before[`xvs_connections`], after[`xvs_connections`])
	if n := float64(len(entries)); n < after[`xvs_connections`]-5 || n > after[`xvs_connections`]+5 {
		t.Errorf("the admin API lists %v entries, xvs_connections says %v", n, after[`xvs_connections`])
	}
	// Every request and datagram of the load is a flow of its own with an
	// entry (TIME_WAIT 120 s, UDP 300 s). The gauge need not grow by the
	// whole load: the kernel may hand a client port of the earlier small
	// load out again, and that flow reuses its entry.
	if got := after[`xvs_connections`]; got < requests+datagrams {
		t.Errorf("xvs_connections = %v after %d requests and %d datagrams, want at least %d", got, requests, datagrams, requests+datagrams)
	}
	if got := delta(`xvs_connections`); got <= 0 {
		t.Errorf("xvs_connections moved by %v", got)
	}
	if got, total := delta(`xvs_frames_forwarded_total`), delta(`xvs_frames_received_total{side="wan"}`)+delta(`xvs_frames_received_total{side="lan"}`); got > total {
		t.Errorf("forwarded %v frames of %v received", got, total)
	}
	for _, k := range []string{`xvs_connections_refused_total`, `xvs_frames_dropped_total{reason="table_full"}`} {
		if after[k] != 0 {
			t.Errorf("%s = %v, want 0", k, after[k])
		}
	}
	if after[`xvs_connections_max`] < 65536 {
		t.Errorf("xvs_connections_max = %v, want the default bound (at least 64 Ki)", after[`xvs_connections_max`])
	}
	// The queues add up to the totals, and batches hold 1 to 64 frames.
	for _, side := range []string{"wan", "lan"} {
		sideLabel := `side="` + side + `"`
		frames, queues := sumPrefix(after, "xvs_queue_frames_received_total{", sideLabel)
		if queues != lab.DefaultQueues {
			t.Errorf("%d queues report %s frames, want %d", queues, side, lab.DefaultQueues)
		}
		if total := after[`xvs_frames_received_total{`+sideLabel+`}`]; frames != total {
			t.Errorf("%s: queues received %v frames, the total says %v", side, frames, total)
		}
		batches, _ := sumPrefix(after, "xvs_queue_batches_total{", sideLabel)
		if batches == 0 || batches > frames || batches < frames/64 {
			t.Errorf("%s: %v batches for %v frames", side, batches, frames)
		}
	}
	if fwd, _ := sumPrefix(after, "xvs_worker_frames_forwarded_total{"); fwd != after[`xvs_frames_forwarded_total`] {
		t.Errorf("workers forwarded %v frames, the total says %v", fwd, after[`xvs_frames_forwarded_total`])
	}
	// Every active channel is served, each by a worker on a CPU.
	if _, n := sumPrefix(after, "xvs_queue_info{"); n != 2*lab.DefaultQueues {
		t.Errorf("%d queues in xvs_queue_info, want %d", n, 2*lab.DefaultQueues)
	}
	for _, side := range []string{"wan", "lan"} {
		if got, _ := sumPrefix(after, "xvs_interface_channels{", `side="`+side+`"`); got != lab.DefaultQueues {
			t.Errorf("xvs_interface_channels of %s = %v, want %d", side, got, lab.DefaultQueues)
		}
	}
	for _, k := range []string{"go_goroutines", "process_resident_memory_bytes", "xvs_config_last_reload_successful"} {
		if _, ok := after[k]; !ok {
			t.Errorf("%s is not served", k)
		}
	}
	if _, n := sumPrefix(after, "xvs_vrrp_"); n != 0 {
		t.Errorf("%d xvs_vrrp_ series without any vrrp_instance", n)
	}

	// pprof is served only with --pprof.
	resp, err := c.Get("http://127.0.0.1:9333/debug/pprof/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /debug/pprof/ without --pprof: %s, want 404", resp.Status)
	}

	// From the client: the director's WAN address takes a TCP connection
	// on a port something listens on (a control: the path works while
	// xvs runs), but does not serve metrics.
	wan := l.WANAddr.String()
	var ln net.Listener
	if err := lab.Do(l.LBNS, func() error {
		var err error
		ln, err = net.Listen("tcp", net.JoinHostPort(wan, "9334"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conn.Close()
		}
	}()
	dial := func(ns, addr string) error {
		return lab.Do(ns, func() error {
			conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
			if err == nil {
				conn.Close()
			}
			return err
		})
	}
	if err := dial(l.ClientNS, net.JoinHostPort(wan, "9334")); err != nil {
		t.Fatalf("control: the client cannot reach a listener on the director's WAN address: %v", err)
	}
	for _, ns := range []string{l.ClientNS, l.LBNS} {
		err := dial(ns, net.JoinHostPort(wan, "9333"))
		var nerr net.Error
		switch {
		case err == nil:
			t.Errorf("from %s: %s:9333 accepted a connection: metrics are not on loopback only", ns, wan)
		case errors.Is(err, syscall.ECONNREFUSED), errors.As(err, &nerr) && nerr.Timeout():
			t.Logf("from %s: %s:9333: %v (as it should)", ns, wan, err)
		default:
			t.Errorf("from %s: %s:9333: %v, want connection refused or a timeout", ns, wan, err)
		}
	}
}

// TestOpsVRRPMetrics checks the VRRP metrics of a director that becomes
// MASTER of one vrrp_instance.
func TestOpsVRRPMetrics(t *testing.T) {
	l := upLab(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "keepalived.conf")
	src := `vrrp_instance VI_OPS {
    state MASTER
    interface wan0
    virtual_router_id 61
    priority 140
    advert_int 1
    virtual_ipaddress {
        198.18.0.200/32
    }
}

virtual_server 198.18.0.200 80 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 198.18.1.11 80 {
        weight 1
    }
}
`
	if err := os.WriteFile(conf, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	d := runDirectorWith(t, l, dir, "-f", conf, "--metrics", "127.0.0.1:9333")
	waitState(t, d, "MASTER", 10*time.Second)
	time.Sleep(1500 * time.Millisecond) // at least one advert as MASTER
	m := scrapeHTTP(t, nsHTTPClient(l.LBNS), "http://127.0.0.1:9333/metrics")
	for k, want := range map[string]float64{
		`xvs_vrrp_state{vrrp_instance="VI_OPS"}`:         2,
		`xvs_vrrp_priority{vrrp_instance="VI_OPS"}`:      140,
		`xvs_vrrp_base_priority{vrrp_instance="VI_OPS"}`: 140,
	} {
		if got, ok := m[k]; !ok || got != want {
			t.Errorf("%s = %v (served %v), want %v", k, got, ok, want)
		}
	}
	if got := m[`xvs_vrrp_transitions_total{vrrp_instance="VI_OPS"}`]; got < 1 {
		t.Errorf("xvs_vrrp_transitions_total = %v, want at least 1", got)
	}
	if got := m[`xvs_vrrp_adverts_sent_total`]; got < 1 {
		t.Errorf("xvs_vrrp_adverts_sent_total = %v, want at least 1", got)
	}
	if _, ok := m[`xvs_vrrp_adverts_received_total`]; !ok {
		t.Error("xvs_vrrp_adverts_received_total is not served")
	}
	if _, n := sumPrefix(m, "xvs_vrrp_adverts_dropped_total{"); n < 10 {
		t.Errorf("only %d xvs_vrrp_adverts_dropped_total reasons served", n)
	}
}

// runAs runs this test binary as `xvs args...` with the given user and
// group ids (nil: as this process), and returns its exit code and output.
func runAs(t *testing.T, exe string, cred *syscall.Credential, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(exe, args...)
	cmd.Dir = "/"
	cmd.Env = append(os.Environ(), "XVS_TEST_MAIN=1")
	cmd.Stdout, cmd.Stderr = &out, &errb
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String(), errb.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), out.String(), errb.String()
	}
	t.Fatalf("running %s %q: %v", exe, args, err)
	return 0, "", ""
}

// TestOpsAdminSocketRootOnly checks that the admin socket refuses a user
// other than root: `xvs list -c`, `reload`, `vrrp` and `edit` as nobody
// fail with "permission denied" (and change nothing); as root, list works.
// The socket's directory is made searchable by all, and the binary copied
// where nobody may run it, so that the socket's own mode is what refuses.
func TestOpsAdminSocketRootOnly(t *testing.T) {
	l := upLab(t)
	dir, err := os.MkdirTemp("", "xvs-ops-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "xvs")
	if err := copyExecutable(os.Args[0], exe); err != nil {
		t.Fatal(err)
	}
	d := runDirectorWith(t, l, dir)
	st, err := os.Stat(d.Admin)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Type() != os.ModeSocket || st.Mode().Perm() != 0o600 {
		t.Errorf("admin socket mode %v, want a socket with 0600", st.Mode())
	}

	nobody := &syscall.Credential{Uid: 65534, Gid: 65534}
	// A control: nobody can run the binary at all.
	if code, out, errOut := runAs(t, exe, nobody, "help", "list"); code != 0 || !strings.Contains(out, "xvs list") {
		t.Fatalf("control: xvs help list as nobody: exit %d\n%s%s", code, out, errOut)
	}
	for _, args := range [][]string{{"list", "-c", "--admin", d.Admin}, {"reload", "--admin", d.Admin}, {"vrrp", "--admin", d.Admin},
		{"edit", "-d", "-t", "198.18.0.100:80", "-r", "198.18.1.11:80", "--admin", d.Admin}} {
		code, out, errOut := runAs(t, exe, nobody, args...)
		if code == 0 || !strings.Contains(errOut, "permission denied") {
			t.Errorf("xvs %s as nobody: exit %d, want a failure with permission denied\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
		} else {
			t.Logf("xvs %s as nobody: exit %d: %s", args[0], code, strings.TrimSpace(errOut))
		}
	}
	code, out, errOut := runAs(t, exe, nil, "list", "-c", "--admin", d.Admin)
	if code != 0 || out == "" {
		t.Errorf("xvs list -c as root: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if log := d.Log(); strings.Contains(log, "configuration reloaded") || strings.Contains(log, "reload refused") {
		t.Errorf("a reload happened although only nobody asked for one:\n%s", log)
	}
	// rs1 was not deleted: all three still serve.
	res, err := lab.RunTraffic(l.ClientNS, lab.TrafficConfig{VIP: l.VIP, Requests: 6})
	if err != nil {
		t.Fatal(err)
	}
	if res.TCP.Failed != 0 || res.TCP.PerServer["rs1"] != 3 {
		t.Errorf("after nobody's xvs edit -d: %s", res.String())
	}
}

// copyExecutable copies the file src to dst with mode 0755.
func copyExecutable(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copying %s: %w", src, err)
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chmod(dst, 0o755) // whatever the umask
}
