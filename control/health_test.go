package control

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/xvs-project/xvs/config"
	"github.com/xvs-project/xvs/healthcheck"
	"github.com/xvs-project/xvs/nat"
	"github.com/xvs-project/xvs/scheduler"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// fakeClock is a healthcheck.Clock that moves only when told to.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	c    *fakeClock
	at   time.Time
	f    func()
	done bool
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) healthcheck.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.done {
		return false
	}
	t.done = true
	t.c.timers = slices.DeleteFunc(t.c.timers, func(x *fakeTimer) bool { return x == t })
	return true
}

// Advance moves the clock on by d and fires the timers that came due,
// each in its own goroutine as time.AfterFunc does.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*fakeTimer
	c.timers = slices.DeleteFunc(c.timers, func(t *fakeTimer) bool {
		if !t.at.After(c.now) {
			t.done = true
			due = append(due, t)
			return true
		}
		return false
	})
	c.mu.Unlock()
	for _, t := range due {
		go t.f()
	}
}

// fakeServers answers the checks of every real server from a table:
// healthy unless set otherwise, keyed by address.
type fakeServers struct {
	mu    sync.Mutex
	sick  map[netip.Addr]bool
	calls map[netip.Addr]int
}

func (f *fakeServers) set(addr string, healthy bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sick[netip.MustParseAddr(addr)] = !healthy
}

func (f *fakeServers) callsTo(addr string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[netip.MustParseAddr(addr)]
}

func (f *fakeServers) newChecker(_ healthcheck.CheckID, _ healthcheck.CheckSpec, server netip.AddrPort) (healthcheck.Checker, error) {
	return healthcheck.CheckerFunc(func(context.Context) healthcheck.Result {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.calls[server.Addr()]++
		if f.sick[server.Addr()] {
			return healthcheck.Result{Err: net.ErrClosed}
		}
		return healthcheck.Result{Healthy: true}
	}), nil
}

// harness is a Health manager over fake checkers and a fake clock. Every
// list it applies is also installed in a real nat.Engine.
type harness struct {
	t       *testing.T
	clk     *fakeClock
	servers *fakeServers
	h       *Health
	eng     *nat.Engine
	logs    *observer.ObservedLogs
	plan    *Plan

	stop func() // stops Run and waits for it

	mu      sync.Mutex
	applied [][]*nat.Service
	// onApply runs inside Apply, before the list is installed.
	onApply func([]*nat.Service)
}

func newHarness(t *testing.T, spec *config.Spec) *harness {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	hr := &harness{t: t, clk: newFakeClock(), servers: &fakeServers{sick: map[netip.Addr]bool{}, calls: map[netip.Addr]int{}},
		eng: nat.NewEngine(nat.NewTable(1<<12, nat.DefaultTimeouts)), logs: logs}
	hr.h = NewHealth(HealthConfig{
		Apply: func(list []*nat.Service) error {
			hr.mu.Lock()
			defer hr.mu.Unlock()
			if hr.onApply != nil {
				hr.onApply(list)
			}
			hr.applied = append(hr.applied, list)
			hr.eng.SetServices(list)
			return nil
		},
		Log: zap.New(core), Clock: hr.clk, NewChecker: hr.servers.newChecker,
	})
	hr.set(spec)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- hr.h.Run(ctx) }()
	var once sync.Once
	hr.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(hr.stop)
	return hr
}

// set applies a spec as Director.Reload does: a new plan that keeps the
// real servers' Counts, then Health.Set.
func (hr *harness) set(spec *config.Spec) {
	hr.t.Helper()
	p, err := newPlan(spec, hr.plan)
	if err != nil {
		hr.t.Fatal(err)
	}
	if err := hr.h.Set(p); err != nil {
		hr.t.Fatal(err)
	}
	hr.plan = p
}

// last returns the service of the last applied list with the given port.
func (hr *harness) last(port uint16) *nat.Service {
	hr.mu.Lock()
	defer hr.mu.Unlock()
	for _, s := range hr.applied[len(hr.applied)-1] {
		if s.Port == port {
			return s
		}
	}
	return nil
}

// pool returns "addr:port/weight ..." of the last applied service on port.
func (hr *harness) pool(port uint16) string {
	var out []string
	for _, r := range hr.last(port).Reals {
		out = append(out, netip.AddrPortFrom(netip.AddrFrom4(r.Addr), r.Port).String()+"/"+strconv.Itoa(r.Weight))
	}
	return strings.Join(out, " ")
}

// until advances the fake clock in steps of a tenth of a second until
// cond holds, failing the test after 10 s of real time.
func (hr *harness) until(what string, cond func() bool) {
	hr.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			hr.t.Fatalf("timed out waiting for %s", what)
		}
		hr.clk.Advance(100 * time.Millisecond)
		time.Sleep(time.Millisecond)
	}
}

