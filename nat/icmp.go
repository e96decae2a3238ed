package nat

import (
	"encoding/binary"

	"github.com/xvs-project/xvs/internal/header"
)

// ICMP errors about a flow (destination unreachable, including the
// fragmentation-needed messages path-MTU discovery depends on, and time
// exceeded) quote the start of the packet that caused them. They are
// matched to their connection through the quoted headers and rewritten like
// the flow's own frames, as IPVS's ip_vs_nat_icmp does: outer and quoted
// addresses and ports, the quoted IPv4 and transport checksums
// (incrementally, where the quoted bytes hold them), and the ICMP checksum
// (recomputed). Any other ICMP message is not xvs's to forward.

// quotedMin is the least an ICMP error must quote: an IPv4 header without
// options and the eight bytes that hold the ports.
const quotedMin = header.IPv4MinimumSize + 8

// parseICMPError validates an ICMP error inside an already validated IPv4
// packet and returns the ICMP message and the quoted IPv4 packet.
func parseICMPError(ip header.IPv4) (header.ICMPv4, header.IPv4, Drop) {
	icmp := header.ICMPv4(ip[ip.HeaderLength():])
	if len(icmp) < header.ICMPv4MinimumSize+quotedMin {
		if len(icmp) >= header.ICMPv4MinimumSize && !isICMPError(icmp.Type()) {
			return nil, nil, DropProtocol
		}
		return nil, nil, DropTruncated
	}
	if !isICMPError(icmp.Type()) {
		return nil, nil, DropProtocol
	}
	if !header.TransportChecksumValid(header.ProtocolICMP, ip, icmp) {
		return nil, nil, DropBadL4Checksum
	}
	inner := header.IPv4(icmp[header.ICMPv4MinimumSize:])
	if inner.Version() != 4 || inner.HeaderLength() != header.IPv4MinimumSize {
		return nil, nil, DropBadIPHeader
	}
	if p := inner.Protocol(); p != header.ProtocolTCP && p != header.ProtocolUDP {
		return nil, nil, DropProtocol
	}
	return icmp, inner, DropNone
}

func isICMPError(t uint8) bool {
	return t == header.ICMPv4DestinationUnreachable || t == header.ICMPv4TimeExceeded
}

// quotedPorts returns the quoted packet's source and destination ports.
func quotedPorts(inner header.IPv4) (uint16, uint16) {
	l4 := inner[header.IPv4MinimumSize:]
	return binary.BigEndian.Uint16(l4), binary.BigEndian.Uint16(l4[2:])
}

// rewriteAddrPort changes a packet's source (src true) or destination
// address and port, keeping the IPv4 checksum and, where l4 holds it, the
// transport checksum right. It is the one rewrite of DNAT, SNAT and the
// packets quoted in ICMP errors; a TCP quote cut before its checksum gets
// its port alone.
func rewriteAddrPort(ip header.IPv4, l4 []byte, src bool, addr [4]byte, port uint16) {
	var old [4]byte
	if src {
		old = ip.SourceAddress()
		ip.SetSourceAddressWithChecksumUpdate(addr)
	} else {
		old = ip.DestinationAddress()
		ip.SetDestinationAddressWithChecksumUpdate(addr)
	}
	switch ip.Protocol() {
	case header.ProtocolTCP:
		if len(l4) >= header.TCPMinimumSize {
			tcp := header.TCP(l4)
			tcp.UpdateChecksumForAddress(old, addr)
			if src {
				tcp.SetSourcePortWithChecksumUpdate(port)
			} else {
				tcp.SetDestinationPortWithChecksumUpdate(port)
			}
			return
		}
	case header.ProtocolUDP:
		udp := header.UDP(l4)
		udp.UpdateChecksumForAddress(old, addr)
		if src {
			udp.SetSourcePortWithChecksumUpdate(port)
		} else {
			udp.SetDestinationPortWithChecksumUpdate(port)
		}
		return
	}
	if src {
		binary.BigEndian.PutUint16(l4, port)
	} else {
		binary.BigEndian.PutUint16(l4[2:], port)
	}
}

// rewriteQuoted changes the quoted packet's source (src true) or
// destination address and port.
func rewriteQuoted(inner header.IPv4, src bool, addr [4]byte, port uint16) {
	rewriteAddrPort(inner, inner[header.IPv4MinimumSize:], src, addr, port)
}

// finishICMP recomputes the ICMP checksum and decrements the outer TTL.
func finishICMP(ip header.IPv4, icmp header.ICMPv4) {
	icmp.SetChecksum(header.ComputeTransportChecksum(header.ProtocolICMP, ip, icmp))
	ip.DecrementTTLWithChecksumUpdate()
}

// icmpInbound handles an ICMP error from the client side about a reply the
// director sent (quoted: VIP:vport → client:cport): it goes to the real
// server, with the VIP replaced by the real server's address throughout.
func (e *Engine) icmpInbound(ip header.IPv4) Result {
	icmp, inner, drop := parseICMPError(ip)
	if drop != DropNone {
		return Result{Drop: drop}
	}
	vport, cport := quotedPorts(inner)
	proto := inner.Protocol()
	vip, client := inner.SourceAddress(), inner.DestinationAddress()
	if ip.DestinationAddress() != vip {
		return Result{Drop: DropNoConnection}
	}
	fk := key{a: client, b: vip, pa: cport, pb: vport, proto: proto}
	s := e.table.shardFor(client, cport, proto)
	s.mu.Lock()
	idx, ok := s.get(dirInput, &fk)
	if !ok {
		s.mu.Unlock()
		return Result{Drop: DropNoConnection}
	}
	real, rport := s.conns[idx].Real, s.conns[idx].RPort
	s.mu.Unlock()

	ip.SetDestinationAddressWithChecksumUpdate(real)
	rewriteQuoted(inner, true, real, rport)
	finishICMP(ip, icmp)
	return Result{NextHop: real}
}

// icmpOutbound handles an ICMP error from the real servers' side (the
// real server, or a router on the way to it) about a packet the director
// sent there (quoted: client:cport → real:rport): it goes to the client,
// with the real server replaced by VIP:vport throughout and the outer
// source set to the VIP, so no address behind the director shows.
func (e *Engine) icmpOutbound(ip header.IPv4) Result {
	icmp, inner, drop := parseICMPError(ip)
	if drop != DropNone {
		return Result{Drop: drop}
	}
	cport, rport := quotedPorts(inner)
	proto := inner.Protocol()
	client, real := inner.SourceAddress(), inner.DestinationAddress()
	if ip.DestinationAddress() != client {
		return Result{Drop: DropNoConnection}
	}
	rk := key{a: real, b: client, pa: rport, pb: cport, proto: proto}
	s := e.table.shardFor(client, cport, proto)
	s.mu.Lock()
	idx, ok := s.get(dirOutput, &rk)
	if !ok {
		s.mu.Unlock()
		return Result{Drop: DropNoConnection}
	}
	c := &s.conns[idx]
	vip, vport, mac := c.VIP, c.VPort, c.ClientMAC
	s.mu.Unlock()

	ip.SetSourceAddressWithChecksumUpdate(vip)
	rewriteQuoted(inner, false, vip, vport)
	finishICMP(ip, icmp)
	return Result{NextHop: client, MAC: mac}
}
