package header

import "encoding/binary"

const (
	ndpFlags   = 4
	ndpTarget  = 8
	ndpOptions = 24
)

// ICMPv6NeighborMinimumSize is the size of a Neighbor Solicitation or
// Advertisement without options (RFC 4861 §4.3, §4.4): type, code,
// checksum, flags and reserved bytes, target address.
const ICMPv6NeighborMinimumSize = 24

// NDPLinkLayerAddressOptionSize is the size of a source or target
// link-layer address option for Ethernet (RFC 4861 §4.6.1): type, length 1
// (in units of 8 bytes) and the 6-byte MAC address.
const NDPLinkLayerAddressOptionSize = 8

// Neighbor Discovery option types (RFC 4861 §4.6).
const (
	// NDPOptionSourceLinkLayerAddress is the source link-layer address
	// option, carried by solicitations.
	NDPOptionSourceLinkLayerAddress = 1
	// NDPOptionTargetLinkLayerAddress is the target link-layer address
	// option, carried by advertisements.
	NDPOptionTargetLinkLayerAddress = 2
)

// Bits of the value returned by ICMPv6.NeighborFlags (RFC 4861 §4.4).
const (
	// NeighborFlagRouter is the R flag: the sender is a router.
	NeighborFlagRouter = 0x80
	// NeighborFlagSolicited is the S flag: the advertisement answers a
	// solicitation sent to the sender's unicast address or for address
	// resolution.
	NeighborFlagSolicited = 0x40
	// NeighborFlagOverride is the O flag: the advertisement should
	// override a cached link-layer address.
	NeighborFlagOverride = 0x20
)

// TargetAddress returns the target address of a Neighbor Solicitation or
// Advertisement.
func (b ICMPv6) TargetAddress() [16]byte { return [16]byte(b[ndpTarget : ndpTarget+16]) }

// NeighborFlags returns the R, S and O flags of a Neighbor Advertisement
// (see NeighborFlagRouter and the other NeighborFlag constants); the
// reserved bits are masked off.
func (b ICMPv6) NeighborFlags() uint8 {
	return b[ndpFlags] & (NeighborFlagRouter | NeighborFlagSolicited | NeighborFlagOverride)
}

// LinkLayerAddressOption checks the options of a Neighbor Solicitation or
// Advertisement b, which must be the whole message, and returns the MAC
// address of the first option of type optType
// (NDPOptionSourceLinkLayerAddress or NDPOptionTargetLinkLayerAddress)
// that is NDPLinkLayerAddressOptionSize bytes long, as on Ethernet; ok is
// false if there is none. Options of other types and lengths are skipped,
// as RFC 4861 §4.6 requires.
//
// Every option is checked, after the one found too: an option of length
// 0, or one that runs past the message, gives ErrNeighborDiscovery (RFC
// 4861 §7.1.1 and §7.1.2 make such a message invalid); a message shorter
// than ICMPv6NeighborMinimumSize gives ErrTruncated.
func (b ICMPv6) LinkLayerAddressOption(optType uint8) (mac [6]byte, ok bool, err error) {
	if len(b) < ICMPv6NeighborMinimumSize {
		return mac, false, ErrTruncated
	}
	for off := ndpOptions; off < len(b); {
		if len(b)-off < 2 {
			return [6]byte{}, false, ErrNeighborDiscovery
		}
		l := int(b[off+1]) * 8
		if l == 0 || l > len(b)-off {
			return [6]byte{}, false, ErrNeighborDiscovery
		}
		if !ok && b[off] == optType && l == NDPLinkLayerAddressOptionSize {
			mac, ok = [6]byte(b[off+2:off+8]), true
		}
		off += l
	}
	return mac, ok, nil
}

// NeighborSolicitation is what ParseNeighborSolicitation reports of a
// valid Neighbor Solicitation.
type NeighborSolicitation struct {
	// Source is the IPv6 source address: the unspecified address (all
	// zeros) for duplicate address detection (RFC 4862).
	Source [16]byte
	// Destination is the IPv6 destination address: a solicited-node
	// multicast address, or the target itself.
	Destination [16]byte
	// Target is the address whose owner is sought.
	Target [16]byte
	// SourceLinkLayerAddress is the MAC address of the source link-layer
	// address option, if HasSourceLinkLayerAddress.
	SourceLinkLayerAddress [6]byte
	// HasSourceLinkLayerAddress says whether the solicitation carries a
	// source link-layer address option for Ethernet.
	HasSourceLinkLayerAddress bool
}

