package vrrp

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"

	"github.com/xvs-project/xvs/internal/header"
)

// MulticastGroup is the IPv4 multicast group VRRP advertisements are sent
// to, 224.0.0.18 (RFC 5798 §5.1.1.2).
var MulticastGroup = netip.AddrFrom4([4]byte{224, 0, 0, 18})

// MulticastMAC is the Ethernet address of MulticastGroup,
// 01:00:5e:00:00:12 (RFC 1112 §6.4).
var MulticastMAC = [6]byte{0x01, 0x00, 0x5e, 0x00, 0x00, 0x12}

// BroadcastMAC is the Ethernet broadcast address.
var BroadcastMAC = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// VirtualMAC returns the virtual router MAC address of an IPv4 virtual
// router, 00:00:5e:00:01:VRID (RFC 5798 §7.3). keepalived uses it only
// with use_vmac; by default it sends from the interface's own address.
func VirtualMAC(vrid uint8) [6]byte {
	return [6]byte{0x00, 0x00, 0x5e, 0x00, 0x01, vrid}
}

// MinFrameSize is the minimum size of an Ethernet frame without its
// frame check sequence. AppendAdvertFrame and AppendGARPFrame pad shorter
// frames with zeros to this size, as a kernel would, so that no driver on
// the AF_XDP path has to.
const MinFrameSize = 60

// ipTOS is the type-of-service byte keepalived sends VRRP with: precedence
// 6, internetwork control.
const ipTOS = 0xc0

// FrameParams describes the Ethernet and IPv4 headers of an advertisement
// frame.
type FrameParams struct {
	// SrcMAC is the source MAC address: the interface's address, as
	// keepalived sends by default, or VirtualMAC(vrid) for use_vmac.
	SrcMAC [6]byte
	// DstMAC is the destination MAC address of a unicast advertisement
	// (keepalived's unicast_peer): the peer's address, which the caller
	// resolves. For a multicast Dst it is ignored and the multicast MAC
	// address of Dst is used.
	DstMAC [6]byte
	// Src is the IPv4 source address, the sender's primary address on the
	// interface (RFC 5798 §5.1.1.1).
	Src netip.Addr
	// Dst is the IPv4 destination: MulticastGroup, or a unicast peer.
	Dst netip.Addr
	// ID is the IPv4 identification. keepalived counts it up per packet.
	ID uint16
	// TTL is the IPv4 TTL; 0 means 255, which receivers require. Other
	// values exist for keepalived's unicast_ttl.
	TTL uint8
}

// multicastMAC returns the Ethernet address of an IPv4 multicast group.
func multicastMAC(group [4]byte) [6]byte {
	return [6]byte{0x01, 0x00, 0x5e, group[1] & 0x7f, group[2], group[3]}
}

// AppendAdvertFrame appends an Ethernet frame carrying a in an IPv4
// datagram as p describes (TOS 0xc0, no fragmentation, protocol 112,
// header checksum computed) to b and returns the extended slice. The frame
// is padded with zeros to MinFrameSize; the IPv4 total length excludes the
// padding.
//
// On error, which wraps ErrInvalidAdvert, b is returned unchanged.
func AppendAdvertFrame(b []byte, p FrameParams, a *Advert) ([]byte, error) {
	if !p.Src.Is4() || !p.Dst.Is4() {
		return b, fmt.Errorf("%w: frame needs IPv4 source and destination, have %v and %v", ErrInvalidAdvert, p.Src, p.Dst)
	}
	if err := a.check(); err != nil {
		return b, err
	}
	src, dst := p.Src.As4(), p.Dst.As4()
	dstMAC := p.DstMAC
	if p.Dst.IsMulticast() {
		dstMAC = multicastMAC(dst)
	}
	ttl := p.TTL
	if ttl == 0 {
		ttl = TTL
	}

	start := len(b)
	hdr := header.EthernetSize + header.IPv4MinimumSize
	b = slices.Grow(b, max(hdr+a.Len(), MinFrameSize))[:start+hdr]
	eth := header.Ethernet(b[start:])
	eth.SetDestination(dstMAC)
	eth.SetSource(p.SrcMAC)
	eth.SetType(header.EtherTypeIPv4)

	b, err := a.Append(b, p.Src, p.Dst)
	if err != nil {
		return b[:start], err // cannot happen after check
	}
	ip := header.IPv4(b[start+header.EthernetSize:])
	ip[0] = 4<<4 | header.IPv4MinimumSize/4
	ip[1] = ipTOS
	binary.BigEndian.PutUint16(ip[2:], uint16(header.IPv4MinimumSize+a.Len()))
	binary.BigEndian.PutUint16(ip[4:], p.ID)
	binary.BigEndian.PutUint16(ip[6:], 0) // flags and fragment offset
	ip[8] = ttl
	ip[9] = ProtocolNumber
	copy(ip[12:16], src[:])
	copy(ip[16:20], dst[:])
	ip.SetChecksum(0)
	ip.SetChecksum(ip.CalculateChecksum())
	return pad(b, start), nil
}

// pad appends zeros to the frame that starts at b[start] up to
// MinFrameSize.
func pad(b []byte, start int) []byte {
	for len(b)-start < MinFrameSize {
		b = append(b, 0)
	}
	return b
}

// GARPSize is the size of a gratuitous ARP frame as AppendGARPFrame builds
// it: an Ethernet header and an ARP message (42 bytes), padded to
// MinFrameSize.
const GARPSize = MinFrameSize

// AppendGARPFrame appends a gratuitous ARP for vip to b, in the form
// keepalived sends when it takes over a virtual address: an ARP request
// broadcast from srcMAC, with sender and target protocol address both vip,
// sender hardware address srcMAC and target hardware address
// ff:ff:ff:ff:ff:ff. srcMAC is the interface's MAC address, or
// VirtualMAC(vrid) with use_vmac. The frame is GARPSize bytes, zero
// padded.
//
// It returns an error, and b unchanged, if vip is not an IPv4 address.
func AppendGARPFrame(b []byte, srcMAC [6]byte, vip netip.Addr) ([]byte, error) {
	if !vip.Is4() {
		return b, fmt.Errorf("vrrp: gratuitous ARP for %v: not an IPv4 address", vip)
	}
	a := vip.As4()
	start := len(b)
	b = slices.Grow(b, GARPSize)[:start+GARPSize]
	clear(b[start+header.EthernetSize+header.ARPSize:])
	eth := header.Ethernet(b[start:])
	eth.SetDestination(BroadcastMAC)
	eth.SetSource(srcMAC)
	eth.SetType(header.EtherTypeARP)
	arp := header.ARP(b[start+header.EthernetSize:])
	arp.SetIPv4OverEthernet()
	arp.SetOp(header.ARPRequest)
	arp.SetSenderHardwareAddress(srcMAC)
	arp.SetSenderProtocolAddress(a)
	arp.SetTargetHardwareAddress(BroadcastMAC)
	arp.SetTargetProtocolAddress(a)
	return b, nil
}
