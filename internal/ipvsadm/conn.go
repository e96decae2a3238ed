package ipvsadm

import (
	"fmt"
	"io"
	"net/netip"
	"time"
)

// Conn is one connection entry, as /proc/net/ip_vs_conn shows it to
// `ipvsadm -L -c`.
type Conn struct {
	// Protocol is the protocol as IPVS names it: "TCP", "UDP", "SCTP".
	// It is listed as given, three columns wide.
	Protocol string
	// Expires is the time left before the entry expires; it is listed as
	// minutes and whole seconds, "mm:ss". A negative value lists as 00:00.
	Expires time.Duration
	// State is the connection state as IPVS names it, such as
	// "ESTABLISHED", "SYN_RECV", "FIN_WAIT", "TIME_WAIT", "CLOSE" or, for
	// UDP, "UDP". It is listed as given.
	State string
	// Client, Virtual and Dest are the client, the virtual service and
	// the real server the connection is forwarded to.
	Client, Virtual, Dest netip.AddrPort
	// PEName and PEData are the persistence engine and its data for the
	// connection (for the sip engine, the Call-ID); empty for none. They
	// are listed with Options.PersistentConn when both are set, as
	// ipvsadm does only when /proc/net/ip_vs_conn shows both.
	PEName, PEData string
}

// WriteConns writes conns as `ipvsadm -L -c` lists them (list_conn and
// print_conn in ipvsadm.c), in the order given. Of o, only Numeric,
// Resolver and PersistentConn are used; ipvsadm refuses --stats, --rate
// and --thresholds with -c, and this function ignores them. The listing is
// written with a single Write; an error from w is returned wrapped.
func WriteConns(w io.Writer, conns []Conn, o Options) error {
	// list_conn: "IPVS connection entries\n"
	b := []byte("IPVS connection entries\n")
	if o.PersistentConn {
		// list_conn: "pro expire %-11s %-18s %-18s %-18s %-16s %s\n"
		b = append(b, "pro expire "...)
		b = padRight(b, "state", 11)
		b = padRight(append(b, ' '), "source", 18)
		b = padRight(append(b, ' '), "virtual", 18)
		b = padRight(append(b, ' '), "destination", 18)
		b = padRight(append(b, ' '), "pe name", 16)
		b = append(b, " pe_data\n"...)
	} else {
		// list_conn: "pro expire %-11s %-18s %-18s %s\n"
		b = append(b, "pro expire "...)
		b = padRight(b, "state", 11)
		b = padRight(append(b, ' '), "source", 18)
		b = padRight(append(b, ' '), "virtual", 18)
		b = append(b, " destination\n"...)
	}
	for i := range conns {
		b = appendConn(b, &conns[i], &o)
	}
	return write(w, b)
}

// appendConn appends one connection line (print_conn).
func appendConn(b []byte, c *Conn, o *Options) []byte {
	cname := addrPort(c.Client.Addr(), c.Client.Port(), c.Protocol, o)
	vname := addrPort(c.Virtual.Addr(), c.Virtual.Port(), c.Protocol, o)
	dname := addrPort(c.Dest.Addr(), c.Dest.Port(), c.Protocol, o)
	secs := max(int64(c.Expires/time.Second), 0)
	// print_conn: "%02d:%02d" of minutes and seconds.
	expire := fmt.Sprintf("%02d:%02d", secs/60, secs%60)

	b = padRight(b, c.Protocol, 3)
	b = padRight(append(b, ' '), expire, 6)
	b = padRight(append(b, ' '), c.State, 11)
	b = padRight(append(b, ' '), cname, 18)
	b = padRight(append(b, ' '), vname, 18)
	if o.PersistentConn && c.PEName != "" && c.PEData != "" {
		// print_conn with PE data: "%-3s %-6s %-11s %-18s %-18s %-16s %-18s %s\n".
		// The destination is 16 wide and the engine name 18, the other
		// way round from the title; ipvsadm does so.
		b = padRight(append(b, ' '), dname, 16)
		b = padRight(append(b, ' '), c.PEName, 18)
		b = append(append(b, ' '), c.PEData...)
	} else {
		// print_conn: "%-3s %-6s %-11s %-18s %-18s %s\n"
		b = append(append(b, ' '), dname...)
	}
	return append(b, '\n')
}
