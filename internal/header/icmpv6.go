package header

import "encoding/binary"

const (
	icmpv6Type     = 0
	icmpv6Code     = 1
	icmpv6Checksum = 2
	icmpv6Body     = 4 // the 32-bit field after the checksum
	icmpv6Invoking = 8 // where an error message's quote begins
)

// ICMPv6MinimumSize is the size of the fixed part of an ICMPv6 error
// message and of an echo message: type, code, checksum and a 4-byte
// field. Every message is at least 4 bytes long; Neighbor Discovery
// messages are longer (ICMPv6NeighborMinimumSize).
const ICMPv6MinimumSize = 8

// ICMPv6 message types (RFC 4443, RFC 4861) that xvs handles.
const (
	// ICMPv6DestinationUnreachable is the destination unreachable error.
	ICMPv6DestinationUnreachable = 1
	// ICMPv6PacketTooBig is the packet too big error, which path-MTU
	// discovery depends on.
	ICMPv6PacketTooBig = 2
	// ICMPv6TimeExceeded is the time exceeded error.
	ICMPv6TimeExceeded = 3
	// ICMPv6ParameterProblem is the parameter problem error.
	ICMPv6ParameterProblem = 4
	// ICMPv6EchoRequest is the echo request type.
	ICMPv6EchoRequest = 128
	// ICMPv6EchoReply is the echo reply type.
	ICMPv6EchoReply = 129
	// ICMPv6NeighborSolicitation is the Neighbor Solicitation type.
	ICMPv6NeighborSolicitation = 135
	// ICMPv6NeighborAdvertisement is the Neighbor Advertisement type.
	ICMPv6NeighborAdvertisement = 136
)

// ICMPv6 is a view of an ICMPv6 message (RFC 4443), header and body. The
// slice must be at least 4 bytes long for Type, Code and the checksum
// methods, ICMPv6MinimumSize for MTU and Pointer, and
// ICMPv6NeighborMinimumSize for the Neighbor Discovery accessors. For the
// checksum to be computed or verified it must be the whole message, as
// delimited by the IPv6 payload length.
//
// Unlike ICMPv4's, the ICMPv6 checksum covers the IPv6 pseudo-header (RFC
// 4443 §2.3): see TransportChecksumValidIPv6 and
// ComputeTransportChecksumIPv6 with ProtocolICMPv6, and
// IPv6.SetSourceAddressWithChecksumUpdate, which keeps it right.
type ICMPv6 []byte

// Type returns the message type.
func (b ICMPv6) Type() uint8 { return b[icmpv6Type] }

// Code returns the message code.
func (b ICMPv6) Code() uint8 { return b[icmpv6Code] }

// Checksum returns the checksum field.
func (b ICMPv6) Checksum() uint16 { return binary.BigEndian.Uint16(b[icmpv6Checksum:]) }

// SetChecksum sets the checksum field.
func (b ICMPv6) SetChecksum(c uint16) { binary.BigEndian.PutUint16(b[icmpv6Checksum:], c) }

// IsError reports whether the message is an error message: its type is
// below 128 (RFC 4443 §2.1).
func (b ICMPv6) IsError() bool { return b[icmpv6Type] < 128 }

// MTU returns the MTU field of a Packet Too Big message.
func (b ICMPv6) MTU() uint32 { return binary.BigEndian.Uint32(b[icmpv6Body:]) }

// Pointer returns the pointer field of a Parameter Problem message: the
// offset in the invoking packet, from its fixed header, of the error.
func (b ICMPv6) Pointer() uint32 { return binary.BigEndian.Uint32(b[icmpv6Body:]) }

// UpdateChecksumForAddress updates the checksum for a change of one
// address of the pseudo-header from old to new, that is of the IPv6
// header that carries the message; IPv6's
// SetSourceAddressWithChecksumUpdate and
// SetDestinationAddressWithChecksumUpdate call it.
func (b ICMPv6) UpdateChecksumForAddress(old, new [16]byte) {
	b.SetChecksum(ChecksumUpdate128(b.Checksum(), old, new))
}

// InvokingPacket returns the invoking packet that the error message b
// quotes (RFC 4443 §3), found and checked as far as a NAT needs it: inner
// is the quote, from the quoted fixed header to the end of b; proto and
// off are the quoted upper-layer protocol and the offset of its header in
// inner, as inner.UpperLayer finds them. b must be the whole ICMPv6
// message; InvokingPacket reads nothing past it.
//
// The error is nil or a sentinel of this package: ErrNotICMPv6Error if b
// is not a Destination Unreachable, Packet Too Big, Time Exceeded or
// Parameter Problem message; ErrTruncated if b is shorter than
// ICMPv6MinimumSize, or the quote ends before the first 8 bytes of the
// upper layer (which hold a TCP or UDP header's ports and, for UDP, its
// checksum); ErrVersion if the quoted version is not 6; or UpperLayer's
// error for the quoted extension headers. The quoted payload length is not
// checked against the quote: RFC 4443 §2.4 cuts the quote to fit the
// minimum MTU, so it is usually shorter. A TCP quote may end before the
// TCP checksum field; the rewrite methods allow for that.
func (b ICMPv6) InvokingPacket() (inner IPv6, proto uint8, off int, err error) {
	if len(b) < ICMPv6MinimumSize {
		return nil, 0, 0, ErrTruncated
	}
	switch b.Type() {
	case ICMPv6DestinationUnreachable, ICMPv6PacketTooBig, ICMPv6TimeExceeded, ICMPv6ParameterProblem:
	default:
		return nil, 0, 0, ErrNotICMPv6Error
	}
	inner = IPv6(b[icmpv6Invoking:])
	if len(inner) < IPv6FixedHeaderSize {
		return nil, 0, 0, ErrTruncated
	}
	if inner.Version() != 6 {
		return nil, 0, 0, ErrVersion
	}
	proto, off, err = inner.UpperLayer()
	if err != nil {
		return nil, proto, off, err
	}
	if len(inner)-off < 8 {
		return nil, proto, off, ErrTruncated
	}
	return inner, proto, off, nil
}

