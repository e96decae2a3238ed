package header_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xvs-project/xvs/internal/header"
)

// Builders of raw extension header chains, for the cases gopacket cannot
// serialize (Routing, Fragment, AH, ESP) or that are malformed on purpose.

// pkt6 returns an IPv6 packet from 2001:2::10 to 2001:2::1:1 whose fixed
// header names nh and is followed by parts; the payload length covers the
// parts.
func pkt6(nh uint8, parts ...[]byte) []byte {
	b := make([]byte, header.IPv6FixedHeaderSize)
	b[0], b[6], b[7] = 0x60, nh, 64
	src, dst := addr6("2001:2::10"), addr6("2001:2::1:1")
	copy(b[8:], src[:])
	copy(b[24:], dst[:])
	for _, p := range parts {
		b = append(b, p...)
	}
	binary.BigEndian.PutUint16(b[4:], uint16(len(b)-header.IPv6FixedHeaderSize))
	return b
}

// opts returns a Hop-by-Hop or Destination Options header naming nh, of
// (hdrExtLen+1)*8 bytes, its options one PadN filling it.
func opts(nh uint8, hdrExtLen int) []byte {
	h := make([]byte, (hdrExtLen+1)*8)
	h[0], h[1] = nh, byte(hdrExtLen)
	h[2], h[3] = 1, byte(len(h)-4) // PadN
	return h
}

// routing returns a Routing header of the given type and segments left,
// (hdrExtLen+1)*8 bytes long, with addresses of 2001:2::/48 as its
// segments.
func routing(nh uint8, hdrExtLen int, typ, segLeft uint8) []byte {
	h := make([]byte, (hdrExtLen+1)*8)
	h[0], h[1], h[2], h[3] = nh, byte(hdrExtLen), typ, segLeft
	for i := 8; i+16 <= len(h); i += 16 {
		a := addr6(fmt.Sprintf("2001:2::ff:%x", i))
		copy(h[i:], a[:])
	}
	return h
}

// fragment returns a Fragment header.
func fragment(nh uint8, offset uint16, more bool) []byte {
	h := []byte{nh, 0, 0, 0, 0x12, 0x34, 0x56, 0x78}
	v := offset << 3
	if more {
		v |= 1
	}
	binary.BigEndian.PutUint16(h[2:], v)
	return h
}

// ah returns an Authentication Header with a 12-byte ICV: 24 bytes,
// payload length field 4.
func ah(nh uint8) []byte {
	h := make([]byte, 24)
	h[0], h[1] = nh, 4
	binary.BigEndian.PutUint32(h[4:], 0x100) // SPI
	binary.BigEndian.PutUint32(h[8:], 1)     // sequence number
	return h
}

// l4stub is 20 bytes standing for an upper-layer header.
var l4stub = []byte{0x9c, 0x40, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xfa, 0xf0, 0, 0, 0, 0}

const (
	hbh  = header.ProtocolIPv6HopByHop
	dopt = header.ProtocolIPv6DestinationOptions
	rtg  = header.ProtocolIPv6Routing
	frg  = header.ProtocolIPv6Fragment
	tcp6 = header.ProtocolTCP
	udp6 = header.ProtocolUDP
	icmp = header.ProtocolICMPv6
)

type chainCase struct {
	name  string
	pkt   []byte
	proto uint8 // upper layer, or the header that ended the walk
	off   int
	err   error
}

