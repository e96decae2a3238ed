package header

import "encoding/binary"

const (
	ipVersIHL   = 0
	ipTOS       = 1
	ipTotalLen  = 2
	ipID        = 4
	ipFlagsFrag = 6
	ipTTL       = 8
	ipProtocol  = 9
	ipChecksum  = 10
	ipSrcAddr   = 12
	ipDstAddr   = 16
)

// IPv4MinimumSize is the size of an IPv4 header without options.
const IPv4MinimumSize = 20

// IPv4 protocol numbers used by xvs.
const (
	// ProtocolICMP is the IP protocol number of ICMP.
	ProtocolICMP = 1
	// ProtocolTCP is the IP protocol number of TCP.
	ProtocolTCP = 6
	// ProtocolUDP is the IP protocol number of UDP.
	ProtocolUDP = 17
	// ProtocolVRRP is the IP protocol number of VRRP.
	ProtocolVRRP = 112
)

// Bits of the value returned by IPv4.Flags.
const (
	// IPv4FlagMoreFragments is the MF (more fragments) flag.
	IPv4FlagMoreFragments = 1 << 0
	// IPv4FlagDontFragment is the DF (don't fragment) flag.
	IPv4FlagDontFragment = 1 << 1
)

// IPv4 is a view of an IPv4 header (RFC 791). The slice must be at least
// IPv4MinimumSize bytes long; the methods that cover the options
// (CalculateChecksum, IsChecksumValid) also need HeaderLength() to be at
// least IPv4MinimumSize and at most len(b). The slice may extend past the
// header.
type IPv4 []byte

// Version returns the IP version field; 4 for IPv4.
func (b IPv4) Version() uint8 { return b[ipVersIHL] >> 4 }

// HeaderLength returns the header length in bytes (IHL * 4), options
// included.
func (b IPv4) HeaderLength() int { return int(b[ipVersIHL]&0x0f) * 4 }

// TOS returns the type-of-service byte (DSCP and ECN).
func (b IPv4) TOS() uint8 { return b[ipTOS] }

// TotalLength returns the total length of the datagram, header included.
func (b IPv4) TotalLength() uint16 { return binary.BigEndian.Uint16(b[ipTotalLen:]) }

// ID returns the identification field.
func (b IPv4) ID() uint16 { return binary.BigEndian.Uint16(b[ipID:]) }

// Flags returns the three flag bits (see IPv4FlagMoreFragments and
// IPv4FlagDontFragment).
func (b IPv4) Flags() uint8 { return b[ipFlagsFrag] >> 5 }

// FragmentOffset returns the fragment offset in bytes.
func (b IPv4) FragmentOffset() uint16 {
	return (binary.BigEndian.Uint16(b[ipFlagsFrag:]) & 0x1fff) * 8
}

// MoreFragments reports whether the MF flag is set.
func (b IPv4) MoreFragments() bool { return b.Flags()&IPv4FlagMoreFragments != 0 }

// IsFragment reports whether the datagram is a fragment: the MF flag is set
// or the fragment offset is not zero. Only the first fragment carries the
// transport header, and no fragment carries the whole transport message.
func (b IPv4) IsFragment() bool {
	return binary.BigEndian.Uint16(b[ipFlagsFrag:])&0x3fff != 0
}

// TTL returns the time-to-live field.
func (b IPv4) TTL() uint8 { return b[ipTTL] }

// Protocol returns the protocol number of the payload.
func (b IPv4) Protocol() uint8 { return b[ipProtocol] }

// Checksum returns the header checksum field.
func (b IPv4) Checksum() uint16 { return binary.BigEndian.Uint16(b[ipChecksum:]) }

// SetChecksum sets the header checksum field.
func (b IPv4) SetChecksum(c uint16) { binary.BigEndian.PutUint16(b[ipChecksum:], c) }

// SourceAddress returns the source address.
func (b IPv4) SourceAddress() [4]byte { return [4]byte(b[ipSrcAddr : ipSrcAddr+4]) }

// DestinationAddress returns the destination address.
func (b IPv4) DestinationAddress() [4]byte { return [4]byte(b[ipDstAddr : ipDstAddr+4]) }

// CalculateChecksum computes the header checksum over HeaderLength bytes,
// with the checksum field taken as zero, and returns the value to store in
// the field. It does not modify the header.
func (b IPv4) CalculateChecksum() uint16 {
	hl := b.HeaderLength()
	acc := sum64(b[:ipChecksum], 0)
	acc = sum64(b[ipChecksum+2:hl], acc)
	return ^fold64(acc)
}

// IsChecksumValid reports whether the header checksum over HeaderLength
// bytes is correct.
func (b IPv4) IsChecksumValid() bool {
	return Checksum(b[:b.HeaderLength()], 0) == 0xffff
}

// SetSourceAddressWithChecksumUpdate sets the source address and updates
// the header checksum incrementally. It does not touch the transport
// checksum, whose pseudo-header also covers the address: update that with
// TCP.UpdateChecksumForAddress or UDP.UpdateChecksumForAddress.
func (b IPv4) SetSourceAddressWithChecksumUpdate(a [4]byte) {
	old := b.SourceAddress()
	copy(b[ipSrcAddr:ipSrcAddr+4], a[:])
	b.SetChecksum(ChecksumUpdate32(b.Checksum(), old, a))
}

// SetDestinationAddressWithChecksumUpdate sets the destination address and
// updates the header checksum incrementally. Like
// SetSourceAddressWithChecksumUpdate, it leaves the transport checksum to
// the caller.
func (b IPv4) SetDestinationAddressWithChecksumUpdate(a [4]byte) {
	old := b.DestinationAddress()
	copy(b[ipDstAddr:ipDstAddr+4], a[:])
	b.SetChecksum(ChecksumUpdate32(b.Checksum(), old, a))
}

// DecrementTTLWithChecksumUpdate decrements the TTL by one and updates the
// header checksum incrementally. A TTL of 0 is left unchanged rather than
// wrapped to 255; a forwarder must drop (and may answer with ICMP time
// exceeded) a datagram whose TTL is 1 or less before calling this.
func (b IPv4) DecrementTTLWithChecksumUpdate() {
	ttl := b[ipTTL]
	if ttl == 0 {
		return
	}
	b[ipTTL] = ttl - 1
	// The TTL is the high byte of the 16-bit word it shares with the
	// protocol, so the word decreases by exactly 0x0100.
	proto := uint16(b[ipProtocol])
	old := uint16(ttl)<<8 | proto
	b.SetChecksum(ChecksumUpdate16(b.Checksum(), old, old-0x0100))
}
