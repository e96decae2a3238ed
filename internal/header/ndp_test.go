package header_test

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xvs-project/xvs/internal/header"
)

var (
	ip6Unspecified = net.IPv6unspecified
	ip6AllNodes    = net.ParseIP("ff02::1")
	// ip6SolicitedVIP is the solicited-node address of ip6VIP
	// (2001:2::1:1): ff02::1:ff plus its last 24 bits.
	ip6SolicitedVIP = net.ParseIP("ff02::1:ff01:1")
	macSolicitedVIP = net.HardwareAddr{0x33, 0x33, 0xff, 0x01, 0x00, 0x01}
	macAllNodes     = net.HardwareAddr{0x33, 0x33, 0x00, 0x00, 0x00, 0x01}
)

// neighborSolicitation builds an NS frame for target; sll is the source
// link-layer address option's address, none if nil; extra are more
// options.
func neighborSolicitation(src, dst, target net.IP, smac, dmac, sll net.HardwareAddr, extra ...layers.ICMPv6Option) []gopacket.SerializableLayer {
	eth := &layers.Ethernet{SrcMAC: smac, DstMAC: dmac, EthernetType: layers.EthernetTypeIPv6}
	ip := &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolICMPv6, HopLimit: 255, SrcIP: src, DstIP: dst}
	icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeNeighborSolicitation, 0)}
	if err := icmp.SetNetworkLayerForChecksum(ip); err != nil {
		panic(err)
	}
	ns := &layers.ICMPv6NeighborSolicitation{TargetAddress: target}
	// gopacket prepends the options in turn, so the last comes first.
	ns.Options = append(ns.Options, extra...)
	if sll != nil {
		ns.Options = append(ns.Options, layers.ICMPv6Option{Type: layers.ICMPv6OptSourceAddress, Data: sll})
	}
	return []gopacket.SerializableLayer{eth, ip, icmp, ns}
}

// neighborAdvertisement builds the NA frame AnswerNeighborSolicitation
// should write.
func neighborAdvertisement(src, dst net.IP, smac, dmac net.HardwareAddr, flags uint8) []gopacket.SerializableLayer {
	eth := &layers.Ethernet{SrcMAC: smac, DstMAC: dmac, EthernetType: layers.EthernetTypeIPv6}
	ip := &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolICMPv6, HopLimit: 255, SrcIP: src, DstIP: dst}
	icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeNeighborAdvertisement, 0)}
	if err := icmp.SetNetworkLayerForChecksum(ip); err != nil {
		panic(err)
	}
	na := &layers.ICMPv6NeighborAdvertisement{Flags: flags, TargetAddress: src,
		Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptTargetAddress, Data: smac}}}
	return []gopacket.SerializableLayer{eth, ip, icmp, na}
}

var goldenNeighborSolicitation = []byte{
	0x33, 0x33, 0xff, 0x01, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
	0x86, 0xdd, 0x60, 0x00, 0x00, 0x00, 0x00, 0x20, 0x3a, 0xff, 0x20, 0x01,
	0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x10, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x01, 0xff, 0x01, 0x00, 0x01, 0x87, 0x00, 0x37, 0x84, 0x00, 0x00,
	0x00, 0x00, 0x20, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x01, 0x01, 0x02, 0x00, 0x00, 0x00,
	0x00, 0x01,
}

var goldenNeighborAdvertisement = []byte{
	0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
	0x86, 0xdd, 0x60, 0x00, 0x00, 0x00, 0x00, 0x20, 0x3a, 0xff, 0x20, 0x01,
	0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
	0x00, 0x01, 0x20, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x88, 0x00, 0x33, 0x84, 0xe0, 0x00,
	0x00, 0x00, 0x20, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x02, 0x01, 0x02, 0x00, 0x00, 0x00,
	0x00, 0x02,
}

// withCap returns a copy of b in a slice of capacity c.
func withCap(b []byte, c int) []byte {
	return append(make([]byte, 0, c), b...)
}

