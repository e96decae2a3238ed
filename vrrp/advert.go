package vrrp

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/xvs-project/xvs/internal/header"
)

// Reasons for dropping a received packet. ParseIPv4, ParseFrame, Parse and
// Packet.Validate return these values themselves, unwrapped, so that a
// caller counting drops by reason can compare with == or errors.Is and
// nothing is allocated per bad packet.
var (
	// ErrNotIPv4 means the Ethernet frame does not carry IPv4 (another
	// EtherType, or a VLAN tag, which the caller must strip).
	ErrNotIPv4 = errors.New("vrrp: frame is not IPv4")
	// ErrTruncated means the packet is shorter than its headers say.
	ErrTruncated = errors.New("vrrp: truncated packet")
	// ErrIPHeader means a malformed IPv4 header: version not 4, header
	// length below 20 bytes, or a total length shorter than the header.
	ErrIPHeader = errors.New("vrrp: malformed IPv4 header")
	// ErrIPChecksum means the IPv4 header checksum is wrong.
	ErrIPChecksum = errors.New("vrrp: bad IPv4 header checksum")
	// ErrFragment means the datagram is a fragment. An advertisement is
	// far smaller than any MTU, so VRRP does not reassemble.
	ErrFragment = errors.New("vrrp: IPv4 fragment")
	// ErrProtocol means the IP protocol is not 112.
	ErrProtocol = errors.New("vrrp: IP protocol is not VRRP")
	// ErrTTL means the IP TTL is not 255 (RFC 5798 §7.1): the packet may
	// have crossed a router.
	ErrTTL = errors.New("vrrp: IP TTL is not 255")
	// ErrVersion means a VRRP version other than 2 or 3.
	ErrVersion = errors.New("vrrp: unsupported VRRP version")
	// ErrType means a VRRP message type other than advertisement.
	ErrType = errors.New("vrrp: not an advertisement")
	// ErrVRID means VRID 0, which no virtual router has.
	ErrVRID = errors.New("vrrp: VRID 0")
	// ErrAddrCount means an address count of 0 (RFC 9568 §5.2.5).
	ErrAddrCount = errors.New("vrrp: no addresses")
	// ErrLength means the message is longer than its address count says.
	ErrLength = errors.New("vrrp: length does not match address count")
	// ErrInterval means an advertisement interval of 0.
	ErrInterval = errors.New("vrrp: advertisement interval 0")
	// ErrChecksum means the VRRP checksum is wrong.
	ErrChecksum = errors.New("vrrp: bad VRRP checksum")
)

// ErrInvalidAdvert is wrapped by the errors of Advert.Append and Marshal
// when the advertisement cannot be encoded.
var ErrInvalidAdvert = errors.New("vrrp: invalid advertisement")

// Advert is a decoded VRRP advertisement for IPv4 (RFC 3768 §5.3 for
// version 2, RFC 5798 §5.2 for version 3).
//
// Most users build adverts with Machine.Advert and decode them with
// ParseFrame or ParseIPv4.
type Advert struct {
	// Version is 2 or 3.
	Version uint8
	// VRID is the virtual router identifier, 1 to 255.
	VRID uint8
	// Priority is the sender's priority: PriorityOwner (255) for the
	// address owner, 1 to 254 for the others, PriorityStop (0) from a
	// master that stops.
	Priority uint8
	// Interval is the advertisement interval: for version 2 a whole
	// number of seconds from 1 s to 255 s (Adver Int, RFC 3768 §5.3.7),
	// for version 3 a whole number of centiseconds from 10 ms to 40.95 s
	// (Max Adver Int, RFC 5798 §5.2.7).
	Interval time.Duration
	// AuthType is the VRRPv2 authentication type, AuthNone or AuthPass
	// (RFC 3768 §5.3.6). It must be 0 for version 3.
	AuthType uint8
	// AuthData is the VRRPv2 authentication data: the zero-padded
	// password for AuthPass, zeros otherwise (RFC 3768 §5.3.10). It must
	// be zero for version 3.
	AuthData [AuthDataSize]byte
	// Addrs are the virtual IPv4 addresses, 1 to 255 of them
	// (RFC 5798 §5.2.9).
	Addrs []netip.Addr
}

// Len returns the length of the encoded message. It is meaningful only for
// an advert that Append accepts.
func (a *Advert) Len() int {
	n := HeaderSize + len(a.Addrs)*AddrSize
	if a.Version == 2 {
		n += AuthDataSize
	}
	return n
}

