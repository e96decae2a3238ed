// Package mail sends the e-mail alerts xvs sends as keepalived does: a
// plain SMTP client (HELO, MAIL, RCPT, DATA, QUIT, no authentication, no
// TLS, as keepalived's) and a bounded queue that sends in the background,
// so that nothing that raises an alert ever waits for a mail server.
//
// The message is keepalived's: the headers Date, From, Subject, X-Mailer
// and To, and a short text body.
package mail

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"time"
)

// DefaultTimeout is keepalived's smtp_connect_timeout default: the bound
// on connecting and on waiting for each reply of the server.
const DefaultTimeout = 30 * time.Second

// DefaultHelo is the HELO name keepalived falls back to when it has
// neither smtp_helo_name nor a host name.
const DefaultHelo = "localhost"

// Mailer is what X-Mailer says.
const Mailer = "xvs"

// Server is an SMTP server and how to talk to it.
type Server struct {
	// Addr is the server's "host:port" (net.JoinHostPort).
	Addr string
	// Helo is the name sent with HELO; DefaultHelo when empty.
	Helo string
	// Timeout bounds the connection and the wait for each reply;
	// DefaultTimeout when zero.
	Timeout time.Duration
}

// Message is one alert.
type Message struct {
	// From is the sender, "addr@example.com" or
	// "Display Name <addr@example.com>".
	From string
	// To are the recipients, in the same forms as From.
	To []string
	// Subject is the subject line.
	Subject string
	// Body is the text. Line ends may be "\n" or "\r\n"; they are sent
	// as CRLF.
	Body string
	// Date is the Date header; the time of sending when zero.
	Date time.Time
}

// Errors of Send, for errors.Is.
var (
	// ErrNoRecipients: the message has no To address.
	ErrNoRecipients = errors.New("no recipients")
	// ErrRefused: the server answered a command with a code other than
	// the one the dialogue needs; the error names the command and gives
	// the server's reply.
	ErrRefused = errors.New("refused by the server")
)

// Send delivers m through the server s: it connects (within s.Timeout),
// says HELO, gives the sender and each recipient, sends the message and
// quits, waiting at most s.Timeout for each reply. A recipient the server
// refuses aborts the whole message, as keepalived does. ctx ends the
// dialogue early.
func Send(ctx context.Context, s Server, m Message) error {
	if len(m.To) == 0 {
		return fmt.Errorf("mail: %w", ErrNoRecipients)
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	helo := oneLine(s.Helo)
	if helo == "" {
		helo = DefaultHelo
	}
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("mail: connect to %s: %w", s.Addr, err)
	}
	defer conn.Close()
	c := &client{conn: conn, tp: textproto.NewConn(conn), timeout: timeout}
	// Ending ctx ends the dialogue: the connection's deadline is moved
	// to the past, which fails the read or write in progress, and no
	// later step sets another.
	stop := context.AfterFunc(ctx, c.cancel)
	defer stop()
	err = c.dialogue(helo, m)
	if ctx.Err() != nil {
		return fmt.Errorf("mail: %s: %w", s.Addr, context.Cause(ctx))
	}
	if err != nil {
		return fmt.Errorf("mail: %s: %w", s.Addr, err)
	}
	return nil
}

type client struct {
	conn    net.Conn
	tp      *textproto.Conn
	timeout time.Duration

	mu        sync.Mutex
	cancelled bool
}

// errCancelled stands for the context's error, which Send returns.
var errCancelled = errors.New("cancelled")

// cancel stops the dialogue for good.
func (c *client) cancel() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cancelled = true
	c.conn.SetDeadline(time.Unix(1, 0))
}

// step gives the next exchange its timeout, unless the dialogue was
// cancelled.
func (c *client) step() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cancelled {
		return errCancelled
	}
	return c.conn.SetDeadline(time.Now().Add(c.timeout))
}

// dialogue runs the SMTP exchange; on a refusal after the greeting it
// still says QUIT, as keepalived does.
func (c *client) dialogue(helo string, m Message) error {
	if err := c.expect(220, "greeting"); err != nil {
		return err
	}
	err := c.exchange(m, helo)
	if err != nil && errors.Is(err, ErrRefused) {
		c.cmd(221, "QUIT") //nolint:errcheck // the refusal is what matters
	}
	return err
}