func chainCases() []chainCase {
	many := func(n int, last uint8) []byte {
		var parts [][]byte
		for i := 0; i < n; i++ {
			nh := uint8(dopt)
			if i == n-1 {
				nh = last
			}
			parts = append(parts, opts(nh, 0))
		}
		return pkt6(dopt, append(parts, l4stub)...)
	}
	jumbo := pkt6(hbh, []byte{tcp6, 0, 0xc2, 4, 0, 1, 0, 0}, l4stub) // Jumbo Payload option
	binary.BigEndian.PutUint16(jumbo[4:], 0)
	longChain := many(100, tcp6)
	return []chainCase{
		{"no extension headers", pkt6(tcp6, l4stub), tcp6, 40, nil},
		{"hop-by-hop", pkt6(hbh, opts(udp6, 0), l4stub), udp6, 48, nil},
		{"hop-by-hop long", pkt6(hbh, opts(tcp6, 255), l4stub), tcp6, 40 + 2048, nil},
		{"destination options", pkt6(dopt, opts(icmp, 1), l4stub), icmp, 56, nil},
		{"routing, segments left 0", pkt6(rtg, routing(tcp6, 2, 0, 0), l4stub), tcp6, 64, nil},
		{"segment routing, segments left 0", pkt6(rtg, routing(udp6, 4, 4, 0), l4stub), udp6, 80, nil},
		{"RFC 8200 order", pkt6(hbh, opts(dopt, 0), opts(rtg, 1), routing(dopt, 2, 0, 0), opts(tcp6, 0), l4stub),
			tcp6, 40 + 8 + 16 + 24 + 8, nil},
		{"unknown upper layer", pkt6(dopt, opts(200, 0), l4stub), 200, 48, nil},
		{"VRRP", pkt6(header.ProtocolVRRP, l4stub), header.ProtocolVRRP, 40, nil},
		{"upper layer without bytes", pkt6(hbh, opts(tcp6, 0)), tcp6, 48, nil},
		{"8 headers", many(8, udp6), udp6, 40 + 64, nil},
		{"9 headers", many(9, udp6), dopt, 40 + 64, header.ErrTooManyExtensionHeaders},
		{"100 headers", longChain, dopt, 40 + 64, header.ErrTooManyExtensionHeaders},

		{"fragment", pkt6(frg, fragment(tcp6, 0, true), l4stub), frg, 40, header.ErrFragment},
		{"later fragment", pkt6(frg, fragment(tcp6, 185, false), l4stub), frg, 40, header.ErrFragment},
		{"atomic fragment", pkt6(frg, fragment(tcp6, 0, false), l4stub), frg, 40, header.ErrFragment},
		{"fragment after options", pkt6(hbh, opts(dopt, 0), opts(frg, 0), fragment(udp6, 0, true), l4stub), frg, 56, header.ErrFragment},
		{"ESP", pkt6(header.ProtocolESP, l4stub), header.ProtocolESP, 40, header.ErrESP},
		{"ESP after routing", pkt6(rtg, routing(header.ProtocolESP, 0, 4, 0), l4stub), header.ProtocolESP, 48, header.ErrESP},
		{"AH", pkt6(header.ProtocolAH, ah(tcp6), l4stub), header.ProtocolAH, 40, header.ErrAH},
		{"AH after options", pkt6(dopt, opts(header.ProtocolAH, 0), ah(tcp6), l4stub), header.ProtocolAH, 48, header.ErrAH},
		{"no next header", pkt6(header.ProtocolIPv6NoNextHeader, l4stub), 59, 40, header.ErrNoNextHeader},
		{"no next header after options", pkt6(hbh, opts(59, 0), l4stub), 59, 48, header.ErrNoNextHeader},
		{"empty, no next header", pkt6(59), 59, 40, header.ErrNoNextHeader},
		{"mobility", pkt6(dopt, opts(135, 0), l4stub), 135, 48, header.ErrUnknownNextHeader},
		{"HIP", pkt6(139, l4stub), 139, 40, header.ErrUnknownNextHeader},
		{"shim6", pkt6(140, l4stub), 140, 40, header.ErrUnknownNextHeader},
		{"experimental 253", pkt6(253, l4stub), 253, 40, header.ErrUnknownNextHeader},
		{"experimental 254", pkt6(254, l4stub), 254, 40, header.ErrUnknownNextHeader},
		{"routing, segments left 1", pkt6(rtg, routing(tcp6, 2, 0, 1), l4stub), rtg, 40, header.ErrRoutingHeader},
		{"segment routing, segments left 2", pkt6(hbh, opts(rtg, 0), routing(tcp6, 4, 4, 2), l4stub), rtg, 48, header.ErrRoutingHeader},
		{"hop-by-hop second", pkt6(dopt, opts(hbh, 0), opts(tcp6, 0), l4stub), hbh, 48, header.ErrHopByHopPosition},
		{"hop-by-hop twice", pkt6(hbh, opts(hbh, 0), opts(tcp6, 0), l4stub), hbh, 48, header.ErrHopByHopPosition},
		{"jumbogram", jumbo, hbh, 40, header.ErrJumbogram},
		{"length past the end", pkt6(dopt, []byte{tcp6, 0xff, 1, 4, 0, 0, 0, 0}, l4stub), dopt, 40, header.ErrTruncated},
		{"header cut short", pkt6(hbh, []byte{tcp6, 0, 1, 2}), hbh, 40, header.ErrTruncated},
		{"second header cut short", pkt6(hbh, opts(rtg, 0), routing(tcp6, 2, 0, 0)[:16]), rtg, 48, header.ErrTruncated},
		{"chain runs into the end", pkt6(dopt, opts(dopt, 0), opts(dopt, 0)), dopt, 56, header.ErrTruncated},
	}
}

