//go:build linux

package lab

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// serveEnv makes the test binary act as the lab daemon (see TestMain), so
// StartDaemons can be tested with os.Args[0] as the executable.
const serveEnv = "XVS_LAB_SERVE"

// Keep the main goroutine on the main thread, so TestMain can check that Do
// never switches the main thread (which the runtime cannot destroy).
func init() { runtime.LockOSThread() }

// mainThreadDo records what Do did when called on the main thread.
var mainThreadDo struct {
	ran, onMain bool
	err         error
}

func TestMain(m *testing.M) {
	if os.Getenv(serveEnv) == "1" {
		os.Exit(serveMain(os.Args[1:]))
	}
	if os.Geteuid() == 0 && unix.Gettid() == unix.Getpid() {
		mainThreadDo.ran = true
		mainThreadDo.err = Do("/proc/self/ns/net", func() error {
			mainThreadDo.onMain = unix.Gettid() == unix.Getpid()
			return nil
		})
	}
	os.Exit(m.Run())
}

func TestDoLeavesMainThreadAlone(t *testing.T) {
	requireRoot(t)
	if !mainThreadDo.ran {
		t.Skip("TestMain did not run on the main thread")
	}
	if mainThreadDo.err != nil || mainThreadDo.onMain {
		t.Errorf("Do from the main thread: err %v, ran on main thread %v", mainThreadDo.err, mainThreadDo.onMain)
	}
}

// serveMain is the daemon entry point: it finds --ns and --name in args and
// serves until SIGTERM/SIGINT, like `xvs lab serve`.
func serveMain(args []string) int {
	var ns, name string
	for i := 0; i+1 < len(args); i++ {
		switch args[i] {
		case "--ns":
			ns = args[i+1]
		case "--name":
			name = args[i+1]
		}
	}
	if err := ServeForever(ns, name); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// requireRoot skips tests that need to create namespaces.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces")
	}
}

// newPrefix returns a random short lab prefix like "xt3f9a".
func newPrefix(t *testing.T) string {
	t.Helper()
	b := make([]byte, 2)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "xt" + hex.EncodeToString(b)
}

// upLab builds a lab with a fresh prefix and removes it when the test ends,
// also on failure.
func upLab(t *testing.T, cfg Config) *Lab {
	t.Helper()
	requireRoot(t)
	if cfg.Prefix == "" {
		cfg.Prefix = newPrefix(t)
	}
	t.Cleanup(func() {
		if err := Down(cfg.Prefix); err != nil {
			t.Errorf("Down(%s): %v", cfg.Prefix, err)
		}
		assertGone(t, cfg.Prefix)
	})
	start := time.Now()
	l, err := Up(cfg)
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	t.Logf("Up(%s, %d servers) took %v", cfg.Prefix, len(l.ServerNS), time.Since(start))
	return l
}

// assertGone checks that no namespace and no run directory of the lab is
// left.
func assertGone(t *testing.T, prefix string) {
	t.Helper()
	names, err := listNS()
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range names {
		if belongsTo(ns, prefix) {
			t.Errorf("namespace %s still exists", ns)
		}
	}
	if _, err := os.Stat(filepath.Join(RunDir, prefix)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("run directory of %s still exists (%v)", prefix, err)
	}
}

// handleIn returns a netlink handle whose socket lives in namespace ns.
func handleIn(t *testing.T, ns string) *netlink.Handle {
	t.Helper()
	var h *netlink.Handle
	err := Do(ns, func() error {
		var err error
		h, err = netlink.NewHandle(unix.NETLINK_ROUTE)
		return err
	})
	if err != nil {
		t.Fatalf("netlink handle in %s: %v", ns, err)
	}
	t.Cleanup(h.Close)
	return h
}

