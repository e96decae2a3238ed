package connsync

import (
	"encoding/binary"
	"errors"
	"testing"
)

// msg lays out a version 1 message by hand: a header claiming nr entries
// (and a size equal to the result's length) followed by the raw entries,
// each after zero padding to a 4-byte boundary.
func msg(nr byte, entries ...[]byte) []byte {
	b := []byte{0, 5, 0, 0, nr, 1, 0, 0}
	for i, e := range entries {
		if i > 0 {
			for len(b)%4 != 0 {
				b = append(b, 0)
			}
		}
		b = append(b, e...)
	}
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	return b
}

// sized sets the header's size field of b to its length.
func sized(b []byte) []byte {
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	return b
}

// rawV4 is the 36-byte IPv4 entry of goldenNAT followed by opts, with its
// size field set to cover them.
func rawV4(opts ...byte) []byte {
	e := append(append([]byte(nil), goldenNAT[8:44]...), opts...)
	binary.BigEndian.PutUint16(e[2:], uint16(len(e)))
	return e
}

// withSize returns e with its version/size word set to vs.
func withSize(e []byte, vs uint16) []byte {
	binary.BigEndian.PutUint16(e[2:], vs)
	return e
}

// with returns a copy of b with b[i] set to v.
func with(b []byte, i int, v byte) []byte {
	c := append([]byte(nil), b...)
	c[i] = v
	return c
}

var seqOptRaw = append([]byte{OptSeqData, SeqOptionLen}, make([]byte, SeqOptionLen)...)
var peDataOpt = []byte{OptPEData, 2, 'a', 'b'}
var peNameOpt = []byte{OptPEName, 3, 's', 'i', 'p'}

func cat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

func TestDecodeRejects(t *testing.T) {
	ipv6As36 := withSize(append([]byte(nil), goldenIPv6[8:44]...), EntryV4Len)
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"7 bytes", goldenNAT[:7], ErrTruncated},
		{"datagram cut short", goldenNAT[:40], ErrBadSize},
		{"size field too small", with(goldenNAT, 3, 0x2b), ErrBadSize},
		{"size field too large", with(goldenNAT, 3, 0x2d), ErrBadSize},
		{"extra byte received", append(append([]byte(nil), goldenNAT...), 0), ErrBadSize},
		{"version 0 message", goldenV0, ErrVersion0},
		{"version 0 in a v1 header", with(goldenNAT, 5, 0), ErrVersion0},
		{"version 2", with(goldenNAT, 5, 2), ErrVersion},
		{"version -1", with(goldenNAT, 5, 0xff), ErrVersion},
		{"reserved byte", with(goldenNAT, 0, 1), ErrReserved},
		{"spare high", with(goldenNAT, 6, 1), ErrReserved},
		{"spare low", with(goldenNAT, 7, 1), ErrReserved},
		{"nr_conns 0 with an entry", with(goldenNAT, 4, 0), ErrCount},
		{"nr_conns 2 with one entry", with(goldenNAT, 4, 2), ErrCount},
		{"nr_conns 3 with two entries", with(goldenPE, 4, 3), ErrCount},
		{"nr_conns 1 with two entries", with(goldenPE, 4, 1), ErrCount},
		{"trailing padding", msg(1, rawV4(), []byte{0, 0, 0, 0}), ErrCount},
		{"entry shorter than 36 bytes", msg(1, goldenNAT[8:40]), ErrEntryOverrun},
		{"entry size past the end", msg(1, withSize(rawV4(), 37)), ErrEntryOverrun},
		{"padding past the end", sized(cat(msg(2, rawV4(OptPEData, 3, 'a', 'b', 'c')), []byte{0})), ErrEntryOverrun},
		{"second entry short", msg(2, rawV4(), goldenNAT[8:43]), ErrEntryOverrun},
		{"ipv6 entry in 36 bytes", msg(1, withSize(append([]byte(nil), goldenIPv6[8:44]...), EntryV6Len)), ErrEntryOverrun},
		{"entry version 1", msg(1, withSize(rawV4(), 1<<12|EntryV4Len)), ErrEntryVersion},
		{"entry version 15", msg(1, withSize(rawV4(), 0xf000|EntryV4Len)), ErrEntryVersion},
		{"entry type 2", msg(1, with(rawV4(), 0, 2)), ErrEntryType},
		{"entry type 3", msg(1, with(rawV4(), 0, 3)), ErrEntryType},
		{"entry type 0x80", msg(1, with(rawV4(), 0, 0x80)), ErrEntryType},
		{"ipv4 entry size 35", msg(1, append(withSize(rawV4(), 35), 0)), ErrEntrySize},
		{"entry size 0", msg(1, withSize(rawV4(), 0)), ErrEntrySize},
		{"ipv6 entry size 36", msg(1, ipv6As36), ErrEntrySize},
		{"ipv6 entry size 71", msg(1, withSize(append([]byte(nil), goldenIPv6[8:80]...), 71)), ErrEntrySize},
		{"option header cut", msg(1, rawV4(OptPEData)), ErrBadOption},
		{"option length 0", msg(1, rawV4(OptPEData, 0)), ErrBadOption},
		{"option past the entry", msg(1, rawV4(OptPEData, 3, 'a', 'b')), ErrBadOption},
		{"option past the entry into the next", msg(2, withSize(rawV4(OptPEData, 3, 'a', 'b'), 40), rawV4()), ErrBadOption},
		{"seq option of 23", msg(1, rawV4(cat([]byte{OptSeqData, 23}, make([]byte, 23))...)), ErrBadOption},
		{"seq option of 25", msg(1, rawV4(cat([]byte{OptSeqData, 25}, make([]byte, 25))...)), ErrBadOption},
		{"pe name of 17", msg(1, rawV4(cat(peDataOpt, []byte{OptPEName, 17}, make([]byte, 17))...)), ErrBadOption},
		{"byte after the options", msg(1, rawV4(cat(peDataOpt, []byte{0})...)), ErrBadOption},
		{"unknown option 4", msg(1, rawV4(4, 1, 0)), ErrUnknownOption},
		{"unknown option 0", msg(1, rawV4(0, 1, 0)), ErrUnknownOption},
		{"unknown optional option", msg(1, rawV4(OptFlagParam|4, 1, 0)), ErrUnknownOption},
		{"duplicate seq", msg(1, rawV4(cat(seqOptRaw, seqOptRaw)...)), ErrDuplicateOption},
		{"duplicate pe data", msg(1, rawV4(cat(peDataOpt, peDataOpt)...)), ErrDuplicateOption},
		{"duplicate pe name", msg(1, rawV4(cat(peDataOpt, peNameOpt, peNameOpt)...)), ErrDuplicateOption},
		{"seq after pe data", msg(1, rawV4(cat(peDataOpt, seqOptRaw)...)), ErrNonCanonical},
		{"pe data after pe name", msg(1, rawV4(cat(peNameOpt, peDataOpt)...)), ErrNonCanonical},
		{"pe name alone", msg(1, rawV4(peNameOpt...)), ErrNonCanonical},
		{"pe data marked optional", msg(1, rawV4(OptFlagParam|OptPEData, 2, 'a', 'b')), ErrNonCanonical},
		{"seq marked optional", msg(1, rawV4(cat([]byte{OptFlagParam | OptSeqData, SeqOptionLen}, make([]byte, SeqOptionLen))...)), ErrNonCanonical},
		{"non-zero padding", with(goldenPE, 8+61, 1), ErrNonCanonical},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(tt.in, func(Entry) { t.Error("fn called for a rejected message") })
			if !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			if n := sentinels(err); n != 1 {
				t.Errorf("err %v wraps %d sentinels, want 1", err, n)
			}
			if Reason(err) == "other" || Reason(err) == "" {
				t.Errorf("Reason(%v) = %q", err, Reason(err))
			}
		})
	}
}

