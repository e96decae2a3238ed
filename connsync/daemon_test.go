package connsync

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/xvs-project/xvs/nat"
)

// fakeSource is a Source holding the records a test added.
type fakeSource struct {
	mu   sync.Mutex
	recs []nat.SyncRecord
	// lastDrain is when a drain last returned records, before when the
	// drain before that one was called; prevCall is when the last drain
	// was called.
	lastDrain, before, prevCall time.Time
}

// add queues recs.
func (s *fakeSource) add(recs ...nat.SyncRecord) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recs = append(s.recs, recs...)
}

// DrainSync implements Source.
func (s *fakeSource) DrainSync(dst []nat.SyncRecord) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	n := copy(dst, s.recs)
	s.recs = s.recs[n:]
	if n > 0 {
		s.lastDrain, s.before = now, s.prevCall
	}
	s.prevCall = now
	return n
}

// drained returns when a drain last returned records, when the drain
// before it was called, and whether all records were drained.
func (s *fakeSource) drained() (last, before time.Time, all bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastDrain, s.before, len(s.recs) == 0
}

// fakeSink is a Sink keeping what it was given. It refuses records whose
// client port is in refuse with the error there.
type fakeSink struct {
	mu     sync.Mutex
	recs   []nat.SyncRecord
	at     []time.Time // when each record came
	nows   []int64
	refuse map[uint16]error
}

// InstallSynced implements Sink.
func (s *fakeSink) InstallSynced(rec nat.SyncRecord, now int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.refuse[rec.CPort]; err != nil {
		return err
	}
	s.recs = append(s.recs, rec)
	s.at = append(s.at, time.Now())
	s.nows = append(s.nows, now)
	return nil
}

// got returns a copy of the records installed and their times.
func (s *fakeSink) got() ([]nat.SyncRecord, []time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.recs), slices.Clone(s.at)
}

// count returns the number of records installed.
func (s *fakeSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.recs)
}

// has reports whether a record with client port cport was installed.
func (s *fakeSink) has(cport uint16) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.ContainsFunc(s.recs, func(r nat.SyncRecord) bool { return r.CPort == cport })
}

// testRecords returns n records: TCP and UDP connections and their
// templates, with distinct client ports, addresses in 198.18.0.0/15.
func testRecords(n int) []nat.SyncRecord {
	recs := make([]nat.SyncRecord, 0, n)
	for i := range n {
		r := nat.SyncRecord{
			Client: [4]byte{198, 18, byte(i >> 8), byte(i)},
			VIP:    [4]byte{198, 18, 100, 1},
			Real:   [4]byte{198, 19, 1, byte(i%3 + 11)},
			CPort:  uint16(10000 + i), VPort: 80, RPort: 8080,
			Proto: 6, State: 1, Timeout: 900,
			Persist: 300, PersistBits: 24,
		}
		switch i % 4 {
		case 1:
			r.Proto, r.VPort, r.RPort, r.State, r.Flags, r.Timeout = 17, 53, 53, 0, nat.SyncFlagInactive, 300
		case 2:
			r = r.Template()
			r.CPort = uint16(10000 + i) // keep the ports distinct
		case 3:
			r.State, r.Flags, r.Timeout = 5, nat.SyncFlagInactive, 120 // TIME_WAIT
		}
		recs = append(recs, r)
	}
	return recs
}

// counterClock is a clock for the Sink that counts its calls.
func counterClock() func() int64 {
	var mu sync.Mutex
	var n int64
	return func() int64 {
		mu.Lock()
		defer mu.Unlock()
		n++
		return n * 1000
	}
}

