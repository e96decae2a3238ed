package vrrp

import (
	"bytes"
	"testing"
	"time"

	"github.com/xvs-project/xvs/internal/header"
)

// FuzzDecode feeds arbitrary bytes to the decoders. They must never panic,
// and whatever they accept must encode again and decode to the same
// advertisement (decode -> encode -> decode). data is tried as an IPv4
// datagram (ParseIPv4), as an Ethernet frame (ParseFrame) and as a bare
// VRRP message (Packet, Parse); bits 0 and 1 of opts set AnyTTL and
// V3ChecksumCompat.
func FuzzDecode(f *testing.F) {
	v3ip := goldenV3Frame[header.EthernetSize:]
	v2frame, _ := AppendAdvertFrame(nil, FrameParams{Src: srcAddr, Dst: MulticastGroup}, func() *Advert { a := goldenV2Advert(); return &a }())
	f.Add(v3ip, uint8(0))                           // golden VRRPv3 datagram
	f.Add(goldenV3Frame, uint8(0))                  // golden VRRPv3 frame
	f.Add(v2frame[header.EthernetSize:], uint8(0))  // golden VRRPv2 datagram
	f.Add(v2frame, uint8(3))                        // golden VRRPv2 frame
	f.Add(goldenV2, uint8(0))                       // bare VRRPv2 message
	f.Add(goldenV3Frame[34:50], uint8(0))           // bare VRRPv3 message
	f.Add([]byte{0x45, 0, 0, 20}, uint8(0))         // truncated IPv4
	f.Add([]byte{0x31, 0x33, 0x64, 0xff}, uint8(0)) // header claiming 255 addresses
	unicast := bytes.Clone(v3ip)
	unicast[8] = 1 // TTL 1, checksums left stale
	f.Add(unicast, uint8(1))
	noPseudo := bytes.Clone(goldenV3Frame)
	Packet(noPseudo[34:]).SetChecksum(0x559d) // VRRPv3 checksum without pseudo-header
	f.Add(noPseudo, uint8(2))

	f.Fuzz(func(t *testing.T, data []byte, flags uint8) {
		opts := &ParseOptions{AnyTTL: flags&1 != 0, V3ChecksumCompat: flags&2 != 0}

		// The view, used as documented: Validate first.
		p := Packet(data)
		if p.Validate() == nil {
			_ = p.Interval()
			_ = p.CalculateChecksum(srcAddr.As4(), MulticastGroup.As4())
			for i := range p.CountAddrs() {
				_ = p.Addr(i)
			}
			if p.Version() == 2 {
				_ = p.AuthData()
			}
		}

		if m, err := ParseIPv4(data, opts); err == nil {
			checkMessage(t, m, opts)
		}
		if m, err := ParseFrame(data, opts); err == nil {
			checkMessage(t, m, opts)
		}

		if a, err := Parse(data, srcAddr, MulticastGroup); err == nil {
			msg, err := a.Marshal(srcAddr, MulticastGroup)
			if err != nil {
				t.Fatalf("accepted advert %+v does not encode: %v", a, err)
			}
			b, err := Parse(msg, srcAddr, MulticastGroup)
			if err != nil {
				t.Fatalf("re-encoded advert does not parse: %v", err)
			}
			if !b.Equal(&a) {
				t.Fatalf("round trip %+v, want %+v", b, a)
			}
			// The encoding is the input, but for the reserved bits of
			// VRRPv3 and a checksum that may be either zero of ones'
			// complement arithmetic.
			in := bytes.Clone(data)
			if a.Version == 3 {
				in[offAuthType] &= 0x0f
			}
			in[offChecksum], in[offChecksum+1] = 0, 0
			out := bytes.Clone(msg)
			out[offChecksum], out[offChecksum+1] = 0, 0
			if !bytes.Equal(in, out) {
				t.Fatalf("re-encoded\n% x\nfrom\n% x", msg, data)
			}
		}
	})
}

// checkMessage re-encodes an accepted message as a frame and decodes it
// again, which must give the same message.
func checkMessage(t *testing.T, m Message, opts *ParseOptions) {
	t.Helper()
	if m.Advert.Interval <= 0 || m.Advert.Interval > 255*time.Second || len(m.Advert.Addrs) == 0 {
		t.Fatalf("accepted %+v", m.Advert)
	}
	if m.TTL != TTL && !opts.AnyTTL {
		t.Fatalf("accepted TTL %d", m.TTL)
	}
	frame, err := AppendAdvertFrame(nil, FrameParams{Src: m.Src, Dst: m.Dst, TTL: m.TTL}, &m.Advert)
	if err != nil {
		t.Fatalf("accepted message %+v does not encode: %v", m, err)
	}
	// Encoded with the standard checksum, it parses without compat.
	again, err := ParseFrame(frame, &ParseOptions{AnyTTL: true})
	if err != nil {
		t.Fatalf("re-encoded message does not parse: %v", err)
	}
	wantTTL := m.TTL
	if wantTTL == 0 {
		wantTTL = TTL
	}
	if again.Src != m.Src || again.Dst != m.Dst || again.TTL != wantTTL || !again.Advert.Equal(&m.Advert) {
		t.Fatalf("round trip %+v, want %+v", again, m)
	}
}