// counts returns the plan's Counts of a real server of a service.
func (hr *harness) counts(port uint16, real string) *scheduler.Counts {
	ap := netip.MustParseAddrPort(real)
	for i := range hr.plan.Services {
		s := &hr.plan.Services[i]
		if s.Port != port {
			continue
		}
		for j, r := range s.Reals {
			if r.Addr == ap {
				return hr.plan.realCounts(s)[j]
			}
		}
	}
	hr.t.Fatalf("no real server %s on port %d", real, port)
	return nil
}

// labSpec is a TCP :80 and a UDP :53 service over n real servers
// 198.18.1.11.., each checked by a TCP_CHECK every second that fails at
// the first failure, with the interfaces named (so that newPlan asks the
// machine nothing).
func labSpec(n int, mod func(vs *config.VirtualServer)) *config.Spec {
	spec := &config.Spec{XVS: config.XVS{WANInterface: "wan0", LANInterface: "lan0"}}
	for _, svc := range []struct {
		port  uint16
		proto string
	}{{80, "TCP"}, {53, "UDP"}} {
		vs := config.VirtualServer{Addr: netip.MustParseAddr("198.18.0.100"), Port: svc.port, Protocol: svc.proto,
			Scheduler: "rr", Kind: "NAT", DelayLoop: time.Second}
		a := netip.MustParseAddr("198.18.1.11")
		for range n {
			vs.Reals = append(vs.Reals, config.RealServer{Addr: a, Port: svc.port, Weight: 1,
				Checks: []config.Check{{Kind: "TCP_CHECK", Retry: 0, Warmup: 0, DelayLoop: time.Second, ConnectPort: 80}}})
			a = a.Next()
		}
		if mod != nil {
			mod(&vs)
		}
		spec.VirtualServers = append(spec.VirtualServers, vs)
	}
	return spec
}

// waitFor polls cond in real time, failing the test after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// script returns a command that appends word to file.
func script(file, word string) config.Command {
	return config.Command{Argv: []string{"/bin/sh", "-c", "echo " + word + " >> " + file}}
}

func readLines(file string) []string {
	b, _ := os.ReadFile(file)
	return strings.Fields(string(b))
}