// checkLink checks an interface's type, state, MTU and queue counts and
// returns it.
func checkLink(t *testing.T, h *netlink.Handle, ns, name, typ string, queues int) netlink.Link {
	t.Helper()
	l, err := h.LinkByName(name)
	if err != nil {
		t.Fatalf("%s: link %s: %v", ns, name, err)
	}
	a := l.Attrs()
	if l.Type() != typ {
		t.Errorf("%s/%s: type %s, want %s", ns, name, l.Type(), typ)
	}
	if typ != "device" && a.MTU != MTU {
		t.Errorf("%s/%s: mtu %d, want %d", ns, name, a.MTU, MTU)
	}
	if a.Flags&net.FlagUp == 0 {
		t.Errorf("%s/%s: not up", ns, name)
	}
	if typ != "device" && a.OperState != netlink.OperUp {
		t.Errorf("%s/%s: operstate %v, want up", ns, name, a.OperState)
	}
	if queues > 0 && (a.NumTxQueues != queues || a.NumRxQueues != queues) {
		t.Errorf("%s/%s: tx/rx queues %d/%d, want %d", ns, name, a.NumTxQueues, a.NumRxQueues, queues)
	}
	return l
}

// checkAddrs checks the IPv4 addresses of an interface.
func checkAddrs(t *testing.T, h *netlink.Handle, ns string, l netlink.Link, want ...string) {
	t.Helper()
	addrs, err := h.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range addrs {
		got = append(got, a.IPNet.String())
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("%s/%s: addresses %v, want %v", ns, l.Attrs().Name, got, want)
	}
}

// checkDefaultRoute checks that the namespace routes by default via gw.
func checkDefaultRoute(t *testing.T, h *netlink.Handle, ns string, gw netip.Addr) {
	t.Helper()
	routes, err := h.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range routes {
		if (r.Dst == nil || r.Dst.IP.IsUnspecified()) && r.Gw.Equal(gw.AsSlice()) {
			return
		}
	}
	t.Errorf("%s: no default route via %s in %v", ns, gw, routes)
}

