package connsync

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"
)

// FuzzDecode checks that Decode never panics, that every error it returns
// wraps exactly one sentinel and comes without a call to fn, and that
// whatever it accepts re-encodes to the same bytes.
func FuzzDecode(f *testing.F) {
	for _, g := range goldens {
		f.Add(g.wire)
	}
	f.Add(goldenV0)
	f.Add(msg(0))
	f.Add(msg(2, goldenIPv6[8:], rawV4(cat(seqOptRaw, peDataOpt, peNameOpt)...)))
	f.Add(msg(1, rawV4(OptFlagParam|4, 1, 0)))
	f.Fuzz(func(t *testing.T, data []byte) {
		var entries []Entry
		m, err := Decode(data, func(e Entry) { entries = append(entries, e) })
		if err != nil {
			if n := sentinels(err); n != 1 {
				t.Fatalf("err %v wraps %d sentinels", err, n)
			}
			if len(entries) != 0 {
				t.Fatalf("fn called %d times before %v", len(entries), err)
			}
			return
		}
		if len(entries) != int(m.NrConns) || int(m.Size) != len(data) {
			t.Fatalf("header %+v, %d entries, %d bytes", m, len(entries), len(data))
		}
		if h, err := ParseHeader(data); err != nil || h != m {
			t.Fatalf("ParseHeader %+v, %v; Decode %+v", h, err, m)
		}
		out, err := AppendMessage(nil, m.SyncID, entries)
		if err != nil {
			t.Fatalf("decoded entries do not encode: %v", err)
		}
		if !bytes.Equal(out, data) {
			t.Fatalf("re-encoded\n% x\nreceived\n% x", out, data)
		}
	})
}

// randEntry returns a random valid entry: either family, any field values,
// options present or not.
func randEntry(r *rand.Rand) Entry {
	e := Entry{
		Protocol: uint8(r.Uint32()),
		Flags:    r.Uint32(),
		State:    uint16(r.Uint32()),
		CPort:    uint16(r.Uint32()),
		VPort:    uint16(r.Uint32()),
		DPort:    uint16(r.Uint32()),
		FwMark:   r.Uint32(),
		Timeout:  r.Uint32(),
	}
	addr := func() netip.Addr {
		if r.IntN(2) == 0 {
			return netip.AddrFrom4([4]byte{198, 18 + byte(r.IntN(2)), byte(r.Uint32()), byte(r.Uint32())})
		}
		var a [16]byte
		a[0], a[1], a[3] = 0x20, 0x01, 0x02 // 2001:2::/48
		for i := 6; i < 16; i++ {
			a[i] = byte(r.Uint32())
		}
		return netip.AddrFrom16(a)
	}
	e.CAddr = addr()
	for {
		e.VAddr, e.DAddr = addr(), addr()
		if e.VAddr.Is6() == e.CAddr.Is6() && e.DAddr.Is6() == e.CAddr.Is6() {
			break
		}
	}
	if r.IntN(3) == 0 {
		e.HasSeq = true
		e.InSeq = Seq{r.Uint32(), r.Uint32(), r.Uint32()}
		e.OutSeq = Seq{r.Uint32(), r.Uint32(), r.Uint32()}
	}
	if r.IntN(3) == 0 {
		e.PEData = make([]byte, 1+r.IntN(PEDataMaxLen))
		for i := range e.PEData {
			e.PEData[i] = byte(r.Uint32())
		}
		if r.IntN(2) == 0 {
			e.PEName = "sip"
		} else if r.IntN(2) == 0 {
			name := make([]byte, 1+r.IntN(PENameMaxLen))
			for i := range name {
				name[i] = byte(r.Uint32())
			}
			e.PEName = string(name)
		}
	}
	return e
}

// TestRoundTripRandom encodes random entries as one message, and through
// builders of random maximum lengths, and decodes them back.
func TestRoundTripRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		entries := make([]Entry, r.IntN(120))
		for i := range entries {
			entries[i] = randEntry(r)
		}
		syncID := uint8(r.Uint32())

		wire, err := AppendMessage(nil, syncID, entries)
		if err != nil {
			t.Fatal(err)
		}
		var got []Entry
		m, err := Decode(wire, func(e Entry) { got = append(got, e) })
		if err != nil {
			t.Fatalf("decode of an encoded message: %v", err)
		}
		if m.SyncID != syncID || int(m.NrConns) != len(entries) || len(got) != len(entries) {
			t.Fatalf("header %+v for %d entries", m, len(entries))
		}
		for i := range got {
			if !reflect.DeepEqual(got[i], entries[i]) {
				t.Fatalf("entry %d\n%+v\nwant\n%+v", i, got[i], entries[i])
			}
		}

		maxLen := HeaderLen + r.IntN(3000)
		msgs := collect(t, maxLen, entries)
		got = got[:0]
		for j, mb := range msgs {
			m, err := Decode(mb, func(e Entry) { got = append(got, e) })
			if err != nil {
				t.Fatalf("builder message %d: %v", j, err)
			}
			if m.SyncID != 3 || m.NrConns == 0 {
				t.Fatalf("builder message %d: header %+v", j, m)
			}
			if len(mb) > maxLen && m.NrConns != 1 {
				t.Fatalf("builder message %d: %d bytes, %d entries, max %d", j, len(mb), m.NrConns, maxLen)
			}
			// The builder is greedy: the next message's first entry did
			// not fit this one.
			if j+1 < len(msgs) && m.NrConns < MaxEntries {
				var next Entry
				first := true
				_, _ = Decode(msgs[j+1], func(e Entry) {
					if first {
						next, first = e, false
					}
				})
				if align4(len(mb))+next.WireLen() <= maxLen {
					t.Fatalf("builder message %d: %d bytes, next entry of %d would have fit in %d", j, len(mb), next.WireLen(), maxLen)
				}
			}
		}
		if len(got) != len(entries) {
			t.Fatalf("builder: %d entries back of %d", len(got), len(entries))
		}
		for i := range got {
			if !reflect.DeepEqual(got[i], entries[i]) {
				t.Fatalf("builder entry %d differs", i)
			}
		}
	}
}

// TestDecodeMutations flips bytes of valid messages: each result either
// decodes and round-trips or fails with exactly one sentinel.
func TestDecodeMutations(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		entries := make([]Entry, 1+r.IntN(4))
		for i := range entries {
			entries[i] = randEntry(r)
		}
		wire, err := AppendMessage(nil, 1, entries)
		if err != nil {
			t.Fatal(err)
		}
		for range 1 + r.IntN(3) {
			wire[r.IntN(len(wire))] ^= byte(1 + r.IntN(255))
		}
		if r.IntN(4) == 0 {
			wire = wire[:r.IntN(len(wire))]
		}
		var got []Entry
		m, err := Decode(wire, func(e Entry) { got = append(got, e) })
		if err != nil {
			if sentinels(err) != 1 || len(got) != 0 {
				t.Fatalf("%v: %d sentinels, %d calls", err, sentinels(err), len(got))
			}
			continue
		}
		out, err := AppendMessage(nil, m.SyncID, got)
		if err != nil || !bytes.Equal(out, wire) {
			t.Fatalf("mutated message decoded but does not round-trip: %v", err)
		}
	}
}