func TestHealthCheckSpecDefaults(t *testing.T) {
	g := config.Global{ScriptUser: "nobody", ScriptGroup: "nogroup"}
	unset := func(kind string) config.Check {
		return config.Check{Kind: kind, Retry: -1, Warmup: -1, DelayLoop: 6 * time.Second}
	}
	for _, tc := range []struct {
		desc   string
		check  config.Check
		policy healthcheck.Policy
		cfg    healthcheck.Config
	}{
		{desc: "TCP_CHECK defaults", check: unset("TCP_CHECK"),
			policy: healthcheck.Policy{DelayLoop: 6 * time.Second, Retry: 1, DelayBeforeRetry: time.Second},
			cfg:    healthcheck.TCPConfig{}},
		{desc: "HTTP_GET defaults: delay_before_retry 3s", check: func() config.Check {
			c := unset("HTTP_GET")
			c.URLs = []config.URL{{Path: "/", StatusCode: "200-299 302"}}
			c.HTTPProtocol = "1.0K"
			return c
		}(),
			policy: healthcheck.Policy{DelayLoop: 6 * time.Second, Retry: 1, DelayBeforeRetry: 3 * time.Second},
			cfg: healthcheck.HTTPConfig{Protocol: healthcheck.HTTP10, URLs: []healthcheck.URL{{Path: "/",
				StatusCodes: []healthcheck.StatusRange{{Lo: 200, Hi: 299}, {Lo: 302, Hi: 302}}}}}},
		{desc: "SSL_GET is HTTP over TLS", check: func() config.Check {
			c := unset("SSL_GET")
			c.URLs = []config.URL{{Path: "/health", Digest: "9b3a0c85a887a256d6939da88aabd8cd"}}
			c.EnableSNI, c.SNIName, c.VirtualHost = true, "www.example", "www.example"
			return c
		}(),
			policy: healthcheck.Policy{DelayLoop: 6 * time.Second, Retry: 1, DelayBeforeRetry: 3 * time.Second},
			cfg: healthcheck.HTTPConfig{TLS: true, EnableSNI: true, ServerName: "www.example", VirtualHost: "www.example",
				Protocol: healthcheck.HTTP10, URLs: []healthcheck.URL{{Path: "/health", Digest: "9b3a0c85a887a256d6939da88aabd8cd"}}}},
		{desc: "DNS_CHECK defaults: retry 3, retry after the delay_loop", check: unset("DNS_CHECK"),
			policy: healthcheck.Policy{DelayLoop: 6 * time.Second, Retry: 3, DelayBeforeRetry: -1},
			cfg:    healthcheck.DNSConfig{}},
		{desc: "SMTP_CHECK defaults", check: unset("SMTP_CHECK"),
			policy: healthcheck.Policy{DelayLoop: 6 * time.Second, Retry: 1, DelayBeforeRetry: time.Second},
			cfg:    healthcheck.SMTPConfig{}},
		{desc: "SMTP_CHECK with hosts: a host without connect_timeout takes the checker's", check: func() config.Check {
			c := unset("SMTP_CHECK")
			c.HeloName, c.ConnectPort, c.ConnectTimeout = "lb1.example.com", 25, 3*time.Second
			c.SMTPHosts = []config.SMTPHost{
				{ConnectIP: netip.MustParseAddr("198.18.1.50"), ConnectPort: 587, BindTo: netip.MustParseAddr("198.18.1.1"), BindPort: 40025},
				{ConnectTimeout: time.Second},
			}
			return c
		}(),
			policy: healthcheck.Policy{DelayLoop: 6 * time.Second, Retry: 1, DelayBeforeRetry: time.Second},
			cfg: healthcheck.SMTPConfig{Conn: healthcheck.Conn{ConnectPort: 25, ConnectTimeout: 3 * time.Second}, HeloName: "lb1.example.com",
				Hosts: []healthcheck.Conn{
					{ConnectIP: netip.MustParseAddr("198.18.1.50"), ConnectPort: 587, BindTo: netip.MustParseAddr("198.18.1.1"), BindPort: 40025,
						ConnectTimeout: 3 * time.Second},
					{ConnectTimeout: time.Second},
				}}},
		{desc: "MISC_CHECK: retry 0, timeout the delay_loop, script_user", check: func() config.Check {
			c := unset("MISC_CHECK")
			c.MiscPath = config.Command{Argv: []string{"/usr/local/bin/check", "a b", "it's"}}
			return c
		}(),
			policy: healthcheck.Policy{DelayLoop: 6 * time.Second, Retry: 0, DelayBeforeRetry: time.Second},
			cfg: healthcheck.MiscConfig{Path: `/usr/local/bin/check 'a b' 'it\'s'`, Timeout: 6 * time.Second,
				User: "nobody", Group: "nogroup"}},
		{desc: "MISC_CHECK's own user wins", check: func() config.Check {
			c := unset("MISC_CHECK")
			c.MiscPath = config.Command{Argv: []string{"/bin/true"}}
			c.User, c.MiscTimeout, c.MiscDynamic = "daemon", 2*time.Second, true
			return c
		}(),
			policy: healthcheck.Policy{DelayLoop: 6 * time.Second, Retry: 0, DelayBeforeRetry: time.Second},
			cfg:    healthcheck.MiscConfig{Path: "/bin/true", Timeout: 2 * time.Second, Dynamic: true, User: "daemon"}},
		{desc: "UDP_CHECK with a masked reply", check: func() config.Check {
			c := unset("UDP_CHECK")
			c.Payload, c.RequireReply, c.Reply, c.MinReplyLength = []byte{1, 2}, true, "0a x1", 2
			return c
		}(),
			policy: healthcheck.Policy{DelayLoop: 6 * time.Second, Retry: 1, DelayBeforeRetry: time.Second},
			cfg: healthcheck.UDPConfig{Payload: []byte{1, 2}, RequireReply: true, Reply: []byte{0x0a, 0x01}, ReplyMask: []byte{0, 0xf0},
				MinReplyLength: 2}},
		{desc: "everything set", check: config.Check{Kind: "PING_CHECK", Retry: 4, Warmup: 0, DelayLoop: 2 * time.Second,
			DelayBeforeRetry: 500 * time.Millisecond, Alpha: true, LogAllFailures: true,
			ConnectIP: netip.MustParseAddr("198.18.1.99"), BindTo: netip.MustParseAddr("198.18.1.1"), ConnectTimeout: time.Second},
			policy: healthcheck.Policy{DelayLoop: 2 * time.Second, Retry: 4, DelayBeforeRetry: 500 * time.Millisecond, Warmup: -1,
				Alpha: true, LogAllFailures: true},
			cfg: healthcheck.PingConfig{Conn: healthcheck.Conn{ConnectIP: netip.MustParseAddr("198.18.1.99"),
				BindTo: netip.MustParseAddr("198.18.1.1"), ConnectTimeout: time.Second}}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := HealthCheckSpec(tc.check, g)
			if err != nil {
				t.Fatal(err)
			}
			if got.Policy != tc.policy {
				t.Errorf("policy %+v\nwant   %+v", got.Policy, tc.policy)
			}
			if !reflect.DeepEqual(got.Config, tc.cfg) {
				t.Errorf("config %#v\nwant   %#v", got.Config, tc.cfg)
			}
		})
	}
	if _, err := HealthCheckSpec(config.Check{Kind: "BFD_CHECK"}, g); err == nil {
		t.Error("BFD_CHECK converted")
	}
	bad := unset("HTTP_GET")
	bad.URLs = []config.URL{{Path: "/", StatusCode: "700"}}
	if _, err := HealthCheckSpec(bad, g); err == nil || !strings.Contains(err.Error(), "status_code") {
		t.Errorf("status_code 700: %v", err)
	}
}

