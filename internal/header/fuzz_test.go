package header_test

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/xvs-project/xvs/internal/header"
)

// FuzzHeaders feeds arbitrary bytes to the views the way the fast path
// does: check lengths first, then read and rewrite. It must never panic,
// and every checksum-keeping setter must keep a valid checksum valid (and,
// as the arithmetic is exact, an invalid one invalid).
//
// Bit 0 of sel says whether pkt starts with an Ethernet header; the other
// bits choose which rewrites to apply.
func FuzzHeaders(f *testing.F) {
	for _, g := range [][]byte{goldenTCPSYN, goldenUDP, goldenICMPEcho} {
		f.Add(g, uint32(0x0a000005), uint16(8080), uint8(0xff))
		f.Add(g[header.EthernetSize:], uint32(0xc0000201), uint16(53), uint8(0xfe))
	}
	arp := make([]byte, header.EthernetSize+header.ARPSize)
	header.Ethernet(arp).SetType(header.EtherTypeARP)
	header.ARP(arp[header.EthernetSize:]).SetIPv4OverEthernet()
	f.Add(arp, uint32(0x0a000001), uint16(0), uint8(1))
	f.Add([]byte{0x45}, uint32(0), uint16(0), uint8(0))

	f.Fuzz(func(t *testing.T, pkt []byte, addr uint32, port uint16, sel uint8) {
		b := append([]byte(nil), pkt...) // do not modify the fuzzer's input
		var a [4]byte
		binary.BigEndian.PutUint32(a[:], addr)

		if sel&1 != 0 {
			if len(b) < header.EthernetSize {
				return
			}
			eth := header.Ethernet(b)
			src, dst := eth.Source(), eth.Destination()
			eth.SetSource(dst)
			eth.SetDestination(src)
			if eth.Source() != dst || eth.Destination() != src {
				t.Fatal("Ethernet addresses do not read back")
			}
			switch eth.Type() {
			case header.EtherTypeARP:
				fuzzARP(t, header.ARP(b[header.EthernetSize:]), a)
				return
			case header.EtherTypeIPv4:
				b = b[header.EthernetSize:]
			default:
				return
			}
		}

		// Validate the IPv4 header as a caller must.
		if len(b) < header.IPv4MinimumSize {
			return
		}
		ip := header.IPv4(b)
		hl := ip.HeaderLength()
		if ip.Version() != 4 || hl < header.IPv4MinimumSize || hl > len(ip) {
			return
		}
		tl := int(ip.TotalLength())
		if tl < hl || tl > len(ip) {
			return
		}
		ip = ip[:tl]
		_, _, _, _ = ip.TOS(), ip.ID(), ip.FragmentOffset(), ip.MoreFragments()
		_ = ip.IsFragment()

		ipValid := ip.IsChecksumValid()
		if calc := ip.CalculateChecksum(); ipValid != congruent(calc, ip.Checksum()) {
			t.Fatalf("IsChecksumValid %v but CalculateChecksum %#04x vs field %#04x", ipValid, calc, ip.Checksum())
		}

		// Validate the transport header.
		proto := ip.Protocol()
		l4 := []byte(ip[hl:])
		switch proto {
		case header.ProtocolTCP:
			if len(l4) < header.TCPMinimumSize {
				proto = 0
			} else {
				_, _, _, _ = header.TCP(l4).SequenceNumber(), header.TCP(l4).AckNumber(), header.TCP(l4).DataOffset(), header.TCP(l4).Flags()
			}
		case header.ProtocolUDP:
			if len(l4) < header.UDPSize {
				proto = 0
			} else if ul := int(header.UDP(l4).Length()); ul < header.UDPSize || ul > len(l4) {
				proto = 0
			} else {
				l4 = l4[:ul]
			}
		case header.ProtocolICMP:
			if len(l4) < header.ICMPv4MinimumSize {
				proto = 0
			} else {
				_, _ = header.ICMPv4(l4).Type(), header.ICMPv4(l4).Code()
			}
		default:
			proto = 0
		}
		var l4Valid, udpNone bool
		if proto != 0 {
			l4Valid = header.TransportChecksumValid(proto, ip, l4)
			udpNone = proto == header.ProtocolUDP && header.UDP(l4).Checksum() == 0
		}

		check := func(what string) {
			t.Helper()
			if ip.IsChecksumValid() != ipValid {
				t.Fatalf("%s: IPv4 checksum validity changed from %v", what, ipValid)
			}
			if proto == 0 {
				return
			}
			if header.TransportChecksumValid(proto, ip, l4) != l4Valid {
				t.Fatalf("%s: transport checksum validity changed from %v", what, l4Valid)
			}
			if proto == header.ProtocolUDP {
				c := header.UDP(l4).Checksum()
				if udpNone != (c == 0) {
					t.Fatalf("%s: UDP checksum none-ness changed (now %#04x)", what, c)
				}
			}
		}
		updateL4ForAddress := func(old [4]byte) {
			switch proto {
			case header.ProtocolTCP:
				header.TCP(l4).UpdateChecksumForAddress(old, a)
			case header.ProtocolUDP:
				header.UDP(l4).UpdateChecksumForAddress(old, a)
			}
		}

		if sel&2 != 0 {
			old := ip.DestinationAddress()
			ip.SetDestinationAddressWithChecksumUpdate(a)
			updateL4ForAddress(old)
			if ip.DestinationAddress() != a {
				t.Fatal("destination address does not read back")
			}
			check("destination address")
		}
		if sel&4 != 0 {
			old := ip.SourceAddress()
			ip.SetSourceAddressWithChecksumUpdate(a)
			updateL4ForAddress(old)
			if ip.SourceAddress() != a {
				t.Fatal("source address does not read back")
			}
			check("source address")
		}
		if sel&8 != 0 {
			ttl := ip.TTL()
			ip.DecrementTTLWithChecksumUpdate()
			if want := max(int(ttl)-1, 0); int(ip.TTL()) != want {
				t.Fatalf("TTL %d after decrementing %d", ip.TTL(), ttl)
			}
			check("TTL")
		}
		if sel&16 != 0 {
			switch proto {
			case header.ProtocolTCP:
				header.TCP(l4).SetDestinationPortWithChecksumUpdate(port)
				if header.TCP(l4).DestinationPort() != port {
					t.Fatal("TCP destination port does not read back")
				}
			case header.ProtocolUDP:
				header.UDP(l4).SetDestinationPortWithChecksumUpdate(port)
				if header.UDP(l4).DestinationPort() != port {
					t.Fatal("UDP destination port does not read back")
				}
			}
			check("destination port")
		}
		if sel&32 != 0 {
			switch proto {
			case header.ProtocolTCP:
				header.TCP(l4).SetSourcePortWithChecksumUpdate(port)
				if header.TCP(l4).SourcePort() != port {
					t.Fatal("TCP source port does not read back")
				}
			case header.ProtocolUDP:
				header.UDP(l4).SetSourcePortWithChecksumUpdate(port)
				if header.UDP(l4).SourcePort() != port {
					t.Fatal("UDP source port does not read back")
				}
			}
			check("source port")
		}
		if sel&64 != 0 && proto != 0 {
			// The slow path: recompute everything; then it must be valid.
			ip.SetChecksum(ip.CalculateChecksum())
			switch proto {
			case header.ProtocolTCP:
				header.TCP(l4).SetChecksum(header.ComputeTransportChecksum(proto, ip, l4))
			case header.ProtocolUDP:
				header.UDP(l4).SetChecksum(header.ComputeTransportChecksum(proto, ip, l4))
			case header.ProtocolICMP:
				header.ICMPv4(l4).SetChecksum(header.ComputeTransportChecksum(proto, ip, l4))
			}
			if !ip.IsChecksumValid() || !header.TransportChecksumValid(proto, ip, l4) {
				t.Fatal("checksums not valid after a full recompute")
			}
		}
	})
}

