package header_test

import (
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