// IsDAD reports whether the solicitation is part of duplicate address
// detection: its source is the unspecified address.
func (ns *NeighborSolicitation) IsDAD() bool { return ns.Source == [16]byte{} }

// solicitedNodePrefix is ff02::1:ff00:0/104 (RFC 4291 §2.7.1).
var solicitedNodePrefix = [13]byte{0: 0xff, 1: 0x02, 11: 0x01, 12: 0xff}

// allNodes is ff02::1, the link-local all-nodes multicast address.
var allNodes = [16]byte{0: 0xff, 1: 0x02, 15: 0x01}

// allNodesMAC is the Ethernet multicast address of ff02::1 (RFC 2464 §7).
var allNodesMAC = [6]byte{0x33, 0x33, 0, 0, 0, 1}

// ParseNeighborSolicitation validates frame, an untagged Ethernet frame,
// as a Neighbor Solicitation and returns what it says. It applies every
// check of RFC 4861 §7.1.1: hop limit 255, a correct ICMPv6 checksum,
// code 0, at least ICMPv6NeighborMinimumSize bytes, a target that is not
// multicast, no option of length 0, and from the unspecified source only
// to a solicited-node multicast address and without a source link-layer
// address option. It also refuses a multicast source, and extension
// headers between the IPv6 header and the message, which no sender of
// Neighbor Discovery uses.
//
// The error is nil or a sentinel of this package:
// ErrNotNeighborSolicitation for a frame that does not carry IPv6 (or is
// VLAN-tagged) or carries another upper-layer protocol or ICMPv6 type;
// ParseIPv6's errors; ErrTruncated for a message too short for its fixed
// part; ErrChecksum; ErrNeighborDiscovery for the other checks.
func ParseNeighborSolicitation(frame []byte) (ns NeighborSolicitation, err error) {
	if len(frame) < EthernetSize {
		return ns, ErrTruncated
	}
	if Ethernet(frame).Type() != EtherTypeIPv6 {
		return ns, ErrNotNeighborSolicitation
	}
	ip, proto, off, err := ParseIPv6(frame[EthernetSize:])
	if err != nil {
		return ns, err
	}
	if proto != ProtocolICMPv6 {
		return ns, ErrNotNeighborSolicitation
	}
	icmp := ICMPv6(ip[off:])
	if len(icmp) < icmpv6Checksum+2 {
		return ns, ErrTruncated
	}
	if icmp.Type() != ICMPv6NeighborSolicitation {
		return ns, ErrNotNeighborSolicitation
	}
	if off != IPv6FixedHeaderSize {
		return ns, ErrNeighborDiscovery
	}
	if len(icmp) < ICMPv6NeighborMinimumSize {
		return ns, ErrTruncated
	}
	if ip.HopLimit() != 255 || icmp.Code() != 0 {
		return ns, ErrNeighborDiscovery
	}
	if !TransportChecksumValidIPv6(ProtocolICMPv6, ip, icmp) {
		return ns, ErrChecksum
	}
	ns.Source, ns.Destination, ns.Target = ip.SourceAddress(), ip.DestinationAddress(), icmp.TargetAddress()
	if ns.Target[0] == 0xff || ns.Source[0] == 0xff {
		return NeighborSolicitation{}, ErrNeighborDiscovery
	}
	ns.SourceLinkLayerAddress, ns.HasSourceLinkLayerAddress, err = icmp.LinkLayerAddressOption(NDPOptionSourceLinkLayerAddress)
	if err != nil {
		return NeighborSolicitation{}, err
	}
	if ns.IsDAD() && (ns.HasSourceLinkLayerAddress || [13]byte(ns.Destination[:13]) != solicitedNodePrefix) {
		return NeighborSolicitation{}, ErrNeighborDiscovery
	}
	return ns, nil
}

// NeighborAdvertisementFrameSize is the length of the frame that
// AnswerNeighborSolicitation writes: Ethernet and IPv6 headers, a Neighbor
// Advertisement with one target link-layer address option.
const NeighborAdvertisementFrameSize = EthernetSize + IPv6FixedHeaderSize +
	ICMPv6NeighborMinimumSize + NDPLinkLayerAddressOptionSize

