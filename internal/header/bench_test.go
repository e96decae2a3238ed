package header_test

import (
	"math/rand/v2"
	"testing"

	"github.com/xvs-project/xvs/internal/header"
)

func benchPacket(proto uint8, payload int) packet {
	r := rand.New(rand.NewPCG(1, 2))
	for {
		p := randPacket(r, proto, csumNormal)
		if len(p.l4) >= payload {
			return p
		}
	}
}

var benchSink uint16

func BenchmarkChecksum1500(b *testing.B) {
	buf := make([]byte, 1500)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		benchSink += header.Checksum(buf, 0)
	}
}

func BenchmarkIPv4CalculateChecksum(b *testing.B) {
	p := benchPacket(header.ProtocolTCP, 0)
	b.ReportAllocs()
	for b.Loop() {
		benchSink += p.ip.CalculateChecksum()
	}
}

func BenchmarkIPv4SetDestinationAddress(b *testing.B) {
	p := benchPacket(header.ProtocolTCP, 0)
	addrs := [2][4]byte{{10, 0, 0, 5}, {10, 0, 0, 6}}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p.ip.SetDestinationAddressWithChecksumUpdate(addrs[i&1])
		i++
	}
}

func BenchmarkIPv4DecrementTTL(b *testing.B) {
	p := benchPacket(header.ProtocolTCP, 0)
	b.ReportAllocs()
	for b.Loop() {
		p.ip.DecrementTTLWithChecksumUpdate()
		p.buf[8] = 64
	}
}

func BenchmarkTCPSetDestinationPort(b *testing.B) {
	p := benchPacket(header.ProtocolTCP, 0)
	tcp := header.TCP(p.l4)
	b.ReportAllocs()
	i := uint16(0)
	for b.Loop() {
		tcp.SetDestinationPortWithChecksumUpdate(i)
		i++
	}
}

func BenchmarkUDPSetSourcePort(b *testing.B) {
	p := benchPacket(header.ProtocolUDP, 0)
	udp := header.UDP(p.l4)
	b.ReportAllocs()
	i := uint16(0)
	for b.Loop() {
		udp.SetSourcePortWithChecksumUpdate(i)
		i++
	}
}

// BenchmarkTCPFullNAT is the whole per-packet rewrite of the NAT fast path
// for a 1400-byte segment: destination address and port, TTL. Its cost
// does not depend on the payload size.
func BenchmarkTCPFullNAT(b *testing.B) {
	p := benchPacket(header.ProtocolTCP, 1400)
	tcp := header.TCP(p.l4)
	addrs := [2][4]byte{{10, 0, 0, 5}, {10, 0, 0, 6}}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		a := addrs[i&1]
		old := p.ip.DestinationAddress()
		p.ip.SetDestinationAddressWithChecksumUpdate(a)
		tcp.UpdateChecksumForAddress(old, a)
		tcp.SetDestinationPortWithChecksumUpdate(uint16(8080 + i&1))
		p.ip.DecrementTTLWithChecksumUpdate()
		p.buf[8] = 64
		i++
	}
}

// BenchmarkTCPFullRecompute is what BenchmarkTCPFullNAT would cost with
// full recomputation instead of incremental updates.
func BenchmarkTCPFullRecompute(b *testing.B) {
	p := benchPacket(header.ProtocolTCP, 1400)
	tcp := header.TCP(p.l4)
	b.ReportAllocs()
	for b.Loop() {
		p.ip.SetChecksum(p.ip.CalculateChecksum())
		tcp.SetChecksum(header.ComputeTransportChecksum(header.ProtocolTCP, p.ip, p.l4))
	}
}

func BenchmarkUDPUpdateChecksumForAddress(b *testing.B) {
	p := benchPacket(header.ProtocolUDP, 0)
	udp := header.UDP(p.l4)
	addrs := [2][4]byte{{10, 0, 0, 5}, {10, 0, 0, 6}}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		udp.UpdateChecksumForAddress(addrs[i&1], addrs[(i+1)&1])
		i++
	}
}

func benchPacket6(proto uint8, payload int) packet6 {
	r := rand.New(rand.NewPCG(1, 2))
	for {
		p := randPacket6(r, proto, csumNormal)
		if len(p.l4) >= payload && p.off == header.IPv6FixedHeaderSize {
			return p
		}
	}
}

