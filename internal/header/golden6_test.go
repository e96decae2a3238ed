package header_test

import (
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xvs-project/xvs/internal/header"
)

// IPv6 golden frames, produced by gopacket like the IPv4 ones: each test
// checks that gopacket still serializes the literal, reads it with this
// package, rewrites it as NAT66 would, and compares the result byte for
// byte with gopacket's serialization of the rewritten packet, whose
// checksums gopacket computes in full.

var (
	ip6Client = net.ParseIP("2001:2::10")
	ip6VIP    = net.ParseIP("2001:2::1:1")
	ip6Real   = net.ParseIP("2001:2::2:5")
	ip6Router = net.ParseIP("2001:2::ff:1")
)

// experimentalOption is an option of type 0x1e (RFC 4727, experimental;
// the top bits 00 say "skip if unknown") with 4 bytes of data.
func experimentalOption() []byte { return []byte{0xde, 0xad, 0xbe, 0xef} }

// tcpSYN6 is tcpSYN over IPv6 with a Hop-by-Hop and a Destination Options
// header, so that the upper layer does not follow the fixed header.
func tcpSYN6(src, dst net.IP, sport, dport layers.TCPPort, hop uint8, smac, dmac net.HardwareAddr) []gopacket.SerializableLayer {
	eth := &layers.Ethernet{SrcMAC: smac, DstMAC: dmac, EthernetType: layers.EthernetTypeIPv6}
	ip := &layers.IPv6{Version: 6, TrafficClass: 0x28, FlowLabel: 0x5eed1, NextHeader: layers.IPProtocolIPv6HopByHop,
		HopLimit: hop, SrcIP: src, DstIP: dst}
	hbh := &layers.IPv6HopByHop{Options: []*layers.IPv6HopByHopOption{{OptionType: 0x1e, OptionData: experimentalOption()}}}
	hbh.NextHeader = layers.IPProtocolIPv6Destination
	dst6 := &layers.IPv6Destination{Options: []*layers.IPv6DestinationOption{{OptionType: 0x1e, OptionData: experimentalOption()}}}
	dst6.NextHeader = layers.IPProtocolTCP
	tcp := &layers.TCP{SrcPort: sport, DstPort: dport, Seq: 0x6f1e3a27, SYN: true, Window: 64800,
		Options: []layers.TCPOption{
			{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xa0}},
			{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2},
			{OptionType: layers.TCPOptionKindNop},
			{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}},
		}}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		panic(err)
	}
	return []gopacket.SerializableLayer{eth, ip, hbh, dst6, tcp}
}

var goldenTCPSYN6 = []byte{
	0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
	0x86, 0xdd, 0x62, 0x85, 0xee, 0xd1, 0x00, 0x30, 0x00, 0x40, 0x20, 0x01,
	0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x10, 0x20, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x3c, 0x00, 0x1e, 0x04, 0xde, 0xad,
	0xbe, 0xef, 0x06, 0x00, 0x1e, 0x04, 0xde, 0xad, 0xbe, 0xef, 0x9c, 0x40,
	0x00, 0x50, 0x6f, 0x1e, 0x3a, 0x27, 0x00, 0x00, 0x00, 0x00, 0x80, 0x02,
	0xfd, 0x20, 0xed, 0x17, 0x00, 0x00, 0x02, 0x04, 0x05, 0xa0, 0x04, 0x02,
	0x01, 0x03, 0x03, 0x07, 0x00, 0x00,
}