// sentinels counts the decoding sentinels err wraps.
func sentinels(err error) int {
	n := 0
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			n++
		}
	}
	return n
}

func TestDecodeAccepts(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
	}{
		{"no entries", msg(0)},
		{"seq, pe data, pe name", msg(1, rawV4(cat(seqOptRaw, peDataOpt, peNameOpt)...))},
		{"pe data without name", msg(1, rawV4(peDataOpt...))},
		{"pe data of 255 bytes", msg(1, rawV4(cat([]byte{OptPEData, 255}, make([]byte, 255))...))},
		{"pe name of 16 bytes", msg(1, rawV4(cat(peDataOpt, []byte{OptPEName, 16}, []byte("0123456789abcdef"))...))},
		{"ipv4 after ipv6", msg(2, goldenIPv6[8:], rawV4())},
		{"ipv4-mapped ipv6", msg(1, cat(goldenIPv6[8:32], []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 18, 0, 1}, goldenIPv6[48:]))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var entries []Entry
			m, err := Decode(tt.in, func(e Entry) { entries = append(entries, e) })
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != int(m.NrConns) {
				t.Fatalf("%d entries, nr_conns %d", len(entries), m.NrConns)
			}
			out, err := AppendMessage(nil, m.SyncID, entries)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != string(tt.in) {
				t.Fatalf("re-encoded\n% x\nwant\n% x", out, tt.in)
			}
		})
	}
}

// TestDecodeAllOrNothing checks that fn sees no entry of a message whose
// later entry is bad.
func TestDecodeAllOrNothing(t *testing.T) {
	bad := with(goldenPE, 72, 2) // the second entry's type
	calls := 0
	m, err := Decode(bad, func(Entry) { calls++ })
	if !errors.Is(err, ErrEntryType) || calls != 0 {
		t.Fatalf("err %v, %d calls; want ErrEntryType and none", err, calls)
	}
	if m.NrConns != 2 || m.SyncID != 5 {
		t.Errorf("header %+v not returned with the error", m)
	}
	// A nil fn only validates.
	if _, err := Decode(goldenPE, nil); err != nil {
		t.Fatal(err)
	}
}

func TestParseHeader(t *testing.T) {
	m, err := ParseHeader(goldenTemplate)
	if err != nil || m.SyncID != 7 || m.NrConns != 1 || m.Size != 44 {
		t.Fatalf("%+v, %v", m, err)
	}
	m, err = ParseHeader(with(goldenTemplate, 3, 0))
	if !errors.Is(err, ErrBadSize) || m.SyncID != 7 {
		t.Fatalf("%+v, %v: want the syncid with ErrBadSize", m, err)
	}
}

func TestReason(t *testing.T) {
	if Reason(nil) != "" || Reason(errors.New("x")) != "other" {
		t.Error("nil or foreign error")
	}
	seen := map[string]bool{}
	for _, r := range reasons {
		if seen[r.label] {
			t.Errorf("label %q twice", r.label)
		}
		seen[r.label] = true
		if got := Reason(r.err); got != r.label {
			t.Errorf("Reason(%v) = %q, want %q", r.err, got, r.label)
		}
	}
}
