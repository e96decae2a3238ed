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

// serializeBytes is serialize for a test helper that has no *testing.T.
func serializeBytes(ls ...gopacket.SerializableLayer) []byte {
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// innerTCP6 is a SYN-ACK with options and a little data, as an invoking
// packet: no Ethernet header.
func innerTCP6(src, dst net.IP, sport, dport layers.TCPPort) []byte {
	ip := &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolTCP, HopLimit: 61, SrcIP: src, DstIP: dst}
	tcp := &layers.TCP{SrcPort: sport, DstPort: dport, Seq: 0x01020304, Ack: 0x6f1e3a28, SYN: true, ACK: true, Window: 65535,
		Options: []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xa0}}}}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		panic(err)
	}
	return serializeBytes(ip, tcp, gopacket.Payload("first bytes of a TCP reply, 41 bytes long"))
}

// innerUDP6 is a UDP datagram, with a Destination Options header if
// withOpts, as an invoking packet.
func innerUDP6(src, dst net.IP, sport, dport layers.UDPPort, withOpts bool) []byte {
	ip := &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolUDP, HopLimit: 64, SrcIP: src, DstIP: dst}
	udp := &layers.UDP{SrcPort: sport, DstPort: dport}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		panic(err)
	}
	payload := gopacket.Payload("a DNS answer that did not arrive")
	if !withOpts {
		return serializeBytes(ip, udp, payload)
	}
	ip.NextHeader = layers.IPProtocolIPv6Destination
	d := &layers.IPv6Destination{Options: []*layers.IPv6DestinationOption{{OptionType: 0x1e, OptionData: experimentalOption()}}}
	d.NextHeader = layers.IPProtocolUDP
	return serializeBytes(ip, d, udp, payload)
}

// innerEcho6 is an echo reply, as an invoking packet.
func innerEcho6(src, dst net.IP) []byte {
	ip := &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolICMPv6, HopLimit: 64, SrcIP: src, DstIP: dst}
	icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoReply, 0)}
	if err := icmp.SetNetworkLayerForChecksum(ip); err != nil {
		panic(err)
	}
	return serializeBytes(ip, icmp, &layers.ICMPv6Echo{Identifier: 0x4242, SeqNumber: 9}, gopacket.Payload("pong"))
}

// icmpError6 is an Ethernet frame with an ICMPv6 error that quotes the
// first quoteLen bytes of quoted (all of it if quoteLen is 0); body is the
// 32-bit field after the checksum (MTU, pointer, unused).
func icmpError6(src, dst net.IP, typ, code uint8, body uint32, quoted []byte, quoteLen int, smac, dmac net.HardwareAddr) []gopacket.SerializableLayer {
	if quoteLen == 0 {
		quoteLen = len(quoted)
	}
	eth := &layers.Ethernet{SrcMAC: smac, DstMAC: dmac, EthernetType: layers.EthernetTypeIPv6}
	ip := &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolICMPv6, HopLimit: 64, SrcIP: src, DstIP: dst}
	icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, code)}
	if err := icmp.SetNetworkLayerForChecksum(ip); err != nil {
		panic(err)
	}
	p := binary.BigEndian.AppendUint32(nil, body)
	p = append(p, quoted[:quoteLen]...)
	return []gopacket.SerializableLayer{eth, ip, icmp, gopacket.Payload(p)}
}

var goldenPacketTooBig = []byte{
	0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
	0x86, 0xdd, 0x60, 0x00, 0x00, 0x00, 0x00, 0x71, 0x3a, 0x40, 0x20, 0x01,
	0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff,
	0x00, 0x01, 0x20, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x02, 0x00, 0x51, 0x15, 0x00, 0x00,
	0x05, 0x00, 0x60, 0x00, 0x00, 0x00, 0x00, 0x41, 0x06, 0x3d, 0x20, 0x01,
	0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
	0x00, 0x01, 0x20, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x50, 0x9c, 0x40, 0x01, 0x02,
	0x03, 0x04, 0x6f, 0x1e, 0x3a, 0x28, 0x60, 0x12, 0xff, 0xff, 0x3a, 0xd2,
	0x00, 0x00, 0x02, 0x04, 0x05, 0xa0, 0x66, 0x69, 0x72, 0x73, 0x74, 0x20,
	0x62, 0x79, 0x74, 0x65, 0x73, 0x20, 0x6f, 0x66, 0x20, 0x61, 0x20, 0x54,
	0x43, 0x50, 0x20, 0x72, 0x65, 0x70, 0x6c, 0x79, 0x2c, 0x20, 0x34, 0x31,
	0x20, 0x62, 0x79, 0x74, 0x65, 0x73, 0x20, 0x6c, 0x6f, 0x6e, 0x67,
}

