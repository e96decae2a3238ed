package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// Kind names a checker type by its keepalived.conf keyword.
type Kind string

// The checker types.
const (
	KindTCP  Kind = "TCP_CHECK"
	KindHTTP Kind = "HTTP_GET"
	KindSSL  Kind = "SSL_GET"
	KindMisc Kind = "MISC_CHECK"
	KindUDP  Kind = "UDP_CHECK"
	KindPing Kind = "PING_CHECK"
	KindDNS  Kind = "DNS_CHECK"
	KindSMTP Kind = "SMTP_CHECK"
)

// Defaults shared by several checkers, as in keepalived.
const (
	// DefaultConnectTimeout is used when Conn.ConnectTimeout is zero.
	DefaultConnectTimeout = 5 * time.Second
	// DefaultDelayLoop is used when Policy.DelayLoop is zero, and as the
	// MISC_CHECK timeout when MiscConfig.Timeout is zero.
	DefaultDelayLoop = 60 * time.Second
	// DefaultDelayBeforeRetry is used when Policy.DelayBeforeRetry is
	// zero.
	DefaultDelayBeforeRetry = time.Second
)

// Errors that checks wrap in Result.Err, so that callers can tell failures
// apart with errors.Is. Network errors (refused, timed out) are returned as
// the net package reports them.
var (
	// ErrBadStatus: an HTTP response had a status code outside the
	// accepted set.
	ErrBadStatus = errors.New("unexpected HTTP status")
	// ErrDigest: the MD5 digest of an HTTP body did not match.
	ErrDigest = errors.New("digest mismatch")
	// ErrNoResponse: the server closed the connection, or stayed silent,
	// without a usable answer.
	ErrNoResponse = errors.New("no response")
	// ErrReplyMismatch: a UDP reply had the wrong length or contents.
	ErrReplyMismatch = errors.New("reply mismatch")
	// ErrDNSRcode: a DNS reply carried a response code other than
	// NOERROR.
	ErrDNSRcode = errors.New("DNS error response")
	// ErrSMTPReply: an SMTP server's greeting or answer to HELO had the
	// wrong code, or was not an SMTP reply.
	ErrSMTPReply = errors.New("unexpected SMTP reply")
	// ErrExitStatus: a MISC_CHECK script exited with a failing status.
	ErrExitStatus = errors.New("script failed")
	// ErrScriptTimeout: a script ran past its timeout and was killed.
	ErrScriptTimeout = errors.New("script timed out")
	// ErrInvalidConfig is wrapped by every error from a NewChecker
	// method, ParseStatusCodes, ParseHex and SplitCommand.
	ErrInvalidConfig = errors.New("invalid health check configuration")
)

// Checker runs one health check of one real server.
//
// Check makes one attempt and reports it; retries, delays and state belong
// to Policy and Runner. It must return soon after ctx is done. The
// checkers of this package bound every attempt by their own timeout as
// well, are stateless between calls and are safe for concurrent use.
type Checker interface {
	Check(ctx context.Context) Result
}

// CheckerFunc adapts a function to the Checker interface.
type CheckerFunc func(ctx context.Context) Result

// Check calls f(ctx).
func (f CheckerFunc) Check(ctx context.Context) Result { return f(ctx) }

// Result is the outcome of one check.
type Result struct {
	// Healthy reports whether the check passed.
	Healthy bool
	// Weight is a weight reported by the check (MISC_CHECK with
	// misc_dynamic); it is meaningful only when HasWeight is set, and
	// only on a healthy result.
	Weight    int
	HasWeight bool
	// Err says why the check failed; nil when Healthy.
	Err error
}

func pass() Result { return Result{Healthy: true} }

func fail(err error) Result { return Result{Err: err} }

// Config is the configuration of one checker: TCPConfig, HTTPConfig,
// MiscConfig, UDPConfig, PingConfig, DNSConfig or SMTPConfig. It is plain data, filled
// by the configuration layer; NewChecker validates it and builds the live
// Checker.
type Config interface {
	// Kind returns the checker's keepalived keyword.
	Kind() Kind
	// NewChecker returns a checker for the real server at server, whose
	// address and port are used where connect_ip and connect_port are
	// not set. Errors wrap ErrInvalidConfig.
	NewChecker(server netip.AddrPort) (Checker, error)
}

