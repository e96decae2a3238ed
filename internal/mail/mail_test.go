package mail

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xvs-project/xvs/internal/smtptest"
)

// newTestServer starts an SMTP server on 127.0.0.1 that greets and
// answers MAIL with multi-line replies; configure changes its script.
func newTestServer(t *testing.T, configure func(*smtptest.Script)) *smtptest.Server {
	t.Helper()
	sc := smtptest.Good()
	sc.Greeting = "220-test.example ESMTP\r\n220 ready\r\n" // a multi-line greeting
	sc.Mail = "250-sender\r\n250 ok\r\n"                    // a multi-line reply
	if configure != nil {
		configure(&sc)
	}
	return smtptest.New(t, sc)
}

// addr returns the server's "host:port".
func addr(srv *smtptest.Server) string { return srv.Addr().String() }

// commands returns the session's lines without their line ends, failing
// the test if one did not end with CRLF.
func commands(t *testing.T, ses smtptest.Session) []string {
	t.Helper()
	for _, l := range ses.Lines {
		if !strings.HasSuffix(l, "\r\n") {
			t.Errorf("line %q does not end with CRLF", l)
		}
	}
	return ses.Commands()
}

// message returns the session's message and its header and body lines
// with the dot-stuffing undone, failing the test if the session sent no
// message or a line did not end with CRLF.
func message(t *testing.T, ses smtptest.Session) (m smtptest.Message, headers, body []string) {
	t.Helper()
	if len(ses.Messages) != 1 {
		t.Fatalf("%d messages in the session %q, want 1", len(ses.Messages), ses.Commands())
	}
	m = ses.Messages[0]
	for _, l := range m.Data {
		if !strings.HasSuffix(l, "\r\n") {
			t.Errorf("message line %q does not end with CRLF", l)
		}
	}
	headers, body = m.Text()
	return m, headers, body
}

var testDate = time.Date(2021, 3, 1, 9, 44, 8, 0, time.FixedZone("", 3600))

func TestSendDialogueAndMessage(t *testing.T) {
	srv := newTestServer(t, nil)
	m := Message{
		From:    "Keepalived <ka@example.com>",
		To:      []string{"admin@example.com", `"My admin" <admin2@example.com>`},
		Subject: "[lb1] VRRP Instance VI_1 - Entering MASTER state",
		Body:    "=> VRRP Instance is now owning VRRP VIPs <=\n.starts with a dot\n..two dots\r\n.\nlast",
		Date:    testDate,
	}
	if err := Send(context.Background(), Server{Addr: addr(srv), Helo: "lb1.example.com", Timeout: 5 * time.Second}, m); err != nil {
		t.Fatal(err)
	}
	ses := srv.NextSession()
	wantCmds := []string{
		"HELO lb1.example.com",
		"MAIL FROM:<ka@example.com>",
		"RCPT TO:<admin@example.com>",
		"RCPT TO:<admin2@example.com>",
		"DATA",
		"QUIT",
	}
	if got := commands(t, ses); !slices.Equal(got, wantCmds) {
		t.Errorf("dialogue:\n got %q\nwant %q", got, wantCmds)
	}
	sent, headers, body := message(t, ses)
	// Dot-stuffing on the wire: every line starting with "." has one more.
	var stuffed []string
	for _, l := range sent.Data {
		if strings.HasPrefix(l, ".") {
			stuffed = append(stuffed, strings.TrimSuffix(l, "\r\n"))
		}
	}
	if want := []string{"..starts with a dot", "...two dots", ".."}; !slices.Equal(stuffed, want) {
		t.Errorf("dot-stuffed lines %q, want %q", stuffed, want)
	}
	wantHeaders := []string{
		"Date: Mon, 01 Mar 2021 09:44:08 +0100",
		"From: Keepalived <ka@example.com>",
		"Subject: [lb1] VRRP Instance VI_1 - Entering MASTER state",
		"X-Mailer: xvs",
		"To: admin@example.com,",
		` "My admin" <admin2@example.com>`,
	}
	if !slices.Equal(headers, wantHeaders) {
		t.Errorf("headers:\n got %q\nwant %q", headers, wantHeaders)
	}
	if _, err := time.Parse(time.RFC1123Z, strings.TrimPrefix(headers[0], "Date: ")); err != nil {
		t.Errorf("Date is not in RFC 5322 form: %v", err)
	}
	wantBody := []string{"=> VRRP Instance is now owning VRRP VIPs <=", ".starts with a dot", "..two dots", ".", "last"}
	if !slices.Equal(body, wantBody) {
		t.Errorf("body:\n got %q\nwant %q", body, wantBody)
	}
}

