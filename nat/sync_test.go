package nat

import (
	"testing"
	"time"

	"github.com/xvs-project/xvs/internal/header"
)

// TestIPVSStateNumbers checks the mapping between nat's states and the
// state numbers IPVS puts in sync messages: enum IP_VS_TCP_S_* in
// include/net/ip_vs.h (NONE 0 ... SYNACK 10, LAST 11) and
// IP_VS_UDP_S_NORMAL (0, with IP_VS_UDP_S_LAST 1).
func TestIPVSStateNumbers(t *testing.T) {
	for _, tc := range []struct {
		s     State
		proto uint8
		n     uint16
	}{
		{StateNone, header.ProtocolTCP, 0},
		{StateEstablished, header.ProtocolTCP, 1},
		{StateSynSent, header.ProtocolTCP, 2},
		{StateSynRecv, header.ProtocolTCP, 3},
		{StateFinWait, header.ProtocolTCP, 4},
		{StateTimeWait, header.ProtocolTCP, 5},
		{StateClose, header.ProtocolTCP, 6},
		{StateCloseWait, header.ProtocolTCP, 7},
		{StateLastAck, header.ProtocolTCP, 8},
		{StateListen, header.ProtocolTCP, 9},
		{StateSynAck, header.ProtocolTCP, 10},
		{StateUDP, header.ProtocolUDP, 0},
	} {
		n, ok := IPVSState(tc.s)
		if !ok || n != tc.n {
			t.Errorf("IPVSState(%v) = %d, %v; want %d", tc.s, n, ok, tc.n)
		}
		back, ok := StateFromIPVS(tc.proto, tc.n)
		if !ok || back != tc.s {
			t.Errorf("StateFromIPVS(%d, %d) = %v, %v; want %v", tc.proto, tc.n, back, ok, tc.s)
		}
	}
	if _, ok := IPVSState(numStates); ok {
		t.Error("IPVSState accepted a value that is no state")
	}
	// What a kernel backup drops as "Invalid %s state" (ip_vs_proc_sync_conn:
	// state >= pp->num_states), or as an unsupported protocol.
	for _, tc := range []struct {
		proto uint8
		n     uint16
	}{
		{header.ProtocolTCP, 11}, {header.ProtocolTCP, 0xffff},
		{header.ProtocolUDP, 1}, {header.ProtocolICMP, 0}, {132, 0},
	} {
		if s, ok := StateFromIPVS(tc.proto, tc.n); ok {
			t.Errorf("StateFromIPVS(%d, %d) = %v, want refusal", tc.proto, tc.n, s)
		}
	}
}

func TestSyncPolicyValidate(t *testing.T) {
	// proc_do_sync_threshold refuses val[0] >= val[1] unless val[1] is 0.
	for _, tc := range []struct {
		p  SyncPolicy
		ok bool
	}{
		{DefaultSyncPolicy, true},
		{SyncPolicy{Threshold: 0, Period: 0}, true},
		{SyncPolicy{Threshold: 7, Period: 0}, true},
		{SyncPolicy{Threshold: 0, Period: 1}, true},
		{SyncPolicy{Threshold: 50, Period: 50}, false},
		{SyncPolicy{Threshold: 51, Period: 50}, false},
	} {
		if err := tc.p.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v: Validate() = %v, want ok %v", tc.p, err, tc.ok)
		}
	}
	if DefaultSyncPolicy != (SyncPolicy{Threshold: 3, Period: 50}) {
		t.Errorf("DefaultSyncPolicy %+v, want IPVS's sync_threshold \"3 50\"", DefaultSyncPolicy)
	}
}

