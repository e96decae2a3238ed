package connsync

import (
	"errors"
	"net/netip"
	"reflect"
	"testing"
)

func TestMaxLen(t *testing.T) {
	for _, tt := range []struct{ mtu, v4, v6 int }{
		{1500, 1472, 1452},
		{9000, 8972, 8952},
		{1280, 1252, 1232},
		{0, 40, 1232},
		{100000, 65507, 65487},
	} {
		if got := MaxLen(tt.mtu); got != tt.v4 {
			t.Errorf("MaxLen(%d) = %d, want %d", tt.mtu, got, tt.v4)
		}
		if got := MaxLenIPv6(tt.mtu); got != tt.v6 {
			t.Errorf("MaxLenIPv6(%d) = %d, want %d", tt.mtu, got, tt.v6)
		}
	}
	if DefaultMaxLen != MaxLen(1500) {
		t.Errorf("DefaultMaxLen %d", DefaultMaxLen)
	}
	if MaxEntryLen != 373 {
		t.Errorf("MaxEntryLen %d", MaxEntryLen)
	}
}

func TestAppendMessageErrors(t *testing.T) {
	ok := goldenNATEntries[0]
	v6 := goldenIPv6Entries[0]
	mixed := ok
	mixed.DAddr = v6.DAddr
	zoned := v6
	zoned.CAddr = zoned.CAddr.WithZone("eth0")
	noAddr := ok
	noAddr.VAddr = netip.Addr{}
	longData := ok
	longData.PEData = make([]byte, 256)
	longName := ok
	longName.PEData, longName.PEName = []byte{1}, "0123456789abcdefg"
	nameOnly := ok
	nameOnly.PEName = "sip"
	for _, tt := range []struct {
		name    string
		entries []Entry
		want    error
	}{
		{"mixed families", []Entry{ok, mixed}, ErrInvalidEntry},
		{"zone", []Entry{zoned}, ErrInvalidEntry},
		{"no address", []Entry{noAddr}, ErrInvalidEntry},
		{"zero entry", []Entry{{}}, ErrInvalidEntry},
		{"pe data too long", []Entry{longData}, ErrInvalidEntry},
		{"pe name too long", []Entry{longName}, ErrInvalidEntry},
		{"pe name without data", []Entry{nameOnly}, ErrInvalidEntry},
		{"256 entries", make([]Entry, 256), ErrTooManyEntries},
		{"over 65535 bytes", fill(full(), 200), ErrMessageTooLong},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dst := []byte{1, 2, 3}
			out, err := AppendMessage(dst, 1, tt.entries)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			if len(out) != 3 {
				t.Errorf("dst changed on error")
			}
			if len(tt.entries) == 1 {
				if err := NewBuilder(1, DefaultMaxLen).Add(&tt.entries[0]); !errors.Is(err, tt.want) {
					t.Errorf("Builder.Add: %v, want %v", err, tt.want)
				}
			}
		})
	}
}

// full is the longest entry there is.
func full() Entry {
	e := goldenIPv6Entries[0]
	e.HasSeq = true
	e.PEData = make([]byte, PEDataMaxLen)
	e.PEName = "0123456789abcdef"
	return e
}

func fill(e Entry, n int) []Entry {
	s := make([]Entry, n)
	for i := range s {
		s[i] = e
		s[i].CPort = uint16(i)
	}
	return s
}

func TestFullEntry(t *testing.T) {
	e := full()
	if e.WireLen() != MaxEntryLen {
		t.Fatalf("WireLen %d, want %d", e.WireLen(), MaxEntryLen)
	}
	b, err := AppendMessage(nil, 9, []Entry{e, e})
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != HeaderLen+376+MaxEntryLen {
		t.Fatalf("len %d", len(b))
	}
	var got []Entry
	if _, err := Decode(b, func(e Entry) { got = append(got, e) }); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, []Entry{e, e}) {
		t.Fatal("round trip differs")
	}
}

