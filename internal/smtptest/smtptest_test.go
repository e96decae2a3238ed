package smtptest

import (
	"bufio"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

// dialogue connects to s, reads the greeting, sends each line and reads
// the reply to each; it returns the first line of every reply.
func dialogue(t *testing.T, s *Server, lines ...string) []string {
	t.Helper()
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(c)
	reply := func() string {
		first := ""
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				if first == "" {
					first = l // a line cut short
				}
				return first + "<" + err.Error() + ">"
			}
			if first == "" {
				first = strings.TrimRight(l, "\r\n")
			}
			if len(l) < 4 || l[3] != '-' {
				return first
			}
		}
	}
	out := []string{reply()}
	data := false
	for _, l := range lines {
		c.Write([]byte(l + "\r\n"))
		if data && l != "." {
			continue
		}
		data = l == "DATA"
		out = append(out, reply())
	}
	return out
}

func TestServer(t *testing.T) {
	sc := Good()
	sc.Greeting = "220-mx.test\r\n220 ready\r\n"
	sc.Refuse = map[string]string{"nobody@example.com": "550 no such user\r\n"}
	s := New(t, sc)
	got := dialogue(t, s, "HELO client.test", "MAIL FROM:<a@example.com>", "RCPT TO:<b@example.com>",
		"RCPT TO:<nobody@example.com>", "DATA", "Subject: one", "To: b@example.com,", " c@example.com", "", "..dot", "body", ".",
		"MAIL FROM:<c@example.com>", "RCPT TO:<d@example.com>", "DATA", "Subject: two", "", "x", ".", "NOOP", "QUIT")
	want := []string{"220-mx.test", "250 mx.test", "250 2.1.0 ok", "250 2.1.5 ok", "550 no such user", "354 go ahead", "250 2.0.0 queued",
		"250 2.1.0 ok", "250 2.1.5 ok", "354 go ahead", "250 2.0.0 queued", "500 5.5.1 unknown command", "221 2.0.0 bye"}
	if !slices.Equal(got, want) {
		t.Errorf("replies\n got %q\nwant %q", got, want)
	}
	ses := s.NextSession()
	if len(ses.Lines) != 10 || ses.Lines[0] != "HELO client.test\r\n" || !ses.Ended || !ses.Remote.Addr().IsLoopback() {
		t.Errorf("session %+v", ses)
	}
	ms := s.WaitMessages(2, time.Second)
	m := ms[0]
	if m.Helo != "client.test" || m.From != "FROM:<a@example.com>" || !slices.Equal(m.Rcpt, []string{"TO:<b@example.com>"}) {
		t.Errorf("envelope %+v", m)
	}
	if m.Header("subject") != "one" || m.Headers()["To"] != "b@example.com, c@example.com" || m.Body() != ".dot\nbody" {
		t.Errorf("headers %q, body %q", m.Headers(), m.Body())
	}
	if m.Data[4] != "..dot\r\n" {
		t.Errorf("data %q, want the dot-stuffing kept", m.Data)
	}
	if ms[1].Helo != "client.test" || ms[1].From != "FROM:<c@example.com>" || ms[1].Header("Subject") != "two" {
		t.Errorf("second message %+v", ms[1])
	}
	if a, b := s.NextMessage(), s.NextMessage(); a.Header("Subject") != "one" || b.Header("Subject") != "two" {
		t.Errorf("NextMessage: %q, %q", a.Header("Subject"), b.Header("Subject"))
	}
	if _, ok := s.NextMessageWithin(10 * time.Millisecond); ok {
		t.Error("NextMessageWithin returned a third message")
	}
	if n := s.Count("rcpt"); n != 3 {
		t.Errorf("Count(rcpt) = %d, want 3", n)
	}
}

func TestServerStopStart(t *testing.T) {
	s := New(t, Good())
	addr := s.Addr()
	if got := dialogue(t, s, "QUIT"); !slices.Equal(got, []string{"220 mx.test ESMTP ready", "221 2.0.0 bye"}) {
		t.Errorf("replies %q", got)
	}
	s.Stop()
	if c, err := net.Dial("tcp", addr.String()); err == nil {
		c.Close()
		t.Fatal("connected to a stopped server")
	}
	s.Start()
	if s.Addr() != addr {
		t.Errorf("started again on %v, want %v", s.Addr(), addr)
	}
	if got := dialogue(t, s, "HELO x", "QUIT"); len(got) != 3 {
		t.Errorf("replies %q", got)
	}
	if n := len(s.Sessions()); n != 2 {
		t.Errorf("%d sessions, want 2", n)
	}
	s.Close()
	s.Close()
}

func TestServerCloses(t *testing.T) {
	for _, tc := range []struct {
		desc  string
		sc    Script
		lines []string
		want  []string
	}{
		{"greeting cut short", Script{Greeting: "220 mx"}, nil, []string{"220 mx<EOF>"}},
		{"no answer to HELO", Script{Greeting: "220 mx\r\n"}, []string{"HELO x"}, []string{"220 mx", "<EOF>"}},
		{"HELO refused", Script{Greeting: "220 mx\r\n", Helo: "501 no\r\n"}, []string{"HELO x"}, []string{"220 mx", "501 no"}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			if got := dialogue(t, New(t, tc.sc), tc.lines...); !slices.Equal(got, tc.want) {
				t.Errorf("replies %q, want %q", got, tc.want)
			}
		})
	}
}

func TestServerSilent(t *testing.T) {
	s := New(t, Script{})
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := c.Read(make([]byte, 1)); n != 0 || !isTimeout(err) {
		t.Errorf("read %d bytes, %v; want a timeout", n, err)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
