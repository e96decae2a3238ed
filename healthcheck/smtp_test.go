package healthcheck

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// smtpScript is how a test SMTP server behaves. Each field is written as
// is (CR LF included), so tests can send broken replies.
type smtpScript struct {
	greeting string // written on connect; empty: say nothing, read until the client goes; without a final LF: close after it
	helo     string // the answer to HELO; empty: close without one
	quit     string // the answer to QUIT; empty: close without one
}

// goodSMTP is a server that passes.
var goodSMTP = smtpScript{greeting: "220 mx.test ESMTP ready\r\n", helo: "250 mx.test\r\n", quit: "221 2.0.0 bye\r\n"}

// serveSMTP answers one connection as s says, sending each HELO line it
// gets to helos when it is not nil.
func serveSMTP(c net.Conn, s smtpScript, helos chan<- string) {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if s.greeting == "" {
		io.Copy(io.Discard, c)
		return
	}
	io.WriteString(c, s.greeting)
	if !strings.HasSuffix(s.greeting, "\n") {
		return
	}
	br := bufio.NewReader(c)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.TrimSuffix(line, "\r\n")
		switch {
		case strings.HasPrefix(cmd, "HELO "):
			if helos != nil {
				helos <- cmd
			}
			if s.helo == "" {
				return
			}
			io.WriteString(c, s.helo)
		case cmd == "QUIT":
			io.WriteString(c, s.quit)
			return
		default:
			io.WriteString(c, "500 5.5.1 unknown command\r\n")
		}
	}
}

// smtpListener runs an SMTP server on 127.0.0.1 for the test.
func smtpListener(t *testing.T, s smtpScript, helos chan<- string) netip.AddrPort {
	t.Helper()
	return tcpListener(t, func(c net.Conn) { serveSMTP(c, s, helos) })
}