func TestSendDefaults(t *testing.T) {
	srv := newTestServer(t, nil)
	before := time.Now().Add(-time.Second)
	if err := Send(context.Background(), Server{Addr: addr(srv)}, Message{From: "a@example.com", To: []string{"b@example.com"}, Subject: "s"}); err != nil {
		t.Fatal(err)
	}
	ses := srv.NextSession()
	if got := commands(t, ses)[0]; got != "HELO localhost" {
		t.Errorf("HELO without a name: %q, want HELO localhost", got)
	}
	_, headers, _ := message(t, ses)
	date, err := time.Parse(time.RFC1123Z, strings.TrimPrefix(headers[0], "Date: "))
	if err != nil || date.Before(before) || date.After(time.Now().Add(time.Second)) {
		t.Errorf("Date of a message without one: %q (%v), want now", headers[0], err)
	}
}

func TestSendHeaderValuesStayOnOneLine(t *testing.T) {
	srv := newTestServer(t, nil)
	m := Message{From: "a@example.com\r\nBcc: evil@example.com", To: []string{"b@example.com"},
		Subject: "hi\nBcc: evil@example.com", Date: testDate}
	if err := Send(context.Background(), Server{Addr: addr(srv), Helo: "x\r\nRCPT TO:<evil@example.com>"}, m); err != nil {
		t.Fatal(err)
	}
	ses := srv.NextSession()
	for _, c := range commands(t, ses) {
		if strings.HasPrefix(c, "RCPT") && strings.Contains(c, "evil") {
			t.Errorf("a CRLF in the HELO name made a command: %q", ses.Commands())
		}
	}
	_, headers, _ := message(t, ses)
	for _, h := range headers {
		if strings.HasPrefix(h, "Bcc") {
			t.Errorf("a CRLF in a header value made a header: %q", headers)
		}
	}
}

func TestSendRefusedRecipient(t *testing.T) {
	srv := newTestServer(t, func(s *smtptest.Script) {
		s.Refuse = map[string]string{"nobody@example.com": "550 5.1.1 no such user\r\n"}
	})
	m := Message{From: "a@example.com", To: []string{"b@example.com", "nobody@example.com", "c@example.com"}, Subject: "s"}
	err := Send(context.Background(), Server{Addr: addr(srv), Timeout: 5 * time.Second}, m)
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "550 5.1.1 no such user") {
		t.Fatalf("Send to a refused recipient: %v, want ErrRefused with the server's reply", err)
	}
	want := []string{"HELO localhost", "MAIL FROM:<a@example.com>", "RCPT TO:<b@example.com>", "RCPT TO:<nobody@example.com>", "QUIT"}
	if got := commands(t, srv.NextSession()); !slices.Equal(got, want) {
		t.Errorf("dialogue after a refusal:\n got %q\nwant %q (no DATA, QUIT sent)", got, want)
	}
}

func TestSendNoRecipients(t *testing.T) {
	if err := Send(context.Background(), Server{Addr: "127.0.0.1:1"}, Message{From: "a@example.com"}); !errors.Is(err, ErrNoRecipients) {
		t.Fatalf("Send without recipients: %v, want ErrNoRecipients", err)
	}
}

// downAddr returns an address nothing listens on.
func downAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestSendServerDown(t *testing.T) {
	err := Send(context.Background(), Server{Addr: downAddr(t), Timeout: 5 * time.Second}, Message{From: "a@example.com", To: []string{"b@example.com"}})
	if err == nil || !strings.Contains(err.Error(), "connect") {
		t.Fatalf("Send to a closed port: %v, want a connect error", err)
	}
}