// checkTxCsum reads TX checksum offload back with ETHTOOL_GTXCSUM.
func checkTxCsum(t *testing.T, ns, ifName string, want bool) {
	t.Helper()
	var on bool
	err := Do(ns, func() error {
		var err error
		on, err = txChecksum(ifName)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if on != want {
		t.Errorf("%s/%s: tx checksum offload %v, want %v", ns, ifName, on, want)
	}
}

func TestUpDown(t *testing.T) {
	l := upLab(t, Config{})
	p := l.Prefix
	if l.ClientNS != p+"-client" || l.LBNS != p+"-lb" || l.SwitchNS != p+"-sw" {
		t.Errorf("namespace names %s %s %s", l.ClientNS, l.LBNS, l.SwitchNS)
	}
	if len(l.ServerNS) != DefaultServers || l.ServerNS[2] != p+"-rs3" || l.ServerNames[2] != "rs3" ||
		l.ServerAddrs[2] != netip.MustParseAddr("198.18.1.13") {
		t.Errorf("servers %v %v %v", l.ServerNS, l.ServerNames, l.ServerAddrs)
	}
	if l.VIP.String() != "198.18.0.100" || l.WANIf != "wan0" || l.LANIf != "lan0" {
		t.Errorf("vip %s ifs %s %s", l.VIP, l.WANIf, l.LANIf)
	}
	for _, ns := range append([]string{l.ClientNS, l.LBNS, l.SwitchNS}, l.ServerNS...) {
		if !nsExists(ns) {
			t.Errorf("namespace %s missing", ns)
		}
		h := handleIn(t, ns)
		checkLink(t, h, ns, "lo", "device", 0)
	}

	q := DefaultQueues
	ch := handleIn(t, l.ClientNS)
	eth := checkLink(t, ch, l.ClientNS, "eth0", "veth", q)
	checkAddrs(t, ch, l.ClientNS, eth, "198.18.0.2/24")
	checkDefaultRoute(t, ch, l.ClientNS, l.WANAddr)
	checkTxCsum(t, l.ClientNS, "eth0", false)

	lh := handleIn(t, l.LBNS)
	wan := checkLink(t, lh, l.LBNS, "wan0", "veth", q)
	checkAddrs(t, lh, l.LBNS, wan, "198.18.0.1/24", "198.18.0.100/32")
	lan := checkLink(t, lh, l.LBNS, "lan0", "veth", q)
	checkAddrs(t, lh, l.LBNS, lan, "198.18.1.1/24")

	sh := handleIn(t, l.SwitchNS)
	br := checkLink(t, sh, l.SwitchNS, "br0", "bridge", 0)
	for _, port := range append([]string{"lb"}, l.ServerNames...) {
		pl := checkLink(t, sh, l.SwitchNS, port, "veth", q)
		if pl.Attrs().MasterIndex != br.Attrs().Index {
			t.Errorf("%s/%s: not a port of br0", l.SwitchNS, port)
		}
	}
	for i, ns := range l.ServerNS {
		h := handleIn(t, ns)
		e := checkLink(t, h, ns, "eth0", "veth", q)
		checkAddrs(t, h, ns, e, l.ServerAddrs[i].String()+"/24")
		checkDefaultRoute(t, h, ns, l.LANAddr)
		checkTxCsum(t, ns, "eth0", false)
	}

	// Open finds the same lab from its prefix.
	o, err := Open(p)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if fmt.Sprint(*o) != fmt.Sprint(*l) {
		t.Errorf("Open = %+v, want %+v", *o, *l)
	}

	// No IPv6 on the lab wires.
	if a6, err := ch.AddrList(eth, netlink.FAMILY_V6); err != nil || len(a6) != 0 {
		t.Errorf("client eth0 IPv6 addresses %v (%v), want none", a6, err)
	}

	// Forwarding is off unless asked for.
	var fwd string
	if err := Do(l.LBNS, func() (err error) { fwd, err = readSysctl("net/ipv4/ip_forward"); return }); err != nil {
		t.Fatal(err)
	}
	if fwd != "0" {
		t.Errorf("ip_forward in %s is %s, want 0", l.LBNS, fwd)
	}

	// Bridge details and queue counts as iproute2 sees them.
	if _, err := exec.LookPath("ip"); err != nil {
		t.Log("ip not installed; skipping the iproute2 cross-check")
	} else {
		out, err := exec.Command("ip", "-n", l.SwitchNS, "-d", "-j", "link", "show", "br0").Output()
		if err != nil {
			t.Fatalf("ip link show br0: %v", err)
		}
		var links []struct {
			Linkinfo struct {
				InfoData struct {
					ForwardDelay *int `json:"forward_delay"`
					StpState     *int `json:"stp_state"`
				} `json:"info_data"`
			} `json:"linkinfo"`
		}
		if err := json.Unmarshal(out, &links); err != nil || len(links) != 1 {
			t.Fatalf("parse %s: %v", out, err)
		}
		d := links[0].Linkinfo.InfoData
		if d.ForwardDelay == nil || *d.ForwardDelay != 0 || d.StpState == nil || *d.StpState != 0 {
			t.Errorf("br0: forward_delay %v stp_state %v, want 0 and 0", d.ForwardDelay, d.StpState)
		}
		out, err = exec.Command("ip", "-n", l.LBNS, "-d", "-j", "link", "show", "wan0").Output()
		if err != nil || !strings.Contains(string(out), `"num_tx_queues":2`) {
			t.Errorf("ip link show wan0: %v %s", err, out)
		}
	}

	// A second Up with the same prefix is refused and leaves the lab alone.
	if _, err := Up(Config{Prefix: p}); !errors.Is(err, ErrAlreadyUp) ||
		!strings.Contains(err.Error(), "lab "+p+" is already up; run xvs lab down") {
		t.Errorf("second Up: %v, want already up", err)
	}
	if !nsExists(l.LBNS) || !nsExists(l.ServerNS[0]) {
		t.Fatal("refused Up removed the existing lab")
	}

	start := time.Now()
	if err := l.Down(); err != nil {
		t.Fatalf("Down: %v", err)
	}
	t.Logf("Down took %v", time.Since(start))
	assertGone(t, p)
	if err := Down(p); err != nil {
		t.Errorf("second Down: %v", err)
	}
	if _, err := Open(p); !errors.Is(err, ErrNotUp) {
		t.Errorf("Open after Down: %v, want not up", err)
	}
}

func TestUpConfig(t *testing.T) {
	l := upLab(t, Config{Servers: 1, Queues: 4, Forwarding: true})
	if len(l.ServerNS) != 1 {
		t.Fatalf("servers %v", l.ServerNS)
	}
	sh := handleIn(t, l.SwitchNS)
	checkLink(t, sh, l.SwitchNS, "rs1", "veth", 4)
	h := handleIn(t, l.ServerNS[0])
	checkLink(t, h, l.ServerNS[0], "eth0", "veth", 4)
	var fwd string
	if err := Do(l.LBNS, func() (err error) { fwd, err = readSysctl("net/ipv4/ip_forward"); return }); err != nil {
		t.Fatal(err)
	}
	if fwd != "1" {
		t.Errorf("ip_forward %s, want 1", fwd)
	}
}

func TestUpInvalidConfig(t *testing.T) {
	for _, c := range []Config{
		{Prefix: "a/b"}, {Prefix: "-x"}, {Prefix: "x y"},
		{Servers: -1}, {Servers: MaxServers + 1}, {Queues: -2}, {Queues: MaxQueues + 1},
	} {
		if _, err := Up(c); err == nil {
			t.Errorf("Up(%+v) succeeded", c)
			Down(c.Prefix)
		}
	}
}

func TestUpFailureCleansUp(t *testing.T) {
	requireRoot(t)
	for _, failAt := range []string{"namespaces", "links", "addresses", "done"} {
		t.Run(failAt, func(t *testing.T) {
			p := newPrefix(t)
			t.Cleanup(func() {
				testHookStep = nil
				Down(p)
			})
			testHookStep = func(s string) error {
				if s == failAt {
					return errors.New("injected failure")
				}
				return nil
			}
			if _, err := Up(Config{Prefix: p, Servers: 2}); err == nil || !strings.Contains(err.Error(), "injected") {
				t.Fatalf("Up: %v, want injected failure", err)
			}
			assertGone(t, p)
		})
	}
}

func TestBelongsTo(t *testing.T) {
	for ns, want := range map[string]bool{
		"xvs-client": true, "xvs-lb": true, "xvs-sw": true, "xvs-rs1": true, "xvs-rs244": true,
		"xvs-rs": false, "xvs-rs01": false, "xvs-rsx": false, "xvs-2-client": false,
		"xvsx-client": false, "xvs-client2": false, "other": false,
	} {
		if got := belongsTo(ns, "xvs"); got != want {
			t.Errorf("belongsTo(%q, xvs) = %v", ns, got)
		}
	}
}

func TestDo(t *testing.T) {
	l := upLab(t, Config{Servers: 1})
	want, err := statNS(filepath.Join(netnsDir, l.ClientNS))
	if err != nil {
		t.Fatal(err)
	}
	root, err := statNS("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	var inside, child nsID
	err = Do(l.ClientNS, func() error {
		var err error
		if inside, err = statNS("/proc/thread-self/ns/net"); err != nil {
			return err
		}
		done := make(chan error)
		go func() {
			var err error
			child, err = statNS("/proc/thread-self/ns/net")
			done <- err
		}()
		return <-done
	})
	if err != nil {
		t.Fatal(err)
	}
	if inside != want {
		t.Errorf("Do ran in %v, want %v", inside, want)
	}
	if child == want {
		t.Errorf("a goroutine started inside Do ran in the namespace; Do's doc says it must not")
	}
	// No thread of this process is left in the namespace afterwards (the
	// runtime destroys them shortly after Do returns).
	threadsIn := func(id nsID) []string {
		var in []string
		tasks, _ := os.ReadDir("/proc/self/task")
		for _, task := range tasks {
			if got, err := statNS("/proc/self/task/" + task.Name() + "/ns/net"); err == nil && got == id {
				in = append(in, task.Name())
			}
		}
		return in
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(threadsIn(want)) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if in := threadsIn(want); len(in) > 0 {
		t.Errorf("threads %v still in %s after Do", in, l.ClientNS)
	}
	if now, _ := statNS("/proc/thread-self/ns/net"); now != root {
		t.Errorf("test goroutine's namespace changed")
	}

	sentinel := errors.New("sentinel")
	if err := Do(l.ClientNS, func() error { return sentinel }); err != sentinel {
		t.Errorf("Do error %v, want sentinel", err)
	}
	if err := Do(l.ClientNS, func() error { runtime.Goexit(); return nil }); err == nil {
		t.Error("Do with Goexit returned nil")
	}
	func() {
		defer func() {
			if p := recover(); p == nil || !strings.Contains(fmt.Sprint(p), "boom") {
				t.Errorf("recovered %v, want boom", p)
			}
		}()
		Do(l.ClientNS, func() error { panic("boom") })
	}()
	if err := Do(l.Prefix+"-nonexistent", func() error { return nil }); err == nil {
		t.Error("Do in a missing namespace succeeded")
	}
}

func TestDaemons(t *testing.T) {
	l := upLab(t, Config{Servers: 2})
	t.Setenv(serveEnv, "1")
	// Race-enabled daemons would otherwise sleep 1s when they exit.
	t.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := l.StartDaemons(exe, "lab", "serve"); err != nil {
		t.Fatalf("StartDaemons: %v", err)
	}
	t.Logf("StartDaemons took %v", time.Since(start))
	var pids []int
	for _, ns := range l.ServerNS {
		pid, ok := readPidFile(l.Prefix, ns)
		if !ok || !daemonAlive(pid, ns) {
			t.Fatalf("no live daemon for %s (pid %d)", ns, pid)
		}
		pids = append(pids, pid)
		if _, err := os.Stat(logFile(ns)); err != nil {
			t.Errorf("log: %v", err)
		}
	}
	// Same subnet as lan0: reachable from the director namespace without
	// forwarding.
	for i, a := range l.ServerAddrs {
		r, err := RunTraffic(l.LBNS, TrafficConfig{VIP: a, Requests: 5, Datagrams: 5, Concurrency: 2})
		if err != nil {
			t.Fatal(err)
		}
		name := l.ServerNames[i]
		if r.TCP.PerServer[name] != 5 || r.UDP.PerServer[name] != 5 {
			t.Errorf("daemon %s: %s", name, r)
		}
	}
	if err := l.StartDaemons(exe); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("second StartDaemons: %v, want already running", err)
	}
	start = time.Now()
	if err := Down(l.Prefix); err != nil {
		t.Fatalf("Down: %v", err)
	}
	t.Logf("Down with daemons took %v", time.Since(start))
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("daemon %d still alive", pid)
		}
	}
	for _, ns := range l.ServerNS {
		if _, err := os.Stat(pidFile(l.Prefix, ns)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("pid file of %s left: %v", ns, err)
		}
		if _, err := os.Stat(logFile(ns)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("log of %s left: %v", ns, err)
		}
	}
}

func TestDaemonThatFails(t *testing.T) {
	l := upLab(t, Config{Servers: 1})
	err := l.StartDaemons("/bin/false")
	if err == nil || !strings.Contains(err.Error(), "exited") {
		t.Fatalf("StartDaemons(/bin/false): %v, want exited", err)
	}
	if _, ok := readPidFile(l.Prefix, l.ServerNS[0]); ok {
		t.Error("pid file left after failed start")
	}
}

func TestDownKillsStrayProcesses(t *testing.T) {
	l := upLab(t, Config{Servers: 1})
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip not installed")
	}
	cmd := exec.Command("ip", "netns", "exec", l.LBNS, "sleep", "1000")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	deadline := time.Now().Add(5 * time.Second)
	for len(pidsInNamespaces([]string{l.LBNS})) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("sleep never appeared in the namespace")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := Down(l.Prefix); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("process in the lab namespace survived Down")
	}
}
