//go:build linux

package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

// TestPlumbing proves namespaces, veths, bridge, routes, servers and the
// generator without any director: with kernel forwarding on in the lb
// namespace, the client reaches each real server directly through it.
func TestPlumbing(t *testing.T) {
	l := upLab(t, Config{Forwarding: true})
	if err := l.StartServers(); err != nil {
		t.Fatalf("StartServers: %v", err)
	}
	for i, a := range l.ServerAddrs {
		name := l.ServerNames[i]
		r, err := RunTraffic(l.ClientNS, TrafficConfig{VIP: a, Requests: 60, Datagrams: 60, Concurrency: 4})
		if err != nil {
			t.Fatalf("RunTraffic to %s: %v", a, err)
		}
		t.Logf("client -> %s (%s):\n%s", a, name, r)
		if r.TCP.OK != 60 || r.TCP.Failed != 0 || r.TCP.PerServer[name] != 60 || len(r.TCP.PerServer) != 1 {
			t.Errorf("TCP to %s: %+v", name, r.TCP)
		}
		if r.UDP.OK != 60 || r.UDP.Failed != 0 || r.UDP.PerServer[name] != 60 || len(r.UDP.PerServer) != 1 {
			t.Errorf("UDP to %s: %+v", name, r.UDP)
		}
		if r.NonVIPReplies != 0 {
			t.Errorf("non-VIP replies %d", r.NonVIPReplies)
		}
	}
	// The VIP itself is the director's own address; with no director and
	// no service there, TCP is refused and UDP gets no answer.
	r, err := RunTraffic(l.ClientNS, TrafficConfig{Requests: 2, Datagrams: 2, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.TCP.OK != 0 || r.TCP.Errors["connect: connection refused"] != 2 || r.UDP.OK != 0 || r.UDP.Errors["udp reply: timeout"] != 2 {
		t.Errorf("VIP without director:\n%s", r)
	}
}

// TestNoForwarding checks that, by default, the director namespace does not
// route: the servers are reachable from the lb namespace (same subnet) but
// not from the client.
func TestNoForwarding(t *testing.T) {
	l := upLab(t, Config{Servers: 2})
	if err := l.StartServers(); err != nil {
		t.Fatal(err)
	}
	for i, a := range l.ServerAddrs {
		r, err := RunTraffic(l.LBNS, TrafficConfig{VIP: a, Requests: 10, Datagrams: 10})
		if err != nil {
			t.Fatal(err)
		}
		if r.TCP.PerServer[l.ServerNames[i]] != 10 || r.UDP.PerServer[l.ServerNames[i]] != 10 {
			t.Errorf("lb -> %s:\n%s", a, r)
		}
	}
	r, err := RunTraffic(l.ClientNS, TrafficConfig{VIP: l.ServerAddrs[0], Requests: 2, Datagrams: 2, Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.TCP.OK != 0 || r.TCP.Failed != 2 || r.UDP.OK != 0 || r.UDP.Failed != 2 {
		t.Errorf("client reached a server without forwarding:\n%s", r)
	}
	// Servers stop with the lab: Down closes them (checked by a second
	// Down finding nothing to close and no error).
	if err := l.Down(); err != nil {
		t.Fatal(err)
	}
	if n := len(takeRegistered(l.Prefix)); n != 0 {
		t.Errorf("%d servers still registered after Down", n)
	}
}

// TestServeInNamespace checks Serve on its own and that its sockets live in
// the namespace, not in the root one.
func TestServeInNamespace(t *testing.T) {
	l := upLab(t, Config{Servers: 1})
	c, err := Serve(l.ServerNS[0], "alpha")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := Serve(l.ServerNS[0], "beta"); err == nil {
		t.Error("second Serve on the same ports succeeded")
	}
	r, err := RunTraffic(l.ServerNS[0], TrafficConfig{VIP: netip.MustParseAddr("127.0.0.1"), Requests: 3, Datagrams: 3})
	if err != nil {
		t.Fatal(err)
	}
	if r.TCP.PerServer["alpha"] != 3 || r.UDP.PerServer["alpha"] != 3 {
		t.Errorf("loopback in %s:\n%s", l.ServerNS[0], r)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	// Ports are free again.
	c2, err := Serve(l.ServerNS[0], "gamma")
	if err != nil {
		t.Fatalf("Serve after Close: %v", err)
	}
	c2.Close()
}

func TestRunTrafficRefuses(t *testing.T) {
	requireRoot(t)
	for _, tc := range []struct {
		ns  string
		cfg TrafficConfig
	}{
		{"", TrafficConfig{Requests: 1}},
		{"xvs-does-not-exist-" + fmt.Sprint(time.Now().UnixNano()), TrafficConfig{Requests: 1}},
		{"x", TrafficConfig{VIP: netip.MustParseAddr("10.1.2.3"), Requests: 1}},
		{"x", TrafficConfig{VIP: netip.MustParseAddr("198.20.0.1"), Requests: 1}},
		{"x", TrafficConfig{VIP: netip.MustParseAddr("2001:db8::1"), Requests: 1}},
		{"x", TrafficConfig{Requests: 1, Concurrency: MaxConcurrency + 1}},
	} {
		if _, err := RunTraffic(tc.ns, tc.cfg); err == nil {
			t.Errorf("RunTraffic(%q, %+v) succeeded", tc.ns, tc.cfg)
		}
	}
}

func TestTrafficResultString(t *testing.T) {
	r := TrafficResult{Elapsed: 1500 * time.Millisecond, NonVIPReplies: 1}
	r.TCP = ProtoResult{OK: 3, Failed: 1, PerServer: map[string]int{"rs2": 1, "rs1": 2},
		Errors: map[string]int{"connect: timeout": 1}, Elapsed: time.Second}
	s := r.String()
	for _, want := range []string{"TCP: 3 ok, 1 failed of 4", "(4 req/s)", "rs1", "rs2", `"connect: timeout": 1`, "UDP: not run", "non-VIP replies: 1", "elapsed: 1.5s"} {
		if !strings.Contains(s, want) {
			t.Errorf("String() lacks %q:\n%s", want, s)
		}
	}
	if strings.Index(s, "rs1") > strings.Index(s, "rs2") {
		t.Errorf("servers not sorted:\n%s", s)
	}
}

// TestSocketGuard checks that a socket created outside the intended
// namespace is refused before it sends anything.
func TestSocketGuard(t *testing.T) {
	l := upLab(t, Config{Servers: 1})
	var cookie uint64
	if err := Do(l.ClientNS, func() error { cookie = currentNSCookie(); return nil }); err != nil {
		t.Fatal(err)
	}
	if cookie == 0 {
		t.Skip("kernel without SO_NETNS_COOKIE")
	}
	// Created here, in the root namespace: must fail in Control, before
	// connect. (Loopback target, in case it did not.)
	d := net.Dialer{Control: nsGuard(cookie), Timeout: time.Second}
	if c, err := d.Dial("tcp4", "127.0.0.1:9"); !errors.Is(err, errWrongNS) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("dial outside the namespace: %v, want %v", err, errWrongNS)
	}
	// The same guard accepts a socket made inside the namespace.
	err := Do(l.ClientNS, func() error {
		lc := net.ListenConfig{Control: nsGuard(cookie)}
		pc, err := lc.ListenPacket(context.Background(), "udp4", "127.0.0.1:0")
		if err != nil {
			return err
		}
		return pc.Close()
	})
	if err != nil {
		t.Errorf("guarded socket inside the namespace: %v", err)
	}
}

// BenchmarkUpDown measures building and removing a default-size lab.
func BenchmarkUpDown(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root to create network namespaces")
	}
	p := "xb" + fmt.Sprint(os.Getpid()%10000)
	b.Cleanup(func() { Down(p) })
	for b.Loop() {
		l, err := Up(Config{Prefix: p})
		if err != nil {
			b.Fatal(err)
		}
		if err := l.Down(); err != nil {
			b.Fatal(err)
		}
	}
}
