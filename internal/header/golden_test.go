package header_test

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xvs-project/xvs/internal/header"
)

// The golden frames below were produced by gopacket (the test serializes
// them again and compares) and are decoded and rewritten with this package;
// every rewrite is compared byte for byte with gopacket's serialization of
// the rewritten packet, checksums computed in full by gopacket.

var (
	macClient = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}
	macLB     = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0x02}
	macReal   = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0x03}
	ipClient  = net.IPv4(192, 0, 2, 10).To4()
	ipVIP     = net.IPv4(198, 51, 100, 1).To4()
	ipReal    = net.IPv4(10, 0, 0, 5).To4()
)

// serialize builds a frame with gopacket, computing lengths and checksums.
func serialize(t *testing.T, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// goLiteral formats b as a Go byte slice literal, for updating a golden
// value after a deliberate change.
func goLiteral(b []byte) string {
	var sb strings.Builder
	sb.WriteString("[]byte{")
	for i, c := range b {
		if i%12 == 0 {
			sb.WriteString("\n\t")
		} else {
			sb.WriteString(" ")
		}
		fmt.Fprintf(&sb, "0x%02x,", c)
	}
	sb.WriteString("\n}")
	return sb.String()
}

func checkGolden(t *testing.T, name string, golden, built []byte) {
	t.Helper()
	if string(golden) != string(built) {
		t.Fatalf("%s: golden bytes differ from gopacket's serialization; gopacket gives\n%s", name, goLiteral(built))
	}
}

func tcpSYN(src, dst net.IP, sport, dport layers.TCPPort, ttl uint8, smac, dmac net.HardwareAddr) []gopacket.SerializableLayer {
	eth := &layers.Ethernet{SrcMAC: smac, DstMAC: dmac, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: ttl, Id: 0x1c46, Flags: layers.IPv4DontFragment,
		Protocol: layers.IPProtocolTCP, SrcIP: src, DstIP: dst}
	tcp := &layers.TCP{SrcPort: sport, DstPort: dport, Seq: 0x6f1e3a27, SYN: true, Window: 64240,
		Options: []layers.TCPOption{
			{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}},
			{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2},
			{OptionType: layers.TCPOptionKindNop},
			{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}},
		}}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		panic(err)
	}
	return []gopacket.SerializableLayer{eth, ip, tcp}
}

var goldenTCPSYN = []byte{
	0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
	0x08, 0x00, 0x45, 0x00, 0x00, 0x34, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x06,
	0x32, 0x3f, 0xc0, 0x00, 0x02, 0x0a, 0xc6, 0x33, 0x64, 0x01, 0x9c, 0x40,
	0x00, 0x50, 0x6f, 0x1e, 0x3a, 0x27, 0x00, 0x00, 0x00, 0x00, 0x80, 0x02,
	0xfa, 0xf0, 0x43, 0x0c, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02,
	0x01, 0x03, 0x03, 0x07, 0x00, 0x00,
}

