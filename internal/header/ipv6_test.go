package header_test

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/xvs-project/xvs/internal/header"
)

// testPrefix6 is 2001:2::/48 (RFC 5180, benchmarking), the only IPv6
// unicast range the IPv6 tests use.
var testPrefix6 = netip.MustParsePrefix("2001:2::/48")

// addr6 parses an address of 2001:2::/48, or one of the link-local
// multicast or unspecified addresses Neighbor Discovery needs.
func addr6(s string) [16]byte {
	a := netip.MustParseAddr(s)
	if !testPrefix6.Contains(a) && !a.IsMulticast() && !a.IsUnspecified() {
		panic(s + " is not in 2001:2::/48")
	}
	return a.As16()
}

// randAddr6 returns a random address of 2001:2::/48: the 80 bits after
// the prefix are random.
func randAddr6(r *rand.Rand) [16]byte {
	var a [16]byte
	randBytes(r, a[6:])
	a[0], a[1], a[2], a[3] = 0x20, 0x01, 0x00, 0x02
	return a
}

// l4ChecksumOffset6 returns where the checksum field of proto sits.
func l4ChecksumOffset6(proto uint8) int {
	if proto == header.ProtocolICMPv6 {
		return 2
	}
	return l4ChecksumOffset(proto)
}

// refL4Checksum6 recomputes a TCP, UDP or ICMPv6 checksum from scratch by
// materializing the IPv6 pseudo-header (RFC 8200 §8.1) in front of a copy
// of the message whose checksum field is zeroed.
func refL4Checksum6(proto uint8, src, dst [16]byte, seg []byte) uint16 {
	var buf []byte
	buf = append(buf, src[:]...)
	buf = append(buf, dst[:]...)
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(seg)))
	buf = append(buf, 0, 0, 0, proto)
	n := len(buf)
	buf = append(buf, seg...)
	off := n + l4ChecksumOffset6(proto)
	buf[off], buf[off+1] = 0, 0
	c := ^refSum(0, buf)
	if proto == header.ProtocolUDP && c == 0 {
		c = 0xffff
	}
	return c
}

// packet6 is a random IPv6 packet with extension headers and a TCP, UDP
// or ICMPv6 message with a correct checksum.
type packet6 struct {
	buf   []byte
	ip    header.IPv6
	l4    []byte
	proto uint8
	off   int
}

// randExtensions appends a random chain of the extension headers
// UpperLayer walks, in RFC 8200 order (each present or not: Hop-by-Hop,
// Destination Options, Routing with Segments Left 0, Destination
// Options), ending with next header last. It returns the chain and the
// first next header value.
func randExtensions(r *rand.Rand, last uint8) ([]byte, uint8) {
	kinds := []uint8{header.ProtocolIPv6HopByHop, header.ProtocolIPv6DestinationOptions,
		header.ProtocolIPv6Routing, header.ProtocolIPv6DestinationOptions}
	var chosen []uint8
	for _, k := range kinds {
		if r.IntN(3) == 0 {
			chosen = append(chosen, k)
		}
	}
	var b []byte
	for i, k := range chosen {
		nh := last
		if i+1 < len(chosen) {
			nh = chosen[i+1]
		}
		hl := r.IntN(8)
		h := make([]byte, (hl+1)*8)
		randBytes(r, h)
		h[0], h[1] = nh, byte(hl)
		if k == header.ProtocolIPv6Routing {
			h[3] = 0 // segments left
		}
		b = append(b, h...)
	}
	first := last
	if len(chosen) > 0 {
		first = chosen[0]
	}
	return b, first
}

// Checksum modes for randPacket6 (csumNone: UDP only, field 0; invalid
// over IPv6, but the setters must keep it 0).
// csumNormal, csumNone and csumZeroCalc are shared with randPacket.