// AnswerNeighborSolicitation turns the Neighbor Solicitation in frame
// into the Neighbor Advertisement that answers it (RFC 4861 §7.2.4), in
// place, and returns the advertisement: frame[:NeighborAdvertisementFrameSize].
// mac is the responder's MAC address and flags its NeighborFlagRouter and
// NeighborFlagOverride bits (the Solicited flag in flags is ignored; it is
// set as the solicitation requires). The caller must have decided, from
// ParseNeighborSolicitation's Target, that it owns the target address;
// AnswerNeighborSolicitation validates the frame again, so a frame that
// is not a valid solicitation is never rewritten, and leaves the frame
// untouched on error.
//
// The steps, for a Go responder or an XDP program alike:
//
//  1. Validate the solicitation (ParseNeighborSolicitation) and check that
//     the target is an address the responder owns.
//  2. Make the frame NeighborAdvertisementFrameSize (86) bytes long: a
//     solicitation with a source link-layer address option has exactly
//     that length; one without (duplicate address detection, some
//     unreachability probes) is 8 bytes shorter and must grow (XDP:
//     bpf_xdp_adjust_tail), one with more options shrinks. Here the
//     frame's capacity must allow it, or ErrNoRoom is returned.
//  3. Ethernet: destination the solicitation's source link-layer address
//     option, or without one the frame's source; for duplicate address
//     detection 33:33:00:00:00:01. Source mac.
//  4. IPv6: traffic class and flow label 0, payload length 32, next
//     header 58, hop limit 255, source the target address, destination
//     the solicitation's source, or for duplicate address detection
//     ff02::1 (all nodes).
//  5. ICMPv6: type 136, code 0; flags R and O as the responder's role
//     says, S set unless answering duplicate address detection; reserved
//     bytes 0; the target unchanged; a target link-layer address option
//     (type 2, length 1, mac).
//  6. The ICMPv6 checksum computed in full over the new pseudo-header and
//     the 32-byte message (every covered word has changed, so an
//     incremental update would cost as much); then transmit (XDP_TX).
func AnswerNeighborSolicitation(frame []byte, mac [6]byte, flags uint8) ([]byte, error) {
	ns, err := ParseNeighborSolicitation(frame)
	if err != nil {
		return nil, err
	}
	if cap(frame) < NeighborAdvertisementFrameSize {
		return nil, ErrNoRoom
	}
	frame = frame[:NeighborAdvertisementFrameSize]

	eth := Ethernet(frame)
	dstMAC, dstIP := eth.Source(), ns.Source
	if ns.HasSourceLinkLayerAddress {
		dstMAC = ns.SourceLinkLayerAddress
	}
	flags &= NeighborFlagRouter | NeighborFlagOverride
	if ns.IsDAD() {
		dstMAC, dstIP = allNodesMAC, allNodes
	} else {
		flags |= NeighborFlagSolicited
	}
	eth.SetDestination(dstMAC)
	eth.SetSource(mac)

	ip := IPv6(frame[EthernetSize:])
	binary.BigEndian.PutUint32(ip[ip6VersTCFlow:], 6<<28)
	ip.SetPayloadLength(ICMPv6NeighborMinimumSize + NDPLinkLayerAddressOptionSize)
	ip.SetNextHeader(ProtocolICMPv6)
	ip.SetHopLimit(255)
	copy(ip[ip6SrcAddr:ip6SrcAddr+16], ns.Target[:])
	copy(ip[ip6DstAddr:ip6DstAddr+16], dstIP[:])

	icmp := ICMPv6(ip[IPv6FixedHeaderSize:])
	icmp[icmpv6Type] = ICMPv6NeighborAdvertisement
	icmp[icmpv6Code] = 0
	binary.BigEndian.PutUint32(icmp[ndpFlags:], uint32(flags)<<24)
	copy(icmp[ndpTarget:ndpTarget+16], ns.Target[:])
	icmp[ndpOptions] = NDPOptionTargetLinkLayerAddress
	icmp[ndpOptions+1] = NDPLinkLayerAddressOptionSize / 8
	copy(icmp[ndpOptions+2:ndpOptions+8], mac[:])
	icmp.SetChecksum(ComputeTransportChecksumIPv6(ProtocolICMPv6, ip, icmp))
	return frame, nil
}