func TestGoldenTCPSYN(t *testing.T) {
	frame := append([]byte(nil), goldenTCPSYN...)
	checkGolden(t, "TCP SYN", frame, serialize(t, tcpSYN(ipClient, ipVIP, 40000, 80, 64, macClient, macLB)...))

	eth := header.Ethernet(frame)
	if eth.Type() != header.EtherTypeIPv4 || eth.Source() != [6]byte(macClient) || eth.Destination() != [6]byte(macLB) {
		t.Fatalf("ethernet header: %x -> %x type %#x", eth.Source(), eth.Destination(), eth.Type())
	}
	ip := header.IPv4(frame[header.EthernetSize:])
	if ip.Version() != 4 || ip.HeaderLength() != 20 || int(ip.TotalLength()) != len(ip) || ip.TTL() != 64 ||
		ip.Protocol() != header.ProtocolTCP || ip.ID() != 0x1c46 || ip.Flags() != header.IPv4FlagDontFragment ||
		ip.IsFragment() || ip.SourceAddress() != [4]byte(ipClient) || ip.DestinationAddress() != [4]byte(ipVIP) {
		t.Fatal("IPv4 fields do not match gopacket's")
	}
	if !ip.IsChecksumValid() || ip.CalculateChecksum() != ip.Checksum() {
		t.Fatal("IPv4 checksum from gopacket not accepted")
	}
	tcp := header.TCP(ip[ip.HeaderLength():])
	if tcp.SourcePort() != 40000 || tcp.DestinationPort() != 80 || tcp.SequenceNumber() != 0x6f1e3a27 ||
		tcp.AckNumber() != 0 || tcp.Flags() != header.TCPFlagSyn || tcp.DataOffset() != 32 {
		t.Fatal("TCP fields do not match gopacket's")
	}
	if !header.TransportChecksumValid(header.ProtocolTCP, ip, tcp) ||
		header.ComputeTransportChecksum(header.ProtocolTCP, ip, tcp) != tcp.Checksum() {
		t.Fatal("TCP checksum from gopacket not accepted")
	}

	// Full NAT towards the real server, as the xvs fast path does it.
	eth.SetSource([6]byte(macLB))
	eth.SetDestination([6]byte(macReal))
	old := ip.DestinationAddress()
	ip.SetDestinationAddressWithChecksumUpdate([4]byte(ipReal))
	tcp.UpdateChecksumForAddress(old, [4]byte(ipReal))
	tcp.SetDestinationPortWithChecksumUpdate(8080)
	ip.DecrementTTLWithChecksumUpdate()
	checkGolden(t, "TCP SYN after DNAT", frame, serialize(t, tcpSYN(ipClient, ipReal, 40000, 8080, 63, macLB, macReal)...))
}

func udpDatagram(src, dst net.IP, sport, dport layers.UDPPort, ttl uint8, smac, dmac net.HardwareAddr) []gopacket.SerializableLayer {
	eth := &layers.Ethernet{SrcMAC: smac, DstMAC: dmac, EthernetType: layers.EthernetTypeIPv4}
	// A Router Alert option makes the IPv4 header 24 bytes long.
	ip := &layers.IPv4{Version: 4, TTL: ttl, Id: 0xbeef, Protocol: layers.IPProtocolUDP, SrcIP: src, DstIP: dst,
		Options: []layers.IPv4Option{{OptionType: 0x94, OptionLength: 4, OptionData: []byte{0, 0}}}}
	udp := &layers.UDP{SrcPort: sport, DstPort: dport}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		panic(err)
	}
	// A DNS query for example.com, A record: 29 bytes, an odd length.
	payload := gopacket.Payload{
		0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x07, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0x03, 'c', 'o', 'm', 0x00,
		0x00, 0x01, 0x00, 0x01,
	}
	return []gopacket.SerializableLayer{eth, ip, udp, payload}
}

var goldenUDP = []byte{
	0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x03,
	0x08, 0x00, 0x46, 0x00, 0x00, 0x3d, 0xbe, 0xef, 0x00, 0x00, 0x40, 0x11,
	0x5a, 0xad, 0x0a, 0x00, 0x00, 0x05, 0xc0, 0x00, 0x02, 0x0a, 0x94, 0x04,
	0x00, 0x00, 0x14, 0xe9, 0x80, 0xe8, 0x00, 0x25, 0xbc, 0x21, 0x12, 0x34,
	0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x65,
	0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x03, 0x63, 0x6f, 0x6d, 0x00, 0x00,
	0x01, 0x00, 0x01,
}

