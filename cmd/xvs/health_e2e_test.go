package main

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xvs-project/xvs/lab"
)

// The health issue's lab checks: a dead real server stops getting traffic,
// a live one gets it back, nothing flaps. They run the real director on
// keepalived.conf files with checkers and watch its log and the traffic.

// Timing of the checks in these tests: delay_loop 1, connect_timeout 1,
// retry 1, delay_before_retry 1.
const (
	// healthWindow is the longest a server can fail before its checker
	// declares it down: the check after the failure starts within a
	// delay_loop and may take a connect_timeout, and so may the one retry,
	// delay_before_retry later.
	healthWindow = 1*time.Second + 1*time.Second + 1*time.Second + 1*time.Second
	// healthMargin covers scheduling: the checker's goroutines, the pool
	// rebuild and the snapshot swap, on a loaded two-CPU machine.
	healthMargin = 2 * time.Second
)

// checkedConf returns a TCP :80 (HTTP_GET) and a UDP :53 (UDP_CHECK)
// service over rs1..rs3 with the checks timed as described above.
func checkedConf() string {
	var b strings.Builder
	for _, svc := range []struct {
		port  int
		proto string
		check string
	}{
		{80, "TCP", "HTTP_GET {\n            url {\n                path /\n                status_code 200\n            }\n"},
		{53, "UDP", "UDP_CHECK {\n            require_reply\n"},
	} {
		fmt.Fprintf(&b, "virtual_server 198.18.0.100 %d {\n    lb_algo rr\n    lb_kind NAT\n    protocol %s\n    delay_loop 1\n", svc.port, svc.proto)
		for i := 11; i <= 13; i++ {
			fmt.Fprintf(&b, "    real_server 198.18.1.%d %d {\n        weight 1\n        %s", i, svc.port, svc.check)
			b.WriteString("            connect_timeout 1\n            retry 1\n            delay_before_retry 1\n        }\n    }\n")
		}
		b.WriteString("}\n")
	}
	return b.String()
}

// healthDirector runs `xvs run -f` on conf in the lab and stops it when
// the test ends; a director that did not stop cleanly fails the test.
func healthDirector(t *testing.T, l *lab.Lab, conf string) *lab.Director {
	t.Helper()
	p := filepath.Join(t.TempDir(), "keepalived.conf")
	if err := os.WriteFile(p, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := startDirector(l, t.TempDir(), "-f", p, "--metrics", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Stop(); err != nil {
			t.Errorf("director: %v", err)
		}
		log := d.Log()
		if strings.Contains(log, "panic") || !strings.Contains(log, "stopped: XDP detached, sockets closed") {
			t.Errorf("the director did not stop cleanly:\n%s", log)
		} else if t.Failed() {
			t.Logf("director log:\n%s", log)
		}
	})
	return d
}

// restartable is a lab server (HTTP :80 and UDP :53) that a test stops
// and starts again, as a real server dying and coming back.
type restartable struct {
	t        *testing.T
	ns, name string
	mu       sync.Mutex
	c        io.Closer
}

func serveRestartable(t *testing.T, l *lab.Lab) []*restartable {
	t.Helper()
	var out []*restartable
	for i, ns := range l.ServerNS {
		s := &restartable{t: t, ns: ns, name: l.ServerNames[i]}
		s.start()
		t.Cleanup(s.stop)
		out = append(out, s)
	}
	return out
}

func (s *restartable) start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := lab.Serve(s.ns, s.name)
	if err != nil {
		s.t.Fatal(err)
	}
	s.c = c
}

func (s *restartable) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.c != nil {
		s.c.Close()
		s.c = nil
	}
}

// serveHTTP runs an HTTP server answering its name (as the lab servers
// do) on port in namespace ns until the test ends: a server other than
// the lab's, such as a sorry server.
func serveHTTP(t *testing.T, ns string, port int, name string) {
	t.Helper()
	var ln net.Listener
	if err := lab.Do(ns, func() error {
		var err error
		ln, err = net.Listen("tcp4", fmt.Sprintf(":%d", port))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Server", name)
			w.Header().Set("Connection", "close")
			io.WriteString(w, name+"\n")
		}),
		ErrorLog: log.New(io.Discard, "", 0),
	}
	srv.SetKeepAlivesEnabled(false)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// logLines returns the lines of the director's log that hold every part.
