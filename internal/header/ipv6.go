package header

import "encoding/binary"

const (
	ip6VersTCFlow = 0
	ip6PayloadLen = 4
	ip6NextHeader = 6
	ip6HopLimit   = 7
	ip6SrcAddr    = 8
	ip6DstAddr    = 24
)

// IPv6FixedHeaderSize is the size of the fixed IPv6 header (RFC 8200 §3),
// which has no options: anything more is an extension header.
const IPv6FixedHeaderSize = 40

// IPv6 next header values (IANA "Assigned Internet Protocol Numbers") that
// this package knows. Upper-layer protocols shared with IPv4 (ProtocolTCP,
// ProtocolUDP, ProtocolVRRP) are defined with IPv4.
const (
	// ProtocolIPv6HopByHop is the Hop-by-Hop Options extension header.
	ProtocolIPv6HopByHop = 0
	// ProtocolIPv6Routing is the Routing extension header.
	ProtocolIPv6Routing = 43
	// ProtocolIPv6Fragment is the Fragment extension header.
	ProtocolIPv6Fragment = 44
	// ProtocolESP is the Encapsulating Security Payload (RFC 4303).
	ProtocolESP = 50
	// ProtocolAH is the Authentication Header (RFC 4302).
	ProtocolAH = 51
	// ProtocolICMPv6 is the IP protocol number of ICMPv6.
	ProtocolICMPv6 = 58
	// ProtocolIPv6NoNextHeader says that nothing follows the header that
	// carries it.
	ProtocolIPv6NoNextHeader = 59
	// ProtocolIPv6DestinationOptions is the Destination Options extension
	// header.
	ProtocolIPv6DestinationOptions = 60
)

// IPv6 is a view of the fixed IPv6 header (RFC 8200). The slice must be at
// least IPv6FixedHeaderSize bytes long; it may extend past the header, to
// the extension headers and the upper-layer payload (UpperLayer walks
// them).
//
// IPv6 has no header checksum, but the TCP, UDP and ICMPv6 checksums cover
// a pseudo-header (RFC 8200 §8.1) that holds both addresses: the address
// setters take the upper-layer message and patch its checksum with them.
// Nothing else in the fixed header is in the pseudo-header (its length and
// next header fields are the upper-layer message's, not the IPv6 header's),
// so the other setters touch no checksum.
type IPv6 []byte

// Version returns the IP version field; 6 for IPv6.
func (b IPv6) Version() uint8 { return b[ip6VersTCFlow] >> 4 }

// TrafficClass returns the traffic class byte (DSCP and ECN).
func (b IPv6) TrafficClass() uint8 {
	return uint8(binary.BigEndian.Uint16(b[ip6VersTCFlow:]) >> 4)
}

// SetTrafficClass sets the traffic class byte, leaving the version and the
// flow label alone.
func (b IPv6) SetTrafficClass(tc uint8) {
	b[0] = b[0]&0xf0 | tc>>4
	b[1] = tc<<4 | b[1]&0x0f
}

// FlowLabel returns the 20-bit flow label.
func (b IPv6) FlowLabel() uint32 {
	return binary.BigEndian.Uint32(b[ip6VersTCFlow:]) & 0x000fffff
}

// SetFlowLabel sets the flow label to the low 20 bits of fl, leaving the
// version and the traffic class alone.
func (b IPv6) SetFlowLabel(fl uint32) {
	w := binary.BigEndian.Uint32(b[ip6VersTCFlow:])
	binary.BigEndian.PutUint32(b[ip6VersTCFlow:], w&0xfff00000|fl&0x000fffff)
}

// PayloadLength returns the payload length field: the length in bytes of
// everything after the fixed header, extension headers included. 0 is the
// mark of a jumbogram (RFC 2675), which this package does not handle.
func (b IPv6) PayloadLength() uint16 { return binary.BigEndian.Uint16(b[ip6PayloadLen:]) }

// SetPayloadLength sets the payload length field.
func (b IPv6) SetPayloadLength(l uint16) { binary.BigEndian.PutUint16(b[ip6PayloadLen:], l) }

// NextHeader returns the next header field: the type of the first
// extension header, or the upper-layer protocol if there is none.
func (b IPv6) NextHeader() uint8 { return b[ip6NextHeader] }

// SetNextHeader sets the next header field.
func (b IPv6) SetNextHeader(nh uint8) { b[ip6NextHeader] = nh }

// HopLimit returns the hop limit field.
func (b IPv6) HopLimit() uint8 { return b[ip6HopLimit] }