// icmpErrorCase is one NAT66 rewrite of an ICMPv6 error, described by the
// frame before and after as gopacket builds them.
type icmpErrorCase struct {
	name          string
	before, after []gopacket.SerializableLayer
	typ           uint8
	body          uint32
	proto         uint8 // quoted upper layer
	off           int   // its offset in the quote
	inbound       bool  // outer destination and quoted source change; else outer source and quoted destination
	addr          net.IP
	port          uint16
}

func icmpErrorCases() []icmpErrorCase {
	// Inbound: an error from the client side about a reply the director
	// sent (quoted VIP:vport -> client:cport) goes to the real server,
	// with the VIP replaced by the real server throughout. Outbound: an
	// error from the real servers' side about a packet the director sent
	// there (quoted client:cport -> real:rport) goes to the client, the
	// real server replaced by VIP:vport and the outer source set to the
	// VIP.
	return []icmpErrorCase{
		{
			name:   "packet too big, whole TCP quote",
			before: icmpError6(ip6Router, ip6VIP, layers.ICMPv6TypePacketTooBig, 0, 1280, innerTCP6(ip6VIP, ip6Client, 80, 40000), 0, macClient, macLB),
			after:  icmpError6(ip6Router, ip6Real, layers.ICMPv6TypePacketTooBig, 0, 1280, innerTCP6(ip6Real, ip6Client, 8080, 40000), 0, macClient, macLB),
			typ:    header.ICMPv6PacketTooBig, body: 1280, proto: header.ProtocolTCP, off: 40, inbound: true, addr: ip6Real, port: 8080,
		},
		{
			name:   "port unreachable, whole UDP quote",
			before: icmpError6(ip6Client, ip6VIP, layers.ICMPv6TypeDestinationUnreachable, 4, 0, innerUDP6(ip6VIP, ip6Client, 53, 33000, false), 0, macClient, macLB),
			after:  icmpError6(ip6Client, ip6Real, layers.ICMPv6TypeDestinationUnreachable, 4, 0, innerUDP6(ip6Real, ip6Client, 5353, 33000, false), 0, macClient, macLB),
			typ:    header.ICMPv6DestinationUnreachable, proto: header.ProtocolUDP, off: 40, inbound: true, addr: ip6Real, port: 5353,
		},
		{
			name:   "time exceeded, TCP quote cut before the checksum",
			before: icmpError6(ip6Router, ip6Client, layers.ICMPv6TypeTimeExceeded, 0, 0, innerTCP6(ip6Client, ip6Real, 40000, 8080), 48, macReal, macLB),
			after:  icmpError6(ip6VIP, ip6Client, layers.ICMPv6TypeTimeExceeded, 0, 0, innerTCP6(ip6Client, ip6VIP, 40000, 80), 48, macReal, macLB),
			typ:    header.ICMPv6TimeExceeded, proto: header.ProtocolTCP, off: 40, addr: ip6VIP, port: 80,
		},
		{
			name:   "parameter problem, UDP quote after options, cut in the payload",
			before: icmpError6(ip6Real, ip6Client, layers.ICMPv6TypeParameterProblem, 1, 48, innerUDP6(ip6Client, ip6Real, 33000, 5353, true), 61, macReal, macLB),
			after:  icmpError6(ip6VIP, ip6Client, layers.ICMPv6TypeParameterProblem, 1, 48, innerUDP6(ip6Client, ip6VIP, 33000, 53, true), 61, macReal, macLB),
			typ:    header.ICMPv6ParameterProblem, body: 48, proto: header.ProtocolUDP, off: 48, addr: ip6VIP, port: 53,
		},
		{
			name:   "host unreachable, quoting an echo reply",
			before: icmpError6(ip6Router, ip6VIP, layers.ICMPv6TypeDestinationUnreachable, 3, 0, innerEcho6(ip6VIP, ip6Client), 0, macClient, macLB),
			after:  icmpError6(ip6Router, ip6Real, layers.ICMPv6TypeDestinationUnreachable, 3, 0, innerEcho6(ip6Real, ip6Client), 0, macClient, macLB),
			typ:    header.ICMPv6DestinationUnreachable, proto: header.ProtocolICMPv6, off: 40, inbound: true, addr: ip6Real, port: 1,
		},
	}
}