// TestSyncPolicyNeeded checks the decision against the kernel's
// ip_vs_sync_conn_needed (net/netfilter/ipvs/ip_vs_sync.c) with
// sync_refresh_period 0, as ip_vs_in calls it with pkts =
// atomic_inc_return(&cp->in_pkts).
func TestSyncPolicyNeeded(t *testing.T) {
	const tcp, udp = header.ProtocolTCP, header.ProtocolUDP
	zero := SyncPolicy{Threshold: 3, Period: 0}
	for _, tc := range []struct {
		why         string
		p           SyncPolicy
		proto       uint8
		synced, cur State
		flags       uint32
		pkts        uint64
		want        bool
	}{
		// TCP: only ES, FW, CL, CW, TW are synced at all.
		{"SYN_RECV is never synced", DefaultSyncPolicy, tcp, sNO, sSR, 0, 3, false},
		{"SYN_RECV at a period multiple", DefaultSyncPolicy, tcp, sNO, sSR, 0, 53, false},
		{"SYN_SENT", DefaultSyncPolicy, tcp, sNO, sSS, 0, 3, false},
		{"SYNACK", DefaultSyncPolicy, tcp, sNO, sSA, 0, 3, false},
		{"LISTEN", DefaultSyncPolicy, tcp, sNO, sLI, 0, 3, false},
		{"NONE", DefaultSyncPolicy, tcp, sES, sNO, 0, 3, false},
		{"LAST_ACK is not a synced state", DefaultSyncPolicy, tcp, sCW, sLA, 0, 53, false},
		// Reaching ESTABLISHED forces nothing: force is only used after
		// the packet-count test, which returns 0 first.
		{"ESTABLISHED at packet 2", DefaultSyncPolicy, tcp, sNO, sES, 0, 2, false},
		{"ESTABLISHED at packet 3 (threshold)", DefaultSyncPolicy, tcp, sNO, sES, 0, 3, true},
		{"ESTABLISHED, already synced, packet 3", DefaultSyncPolicy, tcp, sES, sES, 0, 3, true},
		{"ESTABLISHED at packet 4", DefaultSyncPolicy, tcp, sNO, sES, 0, 4, false},
		{"ESTABLISHED at packet 50", DefaultSyncPolicy, tcp, sES, sES, 0, 50, false},
		{"ESTABLISHED at packet 53 (period)", DefaultSyncPolicy, tcp, sES, sES, 0, 53, true},
		{"ESTABLISHED at packet 103", DefaultSyncPolicy, tcp, sES, sES, 0, 103, true},
		{"ESTABLISHED late: next at 53", DefaultSyncPolicy, tcp, sNO, sES, 0, 5, false},
		// Changes to the other synced states go straight to set:.
		{"to FIN_WAIT", DefaultSyncPolicy, tcp, sES, sFW, 0, 7, true},
		{"to CLOSE_WAIT", DefaultSyncPolicy, tcp, sES, sCW, 0, 8, true},
		{"to TIME_WAIT", DefaultSyncPolicy, tcp, sCW, sTW, 0, 9, true},
		{"to CLOSE", DefaultSyncPolicy, tcp, sES, sCL, 0, 10, true},
		{"to CLOSE, never synced before", DefaultSyncPolicy, tcp, sNO, sCL, 0, 2, true},
		{"FIN_WAIT again", DefaultSyncPolicy, tcp, sFW, sFW, 0, 11, false},
		{"FIN_WAIT at a period multiple", DefaultSyncPolicy, tcp, sFW, sFW, 0, 53, true},
		// UDP (and any single-state protocol): force = 0.
		{"UDP packet 1", DefaultSyncPolicy, udp, sNO, StateUDP, 0, 1, false},
		{"UDP packet 2", DefaultSyncPolicy, udp, sNO, StateUDP, 0, 2, false},
		{"UDP packet 3", DefaultSyncPolicy, udp, sNO, StateUDP, 0, 3, true},
		{"UDP packet 4", DefaultSyncPolicy, udp, StateUDP, StateUDP, 0, 4, false},
		{"UDP packet 53", DefaultSyncPolicy, udp, StateUDP, StateUDP, 0, 53, true},
		// Templates: with sync_period > 0 the packet test is skipped.
		{"template, packet 1", DefaultSyncPolicy, udp, 0, 0, SyncFlagTemplate, 1, true},
		{"template, packet 4", DefaultSyncPolicy, tcp, 0, 0, SyncFlagTemplate, 4, true},
		{"template, period 0, packet 2", zero, udp, 0, 0, SyncFlagTemplate, 2, false},
		{"template, period 0, packet 3", zero, udp, 0, 0, SyncFlagTemplate, 3, true},
		{"template, period 0, packet 4", zero, udp, 0, 0, SyncFlagTemplate, 4, false},
		// sync_period 0: once at the threshold, and on state changes.
		{"period 0, ESTABLISHED at 3", zero, tcp, sNO, sES, 0, 3, true},
		{"period 0, ESTABLISHED at 53", zero, tcp, sES, sES, 0, 53, false},
		{"period 0, to FIN_WAIT", zero, tcp, sES, sFW, 0, 60, true},
		{"period 0, UDP at 3", zero, udp, sNO, StateUDP, 0, 3, true},
		{"period 0, UDP at 53", zero, udp, StateUDP, StateUDP, 0, 53, false},
		// Threshold 0: pkts % period == 0.
		{"threshold 0, packet 50", SyncPolicy{0, 50}, udp, sNO, StateUDP, 0, 50, true},
		{"threshold 0, packet 3", SyncPolicy{0, 50}, udp, sNO, StateUDP, 0, 3, false},
		// ip_vs_sync_conn: "Do not sync ONE PACKET".
		{"one-packet connection", DefaultSyncPolicy, udp, sNO, StateUDP, SyncFlagOnePacket, 3, false},
	} {
		if got := tc.p.Needed(tc.proto, tc.synced, tc.cur, tc.flags, tc.pkts); got != tc.want {
			t.Errorf("%s: Needed(%d, %v, %v, %#x, %d) = %v, want %v",
				tc.why, tc.proto, tc.synced, tc.cur, tc.flags, tc.pkts, got, tc.want)
		}
	}
}