// Conn holds the connection keywords common to the network checkers.
// The zero value connects to the real server's address and port from an
// address and port the kernel picks, with DefaultConnectTimeout.
type Conn struct {
	// ConnectIP is connect_ip: the address to check. Zero means the real
	// server's address.
	ConnectIP netip.Addr
	// ConnectPort is connect_port: the port to check. Zero means the real
	// server's port.
	ConnectPort uint16
	// BindTo is bindto: the local address checks are sent from. Zero
	// lets the kernel choose. It must be of the same family as the
	// address checked.
	BindTo netip.Addr
	// BindPort is bind_port: the local port checks are sent from. Zero
	// lets the kernel choose.
	BindPort uint16
	// ConnectTimeout is connect_timeout. It bounds a whole attempt —
	// connecting, sending and receiving — where keepalived applies it to
	// each step. Zero means DefaultConnectTimeout.
	ConnectTimeout time.Duration
}

// endpoint is a resolved Conn: where one checker connects to and from.
type endpoint struct {
	remote  netip.AddrPort
	local   netip.AddrPort // zero address: any; zero port: any
	timeout time.Duration
}

// endpoint resolves c against the real server's address. needPort says
// whether the protocol needs a port (all but ICMP).
func (c Conn) endpoint(server netip.AddrPort, needPort bool) (endpoint, error) {
	ip := c.ConnectIP
	if !ip.IsValid() {
		ip = server.Addr()
	}
	if !ip.IsValid() {
		return endpoint{}, fmt.Errorf("%w: no address to check", ErrInvalidConfig)
	}
	ip = ip.Unmap()
	if ip.IsUnspecified() {
		return endpoint{}, fmt.Errorf("%w: cannot check the unspecified address %s", ErrInvalidConfig, ip)
	}
	port := c.ConnectPort
	if port == 0 {
		port = server.Port()
	}
	if needPort && port == 0 {
		return endpoint{}, fmt.Errorf("%w: no port to check on %s", ErrInvalidConfig, ip)
	}
	bind := c.BindTo.Unmap()
	if bind.IsValid() && bind.Is4() != ip.Is4() {
		return endpoint{}, fmt.Errorf("%w: bindto %s is not of the same family as %s", ErrInvalidConfig, bind, ip)
	}
	if c.ConnectTimeout < 0 {
		return endpoint{}, fmt.Errorf("%w: negative connect_timeout %v", ErrInvalidConfig, c.ConnectTimeout)
	}
	timeout := c.ConnectTimeout
	if timeout == 0 {
		timeout = DefaultConnectTimeout
	}
	return endpoint{
		remote:  netip.AddrPortFrom(ip, port),
		local:   netip.AddrPortFrom(bind, c.BindPort),
		timeout: timeout,
	}, nil
}

// hasLocal reports whether a local address or port was configured.
func (e endpoint) hasLocal() bool {
	return e.local.Addr().IsValid() || e.local.Port() != 0
}

// dial connects to e.remote over network ("tcp" or "udp"), from e.local
// when set, until ctx is done.
func (e endpoint) dial(ctx context.Context, network string) (net.Conn, error) {
	var d net.Dialer
	if e.hasLocal() {
		switch network {
		case "tcp":
			d.LocalAddr = net.TCPAddrFromAddrPort(e.local)
		case "udp":
			d.LocalAddr = net.UDPAddrFromAddrPort(e.local)
		}
		if e.local.Port() != 0 {
			d.Control = reuseAddr
		}
	}
	return d.DialContext(ctx, network, e.remote.String())
}

// reuseAddr sets SO_REUSEADDR, so that a fixed bind_port can be used again
// while an earlier connection from it is in TIME_WAIT.
func reuseAddr(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

// longAgo is a deadline in the past, used to abort blocked I/O.
var longAgo = time.Unix(1, 0)

// deadlineConn is what watch needs of a connection.
type deadlineConn interface {
	SetDeadline(t time.Time) error
}

// watch applies ctx's deadline to conn and aborts its I/O when ctx is
// done. The returned function stops watching.
func watch(ctx context.Context, conn deadlineConn) (stop func() bool) {
	if d, ok := ctx.Deadline(); ok {
		conn.SetDeadline(d)
	}
	return context.AfterFunc(ctx, func() { conn.SetDeadline(longAgo) })
}

// isTimeout reports whether err is a timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