// TestJoinArgvRoundTrip: a command's words survive the trip to a command
// line and back through healthcheck.SplitCommand.
func TestJoinArgvRoundTrip(t *testing.T) {
	for _, argv := range [][]string{
		{"/bin/true"},
		{"/usr/bin/check", "--url", "http://198.18.1.11:80/x?y=1&z=2"},
		{"a b", "", `back\slash`, "it's", `"quoted"`, "tab\there", "new\nline", "$HOME", "*"},
	} {
		got, err := healthcheck.SplitCommand(joinArgv(argv))
		if err != nil || !slices.Equal(got, argv) {
			t.Errorf("%q → %q → %q, %v", argv, joinArgv(argv), got, err)
		}
	}
}

// TestHealthServiceSpecFromConfig reads the health keywords of a
// keepalived.conf through the parser and the conversion.
func TestHealthServiceSpecFromConfig(t *testing.T) {
	spec := parse(t, `
global_defs {
    script_user nobody
}
virtual_server 198.18.0.100 80 { protocol TCP
    lb_algo rr
    delay_loop 2
    quorum 2
    hysteresis 1
    ha_suspend
    sorry_server 198.18.1.14 8080
    sorry_server_inhibit
    real_server 198.18.1.11 80 {
        weight 3
        inhibit_on_failure
        HTTP_GET {
            url {
                path /health
                status_code 200
            }
            connect_timeout 1
            retry 2
            delay_before_retry 1
        }
    }
    real_server 198.18.1.12 80 {
        MISC_CHECK {
            misc_path "/usr/local/bin/probe 198.18.1.12"
            misc_timeout 3
        }
    }
}
`)
	ss, err := HealthServiceSpec(spec.VirtualServers[0], spec.Global)
	if err != nil {
		t.Fatal(err)
	}
	if ss.Name != "TCP 198.18.0.100:80" || ss.Quorum != 2 || ss.Hysteresis != 1 || !ss.HASuspend ||
		ss.Sorry == nil || *ss.Sorry != (healthcheck.SorryServer{Name: "sorry_server 198.18.1.14:8080", Weight: 1, Inhibit: true}) {
		t.Fatalf("service %+v sorry %+v", ss, ss.Sorry)
	}
	if len(ss.Servers) != 2 {
		t.Fatalf("%d servers", len(ss.Servers))
	}
	rs1, rs2 := ss.Servers[0], ss.Servers[1]
	if rs1.Name != "198.18.1.11:80" || rs1.Weight != 3 || !rs1.InhibitOnFailure || len(rs1.Checks) != 1 {
		t.Fatalf("rs1 %+v", rs1)
	}
	want := healthcheck.Policy{DelayLoop: 2 * time.Second, Retry: 2, DelayBeforeRetry: time.Second}
	if p := rs1.Checks[0].Policy; p != want {
		t.Errorf("rs1 policy %+v, want %+v", p, want)
	}
	if h, ok := rs1.Checks[0].Config.(healthcheck.HTTPConfig); !ok || h.ConnectTimeout != time.Second || len(h.URLs) != 1 ||
		h.URLs[0].Path != "/health" || !slices.Equal(h.URLs[0].StatusCodes, []healthcheck.StatusRange{{Lo: 200, Hi: 200}}) {
		t.Errorf("rs1 check %#v", rs1.Checks[0].Config)
	}
	if m, ok := rs2.Checks[0].Config.(healthcheck.MiscConfig); !ok || m.Path != "/usr/local/bin/probe 198.18.1.12" ||
		m.Timeout != 3*time.Second || m.User != "nobody" {
		t.Errorf("rs2 check %#v", rs2.Checks[0].Config)
	}
}