// fuzzARP validates and rewrites an ARP message the way an ARP responder
// would turn a request into a reply.
func fuzzARP(t *testing.T, arp header.ARP, a [4]byte) {
	if !arp.IsValid() {
		return
	}
	_ = arp.Op()
	sha, spa := arp.SenderHardwareAddress(), arp.SenderProtocolAddress()
	tha := [6]byte{0x02, 0, 0, 0, 0, 0x99}
	arp.SetOp(header.ARPReply)
	arp.SetTargetHardwareAddress(sha)
	arp.SetTargetProtocolAddress(spa)
	arp.SetSenderHardwareAddress(tha)
	arp.SetSenderProtocolAddress(a)
	if !arp.IsValid() || arp.Op() != header.ARPReply || arp.TargetHardwareAddress() != sha ||
		arp.TargetProtocolAddress() != spa || arp.SenderHardwareAddress() != tha || arp.SenderProtocolAddress() != a {
		t.Fatal("ARP fields do not read back")
	}
}

// FuzzIPv6 feeds arbitrary bytes to the IPv6 functions the way a NAT66
// fast path would: ParseIPv6 (and the extension header walk on the
// untrimmed slice), then the address, port and hop limit rewrites, the
// rewrite of a packet quoted in an ICMPv6 error, and with an Ethernet
// header the Neighbor Solicitation responder. It must never panic, every
// error must be a labelled sentinel, and every rewrite must keep a valid
// checksum valid, equal to a full recomputation, and an invalid one
// invalid.
//
// The address written is 2001:2::/48 with 80 bits from a and b. Bit 0 of
// sel says whether pkt starts with an Ethernet header; the other bits
// choose the rewrites.
func FuzzIPv6(f *testing.F) {
	for _, g := range [][]byte{goldenTCPSYN6, goldenUDP6, goldenICMPv6Echo, goldenPacketTooBig,
		goldenNeighborSolicitation, goldenNeighborAdvertisement} {
		f.Add(g, uint64(0x1234), uint16(5), uint16(8080), uint16(0xffff))
		f.Add(g[header.EthernetSize:], uint64(0xabcdef), uint16(6), uint16(53), uint16(0xfffe))
	}
	for _, tc := range chainCases() {
		f.Add(tc.pkt, uint64(1), uint16(1), uint16(1), uint16(0x5a))
	}
	for _, tc := range icmpErrorCases() {
		b := serializeBytes(tc.before...)
		f.Add(b, uint64(2), uint16(2), uint16(443), uint16(0xffc1))
		f.Add(b[header.EthernetSize:], uint64(3), uint16(3), uint16(443), uint16(0xff3e))
	}
	f.Add([]byte{0x60}, uint64(0), uint16(0), uint16(0), uint16(0))

	f.Fuzz(func(t *testing.T, pkt []byte, a uint64, b uint16, port uint16, sel uint16) {
		buf := append([]byte(nil), pkt...) // do not modify the fuzzer's input
		addr := [16]byte{0x20, 0x01, 0x00, 0x02}
		binary.BigEndian.PutUint64(addr[6:], a)
		binary.BigEndian.PutUint16(addr[14:], b)
		mac := [6]byte{0x02, 0, 0, 0, 0, 0x42}

		if sel&1 != 0 {
			fuzzNDP(t, buf, mac, uint8(sel>>8))
			if len(buf) < header.EthernetSize || header.Ethernet(buf).Type() != header.EtherTypeIPv6 {
				return
			}
			buf = buf[header.EthernetSize:]
		}

		// The walk over the untrimmed slice, as a caller that has not
		// looked at the payload length would do it.
		if proto, off, err := header.IPv6(buf).UpperLayer(); err != nil {
			checkReason(t, "UpperLayer", err)
		} else if off > len(buf) || off < header.IPv6FixedHeaderSize {
			t.Fatalf("UpperLayer offset %d of %d bytes (protocol %d)", off, len(buf), proto)
		}
		ip, proto, off, err := header.ParseIPv6(buf)
		if err != nil {
			checkReason(t, "ParseIPv6", err)
			if ip != nil {
				t.Fatal("ParseIPv6 returned a packet with an error")
			}
			return
		}
		if len(ip) != header.IPv6FixedHeaderSize+int(ip.PayloadLength()) || off > len(ip) || off < header.IPv6FixedHeaderSize {
			t.Fatalf("ParseIPv6: %d bytes, payload length %d, offset %d", len(ip), ip.PayloadLength(), off)
		}
		if p2, o2, err := ip.UpperLayer(); p2 != proto || o2 != off || err != nil {
			t.Fatal("UpperLayer of the parsed packet differs")
		}
		_, _, _ = ip.TrafficClass(), ip.FlowLabel(), ip.NextHeader()

		l4 := []byte(ip[off:])
		switch proto {
		case header.ProtocolTCP:
			if len(l4) < header.TCPMinimumSize {
				proto = 0
			}
		case header.ProtocolUDP:
			if len(l4) < header.UDPSize {
				proto = 0
			} else if ul := int(header.UDP(l4).Length()); ul < header.UDPSize || ul > len(l4) {
				proto = 0
			} else {
				l4 = l4[:ul]
			}
		case header.ProtocolICMPv6:
			if len(l4) < header.ICMPv6MinimumSize {
				proto = 0
			}
		default:
			proto = 0
		}
		if proto == 0 {
			// Only the hop limit and addresses, with nothing to update.
			ip.DecrementHopLimit()
			ip.SetDestinationAddressWithChecksumUpdate(addr, 0, l4)
			if ip.DestinationAddress() != addr {
				t.Fatal("destination address does not read back")
			}
			return
		}
		cs := l4ChecksumOffset6(proto)
		field := func() uint16 { return binary.BigEndian.Uint16(l4[cs:]) }
		valid := header.TransportChecksumValidIPv6(proto, ip, l4)
		computed := header.ComputeTransportChecksumIPv6(proto, ip, l4)
		if want := congruent(field(), computed) && !(proto == header.ProtocolUDP && field() == 0); valid != want {
			t.Fatalf("TransportChecksumValidIPv6 %v, but field %#04x and full computation %#04x", valid, field(), computed)
		}
		canonical := field() == computed
		udpNone := proto == header.ProtocolUDP && field() == 0

		check := func(what string) {
			t.Helper()
			if header.TransportChecksumValidIPv6(proto, ip, l4) != valid {
				t.Fatalf("%s: checksum validity changed from %v", what, valid)
			}
			if udpNone && field() != 0 {
				t.Fatalf("%s: UDP checksum 0 became %#04x", what, field())
			}
			if canonical {
				if want := header.ComputeTransportChecksumIPv6(proto, ip, l4); field() != want {
					t.Fatalf("%s: checksum %#04x, full recomputation %#04x", what, field(), want)
				}
			}
		}
		if sel&2 != 0 {
			ip.SetDestinationAddressWithChecksumUpdate(addr, proto, l4)
			if ip.DestinationAddress() != addr {
				t.Fatal("destination address does not read back")
			}
			check("destination address")
		}
		if sel&4 != 0 {
			ip.SetSourceAddressWithChecksumUpdate(addr, proto, l4)
			if ip.SourceAddress() != addr {
				t.Fatal("source address does not read back")
			}
			check("source address")
		}
		if sel&8 != 0 && proto != header.ProtocolICMPv6 {
			setPort6(proto, l4, false, port)
			if binary.BigEndian.Uint16(l4[2:]) != port {
				t.Fatal("destination port does not read back")
			}
			check("destination port")
		}
		if sel&16 != 0 && proto != header.ProtocolICMPv6 {
			setPort6(proto, l4, true, port)
			if binary.BigEndian.Uint16(l4[0:]) != port {
				t.Fatal("source port does not read back")
			}
			check("source port")
		}
		if sel&32 != 0 {
			h := ip.HopLimit()
			ip.DecrementHopLimit()
			if want := max(int(h)-1, 0); int(ip.HopLimit()) != want {
				t.Fatalf("hop limit %d after decrementing %d", ip.HopLimit(), h)
			}
			check("hop limit")
		}
		if proto == header.ProtocolICMPv6 {
			fuzzInvoking(t, header.ICMPv6(l4), addr, port, sel, check)
		}
		if sel&0x200 != 0 {
			// The slow path: recompute; then it must be valid.
			binary.BigEndian.PutUint16(l4[cs:], header.ComputeTransportChecksumIPv6(proto, ip, l4))
			if !header.TransportChecksumValidIPv6(proto, ip, l4) {
				t.Fatal("checksum not valid after a full recompute")
			}
		}
	})
}

