package healthcheck

import (
	"context"
	"net/netip"
)

// TCPConfig configures a TCP_CHECK: the server is healthy when a TCP
// connection to it can be opened within the connect timeout. The
// connection is closed at once; nothing is sent.
type TCPConfig struct {
	Conn
}

// Kind returns KindTCP.
func (TCPConfig) Kind() Kind { return KindTCP }

// NewChecker returns a *TCPChecker.
func (c TCPConfig) NewChecker(server netip.AddrPort) (Checker, error) {
	ep, err := c.Conn.endpoint(server, true)
	if err != nil {
		return nil, err
	}
	return &TCPChecker{ep: ep}, nil
}

// TCPChecker is a TCP_CHECK. Build it with TCPConfig.NewChecker.
type TCPChecker struct {
	ep endpoint
}

// Check connects and closes the connection.
func (c *TCPChecker) Check(ctx context.Context) Result {
	ctx, cancel := context.WithTimeout(ctx, c.ep.timeout)
	defer cancel()
	conn, err := c.ep.dial(ctx, "tcp")
	if err != nil {
		return fail(err)
	}
	conn.Close()
	return pass()
}

// String returns "TCP_CHECK address:port".
func (c *TCPChecker) String() string { return string(KindTCP) + " " + c.ep.remote.String() }