// TestHealthFailedServerLeavesPool follows a pool through failures and
// recoveries: a failed server leaves it (or stays at weight 0 under
// inhibit_on_failure) and comes back with its weight; the snapshots keep
// the plan's Counts; the down flag is set only after the pool without the
// server is installed and cleared before the pool with it is.
func TestHealthFailedServerLeavesPool(t *testing.T) {
	spec := labSpec(3, func(vs *config.VirtualServer) { vs.Reals[1].InhibitOnFailure = true })
	hr := newHarness(t, spec)
	// Every member that takes new connections is not flagged down when
	// its pool is installed.
	var violation string
	hr.mu.Lock()
	hr.onApply = func(list []*nat.Service) {
		for _, s := range list {
			for _, r := range s.Reals {
				if r.Weight > 0 && r.Counts.Down() && violation == "" {
					violation = netip.AddrFrom4(r.Addr).String() + " was flagged down before its pool was installed"
				}
			}
		}
	}
	hr.mu.Unlock()
	if got := hr.pool(80); got != "198.18.1.11:80/1 198.18.1.12:80/1 198.18.1.13:80/1" {
		t.Fatalf("initial pool %s", got)
	}
	rs1, rs2 := hr.counts(53, "198.18.1.11:53"), hr.counts(53, "198.18.1.12:53")
	// And a server leaving is flagged only once the pool without it is
	// installed: at that Apply it is not flagged yet.
	var leftSeen, leftFlagged bool
	inv := hr.onApply
	hr.mu.Lock()
	hr.onApply = func(list []*nat.Service) {
		inv(list)
		for _, s := range list {
			if s.Port == 53 && !leftSeen && !slices.ContainsFunc(s.Reals, func(r nat.Real) bool { return r.Counts == rs1 }) {
				leftSeen, leftFlagged = true, rs1.Down()
			}
		}
	}
	hr.mu.Unlock()

	hr.servers.set("198.18.1.11", false)
	hr.until("rs1 to leave", func() bool { return hr.pool(53) == "198.18.1.12:53/1 198.18.1.13:53/1" })
	hr.until("rs1 flagged down", rs1.Down)
	hr.mu.Lock()
	if !leftSeen || leftFlagged {
		t.Fatalf("rs1 left the UDP pool: seen %v, flagged down before its pool was installed %v", leftSeen, leftFlagged)
	}
	hr.mu.Unlock()
	if got := hr.pool(80); got != "198.18.1.12:80/1 198.18.1.13:80/1" {
		t.Fatalf("TCP pool %s", got)
	}
	for _, r := range hr.last(53).Reals {
		if r.Counts != hr.counts(53, netip.AddrPortFrom(netip.AddrFrom4(r.Addr), r.Port).String()) {
			t.Fatalf("the snapshot of %v has Counts other than the plan's", r.Addr)
		}
	}

	// The checks' states, as the metrics show them: rs1's checks down,
	// the others up.
	checks := hr.h.Checks()
	if len(checks) != 6 {
		t.Fatalf("%d checks listed, want 6: %+v", len(checks), checks)
	}
	for _, c := range checks {
		if want := !strings.HasPrefix(c.Server, "198.18.1.11:"); c.Up != want || !c.Ran {
			t.Errorf("check %+v: up %v, want %v", c, c.Up, want)
		}
	}

	hr.servers.set("198.18.1.12", false)
	hr.until("rs2 at weight 0", func() bool { return hr.pool(53) == "198.18.1.12:53/0 198.18.1.13:53/1" })
	hr.until("rs2 flagged down", rs2.Down)

	hr.servers.set("198.18.1.11", true)
	hr.servers.set("198.18.1.12", true)
	hr.until("both back", func() bool { return hr.pool(53) == "198.18.1.11:53/1 198.18.1.12:53/1 198.18.1.13:53/1" })
	if rs1.Down() || rs2.Down() {
		t.Fatal("a server that came back is still flagged down")
	}
	hr.mu.Lock()
	defer hr.mu.Unlock()
	if violation != "" {
		t.Fatal(violation)
	}
	var downs []string
	for _, e := range hr.logs.FilterMessage("real server down").All() {
		downs = append(downs, e.ContextMap()["server"].(string))
	}
	slices.Sort(downs)
	if want := []string{"198.18.1.11:53", "198.18.1.11:80", "198.18.1.12:53", "198.18.1.12:80"}; !slices.Equal(downs, want) {
		t.Errorf("logged down %q, want %q", downs, want)
	}
}

// frame builds a client datagram or TCP segment to the VIP.
func frame(t *testing.T, udp bool, sport, dport uint16, flags string) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, SrcIP: net.IP{198, 18, 0, 2}, DstIP: net.IP{198, 18, 0, 100}}
	var l4 gopacket.SerializableLayer
	if udp {
		ip.Protocol = layers.IPProtocolUDP
		u := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
		u.SetNetworkLayerForChecksum(ip)
		l4 = u
	} else {
		ip.Protocol = layers.IPProtocolTCP
		tc := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Window: 1000,
			SYN: flags == "S", ACK: flags == "A"}
		tc.SetNetworkLayerForChecksum(ip)
		l4 = tc
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, l4,
		gopacket.Payload("x")); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestHealthFlowsFollowThePool runs the snapshots through a real nat.Engine:
// a UDP flow leaves a failed server at its next datagram (its counts move
// with it), an established TCP connection stays, new connections avoid the
// server; with udp_reschedule off the UDP flow stays too.
func TestHealthFlowsFollowThePool(t *testing.T) {
	for _, keep := range []bool{false, true} {
		t.Run(map[bool]string{false: "reschedule", true: "udp_reschedule off"}[keep], func(t *testing.T) {
			spec := labSpec(2, nil)
			spec.XVS.UDPKeepDeadDest = keep
			hr := newHarness(t, spec)
			send := func(f []byte) [4]byte {
				t.Helper()
				r := hr.eng.Inbound(f, 0)
				if r.Drop != nat.DropNone {
					t.Fatalf("dropped: %v", r.Drop)
				}
				return r.NextHop
			}
			udpOn := send(frame(t, true, 4000, 53, ""))
			tcpOn := send(frame(t, false, 4000, 80, "S"))
			send(frame(t, false, 4000, 80, "A"))
			// Fail the server the UDP flow is on; the TCP connection is
			// on it too, or on the other one.
			dead := netip.AddrFrom4(udpOn)
			hr.servers.set(dead.String(), false)
			deadUDP := hr.counts(53, netip.AddrPortFrom(dead, 53).String())
			hr.until("the UDP server flagged down", deadUDP.Down)
			got := send(frame(t, true, 4000, 53, ""))
			switch {
			case keep && got != udpOn:
				t.Fatalf("udp_reschedule off: the flow moved to %v", got)
			case !keep && got == udpOn:
				t.Fatalf("the UDP flow stayed on the failed server %v", dead)
			case !keep && (deadUDP.Inactive.Load() != 0 || hr.eng.Table().Len() != 2):
				t.Fatalf("after the move: %d flows counted on the failed server, %d entries", deadUDP.Inactive.Load(), hr.eng.Table().Len())
			}
			if got := send(frame(t, false, 4000, 80, "A")); got != tcpOn {
				t.Fatalf("the established TCP connection moved from %v to %v", tcpOn, got)
			}
			for p := uint16(5000); p < 5010; p++ {
				if got := send(frame(t, true, p, 53, "")); got == udpOn {
					t.Fatalf("a new flow went to the failed server")
				}
			}
		})
	}
}

// TestHealthSorryServerAndScripts: once the live weight is below the
// quorum the sorry server alone takes new connections, and the real
// servers are back once it is met again; notify and quorum scripts run,
// in the background, with their own arguments.
func TestHealthSorryServerAndScripts(t *testing.T) {
	out := filepath.Join(t.TempDir(), "scripts")
	spec := labSpec(3, func(vs *config.VirtualServer) {
		vs.Quorum = 2
		vs.Sorry = &config.SorryServer{Addr: netip.MustParseAddr("198.18.1.13"), Port: 8080}
		if vs.Port == 80 {
			vs.QuorumUp, vs.QuorumDown = script(out, "quorum_up"), script(out, "quorum_down")
			vs.Reals[0].NotifyDown, vs.Reals[0].NotifyUp = script(out, "rs1_down"), script(out, "rs1_up")
		}
	})
	hr := newHarness(t, spec)
	for _, a := range []string{"198.18.1.11", "198.18.1.12", "198.18.1.13"} {
		hr.servers.set(a, false)
	}
	hr.until("the sorry server alone", func() bool { return hr.pool(80) == "198.18.1.13:8080/1" })
	waitFor(t, "the scripts", func() bool { return len(readLines(out)) == 2 })
	if got := readLines(out); !slices.Equal(got, []string{"rs1_down", "quorum_down"}) && !slices.Equal(got, []string{"quorum_down", "rs1_down"}) {
		t.Fatalf("scripts ran: %q", got)
	}
	sorry := hr.last(80).Reals[0].Counts
	if sorry.Down() {
		t.Fatal("the serving sorry server is flagged down")
	}
	hr.servers.set("198.18.1.11", true)
	hr.until("rs1 up", func() bool { return len(readLines(out)) == 3 })
	if got := hr.pool(80); got != "198.18.1.13:8080/1" {
		t.Fatalf("one server up of quorum 2: pool %s", got)
	}
	hr.servers.set("198.18.1.12", true)
	hr.until("the quorum back", func() bool { return hr.pool(80) == "198.18.1.11:80/1 198.18.1.12:80/1" })
	hr.until("the sorry server flagged down", sorry.Down)
	waitFor(t, "quorum_up", func() bool { return slices.Contains(readLines(out), "quorum_up") })
	if d, ok := hr.h.Desired("TCP 198.18.0.100:80"); !ok || !d.QuorumUp || d.SorryActive {
		t.Fatalf("Desired %+v", d)
	}
}