// check reports why a cannot be encoded.
func (a *Advert) check() error {
	switch a.Version {
	case 2:
		if a.Interval < time.Second || a.Interval > 255*time.Second || a.Interval%time.Second != 0 {
			return fmt.Errorf("%w: VRRPv2 interval %v is not 1 s to 255 s in whole seconds", ErrInvalidAdvert, a.Interval)
		}
	case 3:
		if a.Interval < centisecond || a.Interval > 4095*centisecond || a.Interval%centisecond != 0 {
			return fmt.Errorf("%w: VRRPv3 interval %v is not 10 ms to 40.95 s in whole centiseconds", ErrInvalidAdvert, a.Interval)
		}
		if a.AuthType != 0 || a.AuthData != [AuthDataSize]byte{} {
			return fmt.Errorf("%w: VRRPv3 has no authentication", ErrInvalidAdvert)
		}
	default:
		return fmt.Errorf("%w: version %d", ErrInvalidAdvert, a.Version)
	}
	if a.VRID == 0 {
		return fmt.Errorf("%w: VRID 0", ErrInvalidAdvert)
	}
	if len(a.Addrs) == 0 || len(a.Addrs) > 255 {
		return fmt.Errorf("%w: %d addresses, want 1 to 255", ErrInvalidAdvert, len(a.Addrs))
	}
	for _, ad := range a.Addrs {
		if !ad.Is4() {
			return fmt.Errorf("%w: %v is not an IPv4 address", ErrInvalidAdvert, ad)
		}
	}
	return nil
}

// Append appends the encoded message to b and returns the extended
// slice. src and dst are the IPv4 source and destination addresses of the
// packet that will carry it: VRRPv3 covers them with its checksum
// (RFC 5798 §5.2.8); VRRPv2 ignores them and they may be the zero Addr.
// The reserved bits of VRRPv3 are sent as zero.
//
// On error, which wraps ErrInvalidAdvert, b is returned unchanged.
func (a *Advert) Append(b []byte, src, dst netip.Addr) ([]byte, error) {
	if err := a.check(); err != nil {
		return b, err
	}
	var s, d [4]byte
	if a.Version == 3 {
		if !src.Is4() || !dst.Is4() {
			return b, fmt.Errorf("%w: VRRPv3 checksum needs IPv4 source and destination, have %v and %v", ErrInvalidAdvert, src, dst)
		}
		s, d = src.As4(), dst.As4()
	}
	start := len(b)
	b = slices.Grow(b, a.Len())[:start+a.Len()]
	p := Packet(b[start:])
	p[offVersType] = a.Version<<4 | TypeAdvertisement
	p[offVRID] = a.VRID
	p[offPriority] = a.Priority
	p[offCount] = uint8(len(a.Addrs))
	if a.Version == 2 {
		p[offAuthType] = a.AuthType
		p[offAdverInt] = uint8(a.Interval / time.Second)
	} else {
		cs := uint16(a.Interval / centisecond)
		p[offAuthType] = uint8(cs >> 8)
		p[offAdverInt] = uint8(cs)
	}
	p.SetChecksum(0)
	o := offAddrs
	for _, ad := range a.Addrs {
		v := ad.As4()
		copy(p[o:], v[:])
		o += AddrSize
	}
	if a.Version == 2 {
		copy(p[o:], a.AuthData[:])
	}
	p.SetChecksum(p.CalculateChecksum(s, d))
	return b, nil
}

// Marshal returns the encoded message. See Append.
func (a *Advert) Marshal(src, dst netip.Addr) ([]byte, error) {
	return a.Append(make([]byte, 0, a.Len()), src, dst)
}

// Equal reports whether a and o hold the same advertisement.
func (a *Advert) Equal(o *Advert) bool {
	return a.Version == o.Version && a.VRID == o.VRID && a.Priority == o.Priority &&
		a.Interval == o.Interval && a.AuthType == o.AuthType && a.AuthData == o.AuthData &&
		slices.Equal(a.Addrs, o.Addrs)
}

// Parse decodes msg, which must be exactly one VRRP message (the IPv4
// payload), validating it with Packet.Validate and checking its checksum.
// src and dst are the IPv4 addresses of the carrying packet, needed for the
// VRRPv3 checksum; for VRRPv2 they are ignored. Parse accepts only the
// checksum RFC 5798 defines; ParseIPv4 can be told to accept other
// variants.
//
// It returns the errors of Packet.Validate and ErrChecksum.
func Parse(msg []byte, src, dst netip.Addr) (Advert, error) {
	var s, d [4]byte
	if src.Is4() && dst.Is4() {
		s, d = src.As4(), dst.As4()
	}
	return parse(Packet(msg), s, d, false)
}

func parse(p Packet, src, dst [4]byte, compat bool) (Advert, error) {
	if err := p.Validate(); err != nil {
		return Advert{}, err
	}
	if !p.IsChecksumValid(src, dst) {
		if !compat || p.Version() != 3 || !checksumCompat(p, src) {
			return Advert{}, ErrChecksum
		}
	}
	a := Advert{
		Version:  p.Version(),
		VRID:     p.VRID(),
		Priority: p.Priority(),
		Interval: p.Interval(),
		Addrs:    make([]netip.Addr, p.CountAddrs()),
	}
	for i := range a.Addrs {
		a.Addrs[i] = netip.AddrFrom4(p.Addr(i))
	}
	if a.Version == 2 {
		a.AuthType = p.AuthType()
		a.AuthData = p.AuthData()
	}
	return a, nil
}