func TestNewConfig(t *testing.T) {
	d, err := New(Config{Interface: "eth0"}, nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Interface: "eth0", Group: DefaultGroup(), Port: DefaultPort, TTL: 1, Flush: DefaultFlush}
	if d.cfg != want || d.Role() != RoleNone {
		t.Fatalf("%+v, want %+v", d.cfg, want)
	}
	cfg := Config{Interface: "sync0", SyncID: 3, Group: netip.MustParseAddr("239.1.2.3"), Port: 9000, TTL: 4, MaxLen: 1000, Flush: time.Second}
	if d, err = New(cfg, nil, nil, nil, nil); err != nil || d.cfg != cfg {
		t.Fatalf("%+v, %v; want %+v", d, err, cfg)
	}
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "no interface"},
		{Config{Interface: "a-very-long-name"}, "too long"},
		{Config{Interface: "eth0", Group: netip.MustParseAddr("198.18.0.1")}, "not an ipv4 multicast"},
		{Config{Interface: "eth0", Group: netip.MustParseAddr("ff02::81")}, "not an ipv4 multicast"},
		{Config{Interface: "eth0", Group: netip.MustParseAddr("::ffff:224.0.0.81")}, "not an ipv4 multicast"},
		{Config{Interface: "eth0", MaxLen: 43}, "max length"},
		{Config{Interface: "eth0", MaxLen: -1}, "max length"},
		{Config{Interface: "eth0", MaxLen: 65536}, "max length"},
		{Config{Interface: "eth0", Flush: -time.Second}, "negative flush"},
	} {
		if _, err := New(c.cfg, nil, nil, nil, nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v) = %v, want an error saying %q", c.cfg, err, c.want)
		}
	}
}

func TestRoleString(t *testing.T) {
	for r, want := range map[Role]string{RoleNone: "none", RoleMaster: "master", RoleBackup: "backup", Role(7): "Role(7)"} {
		if r.String() != want {
			t.Errorf("%d: %q, want %q", int(r), r.String(), want)
		}
	}
}