// SetHopLimit sets the hop limit field.
func (b IPv6) SetHopLimit(h uint8) { b[ip6HopLimit] = h }

// DecrementHopLimit decrements the hop limit by one. A hop limit of 0 is
// left unchanged rather than wrapped to 255; a forwarder must drop (and may
// answer with ICMPv6 time exceeded) a packet whose hop limit is 1 or less
// before calling this. No checksum covers the hop limit.
func (b IPv6) DecrementHopLimit() {
	if h := b[ip6HopLimit]; h != 0 {
		b[ip6HopLimit] = h - 1
	}
}

// SourceAddress returns the source address.
func (b IPv6) SourceAddress() [16]byte { return [16]byte(b[ip6SrcAddr : ip6SrcAddr+16]) }

// DestinationAddress returns the destination address.
func (b IPv6) DestinationAddress() [16]byte { return [16]byte(b[ip6DstAddr : ip6DstAddr+16]) }

// SetSourceAddressWithChecksumUpdate sets the source address and updates,
// incrementally, the checksum of the upper-layer message l4 whose protocol
// is proto, since the pseudo-header covers the address: proto and the
// start of l4 are what UpperLayer or ParseIPv6 return.
//
// The checksum is updated for ProtocolTCP, ProtocolUDP (unless it is 0,
// see UDP) and ProtocolICMPv6, and only if l4 is long enough to hold the
// checksum field (18, 8 and 4 bytes); so a TCP segment cut short, as in
// the quote of an ICMPv6 error, gets the address alone. For any other
// protocol only the address changes.
func (b IPv6) SetSourceAddressWithChecksumUpdate(a [16]byte, proto uint8, l4 []byte) {
	old := b.SourceAddress()
	copy(b[ip6SrcAddr:ip6SrcAddr+16], a[:])
	updateL4ForIPv6Address(proto, l4, old, a)
}

// SetDestinationAddressWithChecksumUpdate sets the destination address and
// updates the checksum of l4 like SetSourceAddressWithChecksumUpdate.
func (b IPv6) SetDestinationAddressWithChecksumUpdate(a [16]byte, proto uint8, l4 []byte) {
	old := b.DestinationAddress()
	copy(b[ip6DstAddr:ip6DstAddr+16], a[:])
	updateL4ForIPv6Address(proto, l4, old, a)
}

// updateL4ForIPv6Address updates the checksum of l4, if it is long enough
// to hold one, for a change of a pseudo-header address.
func updateL4ForIPv6Address(proto uint8, l4 []byte, old, new [16]byte) {
	switch proto {
	case ProtocolTCP:
		if len(l4) >= tcpChecksum+2 {
			TCP(l4).UpdateChecksumForIPv6Address(old, new)
		}
	case ProtocolUDP:
		if len(l4) >= UDPSize {
			UDP(l4).UpdateChecksumForIPv6Address(old, new)
		}
	case ProtocolICMPv6:
		if len(l4) >= icmpv6Checksum+2 {
			ICMPv6(l4).UpdateChecksumForAddress(old, new)
		}
	}
}

// ParseIPv6 validates the IPv6 packet at the start of b and finds its
// upper-layer header. b runs from the fixed header to at least the end of
// the packet (an Ethernet trailer may follow). ip is b cut to the fixed
// header plus PayloadLength bytes; proto and off are what ip.UpperLayer
// returns, so ip[off:] is the upper-layer message, delimited by the
// payload length.
//
// The error is nil or one of the sentinels of this package (see Reason):
// ErrTruncated if b is shorter than the fixed header or than the payload
// length says, ErrVersion if the version is not 6, and the errors of
// UpperLayer. On error ip is nil; after an error of UpperLayer, proto and
// off describe the header that ended the walk, as there, and otherwise
// they are 0.
//
// ParseIPv6 does not check the upper-layer header's own length (a TCP
// header's data offset, a UDP length); as with IPv4, that is the caller's
// job before it uses a TCP or UDP view.
func ParseIPv6(b []byte) (ip IPv6, proto uint8, off int, err error) {
	if len(b) < IPv6FixedHeaderSize {
		return nil, 0, 0, ErrTruncated
	}
	ip = IPv6(b)
	if ip.Version() != 6 {
		return nil, 0, 0, ErrVersion
	}
	end := IPv6FixedHeaderSize + int(ip.PayloadLength())
	if end > len(ip) {
		return nil, 0, 0, ErrTruncated
	}
	ip = ip[:end]
	proto, off, err = ip.UpperLayer()
	if err != nil {
		return nil, proto, off, err
	}
	return ip, proto, off, nil
}