func TestGoldenTCPSYN6(t *testing.T) {
	frame := append([]byte(nil), goldenTCPSYN6...)
	checkGolden(t, "TCP SYN over IPv6", frame, serialize(t, tcpSYN6(ip6Client, ip6VIP, 40000, 80, 64, macClient, macLB)...))

	if header.Ethernet(frame).Type() != header.EtherTypeIPv6 {
		t.Fatal("EtherType")
	}
	ip, proto, off, err := header.ParseIPv6(frame[header.EthernetSize:])
	if err != nil || proto != header.ProtocolTCP || off != header.IPv6FixedHeaderSize+16 {
		t.Fatalf("ParseIPv6 = %d, %d, %v", proto, off, err)
	}
	if ip.Version() != 6 || ip.TrafficClass() != 0x28 || ip.FlowLabel() != 0x5eed1 || int(ip.PayloadLength()) != len(ip)-40 ||
		ip.NextHeader() != header.ProtocolIPv6HopByHop || ip.HopLimit() != 64 ||
		ip.SourceAddress() != [16]byte(ip6Client) || ip.DestinationAddress() != [16]byte(ip6VIP) {
		t.Fatal("IPv6 fields do not match gopacket's")
	}
	tcp := header.TCP(ip[off:])
	if tcp.SourcePort() != 40000 || tcp.DestinationPort() != 80 || tcp.SequenceNumber() != 0x6f1e3a27 ||
		tcp.Flags() != header.TCPFlagSyn || tcp.DataOffset() != 32 {
		t.Fatal("TCP fields do not match gopacket's")
	}
	if !header.TransportChecksumValidIPv6(header.ProtocolTCP, ip, tcp) ||
		header.ComputeTransportChecksumIPv6(header.ProtocolTCP, ip, tcp) != tcp.Checksum() {
		t.Fatal("TCP checksum from gopacket not accepted")
	}

	// NAT66 towards the real server.
	header.Ethernet(frame).SetSource([6]byte(macLB))
	header.Ethernet(frame).SetDestination([6]byte(macReal))
	ip.SetDestinationAddressWithChecksumUpdate([16]byte(ip6Real), proto, ip[off:])
	tcp.SetDestinationPortWithChecksumUpdate(8080)
	ip.DecrementHopLimit()
	checkGolden(t, "TCP SYN over IPv6 after DNAT", frame, serialize(t, tcpSYN6(ip6Client, ip6Real, 40000, 8080, 63, macLB, macReal)...))
}

func udpDatagram6(src, dst net.IP, sport, dport layers.UDPPort, hop uint8, smac, dmac net.HardwareAddr) []gopacket.SerializableLayer {
	eth := &layers.Ethernet{SrcMAC: smac, DstMAC: dmac, EthernetType: layers.EthernetTypeIPv6}
	ip := &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolUDP, HopLimit: hop, SrcIP: src, DstIP: dst}
	udp := &layers.UDP{SrcPort: sport, DstPort: dport}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		panic(err)
	}
	// A DNS query for example.com, AAAA record: 29 bytes, an odd length.
	payload := gopacket.Payload{
		0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x07, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0x03, 'c', 'o', 'm', 0x00,
		0x00, 0x1c, 0x00, 0x01,
	}
	return []gopacket.SerializableLayer{eth, ip, udp, payload}
}

var goldenUDP6 = []byte{
	0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x03,
	0x86, 0xdd, 0x60, 0x00, 0x00, 0x00, 0x00, 0x25, 0x11, 0x40, 0x20, 0x01,
	0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
	0x00, 0x05, 0x20, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x14, 0xe9, 0x80, 0xe8, 0x00, 0x25,
	0x2d, 0x14, 0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x07, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x03, 0x63,
	0x6f, 0x6d, 0x00, 0x00, 0x1c, 0x00, 0x01,
}

func TestGoldenUDP6(t *testing.T) {
	// The reply from the real server, translated back to the VIP (SNAT).
	frame := append([]byte(nil), goldenUDP6...)
	checkGolden(t, "UDP over IPv6", frame, serialize(t, udpDatagram6(ip6Real, ip6Client, 5353, 33000, 64, macReal, macLB)...))

	ip, proto, off, err := header.ParseIPv6(frame[header.EthernetSize:])
	if err != nil || proto != header.ProtocolUDP || off != header.IPv6FixedHeaderSize {
		t.Fatalf("ParseIPv6 = %d, %d, %v", proto, off, err)
	}
	udp := header.UDP(ip[off:])
	if udp.SourcePort() != 5353 || udp.DestinationPort() != 33000 || int(udp.Length()) != len(udp) || len(udp) != header.UDPSize+29 {
		t.Fatal("UDP fields do not match gopacket's")
	}
	if !header.TransportChecksumValidIPv6(header.ProtocolUDP, ip, udp) ||
		header.ComputeTransportChecksumIPv6(header.ProtocolUDP, ip, udp) != udp.Checksum() {
		t.Fatal("UDP checksum from gopacket not accepted")
	}
	header.Ethernet(frame).SetSource([6]byte(macLB))
	header.Ethernet(frame).SetDestination([6]byte(macClient))
	ip.SetSourceAddressWithChecksumUpdate([16]byte(ip6VIP), proto, udp)
	udp.SetSourcePortWithChecksumUpdate(53)
	ip.DecrementHopLimit()
	checkGolden(t, "UDP over IPv6 after SNAT", frame, serialize(t, udpDatagram6(ip6VIP, ip6Client, 53, 33000, 63, macLB, macClient)...))
}