// SetInvokingSourceWithChecksumUpdate sets the source address and, for TCP
// and UDP, the source port of the invoking packet that the error message b
// quotes, as a NAT does to the quote of an error about a packet it
// translated. proto and off must be what b.InvokingPacket returned.
//
// It keeps both checksums right, incrementally: the quoted upper-layer
// checksum, whose pseudo-header holds the quoted address (TCP and UDP,
// and ICMPv6 whose port argument is ignored), where the quote holds that
// field; and the ICMPv6 checksum of b, which covers every quoted byte
// changed, the quoted checksum included. For another quoted protocol only
// the address changes. A quote that ends in the middle of the TCP
// checksum (possible only with a quote cut at an odd length) keeps the
// byte it holds as it was: it cannot be updated without the other. The outer IPv6 header is the caller's: change its
// addresses with IPv6.SetDestinationAddressWithChecksumUpdate and friends,
// passing ProtocolICMPv6 and b.
func (b ICMPv6) SetInvokingSourceWithChecksumUpdate(proto uint8, off int, a [16]byte, port uint16) {
	b.setInvoking(ip6SrcAddr, tcpSrcPort, proto, off, a, port)
}

// SetInvokingDestinationWithChecksumUpdate sets the destination address
// and, for TCP and UDP, the destination port of the invoking packet that
// the error message b quotes, keeping the checksums right like
// SetInvokingSourceWithChecksumUpdate.
func (b ICMPv6) SetInvokingDestinationWithChecksumUpdate(proto uint8, off int, a [16]byte, port uint16) {
	b.setInvoking(ip6DstAddr, tcpDstPort, proto, off, a, port)
}

// setInvoking rewrites the quoted address at addrOff in the quoted fixed
// header and the quoted port at portOff (the same for TCP and UDP) in the
// quoted upper-layer header at off.
func (b ICMPv6) setInvoking(addrOff, portOff int, proto uint8, off int, a [16]byte, port uint16) {
	inner := IPv6(b[icmpv6Invoking:])
	l4 := []byte(inner[off:])
	old := [16]byte(inner[addrOff : addrOff+16])
	copy(inner[addrOff:addrOff+16], a[:])
	c := ChecksumUpdate128(b.Checksum(), old, a)

	// Where the quoted checksum sits in l4, if the quote holds it. Every
	// offset here is even within b (off is 40 plus whole extension
	// headers), so each changed word is a word of b's checksum.
	ck := -1
	switch proto {
	case ProtocolTCP:
		if len(l4) >= tcpChecksum+2 {
			ck = tcpChecksum
		}
	case ProtocolUDP:
		if len(l4) >= udpChecksum+2 {
			ck = udpChecksum
		}
	case ProtocolICMPv6:
		if len(l4) >= icmpv6Checksum+2 {
			ck = icmpv6Checksum
		}
	}
	var oldCk uint16
	if ck >= 0 {
		oldCk = binary.BigEndian.Uint16(l4[ck:])
	}
	updateL4ForIPv6Address(proto, l4, old, a)

	if (proto == ProtocolTCP || proto == ProtocolUDP) && len(l4) >= portOff+2 {
		oldPort := binary.BigEndian.Uint16(l4[portOff:])
		switch {
		case proto == ProtocolTCP && ck >= 0:
			// The port setters patch the quoted checksum too.
			if portOff == tcpSrcPort {
				TCP(l4).SetSourcePortWithChecksumUpdate(port)
			} else {
				TCP(l4).SetDestinationPortWithChecksumUpdate(port)
			}
		case proto == ProtocolUDP && ck >= 0:
			if portOff == udpSrcPort {
				UDP(l4).SetSourcePortWithChecksumUpdate(port)
			} else {
				UDP(l4).SetDestinationPortWithChecksumUpdate(port)
			}
		default:
			binary.BigEndian.PutUint16(l4[portOff:], port)
		}
		c = ChecksumUpdate16(c, oldPort, port)
	}
	if ck >= 0 {
		c = ChecksumUpdate16(c, oldCk, binary.BigEndian.Uint16(l4[ck:]))
	}
	b.SetChecksum(c)
}