func TestGoldenNeighborDiscovery(t *testing.T) {
	const ro = header.NeighborFlagRouter | header.NeighborFlagOverride
	for _, tc := range []struct {
		name      string
		ns, na    []gopacket.SerializableLayer
		golden    [2][]byte
		dad       bool
		flags     uint8
		sll       net.HardwareAddr
		extraRoom int
	}{
		{
			name:   "address resolution",
			ns:     neighborSolicitation(ip6Client, ip6SolicitedVIP, ip6VIP, macClient, macSolicitedVIP, macClient),
			na:     neighborAdvertisement(ip6VIP, ip6Client, macLB, macClient, 0xe0),
			golden: [2][]byte{goldenNeighborSolicitation, goldenNeighborAdvertisement},
			flags:  ro, sll: macClient,
		},
		{
			name:      "duplicate address detection",
			ns:        neighborSolicitation(ip6Unspecified, ip6SolicitedVIP, ip6VIP, macClient, macSolicitedVIP, nil),
			na:        neighborAdvertisement(ip6VIP, ip6AllNodes, macLB, macAllNodes, header.NeighborFlagOverride),
			dad:       true,
			flags:     header.NeighborFlagOverride | header.NeighborFlagSolicited, // S is ignored
			extraRoom: 8,
		},
		{
			name:      "unreachability probe without source link-layer address",
			ns:        neighborSolicitation(ip6Client, ip6VIP, ip6VIP, macClient, macLB, nil),
			na:        neighborAdvertisement(ip6VIP, ip6Client, macLB, macClient, header.NeighborFlagSolicited),
			extraRoom: 8,
		},
		{
			name: "more options, source link-layer address from a proxy",
			ns: neighborSolicitation(ip6Client, ip6SolicitedVIP, ip6VIP, macClient, macSolicitedVIP, macReal,
				layers.ICMPv6Option{Type: 14, Data: []byte{1, 2, 3, 4, 5, 6}}), // nonce (RFC 3971)
			na:    neighborAdvertisement(ip6VIP, ip6Client, macLB, macReal, 0xe0),
			flags: 0xff, sll: macReal, // reserved bits dropped
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			frame := serialize(t, tc.ns...)
			if tc.golden[0] != nil {
				checkGolden(t, "neighbor solicitation", tc.golden[0], frame)
			}
			ns, err := header.ParseNeighborSolicitation(frame)
			if err != nil {
				t.Fatal(err)
			}
			if ns.Target != [16]byte(ip6VIP) || ns.IsDAD() != tc.dad || ns.Source != [16]byte(ip6Unspecified.To16()) && tc.dad ||
				ns.HasSourceLinkLayerAddress != (tc.sll != nil) || tc.sll != nil && ns.SourceLinkLayerAddress != [6]byte(tc.sll) {
				t.Fatalf("ParseNeighborSolicitation = %+v", ns)
			}
			if room := header.NeighborAdvertisementFrameSize - len(frame); room != tc.extraRoom && !(room < 0 && tc.extraRoom == 0) {
				t.Fatalf("the NA needs %d more bytes, want %d", room, tc.extraRoom)
			}
			if tc.extraRoom > 0 {
				exact := withCap(frame, len(frame))
				if _, err := header.AnswerNeighborSolicitation(exact, [6]byte(macLB), tc.flags); err != header.ErrNoRoom {
					t.Fatalf("without room: %v", err)
				}
				if !bytes.Equal(exact, frame) {
					t.Fatal("frame changed although there was no room")
				}
			}
			buf := withCap(frame, 2048)
			na, err := header.AnswerNeighborSolicitation(buf, [6]byte(macLB), tc.flags)
			if err != nil {
				t.Fatal(err)
			}
			if &na[0] != &buf[0] || len(na) != header.NeighborAdvertisementFrameSize {
				t.Fatal("the advertisement is not written in place")
			}
			want := serialize(t, tc.na...)
			if tc.golden[1] != nil {
				checkGolden(t, "neighbor advertisement", tc.golden[1], want)
			}
			if !bytes.Equal(na, want) {
				t.Fatalf("advertisement differs from gopacket's; got\n%s\nwant\n%s", goLiteral(na), goLiteral(want))
			}
			// And it reads back.
			ip, proto, off, err := header.ParseIPv6(na[header.EthernetSize:])
			if err != nil || proto != header.ProtocolICMPv6 || off != header.IPv6FixedHeaderSize {
				t.Fatalf("ParseIPv6 of the NA: %v", err)
			}
			icmp := header.ICMPv6(ip[off:])
			mac, ok, err := icmp.LinkLayerAddressOption(header.NDPOptionTargetLinkLayerAddress)
			if icmp.Type() != header.ICMPv6NeighborAdvertisement || icmp.TargetAddress() != [16]byte(ip6VIP) ||
				!ok || err != nil || mac != [6]byte(macLB) || !header.TransportChecksumValidIPv6(proto, ip, icmp) {
				t.Fatal("NA does not read back")
			}
			if _, err := header.ParseNeighborSolicitation(na); err != header.ErrNotNeighborSolicitation {
				t.Fatalf("ParseNeighborSolicitation of the NA: %v", err)
			}
		})
	}
}