func icmpEcho6(src, dst net.IP, hop uint8) []gopacket.SerializableLayer {
	eth := &layers.Ethernet{SrcMAC: macClient, DstMAC: macLB, EthernetType: layers.EthernetTypeIPv6}
	ip := &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolICMPv6, HopLimit: hop, SrcIP: src, DstIP: dst}
	icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoRequest, 0)}
	if err := icmp.SetNetworkLayerForChecksum(ip); err != nil {
		panic(err)
	}
	echo := &layers.ICMPv6Echo{Identifier: 0x4242, SeqNumber: 7}
	return []gopacket.SerializableLayer{eth, ip, icmp, echo, gopacket.Payload("xvs ping payload, odd length")}
}

var goldenICMPv6Echo = []byte{
	0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
	0x86, 0xdd, 0x60, 0x00, 0x00, 0x00, 0x00, 0x24, 0x3a, 0x40, 0x20, 0x01,
	0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x10, 0x20, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x80, 0x00, 0x94, 0x40, 0x42, 0x42,
	0x00, 0x07, 0x78, 0x76, 0x73, 0x20, 0x70, 0x69, 0x6e, 0x67, 0x20, 0x70,
	0x61, 0x79, 0x6c, 0x6f, 0x61, 0x64, 0x2c, 0x20, 0x6f, 0x64, 0x64, 0x20,
	0x6c, 0x65, 0x6e, 0x67, 0x74, 0x68,
}

func TestGoldenICMPv6Echo(t *testing.T) {
	frame := append([]byte(nil), goldenICMPv6Echo...)
	checkGolden(t, "ICMPv6 echo", frame, serialize(t, icmpEcho6(ip6Client, ip6VIP, 64)...))

	ip, proto, off, err := header.ParseIPv6(frame[header.EthernetSize:])
	if err != nil || proto != header.ProtocolICMPv6 {
		t.Fatalf("ParseIPv6 = %d, %d, %v", proto, off, err)
	}
	icmp := header.ICMPv6(ip[off:])
	if icmp.Type() != header.ICMPv6EchoRequest || icmp.Code() != 0 || icmp.IsError() {
		t.Fatalf("ICMPv6 type %d code %d", icmp.Type(), icmp.Code())
	}
	if !header.TransportChecksumValidIPv6(header.ProtocolICMPv6, ip, icmp) ||
		header.ComputeTransportChecksumIPv6(header.ProtocolICMPv6, ip, icmp) != icmp.Checksum() {
		t.Fatal("ICMPv6 checksum from gopacket not accepted")
	}
	if _, _, _, err := icmp.InvokingPacket(); err != header.ErrNotICMPv6Error {
		t.Fatalf("InvokingPacket of an echo request: %v", err)
	}
	// Unlike ICMPv4, the ICMPv6 checksum covers the addresses.
	ip.SetDestinationAddressWithChecksumUpdate([16]byte(ip6Real), proto, icmp)
	ip.DecrementHopLimit()
	checkGolden(t, "ICMPv6 echo after DNAT", frame, serialize(t, icmpEcho6(ip6Client, ip6Real, 63)...))

	icmp.SetChecksum(icmp.Checksum() + 1)
	if header.TransportChecksumValidIPv6(header.ProtocolICMPv6, ip, icmp) {
		t.Fatal("corrupted ICMPv6 checksum accepted")
	}
}