// TestSyncPolicyConnectionLife follows one TCP connection's packets
// through Needed as ip_vs_in would, recording old_state when it syncs:
// the packets at which IPVS sends it.
func TestSyncPolicyConnectionLife(t *testing.T) {
	// Input packets: SYN (SYN_RECV), ACK (ESTABLISHED), data to packet
	// 120, the client's FIN (CLOSE_WAIT) and one more, then, after the
	// server's FIN moved it to TIME_WAIT, the client's last ACK.
	states := map[uint64]State{1: sSR, 2: sES}
	for p := uint64(3); p <= 120; p++ {
		states[p] = sES
	}
	states[121] = sCW
	states[122] = sCW
	states[123] = sTW
	var synced State
	var got []uint64
	for p := uint64(1); p <= 123; p++ {
		if DefaultSyncPolicy.Needed(header.ProtocolTCP, synced, states[p], 0, p) {
			synced = states[p]
			got = append(got, p)
		}
	}
	want := []uint64{3, 53, 103, 121, 123}
	if len(got) != len(want) {
		t.Fatalf("synced at packets %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("synced at packets %v, want %v", got, want)
		}
	}
}

func TestEngineSyncSettings(t *testing.T) {
	e := newEngine(t, 1)
	if on, p := e.Sync(); on || p != DefaultSyncPolicy {
		t.Fatalf("new engine: Sync() = %v, %+v; want off with the default policy", on, p)
	}
	if err := e.SetSyncPolicy(SyncPolicy{Threshold: 9, Period: 5}); err == nil {
		t.Fatal("SetSyncPolicy accepted a threshold above the period")
	}
	if err := e.SetSyncPolicy(SyncPolicy{Threshold: 1, Period: 0}); err != nil {
		t.Fatal(err)
	}
	if e.sync.Load() != nil {
		t.Fatal("setting a policy turned sync on")
	}
	e.SetSync(true)
	if on, p := e.Sync(); !on || p != (SyncPolicy{Threshold: 1}) {
		t.Fatalf("Sync() = %v, %+v", on, p)
	}
	if p := e.sync.Load(); p == nil || *p != (SyncPolicy{Threshold: 1}) {
		t.Fatalf("published policy %v", p)
	}
	e.SetSync(false)
	if e.sync.Load() != nil {
		t.Fatal("SetSync(false) left sync on")
	}
}

// syncLab is an engine with sync on and helpers to send one TCP flow's
// frames.
type syncLab struct {
	t     *testing.T
	e     *Engine
	sport uint16
	now   int64
}

func (l *syncLab) in(syn, ack, fin bool) Result {
	l.t.Helper()
	r := l.e.Inbound(pkt{src: client, dst: vip, sport: l.sport, dport: 80, syn: syn, ack: ack, fin: fin}.build(l.t), l.now)
	if r.Drop != DropNone {
		l.t.Fatalf("inbound dropped: %v", r.Drop)
	}
	return r
}