// TestHealthHysteresisDoesNotFlap: with quorum 2 and hysteresis 1 a server
// flapping at the edge of the quorum changes nothing once the sorry server
// serves (the quorum comes back only at 3), where without hysteresis the
// pool swings between the sorry server and the real servers at every flap.
func TestHealthHysteresisDoesNotFlap(t *testing.T) {
	for _, tc := range []struct {
		hysteresis int
		swings     bool
	}{{1, false}, {0, true}} {
		t.Run("hysteresis "+strconv.Itoa(tc.hysteresis), func(t *testing.T) {
			spec := labSpec(3, func(vs *config.VirtualServer) {
				vs.Quorum, vs.Hysteresis = 2, tc.hysteresis
				vs.Sorry = &config.SorryServer{Addr: netip.MustParseAddr("198.18.1.13"), Port: 8080}
			})
			hr := newHarness(t, spec)
			for _, a := range []string{"198.18.1.11", "198.18.1.12", "198.18.1.13"} {
				hr.servers.set(a, false)
			}
			hr.until("the sorry server alone", func() bool { return hr.pool(80) == "198.18.1.13:8080/1" })
			hr.servers.set("198.18.1.11", true)
			hr.until("rs1 up", func() bool { d, _ := hr.h.Desired("TCP 198.18.0.100:80"); return d.LiveWeight == 1 })
			hr.mu.Lock()
			applies := len(hr.applied)
			hr.mu.Unlock()
			swings := 0
			for range 5 {
				hr.servers.set("198.18.1.12", true)
				hr.until("rs2 up", func() bool { d, _ := hr.h.Desired("TCP 198.18.0.100:80"); return d.LiveWeight == 2 })
				if hr.pool(80) != "198.18.1.13:8080/1" {
					swings++
				}
				hr.servers.set("198.18.1.12", false)
				hr.until("rs2 down", func() bool { d, _ := hr.h.Desired("TCP 198.18.0.100:80"); return d.LiveWeight == 1 })
				if hr.pool(80) != "198.18.1.13:8080/1" {
					t.Fatalf("live weight 1 of quorum 2: pool %s", hr.pool(80))
				}
			}
			if tc.swings != (swings == 5) || !tc.swings && swings != 0 {
				t.Fatalf("the pool left the sorry server %d times in 5 flaps", swings)
			}
			quorumUps := hr.logs.FilterMessage("quorum up").Len()
			t.Logf("hysteresis %d: %d of 5 flaps reached the pool, %d quorum_up", tc.hysteresis, swings, quorumUps)
			hr.mu.Lock()
			applies = len(hr.applied) - applies
			hr.mu.Unlock()
			if !tc.swings && (quorumUps != 0 || applies != 0) {
				t.Fatalf("%d quorum_up and %d pools installed while flapping below quorum+hysteresis", quorumUps, applies)
			}
		})
	}
}

// TestHealthReloadKeepsCheckResults: a reload that leaves a check as it
// was keeps its result (the failed server stays out at once, without a
// new check); a check whose keywords changed starts afresh.
func TestHealthReloadKeepsCheckResults(t *testing.T) {
	hr := newHarness(t, labSpec(2, nil))
	hr.servers.set("198.18.1.11", false)
	hr.until("rs1 to leave", func() bool { return hr.pool(80) == "198.18.1.12:80/1" })
	calls := hr.servers.callsTo("198.18.1.11")

	hr.set(labSpec(2, nil))
	if got := hr.pool(80); got != "198.18.1.12:80/1" {
		t.Fatalf("right after an unchanged reload: pool %s", got)
	}
	if !hr.counts(53, "198.18.1.11:53").Down() {
		t.Fatal("the failed server's flag was lost by the reload")
	}
	if n := hr.servers.callsTo("198.18.1.11"); n != calls {
		t.Fatalf("the unchanged checks ran %d times during the reload", n-calls)
	}

	changed := labSpec(2, func(vs *config.VirtualServer) { vs.Reals[0].Checks[0].ConnectTimeout = 2 * time.Second })
	hr.set(changed)
	if got := hr.pool(80); got != "198.18.1.11:80/1 198.18.1.12:80/1" {
		t.Fatalf("a changed check starts up: pool %s", got)
	}
	hr.until("rs1 to leave again", func() bool { return hr.pool(80) == "198.18.1.12:80/1" })
}