func logLines(d *lab.Director, parts ...string) []string {
	var out []string
	for line := range strings.SplitSeq(d.Log(), "\n") {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			out = append(out, line)
		}
	}
	return out
}

// logCount counts the lines of the director's log that hold every part.
func logCount(d *lab.Director, parts ...string) int { return len(logLines(d, parts...)) }

// waitLog waits until the director's log has n lines holding every part
// and returns the time the n-th was logged (its timestamp; the time it
// was seen, polling every 10 ms, if that cannot be read). It fails the
// test after 30 s: a bound for a test that would otherwise hang, not a
// speed requirement.
func waitLog(t *testing.T, d *lab.Director, n int, parts ...string) time.Time {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if lines := logLines(d, parts...); len(lines) >= n {
			stamp, _, _ := strings.Cut(lines[n-1], "\t")
			if at, err := time.Parse("2006-01-02T15:04:05.000Z0700", stamp); err == nil {
				return at
			}
			return time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("the director did not log %q %d times in 30 s", parts, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// serverField is how the director's log names a real server.
func serverField(addrPort string) string { return `"server": "` + addrPort + `"` }

// poolField is how the director's log gives a pool it installed ("pool
// changed" is logged once new connections get it).
func poolField(members ...string) string { return `"pool": "` + strings.Join(members, " ") + `"` }

// batch is one bounded run of traffic within a steady load.
type batch struct {
	start time.Time
	res   lab.TrafficResult
}

// steadyLoad runs small traffic batches back to back from the client until
// stop is closed: each batch makes new HTTP connections and sends UDP
// datagrams from the same source ports as every other batch, so the UDP
// flows live on across batches (and across a server's failure).
func steadyLoad(t *testing.T, l *lab.Lab, stop <-chan struct{}) func() []batch {
	var mu sync.Mutex
	var out []batch
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			b := batch{start: time.Now()}
			res, err := lab.RunTraffic(l.ClientNS, lab.TrafficConfig{VIP: l.VIP, Requests: 24, Datagrams: 12, Concurrency: 4, Timeout: time.Second})
			if err != nil {
				t.Errorf("traffic: %v", err)
				return
			}
			b.res = res
			mu.Lock()
			out = append(out, b)
			mu.Unlock()
		}
	}()
	return func() []batch {
		<-done
		mu.Lock()
		defer mu.Unlock()
		return out
	}
}

// TestHealthServerFailsUnderLoad is the health issue's first lab check,
// under a steady load of new HTTP connections and UDP datagrams: rs2's
// servers stop; once its checks have had their window no request fails
// and rs2 gets nothing (the UDP flows it had moved to live servers); rs2
// starts again and gets its share of new connections back.
func TestHealthServerFailsUnderLoad(t *testing.T) {
	l := upBareLab(t)
	servers := serveRestartable(t, l)
	d := healthDirector(t, l, checkedConf())

	res, err := lab.RunTraffic(l.ClientNS, lab.TrafficConfig{VIP: l.VIP, Requests: 30, Datagrams: 30})
	if err != nil {
		t.Fatal(err)
	}
	if res.TCP.Failed+res.UDP.Failed != 0 || res.TCP.PerServer["rs2"] != 10 || res.UDP.PerServer["rs2"] != 10 {
		t.Fatalf("before the failure: %s", res.String())
	}

	stopLoad := make(chan struct{})
	batches := steadyLoad(t, l, stopLoad)
	time.Sleep(time.Second) // some load before the failure, for the record
	stopped := time.Now()
	servers[1].stop()
	tcpDown := waitLog(t, d, 1, "real server down", serverField("198.18.1.12:80")).Sub(stopped)
	udpDown := waitLog(t, d, 1, "real server down", serverField("198.18.1.12:53")).Sub(stopped)
	t.Logf("rs2 declared down %v (HTTP_GET) and %v (UDP_CHECK) after it stopped; configured window %v, allowed %v",
		tcpDown.Round(time.Millisecond), udpDown.Round(time.Millisecond), healthWindow, healthWindow+healthMargin)
	if tcpDown > healthWindow+healthMargin || udpDown > healthWindow+healthMargin {
		t.Errorf("rs2 was declared down after its checks' window: HTTP %v, UDP %v, window %v + margin %v",
			tcpDown, udpDown, healthWindow, healthMargin)
	}
	time.Sleep(healthWindow + healthMargin + 3*time.Second - time.Since(stopped)) // load past the window
	close(stopLoad)

	settled := stopped.Add(healthWindow + healthMargin)
	var lastFail time.Duration
	failedBefore, after, afterOK := 0, 0, 0
	for _, b := range batches() {
		failed := b.res.TCP.Failed + b.res.UDP.Failed
		if failed > 0 && b.start.After(stopped) {
			lastFail = b.start.Sub(stopped)
		}
		if !b.start.After(settled) {
			failedBefore += failed
			continue
		}
		after++
		if failed != 0 || b.res.TCP.PerServer["rs2"]+b.res.UDP.PerServer["rs2"] != 0 {
			t.Errorf("batch %v after rs2 stopped (its window ended at %v): %s", b.start.Sub(stopped).Round(time.Millisecond),
				healthWindow+healthMargin, b.res.String())
			continue
		}
		afterOK++
	}
	t.Logf("%d tries failed while rs2 was dying (last in the batch started %v after it stopped); %d of %d batches after the window all answered, none by rs2",
		failedBefore, lastFail.Round(time.Millisecond), afterOK, after)
	if after == 0 {
		t.Fatal("no traffic ran after the window: the check is empty")
	}

	restarted := time.Now()
	servers[1].start()
	up := waitLog(t, d, 1, "pool changed", poolField("198.18.1.11:80/1", "198.18.1.12:80/1", "198.18.1.13:80/1")).Sub(restarted)
	upUDP := waitLog(t, d, 1, "pool changed", poolField("198.18.1.11:53/1", "198.18.1.12:53/1", "198.18.1.13:53/1")).Sub(restarted)
	t.Logf("rs2 back in its pools %v (HTTP_GET) and %v (UDP_CHECK) after it started again", up.Round(time.Millisecond), upUDP.Round(time.Millisecond))
	res, err = lab.RunTraffic(l.ClientNS, lab.TrafficConfig{VIP: l.VIP, Requests: 60})
	if err != nil {
		t.Fatal(err)
	}
	if res.TCP.Failed != 0 || res.TCP.PerServer["rs1"] != 20 || res.TCP.PerServer["rs2"] != 20 || res.TCP.PerServer["rs3"] != 20 {
		t.Fatalf("after rs2 came back, rr over three servers: %s", res.String())
	}
	// UDP: new flows, from ports no earlier flow used (a flow keeps the
	// server it has).
	var ports []int
	for p := 45000; p < 45060; p++ {
		ports = append(ports, p)
	}
	per := map[string]int{}
	for _, s := range udpMapping(t, l, ports) {
		per[s]++
	}
	if per["rs1"] != 20 || per["rs2"] != 20 || per["rs3"] != 20 {
		t.Fatalf("after rs2 came back, 60 new UDP flows went %v", per)
	}
}

// TestHealthSorryServerAndHysteresis is the second lab check: with every
// real server down the sorry server (rs3's namespace, port 8080) answers
// everything; with quorum 2 and hysteresis 1 one server up and another
// flapping (live weight 1↔2, short of the 3 that regains the quorum) does
// not move the pool; all back, the real servers answer again.
func TestHealthSorryServerAndHysteresis(t *testing.T) {
	l := upBareLab(t)
	servers := serveRestartable(t, l)
	serveHTTP(t, l.ServerNS[2], 8080, "sorry")
	var b strings.Builder
	b.WriteString("virtual_server 198.18.0.100 80 {\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n    delay_loop 1\n" +
		"    quorum 2\n    hysteresis 1\n    sorry_server 198.18.1.13 8080\n")
	for i := 11; i <= 13; i++ {
		fmt.Fprintf(&b, "    real_server 198.18.1.%d 80 {\n        weight 1\n        TCP_CHECK {\n            connect_timeout 1\n"+
			"            retry 1\n            delay_before_retry 1\n        }\n    }\n", i)
	}
	b.WriteString("}\n")
	d := healthDirector(t, l, b.String())
	traffic := func(step string) lab.TrafficResult {
		t.Helper()
		res, err := lab.RunTraffic(l.ClientNS, lab.TrafficConfig{VIP: l.VIP, Requests: 30})
		if err != nil {
			t.Fatal(err)
		}
		if res.TCP.Failed != 0 {
			t.Fatalf("%s: %s", step, res.String())
		}
		return res
	}
	onlySorry := func(step string) {
		t.Helper()
		if res := traffic(step); res.TCP.PerServer["sorry"] != 30 {
			t.Fatalf("%s: want every request answered by the sorry server: %s", step, res.String())
		}
	}
	if res := traffic("all up"); res.TCP.PerServer["sorry"] != 0 || res.TCP.PerServer["rs1"] != 10 {
		t.Fatalf("all up: %s", res.String())
	}

	for _, s := range servers {
		s.stop()
	}
	waitLog(t, d, 1, "quorum down")
	waitLog(t, d, 1, "pool changed", poolField("sorry_server 198.18.1.13:8080/1"))
	onlySorry("all down")

	servers[0].start()
	waitLog(t, d, 1, "real server up", serverField("198.18.1.11:80"))
	onlySorry("rs1 up (live weight 1 of quorum 2 + hysteresis 1)")
	pools := logCount(d, "pool changed")
	const flaps = 3
	for i := 1; i <= flaps; i++ {
		servers[1].start()
		waitLog(t, d, i, "real server up", serverField("198.18.1.12:80"))
		onlySorry(fmt.Sprintf("flap %d: rs2 up (live weight 2)", i))
		servers[1].stop()
		waitLog(t, d, i+1, "real server down", serverField("198.18.1.12:80"))
		onlySorry(fmt.Sprintf("flap %d: rs2 down (live weight 1)", i))
	}
	if n := logCount(d, "pool changed"); n != pools || logCount(d, "quorum up") != 0 {
		t.Fatalf("%d flaps of rs2 changed the pool %d times (quorum up %d times): want none", flaps, n-pools, logCount(d, "quorum up"))
	}
	t.Logf("rs2 flapped %d times at the quorum's edge: the pool stayed on the sorry server", flaps)

	servers[1].start()
	servers[2].start()
	waitLog(t, d, 1, "quorum up")
	waitLog(t, d, 1, "pool changed", poolField("198.18.1.11:80/1", "198.18.1.12:80/1", "198.18.1.13:80/1"))
	if res := traffic("all back"); res.TCP.PerServer["sorry"] != 0 || res.TCP.PerServer["rs1"] != 10 ||
		res.TCP.PerServer["rs2"] != 10 || res.TCP.PerServer["rs3"] != 10 {
		t.Fatalf("all back: %s", res.String())
	}
}

// miscScript is the MISC_CHECK script of TestHealthMiscCheck: it records
// who runs it and in which mode, then does what mode.NAME says: pass,
// fail, or hang (with a child process, whose pid it records).
const miscScript = `#!/bin/sh
d=$(dirname "$0")
m=$(cat "$d/mode.$1")
id -un > "$d/whoami.$1"
echo "$m" >> "$d/runs.$1"
case "$m" in
ok) exit 0 ;;
hang) sleep 1000 & echo $! >> "$d/sleep.$1"; wait; exit 0 ;;
*) exit 1 ;;
esac
`

// TestHealthMiscCheck is the third lab check: a MISC_CHECK runs its script
// as script_user (nobody) with misc_timeout 1; a script that hangs is
// killed, with its children, and its server taken out; once it passes
// again the server is back.
func TestHealthMiscCheck(t *testing.T) {
	l := upBareLab(t)
	serveRestartable(t, l)
	dir, err := os.MkdirTemp("", "xvs-misc-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// nobody reads the script and its mode, and writes what it records.
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "check.sh")
	mode := func(m string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, "mode.rs1"), []byte(m+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mode("ok")
	if err := os.WriteFile(script, []byte(miscScript), 0o755); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`global_defs {
    script_user nobody
}
virtual_server 198.18.0.100 80 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    delay_loop 1
    real_server 198.18.1.11 80 {
        weight 1
        MISC_CHECK {
            misc_path "%s rs1"
            misc_timeout 1
        }
    }
    real_server 198.18.1.12 80 {
        weight 1
    }
    real_server 198.18.1.13 80 {
        weight 1
    }
}
`, script)
	d := healthDirector(t, l, conf)
	traffic := func(step string, rs1 int) {
		t.Helper()
		res, err := lab.RunTraffic(l.ClientNS, lab.TrafficConfig{VIP: l.VIP, Requests: 30})
		if err != nil {
			t.Fatal(err)
		}
		if res.TCP.Failed != 0 || res.TCP.PerServer["rs1"] != rs1 {
			t.Fatalf("%s: want %d requests on rs1: %s", step, rs1, res.String())
		}
	}
	whoami := filepath.Join(dir, "whoami.rs1")
	for {
		if b, err := os.ReadFile(whoami); err == nil && len(b) > 0 {
			if who := strings.TrimSpace(string(b)); who != "nobody" {
				t.Fatalf("the MISC_CHECK script ran as %q, want script_user nobody", who)
			}
			break
		}
		if logCount(d, "health check down") > 0 {
			t.Fatalf("the MISC_CHECK failed before it ran once:\n%s", d.Log())
		}
		time.Sleep(10 * time.Millisecond)
	}
	traffic("script passes", 10)

	hung := time.Now()
	mode("hang")
	down := waitLog(t, d, 1, "real server down", serverField("198.18.1.11:80")).Sub(hung)
	// The check after the change starts within a delay_loop and is killed
	// at misc_timeout; MISC_CHECK's retry defaults to 0.
	const window = time.Second + time.Second
	t.Logf("a hung script took rs1 out %v after it started hanging; configured window %v, allowed %v",
		down.Round(time.Millisecond), window, window+healthMargin)
	if down > window+healthMargin {
		t.Errorf("rs1 taken out %v after its script hung: window %v + margin %v", down, window, healthMargin)
	}
	if logCount(d, "health check down", "script timed out") == 0 {
		t.Errorf("the log does not say the script timed out:\n%s", d.Log())
	}
	waitLog(t, d, 1, "pool changed", poolField("198.18.1.12:80/1", "198.18.1.13:80/1"))
	traffic("script hangs", 0)
	// The script's children were killed with it (SIGTERM to its process
	// group, SIGKILL after the grace). Once a run in mode fail started,
	// every hung run before it has ended: no two runs of a check overlap.
	mode("fail")
	runs := filepath.Join(dir, "runs.rs1")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if b, _ := os.ReadFile(runs); strings.HasSuffix(string(b), "fail\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the MISC_CHECK did not run again in 30 s")
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "sleep.rs1"))
	if err != nil {
		t.Fatalf("the hung scripts left no pid: %v", err)
	}
	pids := strings.Fields(string(b))
	for _, p := range pids {
		pid, err := strconv.Atoi(p)
		if err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			if err != nil || !strings.HasPrefix(string(cmd), "sleep\x00") {
				break
			}
			if st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); strings.Contains(string(st), ") Z ") {
				break // killed, not yet reaped
			}
			if time.Now().After(deadline) {
				t.Fatalf("the hung script's child %d still runs", pid)
			}
		}
	}
	t.Logf("%d hung runs of the script were killed with their children", len(pids))

	mode("ok")
	waitLog(t, d, 1, "pool changed", poolField("198.18.1.11:80/1", "198.18.1.12:80/1", "198.18.1.13:80/1"))
	traffic("script passes again", 10)
}
