package header

import "encoding/binary"

const (
	udpSrcPort  = 0
	udpDstPort  = 2
	udpLength   = 4
	udpChecksum = 6
)

// UDPSize is the size of a UDP header.
const UDPSize = 8

// UDP is a view of a UDP header (RFC 768). The slice must be at least
// UDPSize bytes long.
//
// A checksum field of 0 means that the sender computed no checksum. The
// ...WithChecksumUpdate setters and UpdateChecksumForAddress leave such a
// field at 0, and write a computed checksum of 0 as 0xffff.
type UDP []byte

// SourcePort returns the source port.
func (b UDP) SourcePort() uint16 { return binary.BigEndian.Uint16(b[udpSrcPort:]) }

// DestinationPort returns the destination port.
func (b UDP) DestinationPort() uint16 { return binary.BigEndian.Uint16(b[udpDstPort:]) }

// Length returns the length field: header plus payload, in bytes.
func (b UDP) Length() uint16 { return binary.BigEndian.Uint16(b[udpLength:]) }

// Checksum returns the checksum field; 0 means none.
func (b UDP) Checksum() uint16 { return binary.BigEndian.Uint16(b[udpChecksum:]) }

// SetChecksum sets the checksum field as given, without the 0 to 0xffff
// mapping.
func (b UDP) SetChecksum(c uint16) { binary.BigEndian.PutUint16(b[udpChecksum:], c) }

// setUpdatedChecksum stores an incrementally updated checksum, writing a
// result of 0 as 0xffff because 0 would mean "no checksum".
func (b UDP) setUpdatedChecksum(c uint16) {
	if c == 0 {
		c = 0xffff
	}
	b.SetChecksum(c)
}

// SetSourcePortWithChecksumUpdate sets the source port and, unless the
// datagram has no checksum, updates the checksum incrementally.
func (b UDP) SetSourcePortWithChecksumUpdate(p uint16) {
	old := b.SourcePort()
	binary.BigEndian.PutUint16(b[udpSrcPort:], p)
	if c := b.Checksum(); c != 0 {
		b.setUpdatedChecksum(ChecksumUpdate16(c, old, p))
	}
}

// SetDestinationPortWithChecksumUpdate sets the destination port and,
// unless the datagram has no checksum, updates the checksum incrementally.
func (b UDP) SetDestinationPortWithChecksumUpdate(p uint16) {
	old := b.DestinationPort()
	binary.BigEndian.PutUint16(b[udpDstPort:], p)
	if c := b.Checksum(); c != 0 {
		b.setUpdatedChecksum(ChecksumUpdate16(c, old, p))
	}
}

// UpdateChecksumForAddress updates the checksum, unless the datagram has
// none, for a change of one address of the pseudo-header from old to new;
// call it alongside the IPv4 setter that changes the address.
func (b UDP) UpdateChecksumForAddress(old, new [4]byte) {
	if c := b.Checksum(); c != 0 {
		b.setUpdatedChecksum(ChecksumUpdate32(c, old, new))
	}
}

// UpdateChecksumForIPv6Address updates the checksum, unless the datagram
// has none, for a change of one address of the IPv6 pseudo-header from old
// to new; IPv6's SetSourceAddressWithChecksumUpdate and
// SetDestinationAddressWithChecksumUpdate call it. A checksum of 0 is
// invalid over IPv6 (see TransportChecksumValidIPv6) and is left as it is.
func (b UDP) UpdateChecksumForIPv6Address(old, new [16]byte) {
	if c := b.Checksum(); c != 0 {
		b.setUpdatedChecksum(ChecksumUpdate128(c, old, new))
	}
}
