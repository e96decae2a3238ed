package connsync

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"

	"github.com/xvs-project/xvs/nat"
)

// recordGoldens pair nat records with the golden wire entries of
// golden_test.go: the record is what RecordFromEntry makes of the entry,
// the entry what EntryFromRecord makes of the record.
var recordGoldens = []struct {
	name  string
	rec   nat.SyncRecord
	entry Entry
	msg   []byte // the entry alone in a message, syncid msgID
	msgID uint8
}{{
	name: "tcp established nat",
	rec: nat.SyncRecord{
		Client: [4]byte{198, 18, 0, 10}, VIP: [4]byte{198, 18, 1, 1}, Real: [4]byte{198, 19, 0, 20},
		CPort: 50000, VPort: 80, RPort: 8080,
		Proto: 6, State: 1, Flags: nat.SyncFlagMasq, Timeout: 900,
	},
	entry: goldenNATEntries[0],
	msg:   goldenNAT,
	msgID: 5,
}, {
	// nat makes only NAT templates; the flags are taken as they are.
	name: "template of a direct-routing service",
	rec: nat.SyncRecord{
		Client: [4]byte{198, 18, 0, 0}, VIP: [4]byte{198, 18, 1, 1}, Real: [4]byte{198, 19, 0, 21},
		VPort: 443, RPort: 443,
		Proto: 6, State: nat.TemplateStateAssured, Flags: nat.SyncFlagTemplate | 0x3, Timeout: 300,
	},
	entry: goldenTemplateEntries[0],
	msg:   goldenTemplate,
	msgID: 7,
}, {
	name: "udp inactive",
	rec: nat.SyncRecord{
		Client: [4]byte{198, 18, 7, 8}, VIP: [4]byte{198, 18, 1, 2}, Real: [4]byte{198, 19, 3, 4},
		CPort: 40000, VPort: 53, RPort: 5353,
		Proto: 17, State: 0, Flags: nat.SyncFlagInactive, Timeout: 300,
	},
	entry: Entry{
		Protocol: ProtoUDP, Flags: FlagInactive, State: UDPStateNormal,
		CPort: 40000, VPort: 53, DPort: 5353, Timeout: 300,
		CAddr: netip.MustParseAddr("198.18.7.8"),
		VAddr: netip.MustParseAddr("198.18.1.2"),
		DAddr: netip.MustParseAddr("198.19.3.4"),
	},
	msg: []byte{
		0x00, 0x09, 0x00, 0x2c, 0x01, 0x01, 0x00, 0x00, // header: syncid 9, size 44, 1 entry
		0x00, 0x11, 0x00, 0x24, // IPv4, UDP, size 36
		0x00, 0x00, 0x01, 0x00, // flags: IP_VS_CONN_F_INACTIVE
		0x00, 0x00, // state: IP_VS_UDP_S_NORMAL
		0x9c, 0x40, 0x00, 0x35, 0x14, 0xe9, // ports 40000, 53, 5353
		0x00, 0x00, 0x00, 0x00, // fwmark
		0x00, 0x00, 0x01, 0x2c, // timeout 300
		198, 18, 7, 8, 198, 18, 1, 2, 198, 19, 3, 4,
	},
	msgID: 9,
}}

func TestEntryFromRecordGolden(t *testing.T) {
	for _, g := range recordGoldens {
		t.Run(g.name, func(t *testing.T) {
			var e Entry
			EntryFromRecord(&g.rec, &e)
			if !reflect.DeepEqual(e, g.entry) {
				t.Fatalf("EntryFromRecord = %+v, want %+v", e, g.entry)
			}
			msg, err := AppendMessage(nil, g.msgID, []Entry{e})
			if err != nil || !bytes.Equal(msg, g.msg) {
				t.Fatalf("encoded % x, %v; want % x", msg, err, g.msg)
			}
			// Persist and PersistBits are not on the wire.
			r := g.rec
			r.Persist, r.PersistBits = 300, 24
			var e2 Entry
			EntryFromRecord(&r, &e2)
			if !reflect.DeepEqual(e2, g.entry) {
				t.Fatalf("with Persist: %+v, want %+v", e2, g.entry)
			}
		})
	}
}

func TestRecordFromEntryGolden(t *testing.T) {
	for _, g := range recordGoldens {
		t.Run(g.name, func(t *testing.T) {
			var got []nat.SyncRecord
			if _, err := Decode(g.msg, func(e Entry) {
				r, err := RecordFromEntry(&e)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, r)
			}); err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0] != g.rec {
				t.Fatalf("RecordFromEntry = %+v, want %+v", got, g.rec)
			}
		})
	}
}