func (l *syncLab) out(syn, ack, fin bool) Result {
	l.t.Helper()
	r := l.e.Outbound(pkt{src: rs[0], dst: client, sport: 8080, dport: l.sport, syn: syn, ack: ack, fin: fin}.build(l.t), l.now)
	if r.Drop != DropNone {
		l.t.Fatalf("outbound dropped: %v", r.Drop)
	}
	return r
}

// TestInboundSyncRecords drives a TCP connection through an engine with
// sync on: the frames that produce records are those IPVS syncs at, the
// record is the connection, replies never produce one, and with sync off
// nothing does.
func TestInboundSyncRecords(t *testing.T) {
	l := &syncLab{t: t, e: newEngine(t, 1), sport: 41000, now: int64(time.Hour)}
	l.e.SetSync(true)
	want := SyncRecord{
		Client: client, VIP: vip, Real: rs[0], CPort: 41000, VPort: 80, RPort: 8080,
		Proto: header.ProtocolTCP,
	}
	check := func(step string, r Result, need SyncNeed, st State, flags uint32, timeout time.Duration) {
		t.Helper()
		if r.Sync != need {
			t.Fatalf("%s: Sync %b, want %b", step, r.Sync, need)
		}
		if need == 0 {
			if r.SyncRecord != (SyncRecord{}) {
				t.Fatalf("%s: no sync but a record %+v", step, r.SyncRecord)
			}
			return
		}
		w := want
		w.State, _ = IPVSState(st)
		w.Flags = flags
		w.Timeout = uint32(timeout / time.Second)
		if r.SyncRecord != w {
			t.Fatalf("%s: record\n got %+v\nwant %+v", step, r.SyncRecord, w)
		}
	}
	check("SYN", l.in(true, false, false), 0, 0, 0, 0)
	check("SYN+ACK", l.out(true, true, false), 0, 0, 0, 0)
	check("ACK (ESTABLISHED, packet 2)", l.in(false, true, false), 0, 0, 0, 0)
	check("data (packet 3)", l.in(false, true, false), SyncNeedConn, sES, 0, 900*time.Second)
	for p := 4; p < 53; p++ {
		check("data", l.in(false, true, false), 0, 0, 0, 0)
		check("reply", l.out(false, true, false), 0, 0, 0, 0)
	}
	check("data (packet 53)", l.in(false, true, false), SyncNeedConn, sES, 0, 900*time.Second)
	// The server closes first: FIN_WAIT is reached by a reply, which
	// never syncs; the next input frame carries it.
	check("server FIN", l.out(false, true, true), 0, 0, 0, 0)
	check("client ACK (FIN_WAIT)", l.in(false, true, false), SyncNeedConn, sFW, SyncFlagInactive, 120*time.Second)
	check("client data (still FIN_WAIT)", l.in(false, true, false), 0, 0, 0, 0)
	check("client FIN (TIME_WAIT)", l.in(false, true, true), SyncNeedConn, sTW, SyncFlagInactive, 120*time.Second)

	l.e.SetSync(false)
	l2 := &syncLab{t: t, e: l.e, sport: 41001, now: l.now}
	l2.in(true, false, false)
	l2.in(false, true, false)
	check("sync off (packet 3)", l2.in(false, true, false), 0, 0, 0, 0)
}

func TestInboundSyncUDP(t *testing.T) {
	e := newEngine(t, 1)
	e.SetSync(true)
	f := pkt{src: client, dst: vip, sport: 5353, dport: 80, udp: true}.build(t)
	for p := 1; p <= 53; p++ {
		r := e.Inbound(append([]byte(nil), f...), 0)
		synced := p == 3 || p == 53
		if (r.Sync != 0) != synced {
			t.Fatalf("datagram %d: Sync %b", p, r.Sync)
		}
		if !synced {
			continue
		}
		want := SyncRecord{Client: client, VIP: vip, Real: rs[0], CPort: 5353, VPort: 80, RPort: 8080,
			Proto: header.ProtocolUDP, State: 0, Flags: SyncFlagInactive, Timeout: 300}
		if r.SyncRecord != want || r.Sync != SyncNeedConn {
			t.Fatalf("datagram %d: %b %+v, want %+v", p, r.Sync, r.SyncRecord, want)
		}
	}
}