// checkReason fails unless err is one of the package's sentinels.
func checkReason(t *testing.T, what string, err error) {
	t.Helper()
	if r := header.Reason(err); r == "" || r == "other" {
		t.Fatalf("%s: error %v has reason %q", what, err, r)
	}
}

// fuzzInvoking rewrites the packet quoted in the ICMPv6 error icmp, if it
// is one, and checks the ICMPv6 checksum (through check) and, when the
// quote holds the whole invoking packet, the quoted checksum.
func fuzzInvoking(t *testing.T, icmp header.ICMPv6, addr [16]byte, port, sel uint16, check func(string)) {
	_, _, _ = icmp.Type(), icmp.Code(), icmp.IsError()
	_, _ = icmp.MTU(), icmp.Pointer()
	inner, proto, off, err := icmp.InvokingPacket()
	if err != nil {
		checkReason(t, "InvokingPacket", err)
		return
	}
	if off+8 > len(inner) || off < header.IPv6FixedHeaderSize {
		t.Fatalf("InvokingPacket: offset %d in a %d-byte quote", off, len(inner))
	}
	// The quoted checksum can be verified only if the whole invoking
	// packet is quoted.
	var l4 []byte
	whole := len(inner) == header.IPv6FixedHeaderSize+int(inner.PayloadLength())
	switch {
	case !whole:
	case proto == header.ProtocolTCP && len(inner)-off >= header.TCPMinimumSize,
		proto == header.ProtocolICMPv6:
		l4 = inner[off:]
	case proto == header.ProtocolUDP:
		if ul := int(header.UDP(inner[off:]).Length()); ul >= header.UDPSize && ul <= len(inner)-off {
			l4 = inner[off : off+ul]
		}
	}
	innerValid := l4 != nil && header.TransportChecksumValidIPv6(proto, inner, l4)
	checkInner := func(what string) {
		t.Helper()
		check(what)
		if l4 != nil && header.TransportChecksumValidIPv6(proto, inner, l4) != innerValid {
			t.Fatalf("%s: quoted checksum validity changed from %v", what, innerValid)
		}
	}
	if sel&64 != 0 {
		icmp.SetInvokingSourceWithChecksumUpdate(proto, off, addr, port)
		if inner.SourceAddress() != addr {
			t.Fatal("quoted source address does not read back")
		}
		checkInner("quoted source")
	}
	if sel&128 != 0 {
		icmp.SetInvokingDestinationWithChecksumUpdate(proto, off, addr, port)
		if inner.DestinationAddress() != addr {
			t.Fatal("quoted destination address does not read back")
		}
		if (proto == header.ProtocolTCP || proto == header.ProtocolUDP) && binary.BigEndian.Uint16(inner[off+2:]) != port {
			t.Fatal("quoted destination port does not read back")
		}
		checkInner("quoted destination")
	}
}