func TestNeighborAdvertisementFields(t *testing.T) {
	frame := serialize(t, neighborAdvertisement(ip6VIP, ip6Client, macLB, macClient, 0xff)...)
	icmp := header.ICMPv6(frame[header.EthernetSize+header.IPv6FixedHeaderSize:])
	if icmp.NeighborFlags() != header.NeighborFlagRouter|header.NeighborFlagSolicited|header.NeighborFlagOverride {
		t.Fatalf("flags %#x", icmp.NeighborFlags())
	}
	if _, ok, err := icmp.LinkLayerAddressOption(header.NDPOptionSourceLinkLayerAddress); ok || err != nil {
		t.Fatalf("source link-layer address found in an NA: %v %v", ok, err)
	}
	base := []byte(icmp[:header.ICMPv6NeighborMinimumSize])
	for _, tc := range []struct {
		name    string
		options []byte
		mac     [6]byte
		ok      bool
		err     error
	}{
		{"none", nil, [6]byte{}, false, nil},
		{"one", []byte{2, 1, 2, 0, 0, 0, 0, 9}, [6]byte{2, 0, 0, 0, 0, 9}, true, nil},
		{"first of two", []byte{2, 1, 2, 0, 0, 0, 0, 9, 2, 1, 2, 0, 0, 0, 0, 8}, [6]byte{2, 0, 0, 0, 0, 9}, true, nil},
		{"after others", []byte{1, 1, 2, 0, 0, 0, 0, 7, 14, 1, 1, 2, 3, 4, 5, 6, 2, 1, 2, 0, 0, 0, 0, 9}, [6]byte{2, 0, 0, 0, 0, 9}, true, nil},
		{"not Ethernet", []byte{2, 2, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0}, [6]byte{}, false, nil},
		{"length 0", []byte{2, 0, 2, 0, 0, 0, 0, 9}, [6]byte{}, false, header.ErrNeighborDiscovery},
		{"length 0 after", []byte{2, 1, 2, 0, 0, 0, 0, 9, 14, 0, 0, 0, 0, 0, 0, 0}, [6]byte{}, false, header.ErrNeighborDiscovery},
		{"past the end", []byte{2, 2, 2, 0, 0, 0, 0, 9}, [6]byte{}, false, header.ErrNeighborDiscovery},
		{"one byte", []byte{2}, [6]byte{}, false, header.ErrNeighborDiscovery},
	} {
		m := header.ICMPv6(append(append([]byte(nil), base...), tc.options...))
		mac, ok, err := m.LinkLayerAddressOption(header.NDPOptionTargetLinkLayerAddress)
		if mac != tc.mac || ok != tc.ok || err != tc.err {
			t.Errorf("%s: %x %v %v, want %x %v %v", tc.name, mac, ok, err, tc.mac, tc.ok, tc.err)
		}
	}
	if _, _, err := header.ICMPv6(base[:23]).LinkLayerAddressOption(1); err != header.ErrTruncated {
		t.Errorf("short message: %v", err)
	}
}