// TestICMPv6ErrorNAT rewrites ICMPv6 errors as NAT66 does and compares
// each result with gopacket's full build of the rewritten error, in which
// the quoted checksum is computed over the whole rewritten invoking packet
// and the ICMPv6 checksum over the rewritten quote.
func TestICMPv6ErrorNAT(t *testing.T) {
	for i, tc := range icmpErrorCases() {
		t.Run(tc.name, func(t *testing.T) {
			frame := serialize(t, tc.before...)
			if i == 0 {
				checkGolden(t, tc.name, goldenPacketTooBig, frame)
			}
			ip, proto, off, err := header.ParseIPv6(frame[header.EthernetSize:])
			if err != nil || proto != header.ProtocolICMPv6 {
				t.Fatalf("ParseIPv6 = %d, %d, %v", proto, off, err)
			}
			icmp := header.ICMPv6(ip[off:])
			if !header.TransportChecksumValidIPv6(proto, ip, icmp) {
				t.Fatal("ICMPv6 checksum from gopacket not accepted")
			}
			if icmp.Type() != tc.typ || !icmp.IsError() || icmp.MTU() != tc.body || icmp.Pointer() != tc.body {
				t.Fatalf("type %d, body %d", icmp.Type(), icmp.MTU())
			}
			inner, qproto, qoff, err := icmp.InvokingPacket()
			if err != nil || qproto != tc.proto || qoff != tc.off || len(inner) != len(icmp)-8 {
				t.Fatalf("InvokingPacket = %d bytes, %d, %d, %v", len(inner), qproto, qoff, err)
			}
			a := [16]byte(tc.addr.To16())
			if tc.inbound {
				ip.SetDestinationAddressWithChecksumUpdate(a, proto, icmp)
				icmp.SetInvokingSourceWithChecksumUpdate(qproto, qoff, a, tc.port)
			} else {
				ip.SetSourceAddressWithChecksumUpdate(a, proto, icmp)
				icmp.SetInvokingDestinationWithChecksumUpdate(qproto, qoff, a, tc.port)
			}
			checkGolden(t, tc.name+" after NAT", frame, serialize(t, tc.after...))
			if !header.TransportChecksumValidIPv6(proto, ip, icmp) {
				t.Fatal("ICMPv6 checksum not valid after NAT")
			}
		})
	}
}