// TestUpperLayerChains walks every chain, checks the result and that
// Reason labels the error, then walks every prefix of the packet: the
// walk must never read past the slice, and a prefix that cuts the chain
// must report ErrTruncated.
func TestUpperLayerChains(t *testing.T) {
	for _, tc := range chainCases() {
		t.Run(tc.name, func(t *testing.T) {
			proto, off, err := header.IPv6(tc.pkt).UpperLayer()
			if proto != tc.proto || off != tc.off || err != tc.err {
				t.Fatalf("UpperLayer = %d, %d, %v; want %d, %d, %v", proto, off, err, tc.proto, tc.off, tc.err)
			}
			if err != nil && (header.Reason(err) == "other" || header.Reason(err) == "") {
				t.Fatalf("Reason(%v) = %q", err, header.Reason(err))
			}
			ip, pproto, poff, perr := header.ParseIPv6(tc.pkt)
			if pproto != tc.proto || poff != tc.off || perr != tc.err || (perr == nil) != (ip != nil) {
				t.Fatalf("ParseIPv6 = %d, %d, %v; want %d, %d, %v", pproto, poff, perr, tc.proto, tc.off, tc.err)
			}
			if perr == nil && len(ip) != len(tc.pkt) {
				t.Fatalf("ParseIPv6 cut the packet to %d bytes of %d", len(ip), len(tc.pkt))
			}
			for n := 0; n < len(tc.pkt); n++ {
				// A copy of exactly n bytes, so that the race detector
				// and the bounds checks see any read past it.
				b := append([]byte(nil), tc.pkt[:n]...)
				proto, off, err := header.IPv6(b).UpperLayer()
				if err == nil && off > n {
					t.Fatalf("prefix %d: offset %d past the end", n, off)
				}
				switch {
				case n < header.IPv6FixedHeaderSize:
					if err != header.ErrTruncated {
						t.Fatalf("prefix %d: %v, want ErrTruncated", n, err)
					}
				case tc.err == nil && n < tc.off:
					if err != header.ErrTruncated {
						t.Fatalf("prefix %d of a chain to offset %d: %d, %d, %v", n, tc.off, proto, off, err)
					}
				case tc.err == nil:
					if err != nil || proto != tc.proto || off != tc.off {
						t.Fatalf("prefix %d: %d, %d, %v", n, proto, off, err)
					}
				}
				// ParseIPv6 compares with the payload length: every
				// prefix of a packet is truncated.
				if _, _, _, err := header.ParseIPv6(b); err != header.ErrTruncated && !(n >= 40 && err == header.ErrJumbogram) {
					t.Fatalf("ParseIPv6 of prefix %d: %v, want ErrTruncated", n, err)
				}
			}
		})
	}
}