var benchAddrs6 = [2][16]byte{
	{0x20, 0x01, 0x00, 0x02, 15: 0x05},
	{0x20, 0x01, 0x00, 0x02, 14: 0x01, 15: 0x06},
}

func BenchmarkChecksumUpdate128(b *testing.B) {
	b.ReportAllocs()
	c := uint16(0x1234)
	i := 0
	for b.Loop() {
		c = header.ChecksumUpdate128(c, benchAddrs6[i&1], benchAddrs6[(i+1)&1])
		i++
	}
	benchSink += c
}

// BenchmarkIPv6SetDestinationAddress is the address rewrite of NAT66 with
// the TCP checksum update through the pseudo-header.
func BenchmarkIPv6SetDestinationAddress(b *testing.B) {
	p := benchPacket6(header.ProtocolTCP, 0)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p.ip.SetDestinationAddressWithChecksumUpdate(benchAddrs6[i&1], p.proto, p.l4)
		i++
	}
}

// BenchmarkIPv6ParseWalk is ParseIPv6 over a Hop-by-Hop, a Destination
// Options and a Routing header to TCP.
func BenchmarkIPv6ParseWalk(b *testing.B) {
	pkt := pkt6(hbh, opts(dopt, 0), opts(rtg, 1), routing(tcp6, 2, 0, 0), l4stub)
	b.ReportAllocs()
	for b.Loop() {
		_, _, off, _ := header.ParseIPv6(pkt)
		benchSink += uint16(off)
	}
}

// BenchmarkIPv6FullNAT is the whole per-packet rewrite of a NAT66 fast
// path for a 1400-byte segment: parse, destination address and port, hop
// limit. Like BenchmarkTCPFullNAT, its cost does not depend on the
// payload size.
func BenchmarkIPv6FullNAT(b *testing.B) {
	p := benchPacket6(header.ProtocolTCP, 1400)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ip, proto, off, err := header.ParseIPv6(p.buf)
		if err != nil {
			b.Fatal(err)
		}
		l4 := ip[off:]
		ip.SetDestinationAddressWithChecksumUpdate(benchAddrs6[i&1], proto, l4)
		header.TCP(l4).SetDestinationPortWithChecksumUpdate(uint16(8080 + i&1))
		ip.DecrementHopLimit()
		p.buf[7] = 64
		i++
	}
}

// BenchmarkIPv6FullRecompute is what BenchmarkIPv6FullNAT's checksum work
// would cost with a full recomputation.
func BenchmarkIPv6FullRecompute(b *testing.B) {
	p := benchPacket6(header.ProtocolTCP, 1400)
	tcp := header.TCP(p.l4)
	b.ReportAllocs()
	for b.Loop() {
		tcp.SetChecksum(header.ComputeTransportChecksumIPv6(header.ProtocolTCP, p.ip, p.l4))
	}
}

// BenchmarkICMPv6ErrorNAT is the NAT66 rewrite of a Packet Too Big
// error: outer destination, quoted source address and port, with the
// ICMPv6 and quoted TCP checksums.
func BenchmarkICMPv6ErrorNAT(b *testing.B) {
	frame := append([]byte(nil), goldenPacketTooBig...)
	ip, proto, off, err := header.ParseIPv6(frame[header.EthernetSize:])
	if err != nil {
		b.Fatal(err)
	}
	icmp := header.ICMPv6(ip[off:])
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_, qp, qo, err := icmp.InvokingPacket()
		if err != nil {
			b.Fatal(err)
		}
		ip.SetDestinationAddressWithChecksumUpdate(benchAddrs6[i&1], proto, icmp)
		icmp.SetInvokingSourceWithChecksumUpdate(qp, qo, benchAddrs6[i&1], uint16(8080+i&1))
		i++
	}
}

// BenchmarkAnswerNeighborSolicitation is the NS to NA rewrite in place.
func BenchmarkAnswerNeighborSolicitation(b *testing.B) {
	buf := make([]byte, len(goldenNeighborSolicitation), 128)
	mac := [6]byte{2, 0, 0, 0, 0, 2}
	b.ReportAllocs()
	for b.Loop() {
		copy(buf[:len(goldenNeighborSolicitation)], goldenNeighborSolicitation)
		na, err := header.AnswerNeighborSolicitation(buf[:len(goldenNeighborSolicitation)], mac, header.NeighborFlagOverride)
		if err != nil {
			b.Fatal(err)
		}
		benchSink += uint16(len(na))
	}
}
