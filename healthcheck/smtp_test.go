package healthcheck

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xvs-project/xvs/internal/smtptest"
)

// goodSMTP is a server that passes.
var goodSMTP = smtptest.Good()

// smtpListener runs an SMTP server on 127.0.0.1 for the test, behaving
// as s says.
func smtpListener(t *testing.T, s smtptest.Script) netip.AddrPort {
	t.Helper()
	return smtptest.New(t, s).Addr()
}

func TestSMTPCheck(t *testing.T) {
	tests := []struct {
		desc    string
		script  smtptest.Script
		healthy bool
		err     error  // wrapped by the error; nil: not checked
		text    string // in the error
	}{
		{desc: "greeting, HELO and QUIT answered", script: goodSMTP, healthy: true},
		{desc: "multi-line greeting and answer to HELO", healthy: true, script: smtptest.Script{
			Greeting: "220-mx.test ESMTP\r\n220-no UCE\r\n220 ready\r\n", Helo: "250-mx.test\r\n250 PIPELINING\r\n", Quit: "221 bye\r\n"}},
		{desc: "bare codes and LF alone", healthy: true, script: smtptest.Script{Greeting: "220\n", Helo: "250\n", Quit: "221\n"}},
		{desc: "the answer to QUIT is not checked, as in keepalived", healthy: true,
			script: smtptest.Script{Greeting: goodSMTP.Greeting, Helo: goodSMTP.Helo, Quit: "500 what\r\n"}},
		{desc: "wrong greeting code", script: smtptest.Script{Greeting: "554 5.3.2 no service\r\n", Helo: goodSMTP.Helo, Quit: goodSMTP.Quit},
			err: ErrSMTPReply, text: `greeting "554 5.3.2 no service", want 220`},
		{desc: "service not available", script: smtptest.Script{Greeting: "421 4.3.2 shutting down\r\n"},
			err: ErrSMTPReply, text: `greeting "421 4.3.2 shutting down", want 220`},
		{desc: "greeting that is not SMTP", script: smtptest.Script{Greeting: "SSH-2.0-OpenSSH_9.6\r\n"},
			err: ErrSMTPReply, text: `"SSH-2.0-OpenSSH_9.6" is not an SMTP reply line`},
		{desc: "multi-line greeting changing code", script: smtptest.Script{Greeting: "220-mx.test\r\n554 no\r\n"},
			err: ErrSMTPReply, text: `"554 no" is not an SMTP reply line`},
		{desc: "greeting longer than a reply may be", script: smtptest.Script{Greeting: "220-" + strings.Repeat("x", maxSMTPReply) + "\r\n"},
			err: ErrSMTPReply, text: "reply longer than"},
		{desc: "HELO refused", script: smtptest.Script{Greeting: goodSMTP.Greeting, Helo: "501 5.5.4 bad HELO\r\n", Quit: goodSMTP.Quit},
			err: ErrSMTPReply, text: `answer to HELO "501 5.5.4 bad HELO", want 250`},
		{desc: "HELO answered with a temporary failure", script: smtptest.Script{Greeting: goodSMTP.Greeting, Helo: "421 4.7.0 later\r\n"},
			err: ErrSMTPReply, text: `answer to HELO "421 4.7.0 later", want 250`},
		{desc: "closed after the greeting, HELO unanswered", script: smtptest.Script{Greeting: goodSMTP.Greeting},
			err: ErrNoResponse, text: "reading the answer to HELO"},
		{desc: "greeting cut in the middle of its line", script: smtptest.Script{Greeting: "220 mx.te"},
			err: ErrNoResponse, text: "within a line"},
		{desc: "closed without answering QUIT", script: smtptest.Script{Greeting: goodSMTP.Greeting, Helo: goodSMTP.Helo},
			err: ErrNoResponse, text: "reading the answer to QUIT"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			server := smtpListener(t, tt.script)
			c := newChecker(t, SMTPConfig{Conn: Conn{ConnectTimeout: 2 * time.Second}}, server)
			r := c.Check(context.Background())
			assertResult(t, r, tt.healthy, tt.err)
			if !tt.healthy && !strings.Contains(r.Err.Error(), "SMTP server "+server.String()+": ") {
				t.Errorf("error %q does not name the server %s", r.Err, server)
			}
			if tt.text != "" && !strings.Contains(r.Err.Error(), tt.text) {
				t.Errorf("error %q does not say %q", r.Err, tt.text)
			}
		})
	}
}