// fuzzNDP runs the Neighbor Solicitation responder on a copy of frame:
// whatever it accepts must become a valid advertisement.
func fuzzNDP(t *testing.T, frame []byte, mac [6]byte, flags uint8) {
	ns, err := header.ParseNeighborSolicitation(frame)
	if err != nil {
		checkReason(t, "ParseNeighborSolicitation", err)
	}
	buf := append(make([]byte, 0, len(frame)+header.NeighborAdvertisementFrameSize), frame...)
	na, err2 := header.AnswerNeighborSolicitation(buf, mac, flags)
	if err2 != err {
		t.Fatalf("ParseNeighborSolicitation %v but AnswerNeighborSolicitation %v", err, err2)
	}
	if err != nil {
		if !bytes.Equal(buf, frame) {
			t.Fatal("refused solicitation rewritten")
		}
		return
	}
	if len(na) != header.NeighborAdvertisementFrameSize || header.Ethernet(na).Source() != mac {
		t.Fatalf("advertisement of %d bytes", len(na))
	}
	ip, proto, off, err := header.ParseIPv6(na[header.EthernetSize:])
	if err != nil || proto != header.ProtocolICMPv6 || off != header.IPv6FixedHeaderSize {
		t.Fatalf("advertisement does not parse: %v", err)
	}
	icmp := header.ICMPv6(ip[off:])
	tlla, ok, err := icmp.LinkLayerAddressOption(header.NDPOptionTargetLinkLayerAddress)
	if !header.TransportChecksumValidIPv6(proto, ip, icmp) || icmp.Type() != header.ICMPv6NeighborAdvertisement ||
		icmp.TargetAddress() != ns.Target || ip.SourceAddress() != ns.Target || ip.HopLimit() != 255 ||
		!ok || err != nil || tlla != mac || (icmp.NeighborFlags()&header.NeighborFlagSolicited != 0) == ns.IsDAD() {
		t.Fatal("advertisement invalid")
	}
}
