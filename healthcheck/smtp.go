package healthcheck

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
)

// DefaultHeloName is the name an SMTP_CHECK sends with HELO when
// SMTPConfig.HeloName is empty. It is keepalived's default, so that a mail
// server set up for keepalived's checker (not logging it, say) sees the
// same name from xvs.
const DefaultHeloName = "smtpchecker.keepalived.org"

// maxSMTPReply bounds one SMTP reply, all its lines together; RFC 5321
// allows 512 bytes a line.
const maxSMTPReply = 16 << 10

// SMTPConfig configures an SMTP_CHECK: a server is healthy when this
// dialogue with it goes through, as keepalived holds it:
//
//	S: 220 mx.example.com ESMTP     the greeting: any other code fails
//	C: HELO <HeloName>
//	S: 250 mx.example.com           any other code fails
//	C: QUIT
//	S: 221 Bye                      must arrive; its code is not checked
//
// A reply may span several lines ("250-first", …, "250 last") as RFC
// 5321 has it; keepalived reads only a first line, and so fails a server
// whose greeting has several. The dialogue with a server, connecting
// included, is bounded by that server's ConnectTimeout. The check passes
// when the dialogue passes with Conn and then with every one of Hosts.
type SMTPConfig struct {
	// Conn is the first server: by default the real server's address and
	// port (keepalived's default port for SMTP_CHECK is the real server's
	// too, so a real server on port 25 is checked on port 25).
	Conn
	// HeloName is helo_name: the name sent with HELO; empty means
	// DefaultHeloName. It must be one word, without white space or
	// control characters.
	HeloName string
	// Hosts are further servers that must pass too, in order after
	// Conn: keepalived's (deprecated) host blocks. Each resolves against
	// the real server as Conn does: a zero ConnectIP or ConnectPort is
	// the real server's, a zero ConnectTimeout DefaultConnectTimeout.
	Hosts []Conn
}

// Kind returns KindSMTP.
func (SMTPConfig) Kind() Kind { return KindSMTP }

// NewChecker validates c and returns an *SMTPChecker.
func (c SMTPConfig) NewChecker(server netip.AddrPort) (Checker, error) {
	name := c.HeloName
	if name == "" {
		name = DefaultHeloName
	}
	if strings.IndexFunc(name, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		return nil, fmt.Errorf("%w: helo_name %q is not a single word", ErrInvalidConfig, name)
	}
	ch := &SMTPChecker{helo: []byte("HELO " + name + "\r\n")}
	for i, conn := range append([]Conn{c.Conn}, c.Hosts...) {
		ep, err := conn.endpoint(server, true)
		if err != nil {
			if i > 0 {
				return nil, fmt.Errorf("host %d: %w", i, err)
			}
			return nil, err
		}
		ch.servers = append(ch.servers, ep)
	}
	return ch, nil
}

// SMTPChecker is an SMTP_CHECK. Build it with SMTPConfig.NewChecker.
type SMTPChecker struct {
	servers []endpoint // Conn, then the Hosts
	helo    []byte     // "HELO name\r\n"
}

// String returns "SMTP_CHECK" and the address and port of each server,
// e.g. "SMTP_CHECK 10.0.0.1:25 10.0.0.2:587".
func (c *SMTPChecker) String() string {
	var b strings.Builder
	b.WriteString(string(KindSMTP))
	for _, ep := range c.servers {
		b.WriteString(" " + ep.remote.String())
	}
	return b.String()
}

// Check holds the dialogue with each server in turn and fails at the
// first that fails. The error names that server and wraps ErrSMTPReply,
// ErrNoResponse or the network error (refused, timed out).
func (c *SMTPChecker) Check(ctx context.Context) Result {
	for _, ep := range c.servers {
		if err := c.dialogue(ctx, ep); err != nil {
			return fail(fmt.Errorf("SMTP server %s: %w", ep.remote, err))
		}
	}
	return pass()
}

// smtpQuit ends a dialogue.
var smtpQuit = []byte("QUIT\r\n")

// dialogue holds the SMTP dialogue with one server.
func (c *SMTPChecker) dialogue(ctx context.Context, ep endpoint) error {
	ctx, cancel := context.WithTimeout(ctx, ep.timeout)
	defer cancel()
	conn, err := ep.dial(ctx, "tcp")
	if err != nil {
		return err
	}
	defer conn.Close()
	defer watch(ctx, conn)()

	br := bufio.NewReaderSize(conn, 1024)
	if err := expectSMTP(br, "greeting", 220); err != nil {
		return err
	}
	if _, err := conn.Write(c.helo); err != nil {
		return fmt.Errorf("sending HELO: %w", err)
	}
	if err := expectSMTP(br, "answer to HELO", 250); err != nil {
		return err
	}
	if _, err := conn.Write(smtpQuit); err != nil {
		return fmt.Errorf("sending QUIT: %w", err)
	}
	// keepalived only waits for a line, whatever it says.
	budget := maxSMTPReply
	if _, err := readSMTPLine(br, &budget); err != nil {
		return fmt.Errorf("reading the answer to QUIT: %w", err)
	}
	return nil
}

// expectSMTP reads a reply and fails unless its code is want.
func expectSMTP(br *bufio.Reader, what string, want int) error {
	code, line, err := readSMTPReply(br)
	if err != nil {
		return fmt.Errorf("reading the %s: %w", what, err)
	}
	if code != want {
		return fmt.Errorf("%w: %s %q, want %d", ErrSMTPReply, what, trimForError(line), want)
	}
	return nil
}

// readSMTPReply reads one reply, of one line or several, and returns its
// code and its last line.
func readSMTPReply(br *bufio.Reader) (code int, last string, err error) {
	budget := maxSMTPReply
	for first := true; ; first = false {
		line, err := readSMTPLine(br, &budget)
		if err != nil {
			return 0, "", err
		}
		c, more, ok := parseSMTPLine(line)
		if !ok || !first && c != code {
			return 0, "", fmt.Errorf("%w: %q is not an SMTP reply line", ErrSMTPReply, trimForError(line))
		}
		code = c
		if !more {
			return code, line, nil
		}
	}
}

// parseSMTPLine parses a reply line: "250 text" or "250" ends a reply,
// "250-text" says more lines follow. Codes are 200 to 599.
func parseSMTPLine(line string) (code int, more, ok bool) {
	if len(line) < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '9' || line[2] < '0' || line[2] > '9' {
		return 0, false, false
	}
	code = int(line[0]-'0')*100 + int(line[1]-'0')*10 + int(line[2]-'0')
	switch {
	case len(line) == 3 || line[3] == ' ':
		return code, false, true
	case line[3] == '-':
		return code, true, true
	}
	return 0, false, false
}

// readSMTPLine reads one line ending in LF (CR LF accepted), charging its
// length to *budget. A connection closed before the line ends gives an
// error wrapping ErrNoResponse.
func readSMTPLine(br *bufio.Reader, budget *int) (string, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		*budget -= len(chunk)
		if *budget < 0 {
			return "", fmt.Errorf("%w: reply longer than %d bytes", ErrSMTPReply, maxSMTPReply)
		}
		line = append(line, chunk...)
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case errors.Is(err, io.EOF) && len(line) == 0:
			return "", fmt.Errorf("%w: the server closed the connection", ErrNoResponse)
		case errors.Is(err, io.EOF):
			return "", fmt.Errorf("%w: the server closed the connection within a line", ErrNoResponse)
		case err != nil:
			return "", err
		}
		return strings.TrimSuffix(string(line[:len(line)-1]), "\r"), nil
	}
}