// randPacket6 builds a random packet: random traffic class, flow label,
// hop limit, addresses of 2001:2::/48, extension headers, and a message
// of random (often odd) length.
func randPacket6(r *rand.Rand, proto uint8, mode int) packet6 {
	ext, first := randExtensions(r, proto)
	var l4len, doff int
	switch proto {
	case header.ProtocolTCP:
		doff = header.TCPMinimumSize + 4*r.IntN(11)
		l4len = doff + r.IntN(1441)
	case header.ProtocolUDP:
		l4len = header.UDPSize + r.IntN(1453)
	case header.ProtocolICMPv6:
		l4len = header.ICMPv6MinimumSize + r.IntN(1453)
	}
	b := make([]byte, header.IPv6FixedHeaderSize+len(ext)+l4len)
	randBytes(r, b)
	b[0] = 0x60 | b[0]&0x0f
	binary.BigEndian.PutUint16(b[4:], uint16(len(b)-header.IPv6FixedHeaderSize))
	b[6] = first
	src, dst := randAddr6(r), randAddr6(r)
	copy(b[8:], src[:])
	copy(b[24:], dst[:])
	copy(b[header.IPv6FixedHeaderSize:], ext)
	off := header.IPv6FixedHeaderSize + len(ext)
	l4 := b[off:]
	switch proto {
	case header.ProtocolTCP:
		l4[12] = byte(doff/4)<<4 | l4[12]&0x0f
	case header.ProtocolUDP:
		binary.BigEndian.PutUint16(l4[4:], uint16(l4len))
	}
	co := l4ChecksumOffset6(proto)
	c := refL4Checksum6(proto, src, dst, l4)
	switch mode {
	case csumNone:
		c = 0
	case csumZeroCalc:
		// As in randPacket: change a word (the source port, or the
		// ICMPv6 identifier) so that the data sums to zero.
		w := 0
		if proto == header.ProtocolICMPv6 {
			w = 4
		}
		binary.BigEndian.PutUint16(l4[w:], onesAdd(binary.BigEndian.Uint16(l4[w:]), c))
		c = refL4Checksum6(proto, src, dst, l4)
	}
	binary.BigEndian.PutUint16(l4[co:], c)
	return packet6{buf: b, ip: header.IPv6(b), l4: l4, proto: proto, off: off}
}

func TestIPv6Fields(t *testing.T) {
	src, dst := addr6("2001:2::10"), addr6("2001:2::1:1")
	b := make([]byte, header.IPv6FixedHeaderSize+8)
	copy(b, []byte{0x6a, 0xbc, 0xde, 0xf1, 0x00, 0x08, header.ProtocolUDP, 64})
	copy(b[8:], src[:])
	copy(b[24:], dst[:])
	ip := header.IPv6(b)
	if ip.Version() != 6 || ip.TrafficClass() != 0xab || ip.FlowLabel() != 0xcdef1 || ip.PayloadLength() != 8 ||
		ip.NextHeader() != header.ProtocolUDP || ip.HopLimit() != 64 ||
		ip.SourceAddress() != src || ip.DestinationAddress() != dst {
		t.Fatalf("fields: v%d tc %#x fl %#x len %d nh %d hl %d %x %x", ip.Version(), ip.TrafficClass(), ip.FlowLabel(),
			ip.PayloadLength(), ip.NextHeader(), ip.HopLimit(), ip.SourceAddress(), ip.DestinationAddress())
	}
	ip.SetTrafficClass(0x5d)
	if ip.Version() != 6 || ip.TrafficClass() != 0x5d || ip.FlowLabel() != 0xcdef1 {
		t.Fatalf("SetTrafficClass: v%d tc %#x fl %#x", ip.Version(), ip.TrafficClass(), ip.FlowLabel())
	}
	ip.SetFlowLabel(0xfff12345) // only the low 20 bits count
	if ip.Version() != 6 || ip.TrafficClass() != 0x5d || ip.FlowLabel() != 0x12345 {
		t.Fatalf("SetFlowLabel: v%d tc %#x fl %#x", ip.Version(), ip.TrafficClass(), ip.FlowLabel())
	}
	if string(b[:4]) != "\x65\xd1\x23\x45" {
		t.Fatalf("first word % x", b[:4])
	}
	ip.SetPayloadLength(1234)
	ip.SetNextHeader(header.ProtocolTCP)
	ip.SetHopLimit(2)
	if ip.PayloadLength() != 1234 || ip.NextHeader() != header.ProtocolTCP || ip.HopLimit() != 2 {
		t.Fatal("setters do not read back")
	}
	for _, want := range []uint8{1, 0, 0} {
		ip.DecrementHopLimit()
		if ip.HopLimit() != want {
			t.Fatalf("hop limit %d, want %d", ip.HopLimit(), want)
		}
	}
	// Setting an address with no upper layer to update (an unknown
	// protocol, or a message too short to hold its checksum) changes the
	// address alone.
	a := addr6("2001:2::2:5")
	ip.SetSourceAddressWithChecksumUpdate(a, 200, b[40:])
	ip.SetDestinationAddressWithChecksumUpdate(src, header.ProtocolTCP, b[40:])
	if ip.SourceAddress() != a || ip.DestinationAddress() != src || string(b[40:]) != "\x00\x00\x00\x00\x00\x00\x00\x00" {
		t.Fatalf("addresses %x %x, payload % x", ip.SourceAddress(), ip.DestinationAddress(), b[40:])
	}
}