func TestSMTPCheck(t *testing.T) {
	tests := []struct {
		desc    string
		script  smtpScript
		healthy bool
		err     error  // wrapped by the error; nil: not checked
		text    string // in the error
	}{
		{desc: "greeting, HELO and QUIT answered", script: goodSMTP, healthy: true},
		{desc: "multi-line greeting and answer to HELO", healthy: true, script: smtpScript{
			greeting: "220-mx.test ESMTP\r\n220-no UCE\r\n220 ready\r\n", helo: "250-mx.test\r\n250 PIPELINING\r\n", quit: "221 bye\r\n"}},
		{desc: "bare codes and LF alone", healthy: true, script: smtpScript{greeting: "220\n", helo: "250\n", quit: "221\n"}},
		{desc: "the answer to QUIT is not checked, as in keepalived", healthy: true,
			script: smtpScript{greeting: goodSMTP.greeting, helo: goodSMTP.helo, quit: "500 what\r\n"}},
		{desc: "wrong greeting code", script: smtpScript{greeting: "554 5.3.2 no service\r\n", helo: goodSMTP.helo, quit: goodSMTP.quit},
			err: ErrSMTPReply, text: `greeting "554 5.3.2 no service", want 220`},
		{desc: "service not available", script: smtpScript{greeting: "421 4.3.2 shutting down\r\n"},
			err: ErrSMTPReply, text: `greeting "421 4.3.2 shutting down", want 220`},
		{desc: "greeting that is not SMTP", script: smtpScript{greeting: "SSH-2.0-OpenSSH_9.6\r\n"},
			err: ErrSMTPReply, text: `"SSH-2.0-OpenSSH_9.6" is not an SMTP reply line`},
		{desc: "multi-line greeting changing code", script: smtpScript{greeting: "220-mx.test\r\n554 no\r\n"},
			err: ErrSMTPReply, text: `"554 no" is not an SMTP reply line`},
		{desc: "greeting longer than a reply may be", script: smtpScript{greeting: "220-" + strings.Repeat("x", maxSMTPReply) + "\r\n"},
			err: ErrSMTPReply, text: "reply longer than"},
		{desc: "HELO refused", script: smtpScript{greeting: goodSMTP.greeting, helo: "501 5.5.4 bad HELO\r\n", quit: goodSMTP.quit},
			err: ErrSMTPReply, text: `answer to HELO "501 5.5.4 bad HELO", want 250`},
		{desc: "HELO answered with a temporary failure", script: smtpScript{greeting: goodSMTP.greeting, helo: "421 4.7.0 later\r\n"},
			err: ErrSMTPReply, text: `answer to HELO "421 4.7.0 later", want 250`},
		{desc: "closed after the greeting, HELO unanswered", script: smtpScript{greeting: goodSMTP.greeting},
			err: ErrNoResponse, text: "reading the answer to HELO"},
		{desc: "greeting cut in the middle of its line", script: smtpScript{greeting: "220 mx.te"},
			err: ErrNoResponse, text: "within a line"},
		{desc: "closed without answering QUIT", script: smtpScript{greeting: goodSMTP.greeting, helo: goodSMTP.helo},
			err: ErrNoResponse, text: "reading the answer to QUIT"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			server := smtpListener(t, tt.script, nil)
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
		{"no greeting", smtpListener(t, smtpScript{}, nil), "reading the greeting"},
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
	c := newChecker(t, SMTPConfig{Conn: Conn{ConnectTimeout: 10 * time.Second}}, smtpListener(t, smtpScript{}, nil))
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
	helos := make(chan string, 4)
	server := smtpListener(t, goodSMTP, helos)
	for _, tt := range []struct{ name, want string }{
		{"", "HELO smtpchecker.keepalived.org"},
		{"lb1.example.com", "HELO lb1.example.com"},
	} {
		c := newChecker(t, SMTPConfig{HeloName: tt.name}, server)
		assertResult(t, c.Check(context.Background()), true, nil)
		if got := <-helos; got != tt.want {
			t.Errorf("helo_name %q: the server got %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestSMTPCheckHosts: with host blocks every server must pass, in order;
// each has its own connect_ip, connect_port, bindto and bind_port.
func TestSMTPCheckHosts(t *testing.T) {
	from := make(chan netip.AddrPort, 8)
	recording := func(s smtpScript) netip.AddrPort {
		return tcpListener(t, func(c net.Conn) {
			from <- addrPort(t, c.RemoteAddr())
			serveSMTP(c, s, nil)
		})
	}
	good1, good2 := recording(goodSMTP), recording(goodSMTP)
	refusing := recording(smtpScript{greeting: "554 no\r\n"})
	bindPort := closedPort(t, "tcp").Port()
	host := func(ap netip.AddrPort) Conn { return Conn{ConnectIP: ap.Addr(), ConnectPort: ap.Port()} }
	drain := func() (got []netip.AddrPort) {
		for {
			select {
			case ap := <-from:
				got = append(got, ap)
			default:
				return got
			}
		}
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

// restartableSMTP is an SMTP server on a fixed loopback port that a test
// stops and starts again.
type restartableSMTP struct {
	t    *testing.T
	addr netip.AddrPort
	mu   sync.Mutex
	ln   net.Listener
	wg   sync.WaitGroup
}

func newRestartableSMTP(t *testing.T) *restartableSMTP {
	s := &restartableSMTP{t: t, addr: closedPort(t, "tcp")}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *restartableSMTP) start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	ln, err := net.Listen("tcp", s.addr.String())
	if err != nil {
		s.t.Fatal(err)
	}
	s.ln = ln
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Go(func() {
				defer c.Close()
				serveSMTP(c, goodSMTP, nil)
			})
		}
	})
}

func (s *restartableSMTP) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		s.ln.Close()
		s.ln = nil
	}
	s.wg.Wait()
}

// TestSMTPCheckServerDownAndBack: the check fails while the server is
// down and passes again once it is back.
func TestSMTPCheckServerDownAndBack(t *testing.T) {
	s := newRestartableSMTP(t)
	c := newChecker(t, SMTPConfig{Conn: Conn{ConnectTimeout: time.Second}}, s.addr)
	assertResult(t, c.Check(context.Background()), true, nil)
	s.stop()
	assertResult(t, c.Check(context.Background()), false, syscall.ECONNREFUSED)
	s.start()
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
