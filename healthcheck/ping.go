package healthcheck

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"syscall"
)

// PingConfig configures a PING_CHECK: one ICMP (or ICMPv6) echo request;
// the server is healthy when the matching echo reply arrives within the
// connect timeout. Conn's ports are ignored.
//
// The checker uses an unprivileged ICMP datagram socket ("ping socket")
// when net.ipv4.ping_group_range admits the process's group, and
// otherwise a raw socket, which needs CAP_NET_RAW. Unlike keepalived it
// never changes ping_group_range.
type PingConfig struct {
	Conn
}

// Kind returns KindPing.
func (PingConfig) Kind() Kind { return KindPing }

// NewChecker returns a *PingChecker.
func (c PingConfig) NewChecker(server netip.AddrPort) (Checker, error) {
	ep, err := c.Conn.endpoint(server, false)
	if err != nil {
		return nil, err
	}
	ep.remote = netip.AddrPortFrom(ep.remote.Addr(), 0)
	ep.local = netip.AddrPortFrom(ep.local.Addr(), 0)
	return &PingChecker{ep: ep}, nil
}

// pingMode selects the kind of ICMP socket; tests force one.
type pingMode int

const (
	pingAuto     pingMode = iota // datagram socket, else raw
	pingDatagram                 // datagram socket only
	pingRaw                      // raw socket only
)

// PingChecker is a PING_CHECK. Build it with PingConfig.NewChecker.
type PingChecker struct {
	ep   endpoint
	mode pingMode
}

// String returns "PING_CHECK address".
func (c *PingChecker) String() string { return string(KindPing) + " " + c.ep.remote.Addr().String() }

// ICMP message types (RFC 792, RFC 4443 section 4).
const (
	icmpv4EchoRequest = 8
	icmpv4EchoReply   = 0
	icmpv6EchoRequest = 128
	icmpv6EchoReply   = 129
	icmpEchoHeaderLen = 8
)

// Check sends one echo request and waits for its reply. Errors wrap
// ErrNoResponse when no reply came in time, or the socket error.
func (c *PingChecker) Check(ctx context.Context) Result {
	ctx, cancel := context.WithTimeout(ctx, c.ep.timeout)
	defer cancel()
	conn, raw, err := c.listen()
	if err != nil {
		return fail(err)
	}
	defer conn.Close()
	defer watch(ctx, conn)()

	target := c.ep.remote.Addr()
	v6 := target.Is6()
	id, seq := uint16(rand.Uint32()), uint16(rand.Uint32())
	var payload [16]byte
	copy(payload[:], "xvs ping")
	binary.BigEndian.PutUint64(payload[8:], rand.Uint64())
	msg := icmpEcho(v6, id, seq, payload[:])

	var dst net.Addr = &net.UDPAddr{IP: target.AsSlice(), Zone: target.Zone()}
	if raw {
		dst = &net.IPAddr{IP: target.AsSlice(), Zone: target.Zone()}
	}
	if _, err := conn.WriteTo(msg, dst); err != nil {
		return fail(fmt.Errorf("send echo request: %w", err))
	}
	wantType := byte(icmpv4EchoReply)
	if v6 {
		wantType = icmpv6EchoReply
	}
	buf := make([]byte, 1500)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			if isTimeout(err) {
				return fail(fmt.Errorf("%w: no echo reply from %s: %w", ErrNoResponse, target, err))
			}
			return fail(err)
		}
		m := buf[:n]
		if n < icmpEchoHeaderLen || m[0] != wantType || m[1] != 0 {
			continue
		}
		// A datagram socket rewrites the identifier and delivers only
		// replies to its own; a raw socket sees every reply.
		if raw {
			if binary.BigEndian.Uint16(m[4:]) != id || !sameAddr(from, target) {
				continue
			}
		}
		if binary.BigEndian.Uint16(m[6:]) != seq || !bytes.Equal(m[icmpEchoHeaderLen:], payload[:]) {
			continue
		}
		return pass()
	}
}

// sameAddr reports whether a received-from address is ip.
func sameAddr(from net.Addr, ip netip.Addr) bool {
	var got net.IP
	switch a := from.(type) {
	case *net.IPAddr:
		got = a.IP
	case *net.UDPAddr:
		got = a.IP
	}
	a, ok := netip.AddrFromSlice(got)
	return ok && a.Unmap() == ip.WithZone("")
}

// icmpEcho builds an echo request. The ICMPv4 checksum is filled in; the
// kernel computes ICMPv6 checksums (RFC 4443 section 2.3 needs the IPv6
// pseudo-header).
func icmpEcho(v6 bool, id, seq uint16, payload []byte) []byte {
	typ := byte(icmpv4EchoRequest)
	if v6 {
		typ = icmpv6EchoRequest
	}
	b := make([]byte, icmpEchoHeaderLen, icmpEchoHeaderLen+len(payload))
	b[0] = typ
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], seq)
	b = append(b, payload...)
	if !v6 {
		binary.BigEndian.PutUint16(b[2:], inetChecksum(b))
	}
	return b
}

// inetChecksum is the Internet checksum of RFC 1071.
func inetChecksum(b []byte) uint16 {
	var sum uint32
	for len(b) >= 2 {
		sum += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// listen opens the ICMP socket, per c.mode. raw reports a raw socket.
func (c *PingChecker) listen() (conn net.PacketConn, raw bool, err error) {
	if c.mode != pingRaw {
		conn, err = listenICMPDatagram(c.ep.remote.Addr().Is6(), c.ep.local.Addr())
		if err == nil || c.mode == pingDatagram {
			return conn, false, err
		}
		if !errors.Is(err, os.ErrPermission) && !errors.Is(err, syscall.EPROTONOSUPPORT) {
			return nil, false, err
		}
	}
	dgramErr := err
	network, bind := "ip4:icmp", ""
	if c.ep.remote.Addr().Is6() {
		network = "ip6:ipv6-icmp"
	}
	if a := c.ep.local.Addr(); a.IsValid() {
		bind = a.String()
	}
	conn, err = net.ListenPacket(network, bind)
	if err != nil {
		if dgramErr != nil {
			return nil, false, fmt.Errorf("no ICMP socket: %w (datagram socket: %w)", err, dgramErr)
		}
		return nil, false, err
	}
	return conn, true, nil
}

// listenICMPDatagram opens an unprivileged ICMP datagram socket, bound to
// bind when it is valid. It fails with an error matching os.ErrPermission
// when ping_group_range does not admit the process.
func listenICMPDatagram(v6 bool, bind netip.Addr) (net.PacketConn, error) {
	family, proto := syscall.AF_INET, syscall.IPPROTO_ICMP
	if v6 {
		family, proto = syscall.AF_INET6, syscall.IPPROTO_ICMPV6
	}
	fd, err := syscall.Socket(family, syscall.SOCK_DGRAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, proto)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	if bind.IsValid() {
		var sa syscall.Sockaddr
		if v6 {
			sa6 := &syscall.SockaddrInet6{Addr: bind.As16()}
			if z := bind.Zone(); z != "" {
				ifi, err := net.InterfaceByName(z)
				if err != nil {
					syscall.Close(fd)
					return nil, err
				}
				sa6.ZoneId = uint32(ifi.Index)
			}
			sa = sa6
		} else {
			sa = &syscall.SockaddrInet4{Addr: bind.As4()}
		}
		if err := syscall.Bind(fd, sa); err != nil {
			syscall.Close(fd)
			return nil, os.NewSyscallError("bind", err)
		}
	}
	f := os.NewFile(uintptr(fd), "icmp")
	conn, err := net.FilePacketConn(f)
	f.Close()
	return conn, err
}
