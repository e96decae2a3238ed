package nat

import (
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/xvs-project/xvs/internal/header"
)

// icmpError builds an ICMP error frame from src to dst quoting the IPv4
// packet of quoted (an Ethernet frame), cut to quoteLen bytes (0: whole).
func icmpError(t *testing.T, src, dst [4]byte, typ, code uint8, quoted []byte, quoteLen int) []byte {
	t.Helper()
	q := quoted[header.EthernetSize:]
	if quoteLen > 0 && quoteLen < len(q) {
		q = q[:quoteLen]
	}
	eth := &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: net.IP(src[:]), DstIP: net.IP(dst[:])}
	icmp := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, code)}
	if typ == 3 && code == 4 {
		icmp.Seq = 1400 // next-hop MTU in the low 16 bits of the rest of header
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, icmp, gopacket.Payload(q)); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// checkICMP verifies every checksum of a rewritten ICMP error: outer IPv4,
// ICMP, quoted IPv4, and the quoted transport checksum when the whole
// packet is quoted; it returns the quoted packet.
func checkICMP(t *testing.T, frame []byte, wholeQuote bool) header.IPv4 {
	t.Helper()
	ip := header.IPv4(frame[header.EthernetSize:])
	if !ip.IsChecksumValid() {
		t.Fatal("outer IPv4 checksum invalid")
	}
	icmp := []byte(ip[ip.HeaderLength():ip.TotalLength()])
	if !header.TransportChecksumValid(header.ProtocolICMP, ip, icmp) {
		t.Fatal("ICMP checksum invalid")
	}
	inner := header.IPv4(icmp[header.ICMPv4MinimumSize:])
	if !inner.IsChecksumValid() {
		t.Fatal("quoted IPv4 checksum invalid")
	}
	if wholeQuote {
		l4 := []byte(inner[inner.HeaderLength():inner.TotalLength()])
		if !header.TransportChecksumValid(inner.Protocol(), inner, l4) {
			t.Fatal("quoted transport checksum invalid")
		}
	}
	return inner
}

func TestICMPFragNeededFromRealServer(t *testing.T) {
	for _, tc := range []struct {
		desc     string
		udp      bool
		quoteLen int
	}{
		{"TCP, whole packet quoted", false, 0},
		{"TCP, 8 bytes of segment quoted", false, 28},
		{"UDP, whole datagram quoted", true, 0},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			e := newEngine(t, 1)
			syn := pkt{src: client, dst: vip, sport: 40000, dport: 80, udp: tc.udp, syn: !tc.udp, payload: make([]byte, 100)}.build(t)
			if r := e.Inbound(syn, 0); r.Drop != DropNone {
				t.Fatal(r.Drop)
			}
			// syn is now client → rs[0]:8080, as the real server's side
			// saw it; a router or the server answers frag-needed.
			f := icmpError(t, rs[0], client, 3, 4, syn, tc.quoteLen)
			r := e.Outbound(f, 0)
			if r.Drop != DropNone {
				t.Fatalf("dropped: %v", r.Drop)
			}
			if r.NextHop != client {
				t.Fatalf("next hop %v", r.NextHop)
			}
			inner := checkICMP(t, f, tc.quoteLen == 0)
			ip := header.IPv4(f[header.EthernetSize:])
			if ip.SourceAddress() != vip {
				t.Fatalf("outer source %v, want the VIP", ip.SourceAddress())
			}
			if inner.DestinationAddress() != vip || inner.SourceAddress() != client {
				t.Fatalf("quoted %v → %v, want client → VIP", inner.SourceAddress(), inner.DestinationAddress())
			}
			if _, dport := quotedPorts(inner); dport != 80 {
				t.Fatalf("quoted destination port %d, want 80", dport)
			}
			if mtu := uint16(f[header.EthernetSize+20+6])<<8 | uint16(f[header.EthernetSize+20+7]); mtu != 1400 {
				t.Fatalf("next-hop MTU %d, want 1400 kept", mtu)
			}
		})
	}
}

func TestICMPTimeExceededFromClientSide(t *testing.T) {
	e := newEngine(t, 1)
	syn := pkt{src: client, dst: vip, sport: 40001, dport: 80, syn: true}.build(t)
	e.Inbound(syn, 0)
	reply := pkt{src: rs[0], dst: client, sport: 8080, dport: 40001, syn: true, ack: true}.build(t)
	if r := e.Outbound(reply, 0); r.Drop != DropNone {
		t.Fatal(r.Drop)
	}
	// reply now reads VIP:80 → client; a router on the client side
	// reports it expired, to the VIP.
	router := [4]byte{198, 18, 0, 254}
	f := icmpError(t, router, vip, 11, 0, reply, 0)
	r := e.Inbound(f, 0)
	if r.Drop != DropNone {
		t.Fatalf("dropped: %v", r.Drop)
	}
	if r.NextHop != rs[0] {
		t.Fatalf("next hop %v, want the real server", r.NextHop)
	}
	inner := checkICMP(t, f, true)
	ip := header.IPv4(f[header.EthernetSize:])
	if ip.DestinationAddress() != rs[0] || ip.SourceAddress() != router {
		t.Fatalf("outer %v → %v", ip.SourceAddress(), ip.DestinationAddress())
	}
	if inner.SourceAddress() != rs[0] {
		t.Fatalf("quoted source %v, want the real server", inner.SourceAddress())
	}
	if sport, _ := quotedPorts(inner); sport != 8080 {
		t.Fatalf("quoted source port %d, want 8080", sport)
	}
}

func TestICMPNotForwarded(t *testing.T) {
	e := newEngine(t, 1)
	syn := pkt{src: client, dst: vip, sport: 40002, dport: 80, syn: true}.build(t)
	e.Inbound(append([]byte(nil), syn...), 0)
	unknown := pkt{src: client, dst: vip, sport: 1, dport: 80, syn: true}.build(t)
	for _, tc := range []struct {
		desc  string
		frame []byte
		out   bool
		want  Drop
	}{
		{"echo request to the VIP", func() []byte {
			f := icmpError(t, client, vip, 8, 0, syn, 0)
			return f
		}(), false, DropProtocol},
		{"error about no known flow", icmpError(t, rs[0], client, 3, 4, unknown, 0), true, DropNoConnection},
		{"error quoting too little", icmpError(t, rs[0], client, 3, 4, syn, 24), true, DropTruncated},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			var r Result
			if tc.out {
				r = e.Outbound(tc.frame, 0)
			} else {
				r = e.Inbound(tc.frame, 0)
			}
			if r.Drop != tc.want {
				t.Fatalf("got %v, want %v", r.Drop, tc.want)
			}
		})
	}
	bad := icmpError(t, rs[0], client, 3, 4, syn, 0)
	bad[len(bad)-1] ^= 0xff
	if r := e.Outbound(bad, 0); r.Drop != DropBadL4Checksum {
		t.Fatalf("bad ICMP checksum: %v", r.Drop)
	}
}