func TestInvokingPacketErrors(t *testing.T) {
	quoted := innerUDP6(ip6VIP, ip6Client, 53, 33000, false)
	msg := func(typ uint8, q []byte) header.ICMPv6 {
		b := append([]byte{typ, 0, 0, 0, 0, 0, 0x05, 0x00}, q...)
		return header.ICMPv6(b)
	}
	with := func(f func(b []byte)) []byte {
		b := append([]byte(nil), quoted...)
		f(b)
		return b
	}
	for _, tc := range []struct {
		name string
		icmp header.ICMPv6
		err  error
	}{
		{"whole quote", msg(header.ICMPv6DestinationUnreachable, quoted), nil},
		{"8 bytes of UDP", msg(header.ICMPv6TimeExceeded, quoted[:48]), nil},
		{"7 bytes of UDP", msg(header.ICMPv6TimeExceeded, quoted[:47]), header.ErrTruncated},
		{"no upper layer", msg(header.ICMPv6TimeExceeded, quoted[:40]), header.ErrTruncated},
		{"fixed header cut", msg(header.ICMPv6PacketTooBig, quoted[:39]), header.ErrTruncated},
		{"nothing quoted", msg(header.ICMPv6ParameterProblem, nil), header.ErrTruncated},
		{"7 bytes", header.ICMPv6{1, 0, 0, 0, 0, 0, 0}, header.ErrTruncated},
		{"empty", header.ICMPv6{}, header.ErrTruncated},
		{"type 0", msg(0, quoted), header.ErrNotICMPv6Error},
		{"type 5", msg(5, quoted), header.ErrNotICMPv6Error},
		{"type 127", msg(127, quoted), header.ErrNotICMPv6Error},
		{"echo request", msg(header.ICMPv6EchoRequest, quoted), header.ErrNotICMPv6Error},
		{"neighbor solicitation", msg(header.ICMPv6NeighborSolicitation, quoted), header.ErrNotICMPv6Error},
		{"quoted IPv4", msg(header.ICMPv6DestinationUnreachable, with(func(b []byte) { b[0] = 0x45 })), header.ErrVersion},
		{"quoted fragment", msg(header.ICMPv6DestinationUnreachable, pkt6(frg, fragment(udp6, 0, true), l4stub)), header.ErrFragment},
		{"quoted ESP", msg(header.ICMPv6DestinationUnreachable, pkt6(header.ProtocolESP, l4stub)), header.ErrESP},
		{"quoted jumbogram", msg(header.ICMPv6PacketTooBig, with(func(b []byte) { b[4], b[5], b[6] = 0, 0, hbh })), header.ErrJumbogram},
		{"quoted chain cut", msg(header.ICMPv6PacketTooBig, pkt6(hbh, opts(udp6, 3), l4stub)[:60]), header.ErrTruncated},
		// The quoted payload length is not checked against the quote,
		// which is usually shorter.
		{"quoted payload length larger", msg(header.ICMPv6PacketTooBig, with(func(b []byte) { b[4], b[5] = 0x05, 0xc8 })), nil},
	} {
		inner, proto, off, err := tc.icmp.InvokingPacket()
		if err != tc.err {
			t.Errorf("%s: InvokingPacket error %v, want %v", tc.name, err, tc.err)
			continue
		}
		if err == nil && (inner == nil || proto != header.ProtocolUDP || off != 40 || !bytes.Equal(inner, tc.icmp[8:])) {
			t.Errorf("%s: InvokingPacket = %d bytes, %d, %d", tc.name, len(inner), proto, off)
		}
		if err != nil && inner != nil {
			t.Errorf("%s: a quote returned with an error", tc.name)
		}
	}
}