// collect runs entries through a builder of maxLen and returns the
// messages, copied.
func collect(t testing.TB, maxLen int, entries []Entry) [][]byte {
	t.Helper()
	b := NewBuilder(3, maxLen)
	var msgs [][]byte
	flush := func(m []byte) error {
		msgs = append(msgs, append([]byte(nil), m...))
		return nil
	}
	for i := range entries {
		if err := b.AddFlush(&entries[i], flush); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Flush(flush); err != nil {
		t.Fatal(err)
	}
	if b.Count() != 0 || b.Bytes() != nil || b.Len() != HeaderLen {
		t.Fatal("builder not empty after Flush")
	}
	return msgs
}

func TestBuilderSplits(t *testing.T) {
	e := goldenNATEntries[0]
	// 1472 bytes hold the header and 40 entries of 36 bytes (1448 bytes).
	msgs := collect(t, DefaultMaxLen, fill(e, 100))
	if len(msgs) != 3 || len(msgs[0]) != 1448 || len(msgs[1]) != 1448 || len(msgs[2]) != 8+20*36 {
		t.Fatalf("%d messages of %d, %d, ...", len(msgs), len(msgs[0]), len(msgs[1]))
	}
	// At most 255 entries, however long the message may be.
	msgs = collect(t, MaxMessageLen, fill(e, 300))
	if len(msgs) != 2 || msgs[0][4] != 255 || msgs[1][4] != 45 {
		t.Fatalf("%d messages", len(msgs))
	}
	// An entry longer than the maximum gets a message of its own.
	msgs = collect(t, 100, []Entry{e, full(), e, e})
	if len(msgs) != 3 || len(msgs[1]) != HeaderLen+MaxEntryLen || msgs[2][4] != 2 {
		t.Fatalf("%d messages", len(msgs))
	}
	// Padding counts against the maximum: 8 + 61 + 3 + 36 = 108.
	pe := goldenPEEntries
	if msgs := collect(t, 108, pe); len(msgs) != 1 {
		t.Fatalf("108: %d messages", len(msgs))
	}
	if msgs := collect(t, 107, pe); len(msgs) != 2 {
		t.Fatalf("107: %d messages", len(msgs))
	}
}

func TestBuilderAddFull(t *testing.T) {
	e := goldenNATEntries[0]
	b := NewBuilder(1, HeaderLen+EntryV4Len)
	if b.MaxLen() != 44 || b.SyncID() != 1 {
		t.Fatal(b.MaxLen(), b.SyncID())
	}
	if err := b.Add(&e); err != nil {
		t.Fatal(err)
	}
	if err := b.Add(&e); !errors.Is(err, ErrFull) {
		t.Fatalf("second Add: %v, want ErrFull", err)
	}
	if b.Count() != 1 || b.Len() != 44 {
		t.Fatal("ErrFull changed the message")
	}
	// A failing flush keeps the message and does not add.
	boom := errors.New("boom")
	if err := b.AddFlush(&e, func([]byte) error { return boom }); err != boom {
		t.Fatalf("AddFlush: %v", err)
	}
	if err := b.Flush(func([]byte) error { return boom }); err != boom {
		t.Fatalf("Flush: %v", err)
	}
	if b.Count() != 1 {
		t.Fatal("failed flush lost the message")
	}
	b.Reset()
	if b.Count() != 0 || b.Bytes() != nil {
		t.Fatal("Reset")
	}
	if err := b.Add(&e); err != nil {
		t.Fatal(err)
	}
	if string(b.Bytes()) != string(with(goldenNAT, 1, 1)) {
		t.Fatalf("after Reset: % x", b.Bytes())
	}
}

func TestAllocs(t *testing.T) {
	entries := fill(goldenPEEntries[0], 40)
	entries = append(entries, goldenPEEntries[1], goldenIPv6Entries[0], goldenSeqEntries[0], goldenTemplateEntries[0])
	dst := make([]byte, 0, 64<<10)
	if n := testing.AllocsPerRun(100, func() {
		var err error
		if dst, err = AppendMessage(dst[:0], 1, entries); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("AppendMessage: %v allocs", n)
	}

	b := NewBuilder(1, DefaultMaxLen)
	msgs := 0
	flush := func([]byte) error { msgs++; return nil }
	if n := testing.AllocsPerRun(100, func() {
		for i := range entries {
			if err := b.AddFlush(&entries[i], flush); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Flush(flush); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Builder: %v allocs", n)
	}
	if msgs == 0 {
		t.Fatal("no messages")
	}

	count := 0
	if n := testing.AllocsPerRun(100, func() {
		for _, g := range goldens {
			if _, err := Decode(g.wire, func(e Entry) { count += int(e.CPort) }); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := Decode(dst, func(e Entry) { count += len(e.PEName) }); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Decode: %v allocs", n)
	}
}

func BenchmarkDecode(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(goldenPE)))
	for b.Loop() {
		if _, err := Decode(goldenPE, func(Entry) {}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBuilder(b *testing.B) {
	e := goldenNATEntries[0]
	bl := NewBuilder(1, DefaultMaxLen)
	flush := func([]byte) error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		if err := bl.AddFlush(&e, flush); err != nil {
			b.Fatal(err)
		}
	}
}
