package vrrp

import (
	"encoding/binary"
	"time"

	"github.com/xvs-project/xvs/internal/header"
)

// Offsets of the fields of a VRRP message.
const (
	offVersType = 0
	offVRID     = 1
	offPriority = 2
	offCount    = 3
	offAuthType = 4 // VRRPv2; in VRRPv3 the top nibble is reserved
	offAdverInt = 5 // VRRPv2; in VRRPv3 bytes 4-5 hold the 12-bit interval
	offChecksum = 6
	offAddrs    = 8
)

// Sizes of the parts of a VRRP message for IPv4.
const (
	// HeaderSize is the size of the fixed part of a VRRP message, before
	// the addresses.
	HeaderSize = 8
	// AddrSize is the size of one IPv4 address in the address list.
	AddrSize = 4
	// AuthDataSize is the size of the authentication data that ends every
	// VRRPv2 message (RFC 3768 §5.3.10). VRRPv3 has none.
	AuthDataSize = 8
)

// Protocol constants.
const (
	// ProtocolNumber is the IP protocol number of VRRP (RFC 5798 §5.1.1.3).
	ProtocolNumber = header.ProtocolVRRP
	// TTL is the IP TTL every VRRP packet is sent with, and the only one a
	// receiver accepts (RFC 5798 §5.1.1.3, §7.1): it proves the sender is
	// on the link.
	TTL = 255
	// TypeAdvertisement is the only VRRP message type (RFC 5798 §5.2.2).
	TypeAdvertisement = 1
	// PriorityOwner is the priority of the router that owns the virtual
	// addresses (RFC 5798 §5.2.4). It becomes master at once on startup.
	PriorityOwner = 255
	// PriorityStop is the priority a master sends when it stops being
	// master, so that a backup takes over after Skew_Time instead of
	// Master_Down_Interval (RFC 5798 §5.2.4).
	PriorityStop = 0
	// DefaultPriority is the priority of a backup router unless configured
	// otherwise (RFC 5798 §5.2.4, keepalived's default).
	DefaultPriority = 100
)

// Authentication types of VRRPv2 (RFC 3768 §5.3.6; RFC 2338 §5.3.6 for
// their meaning). RFC 3768 keeps only AuthNone; keepalived still sends
// AuthPass with auth_type PASS.
const (
	// AuthNone is no authentication.
	AuthNone = 0
	// AuthPass is the simple text password of RFC 2338: the first eight
	// bytes of the password, zero padded, in the authentication data.
	AuthPass = 1
	// AuthAH is IPsec AH (RFC 2338). Such packets are carried in AH
	// (IP protocol 51), which this package does not decode.
	AuthAH = 2
)

// Packet is a view of a VRRP message for IPv4: the fixed header, the
// addresses and, for VRRPv2, the authentication data. Its layout is
// RFC 3768 §5.1 for version 2 and RFC 5798 §5.1 for version 3:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|Version| Type  | Virtual Rtr ID|   Priority    | Count IP Addrs|
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|   Auth Type   |   Adver Int   |          Checksum             |  v2
//	|(rsvd) |     Max Adver Int     |          Checksum             |  v3
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                         IP Address (1)                        |
//	|                              ...                              |
//	|                         IP Address (n)                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                     Authentication Data (1)                   |  v2
//	|                     Authentication Data (2)                   |  only
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// As with the views of package header, the accessors do not check bounds:
// the fixed-header accessors need HeaderSize bytes, and Addr, AuthData and
// the checksum methods need Len() bytes. Validate checks all of that once.
type Packet []byte

// Version returns the VRRP version: 2 or 3 in a valid packet.
func (p Packet) Version() uint8 { return p[offVersType] >> 4 }

// Type returns the message type; TypeAdvertisement in a valid packet.
func (p Packet) Type() uint8 { return p[offVersType] & 0x0f }

// VRID returns the virtual router identifier, 1 to 255.
func (p Packet) VRID() uint8 { return p[offVRID] }

// Priority returns the sender's priority for the virtual router.
func (p Packet) Priority() uint8 { return p[offPriority] }

// CountAddrs returns the number of addresses in the message.
func (p Packet) CountAddrs() int { return int(p[offCount]) }

// AuthType returns the VRRPv2 authentication type. In VRRPv3 the byte
// holds the reserved bits and the top of the interval.
func (p Packet) AuthType() uint8 { return p[offAuthType] }

// AdverInt returns the VRRPv2 advertisement interval in seconds.
func (p Packet) AdverInt() uint8 { return p[offAdverInt] }

// MaxAdverInt returns the VRRPv3 maximum advertisement interval in
// centiseconds (12 bits; the reserved bits are dropped).
func (p Packet) MaxAdverInt() uint16 {
	return binary.BigEndian.Uint16(p[offAuthType:]) & 0x0fff
}

// Interval returns the advertisement interval for the packet's version:
// AdverInt seconds for version 2, MaxAdverInt centiseconds otherwise.
func (p Packet) Interval() time.Duration {
	if p.Version() == 2 {
		return time.Duration(p.AdverInt()) * time.Second
	}
	return time.Duration(p.MaxAdverInt()) * centisecond
}

// Checksum returns the checksum field.
func (p Packet) Checksum() uint16 { return binary.BigEndian.Uint16(p[offChecksum:]) }