func TestPseudoHeaderSumIPv6(t *testing.T) {
	r := newRand(t)
	for i := 0; i < 2000; i++ {
		src, dst := randAddr6(r), randAddr6(r)
		if i%2 == 0 { // any bits, not just 2001:2::/48: the arithmetic
			randBytes(r, src[:])
			randBytes(r, dst[:])
		}
		proto := uint8(r.Uint32())
		length := r.Uint32()
		if i%3 == 0 {
			length &= 0xffff
		}
		var ph []byte
		ph = append(ph, src[:]...)
		ph = append(ph, dst[:]...)
		ph = binary.BigEndian.AppendUint32(ph, length)
		ph = append(ph, 0, 0, 0, proto)
		if got, want := header.Checksum(nil, header.PseudoHeaderSumIPv6(proto, src, dst, length)), refSum(0, ph); got != want {
			t.Fatalf("PseudoHeaderSumIPv6 folds to %#04x, reference %#04x", got, want)
		}
	}
}

// TestChecksumUpdate128Random changes random 16-byte fields of random data
// and compares the incremental update with a full recomputation.
func TestChecksumUpdate128Random(t *testing.T) {
	r := newRand(t)
	for i := 0; i < 20000; i++ {
		b := make([]byte, 16+2*r.IntN(200))
		randBytes(r, b)
		c := ^refSum(0, b)
		off := 2 * r.IntN((len(b)-16)/2+1)
		old := [16]byte(b[off : off+16])
		var nw [16]byte
		switch r.IntN(4) {
		case 0: // force the result to zero
			randBytes(r, nw[:])
			copy(b[off:], nw[:])
			s := ^refSum(0, b) // the checksum with nw
			binary.BigEndian.PutUint16(nw[14:], onesAdd(binary.BigEndian.Uint16(nw[14:]), s))
		case 1:
			nw = old
		default:
			randBytes(r, nw[:])
		}
		copy(b[off:], nw[:])
		got := header.ChecksumUpdate128(c, old, nw)
		want := ^refSum(0, b)
		if got != want && !(want == 0xffff && congruent(got, want)) {
			t.Fatalf("case %d: incremental %#04x, full %#04x", i, got, want)
		}
	}
	// All ones and all zeros, the extremes of the 32-bit words.
	var zero, ones [16]byte
	for i := range ones {
		ones[i] = 0xff
	}
	for _, c := range []uint16{0, 1, 0x7fff, 0xfffe, 0xffff} {
		if got := header.ChecksumUpdate128(c, zero, ones); !congruent(got, c) {
			t.Errorf("zero to ones from %#04x gives %#04x", c, got)
		}
		if got := header.ChecksumUpdate128(c, ones, zero); !congruent(got, c) {
			t.Errorf("ones to zero from %#04x gives %#04x", c, got)
		}
	}
}