// TestNeighborSolicitationInvalid breaks a valid solicitation in every way
// RFC 4861 §7.1.1 names, and some more; each must be refused by both
// ParseNeighborSolicitation and AnswerNeighborSolicitation, which must
// then leave the frame alone.
func TestNeighborSolicitationInvalid(t *testing.T) {
	valid := serialize(t, neighborSolicitation(ip6Client, ip6SolicitedVIP, ip6VIP, macClient, macSolicitedVIP, macClient)...)
	dad := serialize(t, neighborSolicitation(ip6Unspecified, ip6SolicitedVIP, ip6VIP, macClient, macSolicitedVIP, nil)...)
	const ipo, icmpo = header.EthernetSize, header.EthernetSize + header.IPv6FixedHeaderSize
	// fix recomputes the ICMPv6 checksum (reference code) after a change.
	fix := func(b []byte) []byte {
		ip := header.IPv6(b[ipo:])
		l4 := b[icmpo:]
		binary.BigEndian.PutUint16(l4[2:], refL4Checksum6(header.ProtocolICMPv6, ip.SourceAddress(), ip.DestinationAddress(), l4))
		return b
	}
	mod := func(from []byte, f func(b []byte)) []byte {
		b := append([]byte(nil), from...)
		f(b)
		return fix(b)
	}
	setPlen := func(b []byte) { binary.BigEndian.PutUint16(b[ipo+4:], uint16(len(b)-icmpo)) }
	withHBH := func() []byte {
		b := append([]byte(nil), valid[:icmpo]...)
		b = append(b, opts(header.ProtocolICMPv6, 0)...)
		b = append(b, valid[icmpo:]...)
		b[ipo+6] = hbh
		setPlen(b)
		ip := header.IPv6(b[ipo:])
		l4 := b[icmpo+8:]
		binary.BigEndian.PutUint16(l4[2:], refL4Checksum6(header.ProtocolICMPv6, ip.SourceAddress(), ip.DestinationAddress(), l4))
		return b
	}
	multicastSrc := addr6("ff02::2")
	for _, tc := range []struct {
		name  string
		frame []byte
		err   error
	}{
		{"hop limit 254", mod(valid, func(b []byte) { b[ipo+7] = 254 }), header.ErrNeighborDiscovery},
		{"code 1", mod(valid, func(b []byte) { b[icmpo+1] = 1 }), header.ErrNeighborDiscovery},
		{"bad checksum", func() []byte { b := append([]byte(nil), valid...); b[icmpo+2] ^= 1; return b }(), header.ErrChecksum},
		{"multicast target", mod(valid, func(b []byte) { copy(b[icmpo+8:], ip6AllNodes) }), header.ErrNeighborDiscovery},
		{"multicast source", mod(valid, func(b []byte) { copy(b[ipo+8:], multicastSrc[:]) }), header.ErrNeighborDiscovery},
		{"option length 0", mod(valid, func(b []byte) { b[icmpo+25] = 0 }), header.ErrNeighborDiscovery},
		{"option past the end", mod(valid, func(b []byte) { b[icmpo+25] = 2 }), header.ErrNeighborDiscovery},
		{"DAD with source link-layer address", mod(valid, func(b []byte) { clear(b[ipo+8 : ipo+24]) }), header.ErrNeighborDiscovery},
		{"DAD to a unicast address", mod(dad, func(b []byte) { copy(b[ipo+24:], ip6VIP) }), header.ErrNeighborDiscovery},
		{"DAD to all nodes", mod(dad, func(b []byte) { copy(b[ipo+24:], ip6AllNodes) }), header.ErrNeighborDiscovery},
		{"20 bytes", mod(dad[:icmpo+20], setPlen), header.ErrTruncated},
		{"3 bytes", func() []byte { b := append([]byte(nil), dad[:icmpo+3]...); setPlen(b); return b }(), header.ErrTruncated},
		{"hop-by-hop header", withHBH(), header.ErrNeighborDiscovery},
		{"advertisement", mod(valid, func(b []byte) { b[icmpo] = header.ICMPv6NeighborAdvertisement }), header.ErrNotNeighborSolicitation},
		{"echo request", mod(valid, func(b []byte) { b[icmpo] = header.ICMPv6EchoRequest }), header.ErrNotNeighborSolicitation},
		{"UDP", func() []byte { b := append([]byte(nil), valid...); b[ipo+6] = udp6; return b }(), header.ErrNotNeighborSolicitation},
		{"VLAN", func() []byte { b := append([]byte(nil), valid...); b[12], b[13] = 0x81, 0x00; return b }(), header.ErrNotNeighborSolicitation},
		{"IPv4", serialize(t, &layers.Ethernet{SrcMAC: macClient, DstMAC: macLB, EthernetType: layers.EthernetTypeIPv4},
			&layers.IPv4{Version: 4, IHL: 5, TTL: 255, Protocol: layers.IPProtocolICMPv4,
				SrcIP: net.IPv4(198, 18, 0, 10), DstIP: net.IPv4(198, 18, 1, 1)},
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0)},
			gopacket.Payload("twenty-four bytes long..")), header.ErrNotNeighborSolicitation},
		{"IPv6 cut", valid[:len(valid)-1], header.ErrTruncated},
		{"Ethernet cut", valid[:13], header.ErrTruncated},
		{"version 4", func() []byte { b := append([]byte(nil), valid...); b[ipo] = 0x45; return b }(), header.ErrVersion},
		{"fragment", func() []byte {
			b := append([]byte(nil), valid[:icmpo]...)
			b = append(b, fragment(header.ProtocolICMPv6, 0, false)...)
			b = append(b, valid[icmpo:]...)
			b[ipo+6] = frg
			setPlen(b)
			return b
		}(), header.ErrFragment},
	} {
		if _, err := header.ParseNeighborSolicitation(tc.frame); err != tc.err {
			t.Errorf("%s: ParseNeighborSolicitation: %v, want %v", tc.name, err, tc.err)
		}
		buf := withCap(tc.frame, 2048)
		if na, err := header.AnswerNeighborSolicitation(buf, [6]byte(macLB), 0); err != tc.err || na != nil {
			t.Errorf("%s: AnswerNeighborSolicitation: %v, want %v", tc.name, err, tc.err)
		}
		if !bytes.Equal(buf, tc.frame) {
			t.Errorf("%s: frame changed", tc.name)
		}
	}
	// The unmodified frames are valid: the cases above test one thing
	// each.
	for _, b := range [][]byte{valid, dad, fix(append([]byte(nil), valid...))} {
		if _, err := header.ParseNeighborSolicitation(b); err != nil {
			t.Fatalf("valid solicitation refused: %v", err)
		}
	}
}