func (c *client) exchange(m Message, helo string) error {
	if err := c.cmd(250, "HELO %s", helo); err != nil {
		return err
	}
	if err := c.cmd(250, "MAIL FROM:%s", envelope(m.From)); err != nil {
		return err
	}
	for _, to := range m.To {
		if err := c.cmd(250, "RCPT TO:%s", envelope(to)); err != nil {
			return err
		}
	}
	if err := c.cmd(354, "DATA"); err != nil {
		return err
	}
	if err := c.step(); err != nil {
		return err
	}
	w := c.tp.DotWriter() // dot-stuffing, CRLF line ends and the final "."
	date := m.Date
	if date.IsZero() {
		date = time.Now()
	}
	if _, err := w.Write(Format(m, date)); err != nil {
		w.Close()
		return fmt.Errorf("sending the message: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("sending the message: %w", err)
	}
	if err := c.expect(250, "message"); err != nil {
		return err
	}
	return c.cmd(221, "QUIT")
}

// cmd sends one command and reads its reply, which must have code want.
func (c *client) cmd(want int, format string, args ...any) error {
	if err := c.step(); err != nil {
		return err
	}
	if err := c.tp.PrintfLine(format, args...); err != nil {
		return fmt.Errorf("sending %s: %w", verb(format), err)
	}
	return c.expect(want, verb(format))
}

// expect reads a reply (a multi-line one whole) and checks its code.
func (c *client) expect(want int, what string) error {
	if err := c.step(); err != nil {
		return err
	}
	_, _, err := c.tp.ReadResponse(want)
	if err != nil {
		var perr *textproto.Error
		if errors.As(err, &perr) {
			return fmt.Errorf("%s %w: %d %s", what, ErrRefused, perr.Code, perr.Msg)
		}
		return fmt.Errorf("reading the reply to %s: %w", what, err)
	}
	return nil
}

// verb is the command word of a command format, for messages.
func verb(format string) string {
	v, _, _ := strings.Cut(format, " ")
	v, _, _ = strings.Cut(v, ":")
	return v
}

// Format returns the message as sent after DATA, before dot-stuffing: the
// headers as keepalived writes them (Date in RFC 5322 form, From,
// Subject, X-Mailer, To with the recipients separated by "," and folded
// one per line), a blank line and the body, every line ended by CRLF.
// Header values are kept to one line: a CR or LF in them becomes a space.
func Format(m Message, date time.Time) []byte {
	var b strings.Builder
	b.WriteString("Date: " + date.Format(time.RFC1123Z) + "\r\n")
	b.WriteString("From: " + oneLine(m.From) + "\r\n")
	b.WriteString("Subject: " + oneLine(m.Subject) + "\r\n")
	b.WriteString("X-Mailer: " + Mailer + "\r\n")
	b.WriteString("To:")
	for i, to := range m.To {
		if i > 0 {
			b.WriteString(",\r\n")
		}
		b.WriteString(" " + oneLine(to))
	}
	b.WriteString("\r\n\r\n")
	body := strings.ReplaceAll(m.Body, "\r\n", "\n")
	body = strings.TrimSuffix(body, "\n")
	for line := range strings.SplitSeq(body, "\n") {
		b.WriteString(strings.TrimSuffix(line, "\r") + "\r\n")
	}
	return []byte(b.String())
}

// envelope returns the address of MAIL FROM or RCPT TO: the part in
// angle brackets of "Name <addr>", else the whole address in brackets.
func envelope(addr string) string {
	addr = oneLine(strings.TrimSpace(addr))
	if strings.HasSuffix(addr, ">") {
		if i := strings.LastIndexByte(addr, '<'); i >= 0 {
			return addr[i:]
		}
	}
	return "<" + addr + ">"
}

// oneLine replaces CR and LF with spaces, so that a value cannot start a
// header or a command of its own.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
}

// FormatAddr returns an address as keepalived writes it in headers
// (format_email_addr): "Name <addr>" whose name holds one of RFC 5322's
// specials ()<>[]:;@\,. gets the name quoted, with " and \ escaped;
// anything else is returned as it is.
func FormatAddr(addr string) string {
	if !strings.HasSuffix(addr, ">") {
		return addr
	}
	lt := strings.LastIndexByte(addr, '<')
	if lt < 0 {
		return addr
	}
	name := strings.TrimRight(addr[:lt], " \t")
	if name == "" || !strings.ContainsAny(name, `()<>[]:;@\,.`) {
		return addr
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(name); i++ {
		if name[i] == '"' || name[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(name[i])
	}
	b.WriteByte('"')
	b.WriteString(addr[len(name):])
	return b.String()
}
