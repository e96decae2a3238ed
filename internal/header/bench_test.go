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