func TestGoldenUDP(t *testing.T) {
	// The reply from the real server, translated back to the VIP (SNAT).
	frame := append([]byte(nil), goldenUDP...)
	checkGolden(t, "UDP", frame, serialize(t, udpDatagram(ipReal, ipClient, 5353, 33000, 64, macReal, macLB)...))

	ip := header.IPv4(frame[header.EthernetSize:])
	if ip.HeaderLength() != 24 || ip.Protocol() != header.ProtocolUDP || !ip.IsChecksumValid() ||
		ip.CalculateChecksum() != ip.Checksum() {
		t.Fatal("IPv4 header with options not read correctly")
	}
	udp := header.UDP(ip[ip.HeaderLength():ip.TotalLength()])
	if udp.SourcePort() != 5353 || udp.DestinationPort() != 33000 || int(udp.Length()) != len(udp) ||
		len(udp) != header.UDPSize+29 || udp.Checksum() == 0 {
		t.Fatal("UDP fields do not match gopacket's")
	}
	if !header.TransportChecksumValid(header.ProtocolUDP, ip, udp) ||
		header.ComputeTransportChecksum(header.ProtocolUDP, ip, udp) != udp.Checksum() {
		t.Fatal("UDP checksum from gopacket not accepted")
	}

	header.Ethernet(frame).SetSource([6]byte(macLB))
	header.Ethernet(frame).SetDestination([6]byte(macClient))
	old := ip.SourceAddress()
	ip.SetSourceAddressWithChecksumUpdate([4]byte(ipVIP))
	udp.UpdateChecksumForAddress(old, [4]byte(ipVIP))
	udp.SetSourcePortWithChecksumUpdate(53)
	ip.DecrementTTLWithChecksumUpdate()
	checkGolden(t, "UDP after SNAT", frame, serialize(t, udpDatagram(ipVIP, ipClient, 53, 33000, 63, macLB, macClient)...))
}

func icmpEcho(src, dst net.IP, ttl uint8) []gopacket.SerializableLayer {
	eth := &layers.Ethernet{SrcMAC: macClient, DstMAC: macLB, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: ttl, Id: 0x0a0b, Protocol: layers.IPProtocolICMPv4, SrcIP: src, DstIP: dst}
	icmp := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 0x4242, Seq: 7}
	return []gopacket.SerializableLayer{eth, ip, icmp, gopacket.Payload("xvs ping payload, odd length")}
}

var goldenICMPEcho = []byte{
	0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
	0x08, 0x00, 0x45, 0x00, 0x00, 0x38, 0x0a, 0x0b, 0x00, 0x00, 0x40, 0x01,
	0x84, 0x7b, 0xc0, 0x00, 0x02, 0x0a, 0xc6, 0x33, 0x64, 0x01, 0x08, 0x00,
	0x4c, 0xb7, 0x42, 0x42, 0x00, 0x07, 0x78, 0x76, 0x73, 0x20, 0x70, 0x69,
	0x6e, 0x67, 0x20, 0x70, 0x61, 0x79, 0x6c, 0x6f, 0x61, 0x64, 0x2c, 0x20,
	0x6f, 0x64, 0x64, 0x20, 0x6c, 0x65, 0x6e, 0x67, 0x74, 0x68,
}

func TestGoldenICMPEcho(t *testing.T) {
	frame := append([]byte(nil), goldenICMPEcho...)
	checkGolden(t, "ICMP echo", frame, serialize(t, icmpEcho(ipClient, ipVIP, 64)...))

	ip := header.IPv4(frame[header.EthernetSize:])
	if ip.Protocol() != header.ProtocolICMP || !ip.IsChecksumValid() {
		t.Fatal("IPv4 header not read correctly")
	}
	icmp := header.ICMPv4(ip[ip.HeaderLength():])
	if icmp.Type() != header.ICMPv4EchoRequest || icmp.Code() != 0 {
		t.Fatalf("ICMP type %d code %d", icmp.Type(), icmp.Code())
	}
	if !header.TransportChecksumValid(header.ProtocolICMP, ip, icmp) ||
		header.ComputeTransportChecksum(header.ProtocolICMP, ip, icmp) != icmp.Checksum() {
		t.Fatal("ICMP checksum from gopacket not accepted")
	}
	// ICMP has no pseudo-header: rewriting the address touches only the
	// IPv4 header checksum.
	ip.SetDestinationAddressWithChecksumUpdate([4]byte(ipReal))
	ip.DecrementTTLWithChecksumUpdate()
	checkGolden(t, "ICMP echo after DNAT", frame, serialize(t, icmpEcho(ipClient, ipReal, 63)...))

	icmp.SetChecksum(icmp.Checksum() + 1)
	if header.TransportChecksumValid(header.ProtocolICMP, ip, icmp) {
		t.Fatal("corrupted ICMP checksum accepted")
	}
}