func TestRecordFromEntryRefuses(t *testing.T) {
	v4 := goldenNATEntries[0]
	with := func(f func(*Entry)) *Entry { e := v4; f(&e); return &e }
	for _, c := range []struct {
		name string
		e    *Entry
		want error
	}{
		{"ipv6", &goldenIPv6Entries[0], ErrIPv6Entry},
		{"ipv4-mapped ipv6", with(func(e *Entry) {
			e.CAddr = netip.AddrFrom16(e.CAddr.As16())
			e.VAddr = netip.AddrFrom16(e.VAddr.As16())
			e.DAddr = netip.AddrFrom16(e.DAddr.As16())
		}), ErrIPv6Entry},
		{"fwmark", with(func(e *Entry) { e.FwMark = 7; e.VPort = 0 }), ErrFwMarkEntry},
		{"fwmark template", with(func(e *Entry) { e.FwMark = 1; e.Protocol = 0; e.Flags = FlagTemplate }), ErrFwMarkEntry},
		{"missing address", with(func(e *Entry) { e.DAddr = netip.Addr{} }), ErrInvalidEntry},
		{"mixed families", with(func(e *Entry) { e.VAddr = netip.MustParseAddr("2001:2::1") }), ErrInvalidEntry},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := RecordFromEntry(c.e)
			if !errors.Is(err, c.want) || r != (nat.SyncRecord{}) {
				t.Fatalf("RecordFromEntry = %+v, %v; want %v", r, err, c.want)
			}
		})
	}
	if Reason(ErrIPv6Entry) != "ipv6" || Reason(ErrFwMarkEntry) != "fwmark" {
		t.Error("Reason of the conversion errors")
	}
}

// TestRecordFromEntryIgnoresOptions: the options have no place in a record.
func TestRecordFromEntryIgnoresOptions(t *testing.T) {
	e := goldenNATEntries[0]
	e.HasSeq, e.InSeq, e.Flags = true, Seq{1, 2, 3}, FlagInSeq
	e.PEData, e.PEName = []byte("call-id"), "sip"
	r, err := RecordFromEntry(&e)
	want := recordGoldens[0].rec
	want.Flags = nat.SyncFlagMasq | FlagInSeq
	if err != nil || r != want {
		t.Fatalf("%+v, %v; want %+v", r, err, want)
	}
}

// randomRecord returns a record with every field random, addresses in
// 198.18.0.0/15.
func randomRecord(rnd *rand.Rand) nat.SyncRecord {
	addr := func() [4]byte {
		return [4]byte{198, 18 + byte(rnd.IntN(2)), byte(rnd.IntN(256)), byte(rnd.IntN(256))}
	}
	return nat.SyncRecord{
		Client: addr(), VIP: addr(), Real: addr(),
		CPort: uint16(rnd.Uint32()), VPort: uint16(rnd.Uint32()), RPort: uint16(rnd.Uint32()),
		Proto:       [...]uint8{6, 17}[rnd.IntN(2)],
		PersistBits: uint8(rnd.IntN(33)),
		State:       uint16(rnd.IntN(12)),
		Flags:       rnd.Uint32(),
		Timeout:     rnd.Uint32(),
		Persist:     rnd.Uint32(),
	}
}

// wire returns r as it comes out of the wire: without Persist and
// PersistBits.
func wire(r nat.SyncRecord) nat.SyncRecord {
	r.Persist, r.PersistBits = 0, 0
	return r
}

func TestRecordRoundTrip(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	b := NewBuilder(3, DefaultMaxLen)
	var sent, got []nat.SyncRecord
	var e Entry
	flush := func(msg []byte) error {
		_, err := Decode(msg, func(e Entry) {
			r, err := RecordFromEntry(&e)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, r)
		})
		return err
	}
	for range 1000 {
		r := randomRecord(rnd)
		sent = append(sent, r)
		EntryFromRecord(&r, &e)
		if err := b.AddFlush(&e, flush); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Flush(flush); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(sent) {
		t.Fatalf("%d records back of %d", len(got), len(sent))
	}
	for i := range sent {
		if got[i] != wire(sent[i]) {
			t.Fatalf("record %d: %+v, want %+v", i, got[i], wire(sent[i]))
		}
	}
}

func TestRecordConversionAllocs(t *testing.T) {
	r := recordGoldens[0].rec
	var e Entry
	var out nat.SyncRecord
	if n := testing.AllocsPerRun(100, func() {
		EntryFromRecord(&r, &e)
		out, _ = RecordFromEntry(&e)
	}); n != 0 || out != r {
		t.Fatalf("%v allocations, %+v", n, out)
	}
	v6 := goldenIPv6Entries[0]
	if n := testing.AllocsPerRun(100, func() { _, _ = RecordFromEntry(&v6) }); n != 0 {
		t.Fatalf("%v allocations refusing an ipv6 entry", n)
	}
}