// checksumCompat reports whether a VRRPv3 checksum that failed the
// RFC 5798 computation matches one of the variants seen in the field:
// no pseudo-header at all, as VRRPv2 (some routers; FRR's "no vrrp N
// checksum-with-ipv4-pseudoheader"), or a pseudo-header with the
// multicast group as destination on a unicast packet (keepalived before
// it fixed its unicast checksum; its old_unicast_checksum option).
func checksumCompat(p Packet, src [4]byte) bool {
	return p.isChecksumValidNoPseudoHeader() || p.IsChecksumValid(src, MulticastGroup.As4())
}

// ParseOptions relaxes the checks of ParseIPv4 and ParseFrame. The zero
// value (or a nil pointer) checks everything RFC 5798 §7.1 requires.
type ParseOptions struct {
	// AnyTTL accepts a TTL other than 255. keepalived does not check the
	// TTL of advertisements from unicast peers, which may be routed.
	AnyTTL bool
	// V3ChecksumCompat also accepts a VRRPv3 checksum computed without
	// the IPv4 pseudo-header, or with 224.0.0.18 in the pseudo-header of
	// a unicast packet; see checksumCompat. Either way a corrupted packet
	// is still caught with high probability.
	V3ChecksumCompat bool
}

// Message is an advertisement together with the IPv4 header fields a
// receiver needs.
type Message struct {
	Src    netip.Addr // IPv4 source: the sender's primary address
	Dst    netip.Addr // IPv4 destination: 224.0.0.18 or a unicast peer
	TTL    uint8      // IPv4 TTL
	Advert Advert
}

// ParseIPv4 validates an IPv4 datagram carrying VRRP and decodes it. pkt
// starts at the IPv4 header and may extend past the datagram (Ethernet
// padding); the IPv4 total length delimits it. Both layers are checked:
// the IPv4 header (version, lengths, header checksum, not a fragment,
// protocol 112, TTL 255 unless opts.AnyTTL) and the VRRP message as Parse
// checks it. opts may be nil.
//
// It returns ErrTruncated, ErrIPHeader, ErrIPChecksum, ErrFragment,
// ErrProtocol, ErrTTL, the errors of Packet.Validate and ErrChecksum.
// Checks that depend on the local configuration (VRID configured,
// authentication, interval, address list) are Machine's.
func ParseIPv4(pkt []byte, opts *ParseOptions) (Message, error) {
	var o ParseOptions
	if opts != nil {
		o = *opts
	}
	if len(pkt) < header.IPv4MinimumSize {
		return Message{}, ErrTruncated
	}
	ip := header.IPv4(pkt)
	hl := ip.HeaderLength()
	if ip.Version() != 4 || hl < header.IPv4MinimumSize {
		return Message{}, ErrIPHeader
	}
	if hl > len(ip) {
		return Message{}, ErrTruncated
	}
	tl := int(ip.TotalLength())
	if tl < hl {
		return Message{}, ErrIPHeader
	}
	if tl > len(ip) {
		return Message{}, ErrTruncated
	}
	if !ip.IsChecksumValid() {
		return Message{}, ErrIPChecksum
	}
	if ip.IsFragment() {
		return Message{}, ErrFragment
	}
	if ip.Protocol() != ProtocolNumber {
		return Message{}, ErrProtocol
	}
	if ip.TTL() != TTL && !o.AnyTTL {
		return Message{}, ErrTTL
	}
	src, dst := ip.SourceAddress(), ip.DestinationAddress()
	a, err := parse(Packet(ip[hl:tl]), src, dst, o.V3ChecksumCompat)
	if err != nil {
		return Message{}, err
	}
	return Message{
		Src:    netip.AddrFrom4(src),
		Dst:    netip.AddrFrom4(dst),
		TTL:    ip.TTL(),
		Advert: a,
	}, nil
}

// ParseFrame is ParseIPv4 for an untagged Ethernet frame. It returns
// ErrTruncated or ErrNotIPv4 for the Ethernet header and otherwise what
// ParseIPv4 returns. It does not look at the MAC addresses.
func ParseFrame(frame []byte, opts *ParseOptions) (Message, error) {
	if len(frame) < header.EthernetSize {
		return Message{}, ErrTruncated
	}
	if header.Ethernet(frame).Type() != header.EtherTypeIPv4 {
		return Message{}, ErrNotIPv4
	}
	return ParseIPv4(frame[header.EthernetSize:], opts)
}
