// Package smtptest is a small SMTP server for tests: the mail server of
// the mail alert tests and the server an SMTP_CHECK health checker talks
// to.
//
// A Server answers each command with the reply its Script gives, written
// exactly as given (line ends included), so that a test can play a good
// server, a wrong greeting, a silent server, a refused HELO or RCPT, or
// multi-line and broken replies. It records every session: each line the
// client sends and each message, which a test reads at once (Sessions,
// Messages) or waits for (NextSession, NextMessage, WaitMessages). Stop
// and Start take it down and up again on the same address; Close, which
// the test's cleanup calls too, ends it.
//
// It understands HELO, MAIL, RCPT, DATA and QUIT (in any case); any other
// command gets Script.Unknown.
package smtptest

import (
	"bufio"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// WaitTimeout is how long NextSession and NextMessage wait before they
// fail the test.
const WaitTimeout = 10 * time.Second

// IdleTimeout is how long the server waits for each line from a client
// before it closes the connection.
const IdleTimeout = time.Minute

// Script is how a Server behaves. Each reply is written as is, so it needs
// its line end ("\r\n"); a reply of several lines is several lines in one
// string. An empty reply makes the server close the connection instead of
// answering.
type Script struct {
	// Greeting is written when a connection is accepted. Empty: the
	// server says nothing and reads until the client goes (a silent
	// server). Without a final "\n": the server closes the connection
	// once it is written (a greeting cut short).
	Greeting string
	// Helo answers HELO.
	Helo string
	// Mail answers MAIL.
	Mail string
	// Rcpt answers RCPT, unless Refuse has the recipient.
	Rcpt string
	// Refuse maps recipient addresses (without "<>", e.g.
	// "nobody@example.com") to the reply to their RCPT instead of Rcpt;
	// a refused recipient is not one of the message's Rcpt.
	Refuse map[string]string
	// Data answers DATA; the message follows if it starts with "3".
	Data string
	// Queued answers the end of a message (the line ".").
	Queued string
	// Quit answers QUIT; the server then closes the connection.
	Quit string
	// Unknown answers any other command.
	Unknown string
}

// Good returns the Script of a server that accepts every message.
func Good() Script {
	return Script{
		Greeting: "220 mx.test ESMTP ready\r\n",
		Helo:     "250 mx.test\r\n",
		Mail:     "250 2.1.0 ok\r\n",
		Rcpt:     "250 2.1.5 ok\r\n",
		Data:     "354 go ahead\r\n",
		Queued:   "250 2.0.0 queued\r\n",
		Quit:     "221 2.0.0 bye\r\n",
		Unknown:  "500 5.5.1 unknown command\r\n",
	}
}

// Session is one connection to a Server.
type Session struct {
	// Remote is the client's address.
	Remote netip.AddrPort
	// Lines are the lines received outside DATA, exactly as received
	// (line ends included).
	Lines []string
	// Messages are the messages received, in order.
	Messages []Message
	// Ended tells whether the connection is closed.
	Ended bool
}

// Commands returns the session's lines without their line ends.
func (s Session) Commands() []string {
	out := make([]string, 0, len(s.Lines))
	for _, l := range s.Lines {
		out = append(out, trimEOL(l))
	}
	return out
}

// Message is one message a Server received: its envelope and its data.
type Message struct {
	// Helo is the argument of the session's HELO.
	Helo string
	// From is the argument of MAIL, e.g. "FROM:<a@example.com>".
	From string
	// Rcpt are the arguments of the accepted RCPTs, e.g.
	// "TO:<b@example.com>".
	Rcpt []string
	// Data are the lines after DATA up to the final ".", exactly as
	// received: line ends included, dot-stuffing not undone.
	Data []string
}

// Text returns the message's header lines and body lines, without their
// line ends and with the dot-stuffing undone; the first empty line
// separates the two.
func (m Message) Text() (header, body []string) {
	inBody := false
	for _, l := range m.Data {
		l = strings.TrimPrefix(trimEOL(l), ".")
		switch {
		case inBody:
			body = append(body, l)
		case l == "":
			inBody = true
		default:
			header = append(header, l)
		}
	}
	return header, body
}

// Headers returns the value of each header, unfolded (the continuation
// lines appended as they are), by name as sent; for a name sent twice,
// the first.
func (m Message) Headers() map[string]string {
	out := map[string]string{}
	header, _ := m.Text()
	last := ""
	for _, l := range header {
		if strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t") {
			if last != "" {
				out[last] += l
			}
			continue
		}
		k, v, _ := strings.Cut(l, ":")
		last = ""
		if _, dup := out[k]; !dup {
			out[k], last = strings.TrimPrefix(v, " "), k
		}
	}
	return out
}