// TestSMTPCheckClosedServer: a server that accepts and closes at once, and
// a closed port.
func TestSMTPCheckClosedServer(t *testing.T) {
	closing := tcpListener(t, func(net.Conn) {})
	r := newChecker(t, SMTPConfig{}, closing).Check(context.Background())
	assertResult(t, r, false, ErrNoResponse)
	if !strings.Contains(r.Err.Error(), "reading the greeting: no response: the server closed the connection") {
		t.Errorf("err = %v", r.Err)
	}

	refused := closedPort(t, "tcp")
	r = newChecker(t, SMTPConfig{}, refused).Check(context.Background())
	assertResult(t, r, false, syscall.ECONNREFUSED)
}

// TestSMTPCheckTimeouts: a server that never greets, and one whose
// connections are never accepted, fail at the connect timeout.
func TestSMTPCheckTimeouts(t *testing.T) {
	for _, tt := range []struct {
		desc   string
		server netip.AddrPort
		text   string
	}{
		{"no greeting", smtpListener(t, smtptest.Script{}), "reading the greeting"},
		{"full backlog, never accepts", fullBacklog(t), "dial tcp"},
	} {
		t.Run(tt.desc, func(t *testing.T) {
			c := newChecker(t, SMTPConfig{Conn: Conn{ConnectTimeout: shortTimeout}}, tt.server)
			r, took := timedCheck(c)
			assertResult(t, r, false, nil)
			if !isTimeout(r.Err) || !strings.Contains(r.Err.Error(), tt.text) {
				t.Errorf("err = %v, want a timeout %s", r.Err, tt.text)
			}
			if took < shortTimeout || took > shortTimeout+time.Second {
				t.Errorf("check took %v with a %v timeout", took, shortTimeout)
			}
		})
	}
}

func TestSMTPCheckCancel(t *testing.T) {
	c := newChecker(t, SMTPConfig{Conn: Conn{ConnectTimeout: 10 * time.Second}}, smtpListener(t, smtptest.Script{}))
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	assertResult(t, c.Check(ctx), false, nil)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("cancelled check took %v", took)
	}
}

// TestSMTPCheckHelo checks the HELO line: keepalived's default name, or
// helo_name.
func TestSMTPCheckHelo(t *testing.T) {
	server := smtptest.New(t, goodSMTP)
	for _, tt := range []struct{ name, want string }{
		{"", "HELO smtpchecker.keepalived.org"},
		{"lb1.example.com", "HELO lb1.example.com"},
	} {
		c := newChecker(t, SMTPConfig{HeloName: tt.name}, server.Addr())
		assertResult(t, c.Check(context.Background()), true, nil)
		if got := server.NextSession().Commands(); len(got) == 0 || got[0] != tt.want {
			t.Errorf("helo_name %q: the server got %q, want %q first", tt.name, got, tt.want)
		}
	}
}