// TestUpperLayerMatchesGopacket decodes the valid chains that gopacket
// understands and checks that it finds the upper layer where UpperLayer
// does.
func TestUpperLayerMatchesGopacket(t *testing.T) {
	checked := 0
	for _, tc := range chainCases() {
		if tc.err != nil || (tc.proto != tcp6 && tc.proto != udp6) || len(tc.pkt) == tc.off {
			continue
		}
		if bytes.Contains([]byte(tc.name), []byte("segment routing")) {
			continue // gopacket decodes routing type 0 only
		}
		p := gopacket.NewPacket(tc.pkt, layers.LayerTypeIPv6, gopacket.Default)
		tl := p.TransportLayer()
		if tl == nil {
			t.Fatalf("%s: gopacket finds no transport layer: %v", tc.name, p.ErrorLayer())
		}
		got := append(append([]byte(nil), tl.LayerContents()...), tl.LayerPayload()...)
		if !bytes.Equal(got, tc.pkt[tc.off:]) {
			t.Fatalf("%s: gopacket's transport layer is not at offset %d", tc.name, tc.off)
		}
		checked++
	}
	if checked < 5 {
		t.Fatalf("only %d chains checked against gopacket", checked)
	}
}

func TestParseIPv6(t *testing.T) {
	p := pkt6(hbh, opts(tcp6, 0), l4stub)
	// An Ethernet trailer after the packet is cut off.
	withTrailer := append(append([]byte(nil), p...), 0xee, 0xee, 0xee, 0xee)
	ip, proto, off, err := header.ParseIPv6(withTrailer)
	if err != nil || proto != tcp6 || off != 48 || len(ip) != len(p) {
		t.Fatalf("with trailer: %d bytes, %d, %d, %v", len(ip), proto, off, err)
	}
	v4 := append([]byte(nil), p...)
	v4[0] = 0x45
	if _, _, _, err := header.ParseIPv6(v4); err != header.ErrVersion {
		t.Fatalf("version 4: %v", err)
	}
	long := append([]byte(nil), p...)
	binary.BigEndian.PutUint16(long[4:], uint16(len(p)-40+1))
	if _, _, _, err := header.ParseIPv6(long); err != header.ErrTruncated {
		t.Fatalf("payload length past the end: %v", err)
	}
	// The payload length delimits the walk: a chain that fits the slice
	// but not the payload length is truncated.
	short := append([]byte(nil), p...)
	binary.BigEndian.PutUint16(short[4:], 4)
	if _, proto, off, err := header.ParseIPv6(short); err != header.ErrTruncated || proto != hbh || off != 40 {
		t.Fatalf("payload length inside the chain: %d, %d, %v", proto, off, err)
	}
	// Payload length 0 without Hop-by-Hop is an empty packet, not a
	// jumbogram: the upper layer has no bytes, which the caller sees.
	empty := pkt6(tcp6)
	if ip, proto, off, err := header.ParseIPv6(append(empty, l4stub...)); err != nil || proto != tcp6 || off != 40 || len(ip) != 40 {
		t.Fatalf("payload length 0: %d bytes, %d, %d, %v", len(ip), proto, off, err)
	}
	for n := 0; n < header.IPv6FixedHeaderSize; n++ {
		if _, _, _, err := header.ParseIPv6(make([]byte, n)); err != header.ErrTruncated {
			t.Fatalf("%d bytes: %v", n, err)
		}
	}
}

func TestReason(t *testing.T) {
	all := []error{
		header.ErrTruncated, header.ErrVersion, header.ErrJumbogram, header.ErrHopByHopPosition,
		header.ErrRoutingHeader, header.ErrFragment, header.ErrESP, header.ErrAH, header.ErrNoNextHeader,
		header.ErrUnknownNextHeader, header.ErrTooManyExtensionHeaders, header.ErrNotICMPv6Error,
		header.ErrNotNeighborSolicitation, header.ErrNeighborDiscovery, header.ErrChecksum, header.ErrNoRoom,
	}
	seen := map[string]bool{}
	for _, err := range all {
		l := header.Reason(err)
		if l == "" || l == "other" || seen[l] {
			t.Errorf("Reason(%v) = %q", err, l)
		}
		seen[l] = true
		if w := header.Reason(fmt.Errorf("frame 7: %w", err)); w != l {
			t.Errorf("Reason of wrapped %v = %q, want %q", err, w, l)
		}
	}
	if header.Reason(nil) != "" || header.Reason(errors.New("x")) != "other" {
		t.Error("Reason of nil or an unknown error")
	}
	if header.Reason(header.ErrFragment) != "fragment" || header.Reason(header.ErrTruncated) != "truncated" {
		t.Error("labels changed")
	}
}