// Header returns the unfolded value of the header name (in any case), ""
// if there is none.
func (m Message) Header(name string) string {
	for k, v := range m.Headers() {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// Body returns the body lines joined with "\n", without a final line end.
func (m Message) Body() string {
	_, body := m.Text()
	return strings.Join(body, "\n")
}

func trimEOL(l string) string {
	return strings.TrimSuffix(strings.TrimSuffix(l, "\n"), "\r")
}

// Server is an SMTP server on a TCP listener.
type Server struct {
	t      testing.TB
	script Script

	mu       sync.Mutex
	addr     netip.AddrPort
	ln       net.Listener // nil while stopped
	closed   bool
	conns    map[net.Conn]bool
	sessions []*Session
	ended    []*Session    // the ended sessions, in the order they ended
	messages []Message     // every message, in order
	changed  chan struct{} // closed and replaced on every change
	nextSes  int           // ended sessions NextSession returned
	nextMsg  int           // messages NextMessage returned
	wg       sync.WaitGroup
}

// New starts a server on 127.0.0.1 at a free port; it is closed when the
// test ends.
func New(t testing.TB, s Script) *Server {
	t.Helper()
	return Listen(t, "127.0.0.1:0", s)
}

// Listen starts a server on addr ("host:port"); it is closed when the
// test ends.
func Listen(t testing.TB, addr string, s Script) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("smtptest: %v", err)
	}
	return Serve(t, ln, s)
}

// Serve starts a server on ln, a listener the caller opened (in a network
// namespace, say), which the server closes; it is closed when the test
// ends.
func Serve(t testing.TB, ln net.Listener, s Script) *Server {
	t.Helper()
	srv := &Server{t: t, script: s, conns: map[net.Conn]bool{}, changed: make(chan struct{})}
	srv.StartOn(ln)
	t.Cleanup(srv.Close)
	return srv
}

// Addr returns the address the server listens on (or listened on last,
// while stopped).
func (s *Server) Addr() netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Start listens again on the server's address after Stop.
func (s *Server) Start() {
	s.t.Helper()
	ln, err := net.Listen("tcp", s.Addr().String())
	if err != nil {
		s.t.Fatalf("smtptest: %v", err)
	}
	s.StartOn(ln)
}

// StartOn serves on ln after Stop: a listener the caller opened, on the
// same address in the same network namespace, say.
func (s *Server) StartOn(ln net.Listener) {
	s.t.Helper()
	addr, err := netip.ParseAddrPort(ln.Addr().String())
	if err != nil {
		ln.Close()
		s.t.Fatalf("smtptest: listener address: %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.ln != nil {
		ln.Close()
		s.t.Fatalf("smtptest: start on %s: the server is closed or running", addr)
	}
	s.ln, s.addr = ln, addr
	s.wg.Go(func() { s.accept(ln) })
}

// Stop closes the listener and every open connection, as a mail server
// that dies, and waits until every session has ended.
func (s *Server) Stop() {
	s.mu.Lock()
	if s.ln != nil {
		s.ln.Close()
		s.ln = nil
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// Close stops the server for good. It may be called more than once.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.Stop()
}

func (s *Server) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		ses := &Session{}
		if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
			ses.Remote = ap
		}
		s.mu.Lock()
		if s.ln != ln { // stopped meanwhile
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = true
		s.sessions = append(s.sessions, ses)
		s.notifyLocked()
		s.mu.Unlock()
		s.wg.Go(func() {
			defer func() {
				c.Close()
				s.mu.Lock()
				delete(s.conns, c)
				ses.Ended = true
				s.ended = append(s.ended, ses)
				s.notifyLocked()
				s.mu.Unlock()
			}()
			s.serve(c, ses)
		})
	}
}

