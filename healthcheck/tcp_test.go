package healthcheck

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"
)

func TestTCPCheck(t *testing.T) {
	accepting := tcpListener(t, nil)
	silent := tcpListener(t, func(c net.Conn) { io.Copy(io.Discard, c) }) // accepts, says nothing
	tests := []struct {
		desc    string
		server  netip.AddrPort
		healthy bool
		err     error
	}{
		{"accepting listener", accepting, true, nil},
		{"accepting but silent listener (TCP_CHECK only connects)", silent, true, nil},
		{"closed port", closedPort(t, "tcp"), false, syscall.ECONNREFUSED},
		{"full backlog, never accepts", fullBacklog(t), false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			c := newChecker(t, TCPConfig{Conn{ConnectTimeout: shortTimeout}}, tt.server)
			r, took := timedCheck(c)
			assertResult(t, r, tt.healthy, tt.err)
			if took > shortTimeout+time.Second {
				t.Errorf("check took %v with a %v timeout", took, shortTimeout)
			}
			if tt.desc == "full backlog, never accepts" && !isTimeout(r.Err) {
				t.Errorf("err = %v, want a timeout", r.Err)
			}
		})
	}
}

// TestTCPConnectAndBind checks that connect_ip/connect_port replace the
// real server's address and that bindto/bind_port set the source.
func TestTCPConnectAndBind(t *testing.T) {
	from := make(chan netip.AddrPort, 2)
	target := tcpListener(t, func(c net.Conn) { from <- addrPort(t, c.RemoteAddr()) })
	bindPort := closedPort(t, "tcp").Port()
	cfg := TCPConfig{Conn{
		ConnectIP:      target.Addr(),
		ConnectPort:    target.Port(),
		BindTo:         netip.MustParseAddr("127.0.0.2"),
		BindPort:       bindPort,
		ConnectTimeout: time.Second,
	}}
	// The real server's own address is a closed port: only connect_* can
	// make the check pass.
	c := newChecker(t, cfg, closedPort(t, "tcp"))
	for range 2 { // twice: bind_port is reusable at once (SO_REUSEADDR)
		assertResult(t, c.Check(context.Background()), true, nil)
		if got, want := <-from, netip.AddrPortFrom(cfg.BindTo, bindPort); got != want {
			t.Errorf("connection came from %v, want %v", got, want)
		}
	}
	if s := c.(*TCPChecker).String(); s != "TCP_CHECK "+target.String() {
		t.Errorf("String() = %q", s)
	}
}

func TestTCPCancel(t *testing.T) {
	c := newChecker(t, TCPConfig{Conn{ConnectTimeout: 10 * time.Second}}, fullBacklog(t))
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	r := c.Check(ctx)
	assertResult(t, r, false, nil)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("cancelled check took %v", took)
	}
}

func TestConnErrors(t *testing.T) {
	server := netip.MustParseAddrPort("127.0.0.1:80")
	tests := []struct {
		desc   string
		conn   Conn
		server netip.AddrPort
	}{
		{"no address", Conn{}, netip.AddrPort{}},
		{"no port", Conn{}, netip.AddrPortFrom(server.Addr(), 0)},
		{"unspecified address", Conn{ConnectIP: netip.MustParseAddr("0.0.0.0")}, server},
		{"bindto of the other family", Conn{BindTo: netip.MustParseAddr("::1")}, server},
		{"negative timeout", Conn{ConnectTimeout: -time.Second}, server},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			_, err := TCPConfig{tt.conn}.NewChecker(tt.server)
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("err = %v, want ErrInvalidConfig", err)
			}
		})
	}
	// The checked address may come from connect_ip alone, and an
	// IPv4-mapped address is taken as IPv4.
	c, err := TCPConfig{Conn{ConnectIP: netip.MustParseAddr("::ffff:127.0.0.1"), ConnectPort: 1}}.NewChecker(netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.(*TCPChecker).ep.remote.String(); got != "127.0.0.1:1" {
		t.Errorf("remote = %s", got)
	}
}
