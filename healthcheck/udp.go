package healthcheck

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
)

// DefaultMaxReplyLength is used when UDPConfig.MaxReplyLength is zero, as
// in keepalived.
const DefaultMaxReplyLength = 255

// UDPConfig configures a UDP_CHECK. The checker sends one datagram from a
// connected socket and waits up to the connect timeout:
//
//   - Without RequireReply, the server is healthy unless an ICMP error
//     (port, host or network unreachable) comes back; silence is health,
//     so a healthy check always takes the whole timeout.
//   - With RequireReply, a reply must arrive within the timeout, its
//     length must be within MinReplyLength..MaxReplyLength and, if Reply
//     is set, it must match Reply.
type UDPConfig struct {
	Conn
	// Payload is payload: the datagram to send. Nil sends 8 random bytes.
	Payload []byte
	// RequireReply is require_reply.
	RequireReply bool
	// Reply is require_reply's hex string, decoded (see ParseHex). The
	// reply must match it over the shorter of the two lengths.
	Reply []byte
	// ReplyMask marks bits of Reply to ignore (the "x" nibbles of the hex
	// string); nil compares every bit. When set it has Reply's length.
	ReplyMask []byte
	// MinReplyLength is min_reply_length.
	MinReplyLength int
	// MaxReplyLength is max_reply_length; zero means
	// DefaultMaxReplyLength.
	MaxReplyLength int
}

// Kind returns KindUDP.
func (UDPConfig) Kind() Kind { return KindUDP }

// NewChecker validates c and returns a *UDPChecker.
func (c UDPConfig) NewChecker(server netip.AddrPort) (Checker, error) {
	ep, err := c.Conn.endpoint(server, true)
	if err != nil {
		return nil, err
	}
	maxLen := c.MaxReplyLength
	if maxLen == 0 {
		maxLen = DefaultMaxReplyLength
	}
	switch {
	case c.MinReplyLength < 0 || maxLen < 0 || maxLen > 65535:
		return nil, fmt.Errorf("%w: reply lengths must be within 0..65535", ErrInvalidConfig)
	case c.MinReplyLength > maxLen:
		return nil, fmt.Errorf("%w: min_reply_length %d > max_reply_length %d", ErrInvalidConfig, c.MinReplyLength, maxLen)
	case c.ReplyMask != nil && len(c.ReplyMask) != len(c.Reply):
		return nil, fmt.Errorf("%w: reply mask length %d differs from reply length %d", ErrInvalidConfig, len(c.ReplyMask), len(c.Reply))
	case len(c.Reply) > 0 && !c.RequireReply:
		return nil, fmt.Errorf("%w: a reply pattern needs require_reply", ErrInvalidConfig)
	case len(c.Payload) > 65507:
		return nil, fmt.Errorf("%w: payload of %d bytes does not fit a datagram", ErrInvalidConfig, len(c.Payload))
	}
	return &UDPChecker{
		ep:      ep,
		payload: c.Payload,
		require: c.RequireReply,
		reply:   c.Reply,
		mask:    c.ReplyMask,
		minLen:  c.MinReplyLength,
		maxLen:  maxLen,
	}, nil
}

// UDPChecker is a UDP_CHECK. Build it with UDPConfig.NewChecker.
type UDPChecker struct {
	ep             endpoint
	payload        []byte
	require        bool
	reply, mask    []byte
	minLen, maxLen int
}

// String returns "UDP_CHECK address:port".
func (c *UDPChecker) String() string { return string(KindUDP) + " " + c.ep.remote.String() }

// Check sends the payload and judges the reply, or its absence. Errors wrap
// ErrNoResponse (no reply when one is required), ErrReplyMismatch or the
// network error (an ICMP error shows as "connection refused" and the
// like).
func (c *UDPChecker) Check(parent context.Context) Result {
	ctx, cancel := context.WithTimeout(parent, c.ep.timeout)
	defer cancel()
	conn, err := c.ep.dial(ctx, "udp")
	if err != nil {
		return fail(err)
	}
	defer conn.Close()
	defer watch(ctx, conn)()

	payload := c.payload
	if payload == nil {
		var b [8]byte
		for i := range b {
			b[i] = byte(rand.Uint32())
		}
		payload = b[:]
	}
	if _, err := conn.Write(payload); err != nil {
		return fail(fmt.Errorf("send: %w", err))
	}
	// One byte more than allowed, so that a reply too long is seen.
	buf := make([]byte, c.maxLen+1)
	n, err := conn.Read(buf)
	if err != nil {
		if parent.Err() != nil {
			return fail(parent.Err())
		}
		if !c.require && isTimeout(err) {
			return pass() // silence without an ICMP error
		}
		if isTimeout(err) {
			return fail(fmt.Errorf("%w: %w", ErrNoResponse, err))
		}
		return fail(err)
	}
	if !c.require {
		return pass()
	}
	if n < c.minLen || n > c.maxLen {
		return fail(fmt.Errorf("%w: reply of %d bytes, want %d..%d", ErrReplyMismatch, n, c.minLen, c.maxLen))
	}
	if !matchReply(buf[:n], c.reply, c.mask) {
		return fail(fmt.Errorf("%w: reply % x", ErrReplyMismatch, buf[:min(n, 32)]))
	}
	return pass()
}

// matchReply compares got with want over the shorter length, ignoring the
// bits set in mask.
func matchReply(got, want, mask []byte) bool {
	for i := range min(len(got), len(want)) {
		ignore := byte(0)
		if mask != nil {
			ignore = mask[i]
		}
		if (got[i]^want[i])&^ignore != 0 {
			return false
		}
	}
	return true
}

// ParseHex decodes keepalived's free-format hex strings, used by UDP_CHECK's
// payload and require_reply. White space separates groups; each group is
// read two digits to a byte from its start, and an odd last digit makes a
// byte of its own, so "Ab12f 3 456" is AB 12 0F 03 45 06. A digit written
// x or X matches anything: its bits are set in mask. mask is nil when there
// is no x. Errors wrap ErrInvalidConfig.
func ParseHex(s string) (data, mask []byte, err error) {
	hasX := false
	for group := range strings.FieldsSeq(s) {
		for i := 0; i < len(group); i += 2 {
			pair := group[i:min(i+2, len(group))]
			var b, m byte
			for _, c := range []byte(pair) {
				v, x, ok := hexDigit(c)
				if !ok {
					return nil, nil, fmt.Errorf("%w: %q is not a hex digit in %q", ErrInvalidConfig, c, s)
				}
				b, m = b<<4|v, m<<4
				if x {
					m |= 0xf
					hasX = true
				}
			}
			data = append(data, b)
			mask = append(mask, m)
		}
	}
	if len(data) == 0 {
		return nil, nil, fmt.Errorf("%w: empty hex string", ErrInvalidConfig)
	}
	if !hasX {
		mask = nil
	}
	return data, mask, nil
}

func hexDigit(c byte) (v byte, x, ok bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', false, true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, false, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, false, true
	case c == 'x' || c == 'X':
		return 0, true, true
	}
	return 0, false, false
}