// TestIPv6IncrementalUpdatesRandom is the IPv6 form of
// TestIncrementalUpdatesRandom: random NAT66 rewrites of random TCP, UDP
// and ICMPv6 packets with random extension headers, each step checked bit
// for bit against a full recomputation of the upper-layer checksum.
func TestIPv6IncrementalUpdatesRandom(t *testing.T) {
	r := newRand(t)
	const n = 12000
	var udpNone, udpFFFF, zeroStored, zeroResults, hopZero, withExt int
	protos := []uint8{header.ProtocolTCP, header.ProtocolUDP, header.ProtocolICMPv6}
	for i := 0; i < n; i++ {
		proto := protos[i%3]
		mode := csumNormal
		switch r.IntN(8) {
		case 0:
			mode = csumZeroCalc
		case 1:
			if proto == header.ProtocolUDP {
				mode = csumNone
			}
		}
		p := randPacket6(r, proto, mode)
		if r.IntN(16) == 0 {
			p.buf[7] = byte(r.IntN(2)) // hop limit 0 or 1
		}
		ip, gotProto, off, err := header.ParseIPv6(p.buf)
		if err != nil || gotProto != proto || off != p.off || len(ip) != len(p.buf) {
			t.Fatalf("packet %d: ParseIPv6 = %d, %d, %v; built %d at %d", i, gotProto, off, err, proto, p.off)
		}
		if off > header.IPv6FixedHeaderSize {
			withExt++
		}
		co := l4ChecksumOffset6(proto)
		l4c := func() uint16 { return binary.BigEndian.Uint16(p.l4[co:]) }
		switch {
		case mode == csumNone:
			udpNone++
		case proto == header.ProtocolUDP && l4c() == 0xffff:
			udpFFFF++
		case proto != header.ProtocolUDP && l4c() == 0:
			zeroStored++
		}
		check := func(step string) {
			t.Helper()
			if mode == csumNone {
				if l4c() != 0 {
					t.Fatalf("packet %d %s: UDP checksum 0 became %#04x", i, step, l4c())
				}
				if header.TransportChecksumValidIPv6(proto, p.ip, p.l4) {
					t.Fatalf("packet %d %s: UDP checksum 0 reported valid over IPv6", i, step)
				}
				return
			}
			want := refL4Checksum6(proto, p.ip.SourceAddress(), p.ip.DestinationAddress(), p.l4)
			if got := l4c(); got != want {
				t.Fatalf("packet %d %s: checksum %#04x, full recompute %#04x", i, step, got, want)
			}
			if got := header.ComputeTransportChecksumIPv6(proto, p.ip, p.l4); got != want {
				t.Fatalf("packet %d %s: ComputeTransportChecksumIPv6 %#04x, reference %#04x", i, step, got, want)
			}
			if !header.TransportChecksumValidIPv6(proto, p.ip, p.l4) {
				t.Fatalf("packet %d %s: checksum not valid", i, step)
			}
		}
		check("as built")
		zeroing := func(old uint16) uint16 { return onesAdd(l4c(), old) }
		steps := 1 + r.IntN(6)
		for s := 0; s < steps; s++ {
			forceZero := r.IntN(4) == 0 && mode != csumNone
			switch op := r.IntN(5); op {
			case 0, 1:
				a := randAddr6(r)
				var old [16]byte
				if op == 0 {
					old = p.ip.DestinationAddress()
				} else {
					old = p.ip.SourceAddress()
				}
				if forceZero {
					// The last word decides: make the checksum compute
					// to zero.
					copy(a[:14], old[:14])
					binary.BigEndian.PutUint16(a[14:], zeroing(binary.BigEndian.Uint16(old[14:])))
					zeroResults++
				}
				if op == 0 {
					p.ip.SetDestinationAddressWithChecksumUpdate(a, proto, p.l4)
				} else {
					p.ip.SetSourceAddressWithChecksumUpdate(a, proto, p.l4)
				}
				got := p.ip.SourceAddress()
				if op == 0 {
					got = p.ip.DestinationAddress()
				}
				if got != a {
					t.Fatalf("packet %d: address %x, want %x", i, got, a)
				}
				check("address")
			case 2, 3:
				if proto == header.ProtocolICMPv6 {
					// No ports: change the outer checksum through the
					// pseudo-header only.
					old, a := p.ip.SourceAddress(), randAddr6(r)
					copy(p.buf[8:], a[:])
					header.ICMPv6(p.l4).UpdateChecksumForAddress(old, a)
					check("ICMPv6 UpdateChecksumForAddress")
					continue
				}
				port := uint16(r.Uint32())
				if forceZero {
					port = zeroing(binary.BigEndian.Uint16(p.l4[(op-2)*2:]))
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
				if got := binary.BigEndian.Uint16(p.l4[(op-2)*2:]); got != port {
					t.Fatalf("packet %d: port %d, want %d", i, got, port)
				}
				check("port")
			case 4:
				h := p.ip.HopLimit()
				want := h - 1
				if h == 0 {
					want = 0
					hopZero++
				}
				p.ip.DecrementHopLimit()
				if p.ip.HopLimit() != want {
					t.Fatalf("packet %d: hop limit %d after decrement from %d", i, p.ip.HopLimit(), h)
				}
				check("hop limit")
			}
		}
	}
	t.Logf("%d packets: %d with extension headers, %d UDP without checksum, %d UDP 0xffff, %d TCP/ICMPv6 checksum 0, %d forced zero results, %d hop limit 0",
		n, withExt, udpNone, udpFFFF, zeroStored, zeroResults, hopZero)
	if withExt == 0 || udpNone == 0 || udpFFFF == 0 || zeroStored == 0 || zeroResults == 0 || hopZero == 0 {
		t.Fatal("an edge case was not exercised")
	}
}

func TestTransportChecksumIPv6Edges(t *testing.T) {
	ip := header.IPv6(make([]byte, header.IPv6FixedHeaderSize))
	ip[0] = 0x60
	src, dst := addr6("2001:2::10"), addr6("2001:2::1:1")
	copy(ip[8:], src[:])
	copy(ip[24:], dst[:])
	u := header.UDP([]byte{0x12, 0x34, 0x00, 0x35, 0x00, 0x08, 0x00, 0x00})
	if header.TransportChecksumValidIPv6(header.ProtocolUDP, ip, u) {
		t.Fatal("UDP checksum 0 reported valid over IPv6")
	}
	u.UpdateChecksumForIPv6Address(src, dst)
	u.SetSourcePortWithChecksumUpdate(999)
	if u.Checksum() != 0 {
		t.Fatalf("UDP checksum 0 became %#04x", u.Checksum())
	}
	u.SetChecksum(header.ComputeTransportChecksumIPv6(header.ProtocolUDP, ip, u))
	if !header.TransportChecksumValidIPv6(header.ProtocolUDP, ip, u) || u.Checksum() != refL4Checksum6(header.ProtocolUDP, src, dst, u) {
		t.Fatal("computed UDP checksum not valid")
	}
	// A port after which the checksum computes to 0: stored as 0xffff.
	u.SetSourcePortWithChecksumUpdate(onesAdd(u.Checksum(), u.SourcePort()))
	if u.Checksum() != 0xffff || header.ComputeTransportChecksumIPv6(header.ProtocolUDP, ip, u) != 0xffff ||
		!header.TransportChecksumValidIPv6(header.ProtocolUDP, ip, u) {
		t.Fatalf("checksum that computes to 0 is %#04x", u.Checksum())
	}
	l4 := make([]byte, 20)
	for _, proto := range []uint8{header.ProtocolICMP, header.ProtocolVRRP, 200} {
		if header.TransportChecksumValidIPv6(proto, ip, l4) {
			t.Errorf("TransportChecksumValidIPv6 true for protocol %d", proto)
		}
		if c := header.ComputeTransportChecksumIPv6(proto, ip, l4); c != 0 {
			t.Errorf("ComputeTransportChecksumIPv6(%d) = %#04x", proto, c)
		}
	}
}

// TestIPv6ZeroAllocs proves that the IPv6 parse and rewrite paths do not
// allocate, on success and on every kind of refusal.
func TestIPv6ZeroAllocs(t *testing.T) {
	r := newRand(t)
	tp := randPacket6(r, header.ProtocolTCP, csumNormal)
	up := randPacket6(r, header.ProtocolUDP, csumNormal)
	ptb := append([]byte(nil), goldenPacketTooBig...)
	nsFrame := append(make([]byte, 0, 256), goldenNeighborSolicitation...)
	nsWork := make([]byte, len(nsFrame), 256)
	var bad [][]byte
	for _, tc := range chainCases() {
		if tc.err != nil {
			bad = append(bad, tc.pkt)
		}
	}
	var sink uint64
	allocs := testing.AllocsPerRun(1000, func() {
		for _, p := range []packet6{tp, up} {
			ip, proto, off, err := header.ParseIPv6(p.buf)
			if err != nil {
				panic(err)
			}
			l4 := ip[off:]
			nw := randAddr6(r)
			ip.SetDestinationAddressWithChecksumUpdate(nw, proto, l4)
			ip.SetSourceAddressWithChecksumUpdate(ip.SourceAddress(), proto, l4)
			ip.DecrementHopLimit()
			ip.SetHopLimit(64)
			if proto == header.ProtocolTCP {
				header.TCP(l4).SetDestinationPortWithChecksumUpdate(8080)
			} else {
				header.UDP(l4).SetSourcePortWithChecksumUpdate(53)
			}
			if header.TransportChecksumValidIPv6(proto, ip, l4) {
				sink++
			}
			sink += uint64(header.ComputeTransportChecksumIPv6(proto, ip, l4))
			sink += uint64(header.ChecksumUpdate128(1, nw, ip.SourceAddress()))
			sink += uint64(header.PseudoHeaderSumIPv6(proto, nw, nw, uint32(len(l4))))
			sink += uint64(ip.TrafficClass()) + uint64(ip.FlowLabel())
		}
		for _, b := range bad {
			_, _, _, err := header.ParseIPv6(b)
			sink += uint64(len(header.Reason(err)))
		}
		// An ICMPv6 error through NAT66.
		ip, proto, off, _ := header.ParseIPv6(ptb[header.EthernetSize:])
		icmp := header.ICMPv6(ip[off:])
		ip.SetDestinationAddressWithChecksumUpdate(ip.DestinationAddress(), proto, icmp)
		_, qp, qo, err := icmp.InvokingPacket()
		if err != nil {
			panic(err)
		}
		icmp.SetInvokingSourceWithChecksumUpdate(qp, qo, addr6("2001:2::2:5"), 8080)
		icmp.SetInvokingDestinationWithChecksumUpdate(qp, qo, addr6("2001:2::10"), 40000)
		sink += uint64(icmp.MTU())
		// The Neighbor Solicitation responder.
		nsWork = nsWork[:len(nsFrame)]
		copy(nsWork, nsFrame)
		ns, err := header.ParseNeighborSolicitation(nsWork)
		if err != nil || !ns.HasSourceLinkLayerAddress {
			panic(err)
		}
		na, err := header.AnswerNeighborSolicitation(nsWork, [6]byte{2, 0, 0, 0, 0, 2}, header.NeighborFlagOverride)
		if err != nil {
			panic(err)
		}
		_, ok, _ := header.ICMPv6(na[header.EthernetSize+header.IPv6FixedHeaderSize:]).LinkLayerAddressOption(header.NDPOptionTargetLinkLayerAddress)
		if ok {
			sink++
		}
		_, err = header.ParseNeighborSolicitation(na)
		sink += uint64(len(header.Reason(err)))
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per run, want 0", allocs)
	}
	_ = sink
}
