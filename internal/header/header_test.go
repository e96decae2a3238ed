package header_test

import (
	"encoding/binary"
	"flag"
	"math/rand/v2"
	"testing"

	"github.com/xvs-project/xvs/internal/header"
)

var seedFlag = flag.Int64("seed", 20240601, "seed for the randomized tests; rerun with the logged value to reproduce a failure")

// newRand returns the generator for one randomized test and logs its seed.
func newRand(t testing.TB) *rand.Rand {
	t.Helper()
	t.Logf("random seed %d (override with -seed=N)", *seedFlag)
	return rand.New(rand.NewPCG(uint64(*seedFlag), 0x7876732d68647221))
}

// refSum is the textbook RFC 1071 sum: add the big-endian 16-bit words
// (the odd last byte padded with zero) into a wide accumulator, then fold
// the carries. It is deliberately simple so that it can serve as the
// reference for the optimized code.
func refSum(initial uint32, data []byte) uint16 {
	s := uint64(initial)
	for i := 0; i+1 < len(data); i += 2 {
		s += uint64(data[i])<<8 | uint64(data[i+1])
	}
	if len(data)%2 == 1 {
		s += uint64(data[len(data)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

// onesAdd adds two 16-bit values in ones' complement arithmetic.
func onesAdd(a, b uint16) uint16 {
	s := uint32(a) + uint32(b)
	return uint16(s>>16 + s&0xffff)
}

// congruent reports whether two checksums are equal modulo 0xffff, that is
// equal or both a representation of zero.
func congruent(a, b uint16) bool {
	return a == b || (a == 0 && b == 0xffff) || (a == 0xffff && b == 0)
}

// refIPv4Checksum recomputes an IPv4 header checksum from scratch on a
// copy of the header with the checksum field zeroed.
func refIPv4Checksum(ip []byte) uint16 {
	hl := int(ip[0]&0x0f) * 4
	h := append([]byte(nil), ip[:hl]...)
	h[10], h[11] = 0, 0
	return ^refSum(0, h)
}

// l4ChecksumOffset returns where the checksum field of proto sits.
func l4ChecksumOffset(proto uint8) int {
	switch proto {
	case header.ProtocolTCP:
		return 16
	case header.ProtocolUDP:
		return 6
	case header.ProtocolICMP:
		return 2
	}
	panic("unexpected protocol")
}

// refL4Checksum recomputes a transport checksum from scratch by
// materializing the pseudo-header in front of a copy of the segment whose
// checksum field is zeroed.
func refL4Checksum(proto uint8, src, dst [4]byte, seg []byte) uint16 {
	var buf []byte
	if proto != header.ProtocolICMP {
		buf = append(buf, src[:]...)
		buf = append(buf, dst[:]...)
		buf = append(buf, 0, proto, byte(len(seg)>>8), byte(len(seg)))
	}
	n := len(buf)
	buf = append(buf, seg...)
	off := n + l4ChecksumOffset(proto)
	buf[off], buf[off+1] = 0, 0
	c := ^refSum(0, buf)
	if proto == header.ProtocolUDP && c == 0 {
		c = 0xffff
	}
	return c
}

func randBytes(r *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(r.Uint32())
	}
}

// packet is a random IPv4 datagram carrying TCP or UDP, with correct
// checksums.
type packet struct {
	buf   []byte
	ip    header.IPv4
	l4    []byte
	proto uint8
}

// Checksum modes for randPacket.
const (
	csumNormal   = iota
	csumNone     // UDP only: checksum field 0
	csumZeroCalc // the computed checksum is 0: TCP stores 0, UDP 0xffff
)

// randPacket builds a random datagram: random IHL with random option
// bytes, random addresses, TTL and payload of random (often odd) length.
func randPacket(r *rand.Rand, proto uint8, mode int) packet {
	hl := header.IPv4MinimumSize + 4*r.IntN(11)
	var l4len, off int
	switch proto {
	case header.ProtocolTCP:
		off = header.TCPMinimumSize + 4*r.IntN(11)
		l4len = off + r.IntN(1461)
	case header.ProtocolUDP:
		l4len = header.UDPSize + r.IntN(1473)
	}
	b := make([]byte, hl+l4len)
	randBytes(r, b)
	b[0] = 0x40 | byte(hl/4)
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	b[9] = proto
	ip := header.IPv4(b)
	ip.SetChecksum(refIPv4Checksum(b))
	l4 := b[hl:]
	switch proto {
	case header.ProtocolTCP:
		l4[12] = byte(off/4)<<4 | l4[12]&0x0f
	case header.ProtocolUDP:
		binary.BigEndian.PutUint16(l4[4:], uint16(l4len))
	}
	co := l4ChecksumOffset(proto)
	c := refL4Checksum(proto, ip.SourceAddress(), ip.DestinationAddress(), l4)
	switch mode {
	case csumNone:
		c = 0
	case csumZeroCalc:
		// Change the source port so that the data sums to zero: with S the
		// sum of everything but the checksum and c = ^S, adding c to one
		// word makes the sum S + ^S = -0.
		// (For UDP, c may be 0xffff standing for 0; adding 0xffff is adding
		// zero in ones' complement, so that is harmless.)
		sp := binary.BigEndian.Uint16(l4[0:])
		binary.BigEndian.PutUint16(l4[0:], onesAdd(sp, c))
		c = refL4Checksum(proto, ip.SourceAddress(), ip.DestinationAddress(), l4)
	}
	binary.BigEndian.PutUint16(l4[co:], c)
	return packet{buf: b, ip: ip, l4: l4, proto: proto}
}

func TestChecksumMatchesReference(t *testing.T) {
	r := newRand(t)
	buf := make([]byte, 4096)
	for i := 0; i < 10000; i++ {
		n := r.IntN(2000)
		if i < 64 {
			n = i // every short length, all tail cases
		}
		start := r.IntN(8) // unaligned starts
		b := buf[start : start+n]
		randBytes(r, b)
		var initial uint32
		switch r.IntN(3) {
		case 1:
			initial = r.Uint32() & 0xfffff
		case 2:
			initial = r.Uint32()
		}
		if got, want := header.Checksum(b, initial), refSum(initial, b); got != want {
			t.Fatalf("Checksum(len %d, initial %#x) = %#04x, want %#04x", n, initial, got, want)
		}
	}
}

func TestChecksumEdgeCases(t *testing.T) {
	for _, tc := range []struct {
		name    string
		b       []byte
		initial uint32
		want    uint16
	}{
		{"empty", nil, 0, 0},
		{"zeros", make([]byte, 37), 0, 0},
		{"odd byte", []byte{0xab}, 0, 0xab00},
		{"one word", []byte{0x12, 0x34}, 0, 0x1234},
		{"carry", []byte{0xff, 0xff, 0x00, 0x01}, 0, 0x0001},
		{"negative zero", []byte{0xff, 0xff}, 0, 0xffff},
		{"all ones", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 0, 0xffff},
		{"initial only", nil, 0x1_0002, 0x0003},
		{"initial max", []byte{0, 1}, 0xffffffff, 0x0001},
		// RFC 1071 section 3 example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
		{"rfc1071", []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}, 0, 0xddf2},
	} {
		if got := header.Checksum(tc.b, tc.initial); got != tc.want {
			t.Errorf("%s: Checksum = %#04x, want %#04x", tc.name, got, tc.want)
		}
	}
}

// TestChecksumUpdateRandom changes random 16- and 32-bit words of random
// data and compares the RFC 1624 update with a full recomputation.
func TestChecksumUpdateRandom(t *testing.T) {
	r := newRand(t)
	for i := 0; i < 20000; i++ {
		b := make([]byte, 4+2*r.IntN(200))
		randBytes(r, b)
		c := ^refSum(0, b)
		off := 2 * r.IntN(len(b)/2-1)
		var got uint16
		if r.IntN(2) == 0 {
			old := binary.BigEndian.Uint16(b[off:])
			nw := uint16(r.Uint32())
			switch r.IntN(4) {
			case 0: // force the result to zero
				nw = onesAdd(c, old)
			case 1:
				nw = old
			}
			binary.BigEndian.PutUint16(b[off:], nw)
			got = header.ChecksumUpdate16(c, old, nw)
		} else {
			old := [4]byte(b[off : off+4])
			var nw [4]byte
			binary.BigEndian.PutUint32(nw[:], r.Uint32())
			if r.IntN(4) == 0 {
				binary.BigEndian.PutUint16(nw[:], onesAdd(c, binary.BigEndian.Uint16(old[:])))
				copy(nw[2:], old[2:])
			}
			copy(b[off:], nw[:])
			got = header.ChecksumUpdate32(c, old, nw)
		}
		want := ^refSum(0, b)
		if !congruent(got, want) {
			t.Fatalf("case %d: incremental %#04x, full %#04x", i, got, want)
		}
		if want != 0xffff && got != want { // 0xffff only for all-zero data
			t.Fatalf("case %d: incremental %#04x, full %#04x (not bit-identical)", i, got, want)
		}
	}
}

// TestIncrementalUpdatesRandom is the main property test: random NAT
// rewrites of random TCP and UDP datagrams, each step checked bit for bit
// against a full recomputation of both checksums.
func TestIncrementalUpdatesRandom(t *testing.T) {
	r := newRand(t)
	const n = 12000
	var udpNone, udpFFFF, tcpZero, zeroResults, ttlZero int
	for i := 0; i < n; i++ {
		proto := uint8(header.ProtocolTCP)
		if i%2 == 1 {
			proto = header.ProtocolUDP
		}
		mode := csumNormal
		switch r.IntN(8) {
		case 0:
			mode = csumZeroCalc
		case 1:
			if proto == header.ProtocolUDP {
				mode = csumNone
			}
		}
		p := randPacket(r, proto, mode)
		if r.IntN(16) == 0 {
			p.buf[8] = byte(r.IntN(2)) // TTL 0 or 1
			p.ip.SetChecksum(refIPv4Checksum(p.buf))
		}
		l4c := func() uint16 { return binary.BigEndian.Uint16(p.l4[l4ChecksumOffset(proto):]) }
		switch {
		case mode == csumNone:
			udpNone++
		case proto == header.ProtocolUDP && l4c() == 0xffff:
			udpFFFF++
		case proto == header.ProtocolTCP && l4c() == 0:
			tcpZero++
		}
		check := func(step string) {
			t.Helper()
			if got, want := p.ip.Checksum(), refIPv4Checksum(p.buf); got != want {
				t.Fatalf("packet %d %s: IPv4 checksum %#04x, full recompute %#04x", i, step, got, want)
			}
			if got := p.ip.CalculateChecksum(); got != p.ip.Checksum() {
				t.Fatalf("packet %d %s: CalculateChecksum %#04x, field %#04x", i, step, got, p.ip.Checksum())
			}
			if !p.ip.IsChecksumValid() {
				t.Fatalf("packet %d %s: IPv4 checksum not valid", i, step)
			}
			if mode == csumNone {
				if l4c() != 0 {
					t.Fatalf("packet %d %s: UDP checksum 0 became %#04x", i, step, l4c())
				}
			} else {
				want := refL4Checksum(proto, p.ip.SourceAddress(), p.ip.DestinationAddress(), p.l4)
				if got := l4c(); got != want {
					t.Fatalf("packet %d %s: L4 checksum %#04x, full recompute %#04x", i, step, got, want)
				}
				if got := header.ComputeTransportChecksum(proto, p.ip, p.l4); got != want {
					t.Fatalf("packet %d %s: ComputeTransportChecksum %#04x, reference %#04x", i, step, got, want)
				}
			}
			if !header.TransportChecksumValid(proto, p.ip, p.l4) {
				t.Fatalf("packet %d %s: L4 checksum not valid", i, step)
			}
		}
		check("as built")
		// An address or port whose change makes the L4 checksum compute
		// to zero: the new value is old + checksum (ones' complement).
		zeroing := func(old uint16) uint16 { return onesAdd(l4c(), old) }
		steps := 1 + r.IntN(6)
		for s := 0; s < steps; s++ {
			forceZero := r.IntN(4) == 0 && mode != csumNone
			switch op := r.IntN(5); op {
			case 0, 1:
				var a [4]byte
				binary.BigEndian.PutUint32(a[:], r.Uint32())
				var old [4]byte
				if op == 0 {
					old = p.ip.DestinationAddress()
				} else {
					old = p.ip.SourceAddress()
				}
				if forceZero {
					binary.BigEndian.PutUint16(a[:], zeroing(binary.BigEndian.Uint16(old[:])))
					copy(a[2:], old[2:])
				}
				if op == 0 {
					p.ip.SetDestinationAddressWithChecksumUpdate(a)
				} else {
					p.ip.SetSourceAddressWithChecksumUpdate(a)
				}
				if proto == header.ProtocolTCP {
					header.TCP(p.l4).UpdateChecksumForAddress(old, a)
				} else {
					header.UDP(p.l4).UpdateChecksumForAddress(old, a)
				}
				if forceZero {
					zeroResults++
				}
				got := p.ip.SourceAddress()
				if op == 0 {
					got = p.ip.DestinationAddress()
				}
				if got != a {
					t.Fatalf("packet %d: address %v, want %v", i, got, a)
				}
				check("address")
			case 2, 3:
				port := uint16(r.Uint32())
				if forceZero {
					if op == 2 {
						port = zeroing(binary.BigEndian.Uint16(p.l4[0:]))
					} else {
						port = zeroing(binary.BigEndian.Uint16(p.l4[2:]))
					}
					zeroResults++
				}
				switch {
				case proto == header.ProtocolTCP && op == 2:
					header.TCP(p.l4).SetSourcePortWithChecksumUpdate(port)
				case proto == header.ProtocolTCP:
					header.TCP(p.l4).SetDestinationPortWithChecksumUpdate(port)
				case op == 2:
					header.UDP(p.l4).SetSourcePortWithChecksumUpdate(port)
				default:
					header.UDP(p.l4).SetDestinationPortWithChecksumUpdate(port)
				}
				got := binary.BigEndian.Uint16(p.l4[(op-2)*2:])
				if got != port {
					t.Fatalf("packet %d: port %d, want %d", i, got, port)
				}
				check("port")
			case 4:
				ttl := p.ip.TTL()
				want := ttl - 1
				if ttl == 0 {
					want = 0
					ttlZero++
				}
				p.ip.DecrementTTLWithChecksumUpdate()
				if p.ip.TTL() != want {
					t.Fatalf("packet %d: TTL %d after decrement from %d, want %d", i, p.ip.TTL(), ttl, want)
				}
				check("TTL")
			}
		}
	}
	t.Logf("%d datagrams: %d UDP without checksum, %d UDP 0xffff, %d TCP checksum 0, %d forced zero results, %d TTL 0",
		n, udpNone, udpFFFF, tcpZero, zeroResults, ttlZero)
	if udpNone == 0 || udpFFFF == 0 || tcpZero == 0 || zeroResults == 0 || ttlZero == 0 {
		t.Fatal("an edge case was not exercised")
	}
}

// TestUDPZeroAndFFFF pins the RFC 768 corner cases down explicitly.
func TestUDPZeroAndFFFF(t *testing.T) {
	ip := header.IPv4(make([]byte, 20))
	ip[0] = 0x45
	u := header.UDP([]byte{0x12, 0x34, 0x00, 0x35, 0x00, 0x08, 0x00, 0x00})

	u.SetSourcePortWithChecksumUpdate(999)
	u.SetDestinationPortWithChecksumUpdate(53)
	u.UpdateChecksumForAddress([4]byte{1, 2, 3, 4}, [4]byte{5, 6, 7, 8})
	if u.Checksum() != 0 {
		t.Fatalf("checksum 0 (none) became %#04x", u.Checksum())
	}
	if u.SourcePort() != 999 || u.DestinationPort() != 53 {
		t.Fatalf("ports %d, %d", u.SourcePort(), u.DestinationPort())
	}
	if !header.TransportChecksumValid(header.ProtocolUDP, ip, u) {
		t.Fatal("checksum 0 not reported as valid (none)")
	}

	// Make the checksum nonzero, then pick a port change after which it
	// computes to 0: that must be written as 0xffff.
	u.SetChecksum(header.ComputeTransportChecksum(header.ProtocolUDP, ip, u))
	if !header.TransportChecksumValid(header.ProtocolUDP, ip, u) {
		t.Fatal("computed checksum not valid")
	}
	u.SetSourcePortWithChecksumUpdate(onesAdd(u.Checksum(), u.SourcePort()))
	if u.Checksum() != 0xffff {
		t.Fatalf("checksum that computes to 0 written as %#04x, want 0xffff", u.Checksum())
	}
	if c := header.ComputeTransportChecksum(header.ProtocolUDP, ip, u); c != 0xffff {
		t.Fatalf("ComputeTransportChecksum = %#04x, want 0xffff", c)
	}
	if !header.TransportChecksumValid(header.ProtocolUDP, ip, u) {
		t.Fatal("0xffff checksum not valid")
	}
	// And from 0xffff onwards the updates still work.
	u.SetDestinationPortWithChecksumUpdate(5353)
	if want := header.ComputeTransportChecksum(header.ProtocolUDP, ip, u); u.Checksum() != want {
		t.Fatalf("after update from 0xffff: %#04x, want %#04x", u.Checksum(), want)
	}
}

func TestIPv4Fields(t *testing.T) {
	b := []byte{
		0x46, 0xb8, 0x01, 0x00, 0xab, 0xcd, 0x20, 0x03, 0x40, 0x11, 0x00, 0x00,
		192, 0, 2, 1, 198, 51, 100, 7, 0x94, 0x04, 0x00, 0x00,
	}
	ip := header.IPv4(b)
	ip.SetChecksum(refIPv4Checksum(b))
	if ip.Version() != 4 || ip.HeaderLength() != 24 || ip.TOS() != 0xb8 || ip.TotalLength() != 256 ||
		ip.ID() != 0xabcd || ip.TTL() != 64 || ip.Protocol() != header.ProtocolUDP {
		t.Fatalf("fields: v%d hl %d tos %#x len %d id %#x ttl %d proto %d",
			ip.Version(), ip.HeaderLength(), ip.TOS(), ip.TotalLength(), ip.ID(), ip.TTL(), ip.Protocol())
	}
	if ip.SourceAddress() != [4]byte{192, 0, 2, 1} || ip.DestinationAddress() != [4]byte{198, 51, 100, 7} {
		t.Fatalf("addresses %v %v", ip.SourceAddress(), ip.DestinationAddress())
	}
	if !ip.IsChecksumValid() || ip.CalculateChecksum() != ip.Checksum() {
		t.Fatal("checksum over options wrong")
	}
	b[22] ^= 1 // corrupt an option byte: the checksum covers the options
	if ip.IsChecksumValid() {
		t.Fatal("corrupted option not detected")
	}
	for _, tc := range []struct {
		flagsFrag uint16
		flags     uint8
		off       uint16
		mf, frag  bool
	}{
		{0x0000, 0, 0, false, false},
		{0x4000, header.IPv4FlagDontFragment, 0, false, false},
		{0x2000, header.IPv4FlagMoreFragments, 0, true, true},
		{0x2003, header.IPv4FlagMoreFragments, 24, true, true},
		{0x0003, 0, 24, false, true},
		{0x1fff, 0, 65528, false, true},
		{0x8000, 4, 0, false, false}, // reserved bit
	} {
		binary.BigEndian.PutUint16(b[6:], tc.flagsFrag)
		if ip.Flags() != tc.flags || ip.FragmentOffset() != tc.off || ip.MoreFragments() != tc.mf || ip.IsFragment() != tc.frag {
			t.Errorf("%#04x: flags %d off %d mf %v frag %v", tc.flagsFrag, ip.Flags(), ip.FragmentOffset(), ip.MoreFragments(), ip.IsFragment())
		}
	}
}

func TestTCPFields(t *testing.T) {
	b := []byte{
		0x9c, 0x40, 0x00, 0x50, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
		0x60, 0x12, 0xfa, 0xf0, 0xbe, 0xef, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4,
	}
	tcp := header.TCP(b)
	if tcp.SourcePort() != 40000 || tcp.DestinationPort() != 80 || tcp.SequenceNumber() != 0x01020304 ||
		tcp.AckNumber() != 0x05060708 || tcp.DataOffset() != 24 || tcp.Flags() != header.TCPFlagSyn|header.TCPFlagAck ||
		tcp.Checksum() != 0xbeef {
		t.Fatalf("fields wrong: %d %d %#x %#x %d %#x %#x", tcp.SourcePort(), tcp.DestinationPort(),
			tcp.SequenceNumber(), tcp.AckNumber(), tcp.DataOffset(), tcp.Flags(), tcp.Checksum())
	}
	for i, f := range []uint8{header.TCPFlagFin, header.TCPFlagSyn, header.TCPFlagRst, header.TCPFlagPsh,
		header.TCPFlagAck, header.TCPFlagUrg, header.TCPFlagEce, header.TCPFlagCwr} {
		if f != 1<<i {
			t.Errorf("flag %d = %#x", i, f)
		}
	}
}

func TestEthernetAndARP(t *testing.T) {
	b := make([]byte, header.EthernetSize+header.ARPSize)
	eth := header.Ethernet(b)
	dst := [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	src := [6]byte{0x02, 0, 0, 0, 0, 1}
	eth.SetDestination(dst)
	eth.SetSource(src)
	eth.SetType(header.EtherTypeARP)
	if eth.Destination() != dst || eth.Source() != src || eth.Type() != header.EtherTypeARP {
		t.Fatalf("ethernet: %x %x %#x", eth.Destination(), eth.Source(), eth.Type())
	}
	want := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 1, 0x08, 0x06}
	if string(b[:14]) != string(want) {
		t.Fatalf("ethernet bytes % x", b[:14])
	}
	arp := header.ARP(b[header.EthernetSize:])
	if arp.IsValid() {
		t.Fatal("zeroed ARP is valid")
	}
	arp.SetIPv4OverEthernet()
	arp.SetOp(header.ARPRequest)
	arp.SetSenderHardwareAddress(src)
	arp.SetSenderProtocolAddress([4]byte{10, 0, 0, 1})
	arp.SetTargetHardwareAddress([6]byte{})
	arp.SetTargetProtocolAddress([4]byte{10, 0, 0, 2})
	if !arp.IsValid() || arp.Op() != header.ARPRequest || arp.SenderHardwareAddress() != src ||
		arp.SenderProtocolAddress() != [4]byte{10, 0, 0, 1} || arp.TargetHardwareAddress() != [6]byte{} ||
		arp.TargetProtocolAddress() != [4]byte{10, 0, 0, 2} {
		t.Fatal("ARP fields do not read back")
	}
	wantARP := []byte{0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2}
	if string(arp) != string(wantARP) {
		t.Fatalf("ARP bytes % x", []byte(arp))
	}
	if header.ARP(b[header.EthernetSize : header.EthernetSize+27]).IsValid() {
		t.Fatal("short ARP is valid")
	}
}

func TestUnknownProtocol(t *testing.T) {
	ip := header.IPv4(make([]byte, 20))
	l4 := make([]byte, 20)
	if header.TransportChecksumValid(header.ProtocolVRRP, ip, l4) {
		t.Error("TransportChecksumValid true for VRRP")
	}
	if c := header.ComputeTransportChecksum(header.ProtocolVRRP, ip, l4); c != 0 {
		t.Errorf("ComputeTransportChecksum(VRRP) = %#04x", c)
	}
}

// TestZeroAllocs proves that the fast-path functions do not allocate.
func TestZeroAllocs(t *testing.T) {
	r := newRand(t)
	tp := randPacket(r, header.ProtocolTCP, csumNormal)
	up := randPacket(r, header.ProtocolUDP, csumNormal)
	frame := make([]byte, header.EthernetSize+header.ARPSize)
	var sink uint64
	allocs := testing.AllocsPerRun(1000, func() {
		eth := header.Ethernet(frame)
		eth.SetDestination(eth.Source())
		eth.SetType(eth.Type())
		arp := header.ARP(frame[header.EthernetSize:])
		arp.SetTargetProtocolAddress(arp.SenderProtocolAddress())
		arp.SetTargetHardwareAddress(arp.SenderHardwareAddress())
		if arp.IsValid() {
			sink++
		}
		for _, p := range []packet{tp, up} {
			ip := p.ip
			old := ip.DestinationAddress()
			nw := [4]byte{10, 1, 2, byte(sink)}
			ip.SetDestinationAddressWithChecksumUpdate(nw)
			ip.SetSourceAddressWithChecksumUpdate(ip.SourceAddress())
			ip.DecrementTTLWithChecksumUpdate()
			if ip.IsChecksumValid() && !ip.IsFragment() {
				sink += uint64(ip.CalculateChecksum())
			}
			if p.proto == header.ProtocolTCP {
				tcp := header.TCP(p.l4)
				tcp.UpdateChecksumForAddress(old, nw)
				tcp.SetDestinationPortWithChecksumUpdate(8080)
				tcp.SetSourcePortWithChecksumUpdate(tcp.SourcePort() + 1)
				sink += uint64(tcp.SequenceNumber()) + uint64(tcp.Flags())
			} else {
				udp := header.UDP(p.l4)
				udp.UpdateChecksumForAddress(old, nw)
				udp.SetDestinationPortWithChecksumUpdate(53)
				udp.SetSourcePortWithChecksumUpdate(udp.SourcePort() + 1)
			}
			if header.TransportChecksumValid(p.proto, ip, p.l4) {
				sink++
			}
			sink += uint64(header.ComputeTransportChecksum(p.proto, ip, p.l4))
			sink += uint64(header.Checksum(p.buf, header.PseudoHeaderSum(p.proto, old, nw, 100)))
			sink += uint64(header.ChecksumUpdate16(1, 2, 3)) + uint64(header.ChecksumUpdate32(1, old, nw))
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per run, want 0", allocs)
	}
	_ = sink
}