// SetChecksum sets the checksum field.
func (p Packet) SetChecksum(c uint16) { binary.BigEndian.PutUint16(p[offChecksum:], c) }

// Addr returns the i-th address, 0 <= i < CountAddrs().
func (p Packet) Addr(i int) [4]byte {
	o := offAddrs + i*AddrSize
	return [4]byte(p[o : o+AddrSize])
}

// AuthData returns the eight bytes of VRRPv2 authentication data that
// follow the addresses. It must not be called on a VRRPv3 packet.
func (p Packet) AuthData() [AuthDataSize]byte {
	o := offAddrs + p.CountAddrs()*AddrSize
	return [AuthDataSize]byte(p[o : o+AuthDataSize])
}

// Len returns the length of the message that the version and address
// count describe: HeaderSize plus the addresses, plus AuthDataSize for
// VRRPv2. It needs only the fixed header.
func (p Packet) Len() int {
	n := HeaderSize + p.CountAddrs()*AddrSize
	if p.Version() == 2 {
		n += AuthDataSize
	}
	return n
}

// Validate checks that p is one whole, well-formed VRRP advertisement for
// IPv4: at least HeaderSize bytes, version 2 or 3, type advertisement, a
// VRID other than 0, at least one address (RFC 9568 §5.2.5), a length of
// exactly Len() bytes and an interval other than 0. It does not check the
// checksum (see IsChecksumValid), which needs the IP addresses for
// VRRPv3. Unlike the accessors, it may be called on a slice of any length.
//
// It returns ErrTruncated, ErrVersion, ErrType, ErrVRID, ErrAddrCount,
// ErrLength or ErrInterval.
func (p Packet) Validate() error {
	if len(p) < HeaderSize {
		return ErrTruncated
	}
	if v := p.Version(); v != 2 && v != 3 {
		return ErrVersion
	}
	if p.Type() != TypeAdvertisement {
		return ErrType
	}
	if p.VRID() == 0 {
		return ErrVRID
	}
	if p.CountAddrs() == 0 {
		return ErrAddrCount
	}
	if n := p.Len(); len(p) < n {
		return ErrTruncated
	} else if len(p) > n {
		return ErrLength
	}
	if p.Interval() == 0 {
		return ErrInterval
	}
	return nil
}

// pseudoHeaderSum returns the initial checksum sum for the packet's
// version: none for VRRPv2 (RFC 3768 §5.3.8), the IPv4 pseudo-header for
// VRRPv3 (RFC 5798 §5.2.8, see CalculateChecksum).
func (p Packet) pseudoHeaderSum(src, dst [4]byte) uint32 {
	if p.Version() == 2 {
		return 0
	}
	return header.PseudoHeaderSum(ProtocolNumber, src, dst, uint16(p.Len()))
}

// CalculateChecksum computes the checksum over the first Len() bytes with
// the checksum field taken as zero, and returns the value to store in the
// field. It does not modify p.
//
// For VRRPv2 the sum covers the VRRP message only (RFC 3768 §5.3.8) and
// src and dst are ignored. For VRRPv3 it also covers a pseudo-header of the
// IPv4 source address src, destination address dst, protocol 112 and the
// message length (RFC 5798 §5.2.8, as keepalived computes it). RFC 5798
// names the IPv6 pseudo-header of RFC 2460 §8.1 and RFC 9568 keeps that
// wording; filled with IPv4 addresses, the IPv6 layout (32-bit length,
// 24 zero bits, next header 112) and the IPv4 one of RFC 768 (zero byte,
// protocol 112, 16-bit length) hold the same 16-bit words apart from
// zeros, so the ones' complement sums are equal: there is one
// pseudo-header checksum for VRRPv3 over IPv4, not two.
func (p Packet) CalculateChecksum(src, dst [4]byte) uint16 {
	s := header.Checksum(p[:offChecksum], p.pseudoHeaderSum(src, dst))
	s = header.Checksum(p[offChecksum+2:p.Len()], uint32(s))
	return ^s
}

// IsChecksumValid reports whether the checksum over the first Len() bytes
// is correct, computed as CalculateChecksum describes.
func (p Packet) IsChecksumValid(src, dst [4]byte) bool {
	return header.Checksum(p[:p.Len()], p.pseudoHeaderSum(src, dst)) == 0xffff
}

// isChecksumValidNoPseudoHeader reports whether the checksum is correct
// when computed over the message alone, as VRRPv2 does; some VRRPv3
// implementations do so for IPv4 too.
func (p Packet) isChecksumValidNoPseudoHeader() bool {
	return header.Checksum(p[:p.Len()], 0) == 0xffff
}

// SetPriorityWithChecksumUpdate sets the priority and updates the checksum
// incrementally (RFC 1624), which is right for both versions since the
// priority is not part of the VRRPv3 pseudo-header. A sender can build an
// advertisement once and change only its priority, as keepalived does.
func (p Packet) SetPriorityWithChecksumUpdate(prio uint8) {
	old := binary.BigEndian.Uint16(p[offPriority:])
	p[offPriority] = prio
	p.SetChecksum(header.ChecksumUpdate16(p.Checksum(), old, binary.BigEndian.Uint16(p[offPriority:])))
}

const centisecond = 10 * time.Millisecond