// TestInboundSyncTemplate: with persistence, IPVS follows cp->control to
// the template after every input packet and, sync_period being > 0,
// syncs the template every time; with sync_period 0 once, at the
// threshold.
func TestInboundSyncTemplate(t *testing.T) {
	const persist = 600 * time.Second
	e, _ := persistentEngine(t, persist, 24, 1, 1, 1)
	e.SetSync(true)
	var first SyncRecord
	for p := 1; p <= 4; p++ {
		r := e.Inbound(pkt{src: client, dst: vip, sport: 7000, dport: 80, udp: true}.build(t), 0)
		want := SyncNeedTemplate
		if p == 3 {
			want |= SyncNeedConn
		}
		if r.Sync != want {
			t.Fatalf("datagram %d: Sync %b, want %b", p, r.Sync, want)
		}
		if p == 1 {
			first = r.SyncRecord
		}
	}
	if first.Persist != 600 || first.PersistBits != 24 || first.Client != client {
		t.Fatalf("connection record %+v lacks its persistence", first)
	}
	tm := first.Template()
	want := SyncRecord{Client: [4]byte{198, 18, 0, 0}, VIP: vip, Real: first.Real, VPort: 80, RPort: 8080,
		Proto: header.ProtocolUDP, PersistBits: 24, State: TemplateStateNone,
		Flags: SyncFlagTemplate | SyncFlagInactive, Timeout: 600, Persist: 600}
	if tm != want {
		t.Fatalf("template record\n got %+v\nwant %+v", tm, want)
	}
	tcpEst := SyncRecord{Proto: header.ProtocolTCP, State: 1, Persist: 60}
	if tcpEst.Template().State != TemplateStateAssured {
		t.Fatal("the template of an established TCP connection is not assured")
	}

	if err := e.SetSyncPolicy(SyncPolicy{Threshold: 3}); err != nil {
		t.Fatal(err)
	}
	for p := 1; p <= 5; p++ {
		r := e.Inbound(pkt{src: client, dst: vip, sport: 7001, dport: 80, udp: true}.build(t), 0)
		var want SyncNeed
		if p == 3 {
			want = SyncNeedConn | SyncNeedTemplate
		}
		if r.Sync != want {
			t.Fatalf("period 0, datagram %d: Sync %b, want %b", p, r.Sync, want)
		}
	}
}

func TestInboundSyncAllocatesNothing(t *testing.T) {
	e, _ := persistentEngine(t, time.Minute, 0, 1)
	e.SetSync(true)
	q := NewSyncQueue(64)
	in := pkt{src: client, dst: vip, sport: 40000, dport: 80, udp: true, payload: make([]byte, 18)}.build(t)
	e.Inbound(append([]byte(nil), in...), 0)
	a := make([]byte, len(in))
	var rec SyncRecord
	allocs := testing.AllocsPerRun(1000, func() {
		copy(a, in)
		r := e.Inbound(a, 0)
		if r.Sync&SyncNeedTemplate == 0 {
			panic("no template record")
		}
		q.Push(r.SyncRecord.Template())
		q.Pop(&rec)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per frame with sync on", allocs)
	}
}

// BenchmarkFrameSync is BenchmarkFrame's inbound case with sync on and
// the records pushed to and drained from a queue, as a worker and the
// sync sender would: 1 frame in 50 of each flow produces a record.
func BenchmarkFrameSync(b *testing.B) {
	e := newEngine(b, 3, 2, 1)
	e.SetSync(true)
	const flows = 10000
	frames := make([][]byte, flows)
	for i := range frames {
		frames[i] = pkt{src: client, dst: vip, sport: uint16(10000 + i), dport: 80, udp: true, payload: make([]byte, 18)}.build(b)
		e.Inbound(append([]byte(nil), frames[i]...), 0)
	}
	q := NewSyncQueue(4096)
	drain := make([]SyncRecord, 256)
	buf := make([]byte, len(frames[0]))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		copy(buf, frames[i%flows])
		r := e.Inbound(buf, 0)
		if r.Drop != DropNone {
			b.Fatal(r.Drop)
		}
		if r.Sync&SyncNeedConn != 0 && !q.Push(r.SyncRecord) {
			q.Drain(drain)
		}
	}
}