func TestSendTimeoutAndCancel(t *testing.T) {
	srv := smtptest.New(t, smtptest.Script{}) // accepts and never answers
	m := Message{From: "a@example.com", To: []string{"b@example.com"}}

	start := time.Now()
	err := Send(context.Background(), Server{Addr: addr(srv), Timeout: 200 * time.Millisecond}, m)
	var nerr net.Error
	if !errors.As(err, &nerr) || !nerr.Timeout() {
		t.Errorf("Send to a server that never greets: %v, want a timeout", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("a 200ms timeout took %v", took)
	}

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start = time.Now()
	err = Send(ctx, Server{Addr: addr(srv), Timeout: time.Minute}, m)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Send cancelled: %v, want context.Canceled", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("cancelling took %v", took)
	}
}

func TestFormatAddr(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"admin@example.com", "admin@example.com"},
		{"<admin@example.com>", "<admin@example.com>"},
		{"My admin <admin@example.com>", "My admin <admin@example.com>"},
		{"J. Smith <js@example.com>", `"J. Smith" <js@example.com>`},
		{`Smith, "J" <js@example.com>`, `"Smith, \"J\"" <js@example.com>`},
		{"broken>", "broken>"},
	} {
		if got := FormatAddr(tc.in); got != tc.want {
			t.Errorf("FormatAddr(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// logBuffer is a slog handler's output, safe to read while written.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newLog() (*slog.Logger, *logBuffer) {
	lb := &logBuffer{}
	return slog.New(slog.NewTextHandler(lb, nil)), lb
}

// waitStats polls q until cond holds, failing the test after 10 s.
func waitStats(t *testing.T, q *Queue, what string, cond func(QueueStats) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond(q.Stats()) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: stats %+v", what, q.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestQueueSends(t *testing.T) {
	srv := newTestServer(t, nil)
	log, lb := newLog()
	q := NewQueue(QueueConfig{Log: log})
	s := Server{Addr: addr(srv), Helo: "lb1", Timeout: 5 * time.Second}
	for _, subj := range []string{"one", "two"} {
		if !q.Enqueue(s, Message{From: "a@example.com", To: []string{"b@example.com"}, Subject: subj}) {
			t.Fatalf("Enqueue %s dropped", subj)
		}
	}
	var subjects []string
	for range 2 {
		_, headers, _ := message(t, srv.NextSession())
		subjects = append(subjects, headers[2])
	}
	if want := []string{"Subject: one", "Subject: two"}; !slices.Equal(subjects, want) {
		t.Errorf("sent %q, want %q in order", subjects, want)
	}
	q.Close(context.Background())
	if st := q.Stats(); st.Sent != 2 || st.Failed != 0 || st.Dropped != 0 {
		t.Errorf("stats %+v, want 2 sent", st)
	}
	if n := lb.count("mail alert sent"); n != 2 {
		t.Errorf("%d lines logged for 2 sent, want 2:\n%s", n, lb)
	}
	if q.Enqueue(s, Message{To: []string{"b@example.com"}}) || q.Stats().Dropped != 1 {
		t.Errorf("Enqueue after Close was taken: %+v", q.Stats())
	}
}

// TestQueueFailuresAreCountedNotBlocking: a server that is down or
// refuses the recipient fails every message; Enqueue returns at once
// regardless, each failure is counted and one line a minute is logged.
func TestQueueFailuresAreCountedNotBlocking(t *testing.T) {
	refusing := newTestServer(t, func(s *smtptest.Script) { s.Refuse = map[string]string{"b@example.com": "550 no\r\n"} })
	for _, tc := range []struct {
		desc string
		addr string
	}{{"down", downAddr(t)}, {"refusing RCPT", addr(refusing)}} {
		t.Run(tc.desc, func(t *testing.T) {
			log, lb := newLog()
			q := NewQueue(QueueConfig{Log: log})
			s := Server{Addr: tc.addr, Timeout: 5 * time.Second}
			start := time.Now()
			for range 5 {
				if !q.Enqueue(s, Message{From: "a@example.com", To: []string{"b@example.com"}, Subject: "s"}) {
					t.Fatal("Enqueue dropped a message with room in the queue")
				}
			}
			if took := time.Since(start); took > 100*time.Millisecond {
				t.Errorf("5 Enqueues took %v", took)
			}
			waitStats(t, q, "5 failures", func(st QueueStats) bool { return st.Failed == 5 })
			q.Close(context.Background())
			if st := q.Stats(); st.Sent != 0 || st.Dropped != 0 {
				t.Errorf("stats %+v, want 5 failed only", st)
			}
			if n := lb.count("mail alert not sent"); n != 1 {
				t.Errorf("%d failure lines for 5 failures within a minute, want 1:\n%s", n, lb)
			}
			if !strings.Contains(lb.String(), "mail alert problems not logged") || !strings.Contains(lb.String(), "count=4") {
				t.Errorf("Close does not report the 4 failures left out:\n%s", lb)
			}
		})
	}
}

// blockingSend is a Send that waits for release (or its context).
type blockingSend struct {
	started chan string
	release chan struct{}
}

func (b *blockingSend) send(ctx context.Context, _ Server, m Message) error {
	b.started <- m.Subject
	select {
	case <-b.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func TestQueueFullDrops(t *testing.T) {
	b := &blockingSend{started: make(chan string, 10), release: make(chan struct{})}
	log, lb := newLog()
	q := NewQueue(QueueConfig{Size: 2, Log: log, Send: b.send})
	m := func(s string) Message { return Message{To: []string{"x@example.com"}, Subject: s} }
	q.Enqueue(Server{}, m("1"))
	<-b.started // "1" is being sent; the queue is empty
	if !q.Enqueue(Server{}, m("2")) || !q.Enqueue(Server{}, m("3")) {
		t.Fatal("Enqueue dropped with room in the queue")
	}
	start := time.Now()
	if q.Enqueue(Server{}, m("4")) || q.Enqueue(Server{}, m("5")) {
		t.Fatal("Enqueue on a full queue was taken")
	}
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Errorf("Enqueue on a full queue took %v", took)
	}
	if st := q.Stats(); st.Dropped != 2 || st.Waiting != 2 {
		t.Errorf("stats %+v, want 2 dropped, 2 waiting", st)
	}
	if n := lb.count("mail alert dropped"); n != 1 {
		t.Errorf("%d drop lines for 2 drops within a minute, want 1:\n%s", n, lb)
	}
	close(b.release)
	q.Close(context.Background())
	if st := q.Stats(); st.Sent != 3 || st.Dropped != 2 || st.Waiting != 0 {
		t.Errorf("after Close: %+v, want 3 sent and 2 dropped", st)
	}
}

// TestQueueCloseGivesUp: Close waits for the queued messages only while
// its context lasts; then the send in progress is abandoned (failed) and
// the rest dropped.
func TestQueueCloseGivesUp(t *testing.T) {
	srv := smtptest.New(t, smtptest.Script{}) // accepts and never answers
	q := NewQueue(QueueConfig{})
	s := Server{Addr: addr(srv), Timeout: time.Minute}
	for range 3 {
		q.Enqueue(s, Message{From: "a@example.com", To: []string{"b@example.com"}})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	q.Close(ctx)
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("Close with a 200ms context took %v", took)
	}
	if st := q.Stats(); st.Failed != 1 || st.Dropped != 2 || st.Sent != 0 {
		t.Errorf("stats %+v, want 1 abandoned (failed) and 2 dropped", st)
	}
	q.Close(context.Background()) // a second Close returns too
}

func TestQueueLogLimit(t *testing.T) {
	log, lb := newLog()
	q := NewQueue(QueueConfig{Log: log, Send: func(context.Context, Server, Message) error { return errors.New("boom") }})
	q.mu.Lock()
	q.every = 50 * time.Millisecond
	q.mu.Unlock()
	send := func(n int) {
		for range n {
			q.Enqueue(Server{}, Message{To: []string{"x@example.com"}})
		}
	}
	send(3)
	waitStats(t, q, "3 failures", func(st QueueStats) bool { return st.Failed == 3 })
	time.Sleep(60 * time.Millisecond)
	send(1)
	waitStats(t, q, "4 failures", func(st QueueStats) bool { return st.Failed == 4 })
	q.Close(context.Background())
	if n := lb.count("mail alert not sent"); n != 2 {
		t.Errorf("%d failure lines, want 2 (one per period):\n%s", n, lb)
	}
	if !strings.Contains(lb.String(), "not_logged_since_last=2") {
		t.Errorf("the second line does not count the 2 left out:\n%s", lb)
	}
}