// TestSMTPCheckHosts: with host blocks every server must pass, in order;
// each has its own connect_ip, connect_port, bindto and bind_port.
func TestSMTPCheckHosts(t *testing.T) {
	servers := []*smtptest.Server{smtptest.New(t, goodSMTP), smtptest.New(t, goodSMTP), smtptest.New(t, smtptest.Script{Greeting: "554 no\r\n"})}
	good1, good2, refusing := servers[0].Addr(), servers[1].Addr(), servers[2].Addr()
	bindPort := closedPort(t, "tcp").Port()
	host := func(ap netip.AddrPort) Conn { return Conn{ConnectIP: ap.Addr(), ConnectPort: ap.Port()} }
	// drain returns where the connections since its last call came from,
	// those to good1 first, then good2's, then refusing's.
	seen := make([]int, len(servers))
	drain := func() (got []netip.AddrPort) {
		for i, s := range servers {
			sessions := s.Sessions()
			for _, ses := range sessions[seen[i]:] {
				got = append(got, ses.Remote)
			}
			seen[i] = len(sessions)
		}
		return got
	}

	// All pass; the first server is the real server itself (Conn zero),
	// the second comes from a set address and port.
	h2 := host(good2)
	h2.BindTo, h2.BindPort = netip.MustParseAddr("127.0.0.2"), bindPort
	c := newChecker(t, SMTPConfig{Hosts: []Conn{h2}}, good1)
	if s := c.(*SMTPChecker).String(); s != "SMTP_CHECK "+good1.String()+" "+good2.String() {
		t.Errorf("String() = %q", s)
	}
	assertResult(t, c.Check(context.Background()), true, nil)
	if got := drain(); len(got) != 2 || got[1] != netip.AddrPortFrom(h2.BindTo, bindPort) {
		t.Errorf("connections came from %v, want two, the second from %v", got, netip.AddrPortFrom(h2.BindTo, bindPort))
	}

	// One failing host fails the check, named in the error; the hosts
	// after it are not tried.
	c = newChecker(t, SMTPConfig{Hosts: []Conn{host(refusing), host(good2)}}, good1)
	r := c.Check(context.Background())
	assertResult(t, r, false, ErrSMTPReply)
	if !strings.Contains(r.Err.Error(), "SMTP server "+refusing.String()+": ") {
		t.Errorf("error %q does not name the failing host %s", r.Err, refusing)
	}
	if got := drain(); len(got) != 2 {
		t.Errorf("%d connections, want 2 (the good server, the failing one)", len(got))
	}

	// The last host failing fails the check too.
	r = newChecker(t, SMTPConfig{Hosts: []Conn{host(good2), host(closedPort(t, "tcp"))}}, good1).Check(context.Background())
	assertResult(t, r, false, syscall.ECONNREFUSED)
	drain()
}

// TestSMTPCheckServerDownAndBack: the check fails while the server is
// down and passes again once it is back.
func TestSMTPCheckServerDownAndBack(t *testing.T) {
	s := smtptest.New(t, goodSMTP)
	c := newChecker(t, SMTPConfig{Conn: Conn{ConnectTimeout: time.Second}}, s.Addr())
	assertResult(t, c.Check(context.Background()), true, nil)
	s.Stop()
	assertResult(t, c.Check(context.Background()), false, syscall.ECONNREFUSED)
	s.Start()
	assertResult(t, c.Check(context.Background()), true, nil)
}

func TestSMTPConfigErrors(t *testing.T) {
	server := netip.MustParseAddrPort("127.0.0.1:25")
	tests := []struct {
		desc string
		cfg  SMTPConfig
		text string
	}{
		{"helo_name with a space", SMTPConfig{HeloName: "mx example"}, `helo_name "mx example" is not a single word`},
		{"helo_name with CR LF", SMTPConfig{HeloName: "mx\r\nRCPT TO:<a@b>"}, "is not a single word"},
		{"bindto of the other family", SMTPConfig{Conn: Conn{BindTo: netip.MustParseAddr("::1")}}, "bindto ::1"},
		{"a host with a bad bindto", SMTPConfig{Hosts: []Conn{{}, {BindTo: netip.MustParseAddr("::1")}}}, "host 2: "},
		{"a host with a negative timeout", SMTPConfig{Hosts: []Conn{{ConnectTimeout: -1}}}, "host 1: "},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			_, err := tt.cfg.NewChecker(server)
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("err = %v, want ErrInvalidConfig saying %q", err, tt.text)
			}
		})
	}
	if k := (SMTPConfig{}).Kind(); k != "SMTP_CHECK" {
		t.Errorf("Kind() = %q", k)
	}
}

func TestParseSMTPLine(t *testing.T) {
	for _, tt := range []struct {
		line       string
		code       int
		more, isOK bool
	}{
		{"220 mx ESMTP", 220, false, true},
		{"220", 220, false, true},
		{"250-PIPELINING", 250, true, true},
		{"599 x", 599, false, true},
		{"199 x", 0, false, false},
		{"600 x", 0, false, false},
		{"22", 0, false, false},
		{"2200 x", 0, false, false},
		{"22a x", 0, false, false},
		{"220\tx", 0, false, false},
		{"", 0, false, false},
	} {
		code, more, ok := parseSMTPLine(tt.line)
		if code != tt.code || more != tt.more || ok != tt.isOK {
			t.Errorf("parseSMTPLine(%q) = %d, %v, %v; want %d, %v, %v", tt.line, code, more, ok, tt.code, tt.more, tt.isOK)
		}
	}
}