// notifyLocked wakes the waiters; s.mu is held.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// serve holds the dialogue of one connection.
func (s *Server) serve(c net.Conn, ses *Session) {
	sc := s.script
	if sc.Greeting == "" {
		c.SetDeadline(time.Now().Add(IdleTimeout))
		io.Copy(io.Discard, c)
		return
	}
	// say writes reply and tells whether to go on.
	say := func(reply string) bool {
		if reply == "" {
			return false
		}
		_, err := io.WriteString(c, reply)
		return err == nil
	}
	if !say(sc.Greeting) || !strings.HasSuffix(sc.Greeting, "\n") {
		return
	}
	r := bufio.NewReader(c)
	read := func() (string, bool) {
		c.SetReadDeadline(time.Now().Add(IdleTimeout))
		l, err := r.ReadString('\n')
		return l, err == nil
	}
	var helo string
	m := Message{}
	for {
		line, ok := read()
		if !ok {
			return
		}
		s.mu.Lock()
		ses.Lines = append(ses.Lines, line)
		s.notifyLocked()
		s.mu.Unlock()
		verb, arg, _ := strings.Cut(trimEOL(line), " ")
		var reply string
		switch strings.ToUpper(verb) {
		case "HELO":
			helo, m = arg, Message{Helo: arg}
			reply = sc.Helo
		case "MAIL":
			m = Message{Helo: helo, From: arg}
			reply = sc.Mail
		case "RCPT":
			to := strings.Trim(strings.TrimPrefix(arg, "TO:"), "<>")
			if refusal, ok := sc.Refuse[to]; ok {
				reply = refusal
			} else {
				m.Rcpt = append(m.Rcpt, arg)
				reply = sc.Rcpt
			}
		case "DATA":
			if !say(sc.Data) {
				return
			}
			if !strings.HasPrefix(sc.Data, "3") {
				continue
			}
			for {
				l, ok := read()
				if !ok {
					return
				}
				if trimEOL(l) == "." {
					break
				}
				m.Data = append(m.Data, l)
			}
			s.mu.Lock()
			ses.Messages = append(ses.Messages, m)
			s.messages = append(s.messages, m)
			s.notifyLocked()
			s.mu.Unlock()
			m = Message{Helo: helo}
			reply = sc.Queued
		case "QUIT":
			say(sc.Quit)
			return
		default:
			reply = sc.Unknown
		}
		if !say(reply) {
			return
		}
	}
}

// Sessions returns every session so far, ended or not, in the order they
// began.
func (s *Server) Sessions() []Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Session, 0, len(s.sessions))
	for _, ses := range s.sessions {
		out = append(out, ses.copy())
	}
	return out
}

func (s *Session) copy() Session {
	c := *s
	c.Lines = append([]string(nil), s.Lines...)
	c.Messages = append([]Message(nil), s.Messages...)
	return c
}

// Count returns how many commands of verb (HELO, RCPT...; in any case)
// the server has received, in every session.
func (s *Server) Count(verb string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, ses := range s.sessions {
		for _, l := range ses.Lines {
			if v, _, _ := strings.Cut(trimEOL(l), " "); strings.EqualFold(v, verb) {
				n++
			}
		}
	}
	return n
}

// Messages returns every message received so far, in order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// wait waits until cond holds (called with s.mu held, so that it may take
// what it waited for) or within passes, and tells which.
func (s *Server) wait(within time.Duration, cond func() bool) bool {
	timer := time.NewTimer(within)
	defer timer.Stop()
	for {
		s.mu.Lock()
		ok, changed := cond(), s.changed
		s.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-changed:
		case <-timer.C:
			return false
		}
	}
}

// WaitMessages waits until the server has received n messages and returns
// every message received, failing the test if that takes longer than
// within.
func (s *Server) WaitMessages(n int, within time.Duration) []Message {
	s.t.Helper()
	if !s.wait(within, func() bool { return len(s.messages) >= n }) {
		s.t.Fatalf("smtptest: %d of %d messages received within %v", len(s.Messages()), n, within)
	}
	return s.Messages()
}

// NextMessage returns the first message that NextMessage has not returned
// yet, waiting for it for WaitTimeout at most before it fails the test.
func (s *Server) NextMessage() Message {
	s.t.Helper()
	m, ok := s.NextMessageWithin(WaitTimeout)
	if !ok {
		s.t.Fatalf("smtptest: no message within %v", WaitTimeout)
	}
	return m
}

// NextMessageWithin is NextMessage waiting for d at most: it returns false
// if no message came.
func (s *Server) NextMessageWithin(d time.Duration) (Message, bool) {
	var m Message
	ok := s.wait(d, func() bool {
		if s.nextMsg == len(s.messages) {
			return false
		}
		m = s.messages[s.nextMsg]
		s.nextMsg++
		return true
	})
	return m, ok
}

// NextSession returns the first ended session that NextSession has not
// returned yet (sessions in the order they ended), waiting for it for
// WaitTimeout at most before it fails the test.
func (s *Server) NextSession() Session {
	s.t.Helper()
	var ses Session
	if !s.wait(WaitTimeout, func() bool {
		if s.nextSes == len(s.ended) {
			return false
		}
		ses = s.ended[s.nextSes].copy()
		s.nextSes++
		return true
	}) {
		s.t.Fatalf("smtptest: no session ended within %v", WaitTimeout)
	}
	return ses
}