func TestDropReasons(t *testing.T) {
	want := []string{
		"truncated", "bad_size", "version0", "version", "reserved", "count",
		"entry_overrun", "entry_version", "entry_type", "entry_size",
		"bad_option", "unknown_option", "duplicate_option", "non_canonical",
		"syncid", "ipv6", "fwmark", "table_full", "unsupported", "other",
	}
	got := DropReasons()
	if !slices.Equal(got, want) {
		t.Fatalf("DropReasons() = %q, want %q", got, want)
	}
	got[0] = "changed"
	if DropReasons()[0] != "truncated" {
		t.Fatal("DropReasons shares its slice")
	}
	d, err := New(Config{Interface: "eth0"}, nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	st := d.Stats()
	if len(st.Dropped) != len(want) {
		t.Fatalf("Dropped has %d labels, want %d", len(st.Dropped), len(want))
	}
	for _, l := range want {
		if v, ok := st.Dropped[l]; !ok || v != 0 {
			t.Errorf("Dropped[%q] = %d, %v", l, v, ok)
		}
	}
	if st.Role != RoleNone || !st.LastReceived.IsZero() || st.SendDelay != 0 {
		t.Errorf("%+v", st)
	}
}

func TestSetRoleErrors(t *testing.T) {
	d, err := New(Config{Interface: "xvs-no-such0"}, &fakeSource{}, &fakeSink{}, nil, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []Role{RoleMaster, RoleBackup} {
		if err := d.SetRole(r); err == nil || !strings.Contains(err.Error(), "xvs-no-such0") || d.Role() != RoleNone {
			t.Errorf("SetRole(%v) = %v, role %v", r, err, d.Role())
		}
	}
	if err := d.SetRole(Role(3)); err == nil {
		t.Error("SetRole(3) worked")
	}
	if err := d.SetRole(RoleNone); err != nil {
		t.Error(err)
	}
	d2, _ := New(Config{Interface: "lo"}, nil, nil, nil, nil)
	if err := d2.SetRole(RoleMaster); err == nil || !strings.Contains(err.Error(), "without a source") {
		t.Errorf("master without a source: %v", err)
	}
	if err := d2.SetRole(RoleBackup); err == nil || !strings.Contains(err.Error(), "without a sink") {
		t.Errorf("backup without a sink: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.SetRole(RoleMaster); !errors.Is(err, ErrClosed) {
		t.Errorf("SetRole after Close: %v", err)
	}
	if err := d.SetRole(RoleNone); err != nil {
		t.Errorf("SetRole(RoleNone) after Close: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// message returns a message of syncid id holding entries.
func message(t testing.TB, id uint8, entries ...Entry) []byte {
	t.Helper()
	b, err := AppendMessage(nil, id, entries)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// entryOf returns the entry of record r.
func entryOf(r nat.SyncRecord) Entry {
	var e Entry
	EntryFromRecord(&r, &e)
	return e
}

// malformed are datagrams a backup must drop, by the label it counts them
// under. They carry syncid 7.
func malformed(t testing.TB) map[string][][]byte {
	good := message(t, 7, entryOf(testRecords(1)[0]))
	with := func(b []byte, off int, v ...byte) []byte {
		b = slices.Clone(b)
		copy(b[off:], v)
		return b
	}
	garbage := make([]byte, 64)
	for i := range garbage {
		garbage[i] = 0xa5
	}
	return map[string][][]byte{
		"truncated":     {{0, 7, 0, 5, 0}, {}},
		"bad_size":      {with(good, 2, 0, 48), good[:40], garbage},
		"version0":      {with(good, 0, 1, 7, 0, 44, 1, 0)},
		"version":       {with(good, 5, 2)},
		"reserved":      {with(good, 6, 0, 1)},
		"count":         {with(good, 4, 2), with(good, 4, 0)},
		"entry_version": {with(good, 10, 0x10)},
		"entry_type":    {with(good, 8, 2)},
		"entry_size":    {with(good, 10, 0, 20)},
		"entry_overrun": {with(good, 10, 0, 40)},
	}
}

// refusing returns a sink refusing client ports 666, 667 and 668 with
// nat.ErrTableFull, nat.ErrSyncRecord and another error, and the records
// it refuses.
func refusing() (*fakeSink, []nat.SyncRecord) {
	s := &fakeSink{refuse: map[uint16]error{
		666: fmt.Errorf("%w: test", nat.ErrTableFull),
		667: fmt.Errorf("%w: test", nat.ErrSyncRecord),
		668: errors.New("something else"),
	}}
	recs := testRecords(3)
	for i := range recs {
		recs[i].CPort = uint16(666 + i)
	}
	return s, recs
}

// TestReceive feeds the backup's receive path datagrams directly.
func TestReceive(t *testing.T) {
	sink, refused := refusing()
	d, err := New(Config{Interface: "eth0", SyncID: 7}, nil, sink, counterClock(), nil)
	if err != nil {
		t.Fatal(err)
	}
	wantDrops := map[string]uint64{}
	for _, l := range DropReasons() {
		wantDrops[l] = 0
	}
	var msgs, bytes uint64
	recv := func(b []byte) {
		d.receive(b)
		msgs++
		bytes += uint64(len(b))
	}
	for label, bs := range malformed(t) {
		for _, b := range bs {
			recv(b)
			wantDrops[label]++
		}
	}
	if sink.count() != 0 || !d.Stats().LastReceived.IsZero() {
		t.Fatalf("installed %d from malformed datagrams", sink.count())
	}

	recs := testRecords(6)
	v6 := goldenIPv6Entries[0]
	fw := entryOf(recs[5])
	fw.FwMark = 3
	// A foreign syncid, then a message with refused entries among good
	// ones, then the refused records.
	recv(message(t, 8, entryOf(recs[0])))
	wantDrops["syncid"]++
	before := time.Now()
	recv(message(t, 7, entryOf(recs[1]), v6, entryOf(recs[2]), fw, entryOf(recs[3])))
	wantDrops["ipv6"]++
	wantDrops["fwmark"]++
	recv(message(t, 7, entryOf(refused[0]), entryOf(refused[1]), entryOf(refused[2]), entryOf(recs[4])))
	wantDrops["table_full"]++
	wantDrops["unsupported"]++
	wantDrops["other"]++

	got, _ := sink.got()
	want := []nat.SyncRecord{wire(recs[1]), wire(recs[2]), wire(recs[3]), wire(recs[4])}
	if !slices.Equal(got, want) {
		t.Fatalf("installed\n%+v\nwant\n%+v", got, want)
	}
	// The clock is read once per message.
	if n := sink.nows; len(n) != 4 || n[0] != n[1] || n[1] != n[2] || n[3] <= n[2] {
		t.Errorf("install times %v", sink.nows)
	}
	st := d.Stats()
	if !maps.Equal(st.Dropped, wantDrops) {
		t.Errorf("dropped\n%v\nwant\n%v", st.Dropped, wantDrops)
	}
	if st.ReceivedMessages != msgs || st.ReceivedBytes != bytes || st.ReceivedEntries != 9 || st.Installed != 4 {
		t.Errorf("%+v: want %d messages, %d bytes, 9 entries, 4 installed", st, msgs, bytes)
	}
	if st.LastReceived.Before(before) || time.Since(st.LastReceived) > time.Minute {
		t.Errorf("LastReceived %v, want after %v", st.LastReceived, before)
	}

	// A backup with syncid 0 takes any syncid.
	any := &fakeSink{}
	d0, _ := New(Config{Interface: "eth0"}, nil, any, nil, nil)
	d0.receive(message(t, 8, entryOf(recs[0])))
	d0.receive(message(t, 0, entryOf(recs[1])))
	if got, _ := any.got(); !slices.Equal(got, []nat.SyncRecord{wire(recs[0]), wire(recs[1])}) {
		t.Errorf("syncid 0 backup installed %+v", got)
	}
}

// TestReceiveDecoderReasons: every decoder label that DropReasons lists is
// counted for a datagram the decoder rejects for it, including the fuzz
// corpus's and golden files' cases that have no hand-made datagram above.
func TestReceiveDecoderReasons(t *testing.T) {
	d, _ := New(Config{Interface: "eth0"}, nil, &fakeSink{}, nil, nil)
	var seen []string
	check := func(b []byte) {
		_, err := Decode(b, nil)
		if err == nil {
			return
		}
		before := d.Stats().Dropped
		d.receive(b)
		after := d.Stats().Dropped
		label := Reason(err)
		if after[label] != before[label]+1 {
			t.Fatalf("% x: %v not counted as %q", b, err, label)
		}
		seen = append(seen, label)
	}
	for _, bs := range malformed(t) {
		for _, b := range bs {
			check(b)
		}
	}
	// Options: corrupt the option bytes of the golden messages.
	for _, g := range []struct {
		msg []byte
		off int
		v   []byte
	}{
		{goldenSeq, 8 + 36, []byte{OptSeqData, 0}},                        // bad_option: length 0
		{goldenSeq, 8 + 36, []byte{9, 24}},                                // unknown_option
		{goldenSeq, 8 + 36, []byte{OptSeqData | OptFlagParam, 24}},        // non_canonical
		{goldenPE, 8 + 36, []byte{OptPEName, goldenPE[8+36+1]}},           // non_canonical: name first
		{goldenPE, 8 + 36 + 2 + int(goldenPE[8+36+1]), []byte{OptPEData}}, // duplicate_option
	} {
		b := slices.Clone(g.msg)
		copy(b[g.off:], g.v)
		check(b)
	}
	for _, l := range []string{"bad_option", "unknown_option", "non_canonical", "duplicate_option"} {
		if !slices.Contains(seen, l) {
			t.Errorf("no datagram counted as %q (seen %q)", l, seen)
		}
	}
}

func TestReceiveAllocs(t *testing.T) {
	d, _ := New(Config{Interface: "eth0", SyncID: 7}, nil, nopSink{}, nil, nil)
	recs := testRecords(40)
	entries := make([]Entry, len(recs))
	for i := range recs {
		entries[i] = entryOf(recs[i])
	}
	msg := message(t, 7, entries...)
	foreign := message(t, 8, entries[0])
	if n := testing.AllocsPerRun(100, func() {
		d.receive(msg)
		d.receive(foreign)
	}); n != 0 {
		t.Fatalf("%v allocations per message", n)
	}
	if st := d.Stats(); st.Installed != 101*40 || st.Dropped["syncid"] != 101 {
		t.Fatalf("%+v", st)
	}
}

// nopSink accepts everything.
type nopSink struct{}

func (nopSink) InstallSynced(nat.SyncRecord, int64) error { return nil }

// loopSource gives the same records on every drain.
type loopSource struct{ recs []nat.SyncRecord }

func (s *loopSource) DrainSync(dst []nat.SyncRecord) int { return copy(dst, s.recs) }

// testMaster returns a master of a daemon with cfg over src whose
// messages go to *sent.
func testMaster(t testing.TB, cfg Config, src Source, maxLen int, sent *[][]byte) (*Daemon, *master) {
	d, err := New(cfg, src, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := newMaster(d, maxLen, func(msg []byte) error {
		if sent != nil {
			*sent = append(*sent, slices.Clone(msg))
		}
		return nil
	})
	return d, m
}

// TestMasterPump drives the master's loop by hand.
func TestMasterPump(t *testing.T) {
	src := &fakeSource{}
	var sent [][]byte
	const flush = 50 * time.Millisecond
	d, m := testMaster(t, Config{Interface: "eth0", SyncID: 4, Flush: flush}, src, 300, &sent)
	recs := testRecords(2*drainBatch + 5)
	src.add(recs...)
	// 8 entries of 36 bytes fit 300 bytes: every full message goes at
	// once, the last 5 records wait.
	for m.pump() > 0 {
	}
	if want := len(recs) / 8; len(sent) != want {
		t.Fatalf("%d messages sent, want %d", len(sent), want)
	}
	if m.b.Count() != len(recs)%8 {
		t.Fatalf("%d entries waiting, want %d", m.b.Count(), len(recs)%8)
	}
	time.Sleep(flush)
	m.pump()
	if want := len(recs)/8 + 1; len(sent) != want || m.b.Count() != 0 {
		t.Fatalf("%d messages sent after the flush delay, want %d", len(sent), want)
	}
	var got []nat.SyncRecord
	for _, msg := range sent {
		if len(msg) > 300 {
			t.Fatalf("message of %d bytes", len(msg))
		}
		h, err := Decode(msg, func(e Entry) {
			r, err := RecordFromEntry(&e)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, r)
		})
		if err != nil || h.SyncID != 4 {
			t.Fatalf("%+v, %v", h, err)
		}
	}
	for i := range recs {
		if got[i] != wire(recs[i]) {
			t.Fatalf("record %d: %+v, want %+v", i, got[i], wire(recs[i]))
		}
	}
	st := d.Stats()
	if st.SentMessages != uint64(len(sent)) || st.SentEntries != uint64(len(recs)) || st.SendErrors != 0 {
		t.Errorf("%+v", st)
	}
	if st.SendDelay < flush || st.SendDelay > flush+time.Second {
		t.Errorf("SendDelay %v, want about %v", st.SendDelay, flush)
	}

	// finish sends everything at once.
	src.add(recs[:3]...)
	m.finish()
	if want := len(recs)/8 + 2; len(sent) != want || sent[len(sent)-1][4] != 3 {
		t.Fatalf("finish: %d messages, want %d", len(sent), want)
	}
}

// TestMasterSendErrors: a failed send is counted, the message dropped, the
// master goes on.
func TestMasterSendErrors(t *testing.T) {
	src := &fakeSource{}
	d, err := New(Config{Interface: "eth0", Flush: time.Hour}, src, nil, nil, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	fail := true
	var sent int
	m := newMaster(d, 300, func([]byte) error {
		if fail {
			return errors.New("no buffer space")
		}
		sent++
		return nil
	})
	src.add(testRecords(8 * 3)...)
	m.pump()
	m.finish()
	fail = false
	src.add(testRecords(8)...)
	m.finish()
	st := d.Stats()
	if st.SendErrors != 3 || st.SentMessages != 1 || st.SentEntries != 8 || sent != 1 {
		t.Fatalf("%+v, %d sent", st, sent)
	}
}

// TestMasterAllocs: draining and encoding allocate nothing per record.
func TestMasterAllocs(t *testing.T) {
	src := &loopSource{recs: testRecords(drainBatch)}
	_, m := testMaster(t, Config{Interface: "eth0", Flush: time.Nanosecond}, src, DefaultMaxLen, nil)
	if n := testing.AllocsPerRun(20, func() {
		if m.pump() != drainBatch {
			t.Fatal("short drain")
		}
	}); n != 0 {
		t.Fatalf("%v allocations per %d records", n, drainBatch)
	}
}

// BenchmarkMasterEncode is the master's per-record cost without the
// socket: drain, convert, pack.
func BenchmarkMasterEncode(b *testing.B) {
	src := &loopSource{recs: testRecords(drainBatch)}
	_, m := testMaster(b, Config{Interface: "eth0"}, src, DefaultMaxLen, nil)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += drainBatch {
		src.recs = src.recs[:min(drainBatch, b.N-i)]
		m.pump()
	}
}

// BenchmarkReceive is the backup's per-message cost (40 entries) without
// the socket and with a Sink that does nothing.
func BenchmarkReceive(b *testing.B) {
	d, _ := New(Config{Interface: "eth0"}, nil, nopSink{}, nil, nil)
	recs := testRecords(40)
	entries := make([]Entry, len(recs))
	for i := range recs {
		entries[i] = entryOf(recs[i])
	}
	msg := message(b, 0, entries...)
	b.ReportAllocs()
	b.ResetTimer()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		d.receive(msg)
	}
}