// TestHealthHASuspend: the checks of a suspended VIP's ha_suspend services
// do not run, and their pools stay as they were; others run on.
func TestHealthHASuspend(t *testing.T) {
	spec := labSpec(2, func(vs *config.VirtualServer) { vs.HASuspend = vs.Port == 80 })
	hr := newHarness(t, spec)
	vip := netip.MustParseAddr("198.18.0.100")
	hr.until("first checks", func() bool { return hr.servers.callsTo("198.18.1.11") >= 2 })
	hr.h.SuspendVIP(vip, true)
	hr.servers.set("198.18.1.11", false)
	hr.until("the UDP pool without rs1", func() bool { return hr.pool(53) == "198.18.1.12:53/1" })
	for range 30 {
		hr.clk.Advance(time.Second)
		time.Sleep(time.Millisecond)
	}
	if got := hr.pool(80); got != "198.18.1.11:80/1 198.18.1.12:80/1" {
		t.Fatalf("the suspended service's pool changed: %s", got)
	}
	hr.h.SuspendVIP(vip, false)
	hr.until("the TCP pool without rs1", func() bool { return hr.pool(80) == "198.18.1.12:80/1" })
}

// TestHealthWithoutChecks: services without checkers are installed as the
// plan made them.
func TestHealthWithoutChecks(t *testing.T) {
	spec := labSpec(2, func(vs *config.VirtualServer) {
		for i := range vs.Reals {
			vs.Reals[i].Checks = nil
		}
	})
	hr := newHarness(t, spec)
	hr.mu.Lock()
	defer hr.mu.Unlock()
	if len(hr.applied) != 1 || len(hr.applied[0]) != len(hr.plan.Services) {
		t.Fatalf("applied %v, want the plan's services %+v", hr.applied, hr.plan.Services)
	}
	for i, svc := range hr.applied[0] {
		sp := &hr.plan.Services[i]
		counts := hr.plan.realCounts(sp)
		if svc.VIP != sp.Addr.As4() || svc.Port != sp.Port || svc.Proto != sp.Proto || len(svc.Reals) != len(sp.Reals) {
			t.Fatalf("applied %+v, want the plan's %+v", svc, sp)
		}
		for j, r := range svc.Reals {
			if netip.AddrPortFrom(netip.AddrFrom4(r.Addr), r.Port) != sp.Reals[j].Addr || r.Weight != sp.Reals[j].Weight || r.Counts != counts[j] {
				t.Fatalf("applied real %+v, want the plan's %+v", r, sp.Reals[j])
			}
		}
	}
}

// TestHealthOmega: at the end of Run, omega takes the servers and the
// quorum down with their scripts, which Run waits for.
func TestHealthOmega(t *testing.T) {
	out := filepath.Join(t.TempDir(), "scripts")
	spec := labSpec(1, func(vs *config.VirtualServer) {
		if vs.Port == 80 {
			vs.Omega = true
			vs.QuorumDown = script(out, "quorum_down")
			vs.Reals[0].NotifyDown = script(out, "rs1_down")
		}
	})
	hr := newHarness(t, spec)
	hr.stop()
	got := readLines(out)
	slices.Sort(got)
	if !slices.Equal(got, []string{"quorum_down", "rs1_down"}) {
		t.Fatalf("scripts at the end: %q", got)
	}
	if err := hr.h.Set(hr.plan); err == nil {
		t.Fatal("Set after Run returned nil")
	}
}

// TestHealthRejectsBadChecks: a configuration whose checks cannot run is
// refused and the running one stays: a bad status_code by the plan (so
// that xvs check refuses it too), a script user that does not exist by
// Set.
func TestHealthRejectsBadChecks(t *testing.T) {
	hr := newHarness(t, labSpec(2, nil))
	bad := labSpec(2, func(vs *config.VirtualServer) {
		vs.Reals[1].Checks = []config.Check{{Kind: "HTTP_GET", Retry: -1, Warmup: -1, DelayLoop: time.Second,
			URLs: []config.URL{{Path: "/", StatusCode: "999"}}}}
	})
	if _, err := newPlan(bad, hr.plan); err == nil || !strings.Contains(err.Error(), "status_code") {
		t.Fatalf("a bad status_code: %v", err)
	}
	if err := CheckSpec(bad); err == nil {
		t.Fatal("CheckSpec accepted a bad status_code")
	}
	noUser := labSpec(2, func(vs *config.VirtualServer) {
		vs.Reals[1].NotifyUp = script(filepath.Join(t.TempDir(), "out"), "up")
	})
	noUser.Global.ScriptUser = "xvs-no-such-user"
	p, err := newPlan(noUser, hr.plan)
	if err != nil {
		t.Fatal(err)
	}
	if err := hr.h.Set(p); err == nil {
		t.Fatal("a script user that does not exist was accepted")
	}
	hr.servers.set("198.18.1.11", false)
	hr.until("the running checks to go on", func() bool { return hr.pool(80) == "198.18.1.12:80/1" })
}