// TestICMPv6ErrorRewriteRandom quotes random packets (random extension
// headers, protocol, length, quote length), rewrites quote and outer
// header at random, and checks after every step that the ICMPv6 checksum
// is what a full recomputation gives and that the quote is exactly the
// start of the invoking packet rewritten in full with the IPv6 setters:
// so the quoted checksum, where quoted, is right for the whole packet.
func TestICMPv6ErrorRewriteRandom(t *testing.T) {
	r := newRand(t)
	protos := []uint8{header.ProtocolTCP, header.ProtocolUDP, header.ProtocolICMPv6}
	var cutTCP, wholeQuote, halfTCP int
	for i := 0; i < 6000; i++ {
		proto := protos[i%3]
		mode := csumNormal
		switch r.IntN(6) {
		case 0:
			mode = csumZeroCalc
		case 1:
			if proto == header.ProtocolUDP {
				mode = csumNone
			}
		}
		orig := randPacket6(r, proto, mode)
		full := orig.buf
		qlen := orig.off + 8 + r.IntN(len(full)-orig.off-8+1)
		if r.IntN(4) == 0 {
			qlen = len(full)
		}
		if qlen == len(full) {
			wholeQuote++
		}
		if proto == header.ProtocolTCP && qlen < orig.off+18 {
			cutTCP++
		}
		// The error: fixed header, ICMPv6 header, the quote.
		typ := uint8(1 + r.IntN(4))
		pkt := make([]byte, header.IPv6FixedHeaderSize+8+qlen)
		outer := header.IPv6(pkt)
		pkt[0], pkt[6], pkt[7] = 0x60, header.ProtocolICMPv6, 64
		binary.BigEndian.PutUint16(pkt[4:], uint16(8+qlen))
		osrc, odst := randAddr6(r), randAddr6(r)
		copy(pkt[8:], osrc[:])
		copy(pkt[24:], odst[:])
		icmp := header.ICMPv6(pkt[header.IPv6FixedHeaderSize:])
		icmp[0] = typ
		binary.BigEndian.PutUint32(icmp[4:], r.Uint32())
		copy(icmp[8:], full[:qlen])
		icmp.SetChecksum(refL4Checksum6(header.ProtocolICMPv6, osrc, odst, icmp))

		inner, qproto, qoff, err := icmp.InvokingPacket()
		if err != nil || qproto != proto || qoff != orig.off || len(inner) != qlen {
			t.Fatalf("error %d: InvokingPacket = %d bytes, %d, %d, %v; quoted %d at %d, %d bytes", i, len(inner), qproto, qoff, err, proto, orig.off, qlen)
		}
		fullIP := header.IPv6(full)
		check := func(step string) {
			t.Helper()
			if got, want := icmp.Checksum(), refL4Checksum6(header.ProtocolICMPv6, outer.SourceAddress(), outer.DestinationAddress(), icmp); got != want {
				t.Fatalf("error %d %s: ICMPv6 checksum %#04x, full recompute %#04x", i, step, got, want)
			}
			// A quote that ends in the middle of the TCP checksum keeps
			// the stale half: it cannot be updated without the other.
			cmp := qlen
			if proto == header.ProtocolTCP && qlen == qoff+17 {
				cmp--
				halfTCP++
			}
			if !bytes.Equal(inner[:cmp], full[:cmp]) {
				t.Fatalf("error %d %s: quote differs from the rewritten invoking packet", i, step)
			}
			if mode != csumNone && !header.TransportChecksumValidIPv6(proto, fullIP, orig.l4) {
				t.Fatalf("error %d %s: invoking packet's checksum not valid", i, step)
			}
		}
		check("as built")
		for s := 1 + r.IntN(4); s > 0; s-- {
			a, port := randAddr6(r), uint16(r.Uint32())
			if proto == header.ProtocolICMPv6 {
				port = 0
			}
			switch r.IntN(4) {
			case 0:
				icmp.SetInvokingSourceWithChecksumUpdate(qproto, qoff, a, port)
				fullIP.SetSourceAddressWithChecksumUpdate(a, proto, orig.l4)
				setPort6(proto, orig.l4, true, port)
			case 1:
				icmp.SetInvokingDestinationWithChecksumUpdate(qproto, qoff, a, port)
				fullIP.SetDestinationAddressWithChecksumUpdate(a, proto, orig.l4)
				setPort6(proto, orig.l4, false, port)
			case 2:
				outer.SetSourceAddressWithChecksumUpdate(a, header.ProtocolICMPv6, icmp)
			case 3:
				outer.SetDestinationAddressWithChecksumUpdate(a, header.ProtocolICMPv6, icmp)
			}
			check("rewrite")
		}
	}
	t.Logf("%d whole quotes, %d TCP quotes cut before the checksum, %d checks of quotes cut in it", wholeQuote, cutTCP, halfTCP)
	if wholeQuote == 0 || cutTCP == 0 || halfTCP == 0 {
		t.Fatal("an edge case was not exercised")
	}
}

// setPort6 sets a TCP or UDP port with the checksum-keeping setters.
func setPort6(proto uint8, l4 []byte, src bool, port uint16) {
	switch {
	case proto == header.ProtocolTCP && src:
		header.TCP(l4).SetSourcePortWithChecksumUpdate(port)
	case proto == header.ProtocolTCP:
		header.TCP(l4).SetDestinationPortWithChecksumUpdate(port)
	case proto == header.ProtocolUDP && src:
		header.UDP(l4).SetSourcePortWithChecksumUpdate(port)
	case proto == header.ProtocolUDP:
		header.UDP(l4).SetDestinationPortWithChecksumUpdate(port)
	}
}
