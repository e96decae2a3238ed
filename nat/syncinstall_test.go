package nat

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/xvs-project/xvs/internal/header"
	"github.com/xvs-project/xvs/scheduler"
)

// syncedTCP is the record of an established TCP connection from client
// port cport to real server real, as a kernel master sends it: state
// ESTABLISHED, flags without IP_VS_CONN_F_INACTIVE, timeout 900 s.
func syncedTCP(cport uint16, real [4]byte) SyncRecord {
	return SyncRecord{
		Client: client, VIP: vip, Real: real, CPort: cport, VPort: 80, RPort: 8080,
		Proto: header.ProtocolTCP, State: 1, Timeout: 900,
	}
}

// countsOf returns the counts of real server i of the engine's service.
func countsOf(e *Engine, proto uint8, i int) *scheduler.Counts {
	return e.Services().Lookup(vip, 80, proto).Reals[i].Counts
}

func checkCounts(t *testing.T, what string, c *scheduler.Counts, active, inactive int64) {
	t.Helper()
	if a, i := c.Active.Load(), c.Inactive.Load(); a != active || i != inactive {
		t.Fatalf("%s: active %d inactive %d, want %d %d", what, a, i, active, inactive)
	}
}

// conn returns a copy of the table's only entry.
func onlyConn(t *testing.T, tb *Table) Conn {
	t.Helper()
	var cs []Conn
	tb.Walk(func(c Conn) { cs = append(cs, c) })
	if len(cs) != 1 {
		t.Fatalf("%d entries, want 1", len(cs))
	}
	return cs[0]
}

// TestInstallSyncedThenFrames installs a TCP and a UDP connection on a
// backup, then hands it the connections' next frames from both sides:
// they are rewritten exactly as on the master (golden frames), to the real
// server of the record, not to the one the backup's scheduler would pick.
func TestInstallSyncedThenFrames(t *testing.T) {
	for _, udp := range []bool{false, true} {
		e := newEngine(t, 1, 1)
		proto := uint8(header.ProtocolTCP)
		rec := syncedTCP(42000, rs[1])
		if udp {
			proto = header.ProtocolUDP
			rec.Proto, rec.State, rec.Flags, rec.Timeout = proto, 0, SyncFlagInactive, 300
		}
		if err := e.InstallSynced(rec, 0); err != nil {
			t.Fatal(err)
		}
		c := onlyConn(t, e.Table())
		if !c.Synced() || c.Real != rs[1] || c.Expires != int64(rec.Timeout)*int64(time.Second) {
			t.Fatalf("installed %+v", c)
		}
		// A TCP segment without SYN for an unknown tuple would be
		// dropped: it is forwarded because the entry is there.
		in := pkt{src: client, dst: vip, sport: 42000, dport: 80, udp: udp, ack: !udp, payload: []byte("more")}.build(t)
		r := e.Inbound(in, 1)
		if r.Drop != DropNone || r.NextHop != rs[1] {
			t.Fatalf("udp %v: inbound %+v", udp, r)
		}
		want := pkt{src: client, dst: rs[1], sport: 42000, dport: 8080, udp: udp, ack: !udp, ttl: 63, payload: []byte("more")}.build(t)
		checkValid(t, in)
		if string(in) != string(want) {
			t.Fatalf("udp %v: DNAT frame differs from golden:\n got %x\nwant %x", udp, in, want)
		}
		if got := e.Table().Dests()[r.Dest-1]; got != countsOf(e, proto, 1) {
			t.Fatalf("udp %v: Result.Dest names other counts", udp)
		}
		out := pkt{src: rs[1], dst: client, sport: 8080, dport: 42000, udp: udp, ack: !udp, payload: []byte("reply")}.build(t)
		r = e.Outbound(out, 1)
		if r.Drop != DropNone || r.NextHop != client {
			t.Fatalf("udp %v: outbound %+v", udp, r)
		}
		want = pkt{src: vip, dst: client, sport: 80, dport: 42000, udp: udp, ack: !udp, ttl: 63, payload: []byte("reply")}.build(t)
		checkValid(t, out)
		if string(out) != string(want) {
			t.Fatalf("udp %v: SNAT frame differs from golden:\n got %x\nwant %x", udp, out, want)
		}
		if n := countsOf(e, proto, 1).Conns.Load(); n != 0 {
			t.Fatalf("udp %v: a synced connection counted in Conns (%d): IPVS counts only scheduled ones", udp, n)
		}
		if st := e.Table().SyncStats(); st.Installed != 1 || st.Unbound != 0 {
			t.Fatalf("udp %v: %+v", udp, st)
		}
	}
}

// TestInstallSyncedCounts: a backup counts a synced connection as the
// record's IP_VS_CONN_F_INACTIVE says (ip_vs_bind_dest keeps the activity
// flag of a synced connection), and from its first frame through the
// table by its state.
func TestInstallSyncedCounts(t *testing.T) {
	e := newEngine(t, 1)
	cnt := countsOf(e, header.ProtocolTCP, 0)
	ack := func(cport uint16, fin bool) {
		t.Helper()
		if r := e.Inbound(pkt{src: client, dst: vip, sport: cport, dport: 80, ack: true, fin: fin}.build(t), 0); r.Drop != DropNone {
			t.Fatal(r.Drop)
		}
	}
	if err := e.InstallSynced(syncedTCP(1, rs[0]), 0); err != nil {
		t.Fatal(err)
	}
	checkCounts(t, "ESTABLISHED, active", cnt, 1, 0)

	inact := syncedTCP(2, rs[0])
	inact.Flags = SyncFlagInactive
	if err := e.InstallSynced(inact, 0); err != nil {
		t.Fatal(err)
	}
	checkCounts(t, "ESTABLISHED flagged inactive", cnt, 1, 1)
	ack(2, false)
	checkCounts(t, "its first frame here", cnt, 2, 0)

	fw := syncedTCP(3, rs[0])
	fw.State, fw.Flags = 4, SyncFlagInactive // FIN_WAIT
	if err := e.InstallSynced(fw, 0); err != nil {
		t.Fatal(err)
	}
	checkCounts(t, "FIN_WAIT", cnt, 2, 1)
	ack(3, false)
	checkCounts(t, "FIN_WAIT after a frame", cnt, 2, 1)
	ack(1, true) // ESTABLISHED -> CLOSE_WAIT
	checkCounts(t, "client FIN", cnt, 1, 2)

	e.Table().Expire(1 << 62)
	checkCounts(t, "expired", cnt, 0, 0)
	if n := cnt.Conns.Load(); n != 0 {
		t.Fatalf("Conns %d after synced connections only", n)
	}
}

// TestInstallSyncedExpiry: the entry lives for the record's timeout (0:
// the table's timeout for the state, as ip_vs_proc_conn takes
// timeout_table[state]) until a frame gives it the table's own.
func TestInstallSyncedExpiry(t *testing.T) {
	const T = int64(time.Hour)
	e := newEngine(t, 1)
	tb := e.Table()
	rec := syncedTCP(1, rs[0])
	rec.Timeout = 30
	if err := e.InstallSynced(rec, T); err != nil {
		t.Fatal(err)
	}
	if n := tb.Expire(T + 30*int64(time.Second) - 1); n != 0 {
		t.Fatal("expired before the record's timeout")
	}
	if n := tb.Expire(T + 30*int64(time.Second)); n != 1 || tb.Len() != 0 {
		t.Fatalf("expired %d at the record's timeout, %d left", n, tb.Len())
	}
	checkCounts(t, "after expiry", countsOf(e, header.ProtocolTCP, 0), 0, 0)

	cw := syncedTCP(2, rs[0])
	cw.State, cw.Flags, cw.Timeout = 7, SyncFlagInactive, 0 // CLOSE_WAIT, no timeout given
	if err := e.InstallSynced(cw, T); err != nil {
		t.Fatal(err)
	}
	if got := onlyConn(t, tb).Expires; got != T+int64(DefaultTimeouts[StateCloseWait]) {
		t.Fatalf("timeout 0 expires at %v, want the CLOSE_WAIT timeout", time.Duration(got-T))
	}
	tb.Expire(1 << 62)

	rec.CPort = 3
	if err := e.InstallSynced(rec, T); err != nil {
		t.Fatal(err)
	}
	e.Inbound(pkt{src: client, dst: vip, sport: 3, dport: 80, ack: true}.build(t), T+10*int64(time.Second))
	if n := tb.Expire(T + 40*int64(time.Second)); n != 0 {
		t.Fatal("a frame did not give the synced entry the table's timeout")
	}
	if got := onlyConn(t, tb).Expires; got != T+10*int64(time.Second)+int64(DefaultTimeouts[StateEstablished]) {
		t.Fatalf("expires %v after the frame", time.Duration(got-T))
	}
}

// TestInstallSyncedUpdate: a record for a tuple the table has updates it
// (ip_vs_proc_conn's update path); one with another real server replaces
// it if active and is ignored as stale if inactive.
func TestInstallSyncedUpdate(t *testing.T) {
	const T = int64(time.Hour)
	e := newEngine(t, 1, 1)
	tb := e.Table()
	c0, c1 := countsOf(e, header.ProtocolTCP, 0), countsOf(e, header.ProtocolTCP, 1)
	if err := e.InstallSynced(syncedTCP(9, rs[1]), T); err != nil {
		t.Fatal(err)
	}
	checkCounts(t, "installed", c1, 1, 0)

	fw := syncedTCP(9, rs[1])
	fw.State, fw.Flags, fw.Timeout = 4, SyncFlagInactive, 120
	if err := e.InstallSynced(fw, T+5*int64(time.Second)); err != nil {
		t.Fatal(err)
	}
	c := onlyConn(t, tb)
	if c.State != StateFinWait || c.Active() || c.Expires != T+125*int64(time.Second) {
		t.Fatalf("after update: state %v active %v expires %v", c.State, c.Active(), time.Duration(c.Expires-T))
	}
	checkCounts(t, "updated to FIN_WAIT", c1, 0, 1)

	stale := syncedTCP(9, rs[0])
	stale.State, stale.Flags = 6, SyncFlagInactive
	if err := e.InstallSynced(stale, T+6*int64(time.Second)); err != nil {
		t.Fatal(err)
	}
	if c := onlyConn(t, tb); c.Real != rs[1] || c.State != StateFinWait {
		t.Fatalf("an inactive record for another server changed the entry: %+v", c)
	}

	again := syncedTCP(9, rs[0])
	if err := e.InstallSynced(again, T+7*int64(time.Second)); err != nil {
		t.Fatal(err)
	}
	if c := onlyConn(t, tb); c.Real != rs[0] || c.State != StateEstablished {
		t.Fatalf("an active record for another server did not replace the entry: %+v", c)
	}
	checkCounts(t, "old server", c1, 0, 0)
	checkCounts(t, "new server", c0, 1, 0)
	if r := e.Inbound(pkt{src: client, dst: vip, sport: 9, dport: 80, ack: true}.build(t), T+8*int64(time.Second)); r.NextHop != rs[0] {
		t.Fatalf("frame after replacement went to %v", r.NextHop)
	}
	want := SyncStats{Installed: 2, Updated: 1, Replaced: 1, Stale: 1}
	if st := tb.SyncStats(); st != want {
		t.Fatalf("stats %+v, want %+v", st, want)
	}
}

// TestInstallSyncedUnbound: a record whose real server is not in the
// services is installed unbound and forwarded, as IPVS does; a record
// after the server was added binds it.
func TestInstallSyncedUnbound(t *testing.T) {
	e := newEngine(t, 1)
	rec := syncedTCP(5, rs[2])
	if err := e.InstallSynced(rec, 0); err != nil {
		t.Fatal(err)
	}
	r := e.Inbound(pkt{src: client, dst: vip, sport: 5, dport: 80, ack: true}.build(t), 0)
	if r.Drop != DropNone || r.NextHop != rs[2] || r.Dest != 0 {
		t.Fatalf("unbound entry: %+v", r)
	}
	if st := e.Table().SyncStats(); st.Unbound != 1 {
		t.Fatalf("stats %+v", st)
	}
	// Add rs[2] to the TCP service; the UDP one stays.
	var list []*Service
	for _, proto := range []uint8{header.ProtocolTCP, header.ProtocolUDP} {
		svc := *e.Services().Lookup(vip, 80, proto)
		if proto == header.ProtocolTCP {
			svc.Reals = append(svc.Reals[:len(svc.Reals):len(svc.Reals)], Real{Addr: rs[2], Port: 8080, Weight: 1})
		}
		list = append(list, &svc)
	}
	e.SetServices(list)
	cnt := countsOf(e, header.ProtocolTCP, 1)
	if err := e.InstallSynced(rec, 0); err != nil {
		t.Fatal(err)
	}
	checkCounts(t, "bound by the next record", cnt, 1, 0)
	if r := e.Inbound(pkt{src: client, dst: vip, sport: 5, dport: 80, ack: true}.build(t), 0); e.Table().Dests()[r.Dest-1] != cnt {
		t.Fatalf("bound entry: Result.Dest %d", r.Dest)
	}
	e.Table().Expire(1 << 62)
	checkCounts(t, "expired", cnt, 0, 0)
}

// TestInstallSyncedTableFull: records are refused, counted and reported
// when the client's shard is full; established entries are never evicted
// for them, embryonic ones are.
func TestInstallSyncedTableFull(t *testing.T) {
	e := NewEngine(NewTable(numShards, DefaultTimeouts)) // one entry per shard
	s, _ := scheduler.New("rr", []scheduler.Server{{Weight: 1}})
	e.SetServices([]*Service{{VIP: vip, Port: 80, Proto: header.ProtocolTCP, Reals: []Real{{Addr: rs[0], Port: 8080, Weight: 1}}, Sched: s}})
	tb := e.Table()

	// A local embryonic entry gives way to a synced one in its shard.
	if r := e.Inbound(pkt{src: client, dst: vip, sport: 1, dport: 80, syn: true}.build(t), 0); r.Drop != DropNone {
		t.Fatal(r.Drop)
	}
	home := tb.shardFor(client, 1, header.ProtocolTCP)
	var same uint16
	for p := uint16(2); ; p++ {
		if tb.shardFor(client, p, header.ProtocolTCP) == home {
			same = p
			break
		}
	}
	if err := e.InstallSynced(syncedTCP(same, rs[0]), 0); err != nil {
		t.Fatalf("synced record refused instead of evicting an embryonic entry: %v", err)
	}
	if tb.Evicted() != 1 {
		t.Fatalf("evicted %d", tb.Evicted())
	}

	var accepted []uint16
	refused := 0
	for p := uint16(2); p < 3000; p++ {
		if p == same {
			continue
		}
		err := e.InstallSynced(syncedTCP(p, rs[0]), 0)
		switch {
		case err == nil:
			accepted = append(accepted, p)
		case errors.Is(err, ErrTableFull):
			refused++
		default:
			t.Fatal(err)
		}
	}
	if refused == 0 || tb.Len() > numShards {
		t.Fatalf("%d refused, %d entries for a limit of %d", refused, tb.Len(), numShards)
	}
	if st := tb.SyncStats(); st.Refused != uint64(refused) || st.Installed != uint64(len(accepted)+1) {
		t.Fatalf("stats %+v, %d refused, %d accepted", st, refused, len(accepted))
	}
	// A SYN flood evicts none of them.
	for i := 0; i < 2000; i++ {
		src := [4]byte{198, 19, byte(i >> 8), byte(i)}
		if r := e.Inbound(pkt{src: src, dst: vip, sport: uint16(i), dport: 80, syn: true}.build(t), 0); r.Drop != DropTableFull {
			t.Fatalf("SYN %d into a table of established entries: %v", i, r.Drop)
		}
	}
	for _, p := range append(accepted, same) {
		if r := e.Inbound(pkt{src: client, dst: vip, sport: p, dport: 80, ack: true}.build(t), 0); r.Drop != DropNone {
			t.Fatalf("synced connection from port %d lost: %v", p, r.Drop)
		}
	}
	checkCounts(t, "server", countsOf(e, header.ProtocolTCP, 0), int64(tb.Len()), 0)
}

func TestInstallSyncedInvalid(t *testing.T) {
	e := newEngine(t, 1)
	icmp := syncedTCP(1, rs[0])
	icmp.Proto = header.ProtocolICMP
	tcp11 := syncedTCP(1, rs[0])
	tcp11.State = 11
	udp1 := syncedTCP(1, rs[0])
	udp1.Proto, udp1.State = header.ProtocolUDP, 1
	tmplICMP := icmp
	tmplICMP.Flags = SyncFlagTemplate
	for i, rec := range []SyncRecord{icmp, tcp11, udp1, tmplICMP} {
		if err := e.InstallSynced(rec, 0); !errors.Is(err, ErrSyncRecord) {
			t.Errorf("record %d: %v, want ErrSyncRecord", i, err)
		}
	}
	if st := e.Table().SyncStats(); st.Invalid != 4 || e.Table().Len() != 0 || e.Table().Templates() != 0 {
		t.Fatalf("stats %+v, %d entries", st, e.Table().Len())
	}
}

// TestInstallSyncedTemplate: a template record makes the backup send the
// client's network's new connections to the master's server, lives for
// the record's timeout (0: 3 minutes), moves with an update, and is
// bounded like the table.
func TestInstallSyncedTemplate(t *testing.T) {
	const T = int64(time.Hour)
	e, svc := persistentEngine(t, 600*time.Second, 24, 1, 1, 1)
	tmpl := SyncRecord{Client: [4]byte{198, 18, 0, 0}, VIP: vip, Real: rs[2], VPort: 80, RPort: 8080,
		Proto: header.ProtocolUDP, State: TemplateStateNone, Flags: SyncFlagTemplate | SyncFlagInactive, Timeout: 600}
	if err := e.InstallSynced(tmpl, T); err != nil {
		t.Fatal(err)
	}
	// rr would give the first connection rs[0].
	for i, from := range [][4]byte{client, {198, 18, 0, 77}} {
		if got := udpTo(t, e, from, uint16(100+i), T); got != rs[2] {
			t.Fatalf("client %v went to %v, want the synced template's %v", from, got, rs[2])
		}
	}
	per := e.Table().TemplatesPerDest()
	if len(per) != 1 || per[svc.Reals[2].dest] != 1 {
		t.Fatalf("templates per server %v", per)
	}
	tmpl.Real = rs[1]
	if err := e.InstallSynced(tmpl, T); err != nil {
		t.Fatal(err)
	}
	if got := udpTo(t, e, [4]byte{198, 18, 0, 9}, 200, T); got != rs[1] {
		t.Fatalf("after the template moved: %v, want %v", got, rs[1])
	}
	if st := e.Table().SyncStats(); st.Templates != 2 || st.Installed != 0 {
		t.Fatalf("stats %+v", st)
	}

	// Expiry with the synced timeout, on a backup with no connections.
	b, _ := persistentEngine(t, 600*time.Second, 24, 1, 1, 1)
	tmpl.Timeout = 60
	if err := b.InstallSynced(tmpl, T); err != nil {
		t.Fatal(err)
	}
	tmpl.Client, tmpl.Timeout = [4]byte{198, 18, 1, 0}, 0
	if err := b.InstallSynced(tmpl, T); err != nil {
		t.Fatal(err)
	}
	b.Table().Expire(T + 60*int64(time.Second) - 1)
	if n := b.Table().Templates(); n != 2 {
		t.Fatalf("%d templates before the synced timeout", n)
	}
	b.Table().Expire(T + 60*int64(time.Second))
	if n := b.Table().Templates(); n != 1 {
		t.Fatalf("%d templates after 60 s, want the one with IPVS's default of 3 minutes", n)
	}
	b.Table().Expire(T + int64(3*time.Minute))
	if n := b.Table().Templates(); n != 0 {
		t.Fatalf("%d templates after 3 minutes", n)
	}

	// Bounded: one template per template shard in a table of one entry
	// per shard.
	small := NewEngine(NewTable(numShards, DefaultTimeouts))
	small.SetServices([]*Service{svc})
	refused := 0
	for i := 0; i < 3000; i++ {
		tmpl.Client = [4]byte{10, byte(i >> 8), byte(i), 0}
		if err := small.InstallSynced(tmpl, T); errors.Is(err, ErrTableFull) {
			refused++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if refused == 0 || small.Table().Templates() > numShards {
		t.Fatalf("%d refused, %d templates", refused, small.Table().Templates())
	}
}

// TestSyncMasterToBackup runs the whole path: a master engine with sync on
// handles connections, its worker queues the records the frames produce,
// a consumer drains them into a backup engine (with its own counts for the
// same servers), and the backup then carries the connections' frames, and
// a persistent client's new connections, as the master would have.
func TestSyncMasterToBackup(t *testing.T) {
	master, backup := newEngine(t, 1, 1, 1), newEngine(t, 1, 1, 1)
	master.SetSync(true)
	q := NewSyncQueue(16)
	drain := func() {
		t.Helper()
		buf := make([]SyncRecord, 4)
		for n := q.Drain(buf); n > 0; n = q.Drain(buf) {
			for _, rec := range buf[:n] {
				if err := backup.InstallSynced(rec, 0); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	worker := func(r Result) {
		if r.Sync&SyncNeedConn != 0 && !q.Push(r.SyncRecord) {
			t.Fatal("queue full")
		}
		if r.Sync&SyncNeedTemplate != 0 && !q.Push(r.SyncRecord.Template()) {
			t.Fatal("queue full")
		}
	}
	// Three TCP connections, spread by wrr over the three servers.
	next := map[uint16][4]byte{}
	for p := uint16(30000); p < 30003; p++ {
		r := master.Inbound(pkt{src: client, dst: vip, sport: p, dport: 80, syn: true}.build(t), 0)
		worker(r)
		next[p] = r.NextHop
		worker(master.Outbound(pkt{src: r.NextHop, dst: client, sport: 8080, dport: p, syn: true, ack: true}.build(t), 0))
		for i := 0; i < 2; i++ {
			worker(master.Inbound(pkt{src: client, dst: vip, sport: p, dport: 80, ack: true}.build(t), 0))
		}
	}
	if q.Len() != 3 {
		t.Fatalf("%d records queued, want one per connection at its third packet", q.Len())
	}
	drain()
	if backup.Table().Len() != 3 {
		t.Fatalf("backup has %d connections", backup.Table().Len())
	}
	// Failover: the backup carries on.
	for p, real := range next {
		r := backup.Inbound(pkt{src: client, dst: vip, sport: p, dport: 80, ack: true, payload: []byte("x")}.build(t), 0)
		if r.Drop != DropNone || r.NextHop != real {
			t.Fatalf("port %d on the backup: %+v, master used %v", p, r, real)
		}
		if r := backup.Outbound(pkt{src: real, dst: client, sport: 8080, dport: p, ack: true}.build(t), 0); r.Drop != DropNone {
			t.Fatalf("reply on port %d: %v", p, r.Drop)
		}
	}
	for i := 0; i < 3; i++ {
		checkCounts(t, "backup server", countsOf(backup, header.ProtocolTCP, i), 1, 0)
	}

	// Persistence: the template record follows the connection's first
	// datagram, and the backup keeps the client's network on the
	// master's server.
	master, _ = persistentEngine(t, 600*time.Second, 24, 1, 1, 1)
	backup, _ = persistentEngine(t, 600*time.Second, 24, 1, 1, 1)
	master.SetSync(true)
	udpTo(t, master, [4]byte{10, 0, 0, 1}, 1, 0) // rr: rs[0]
	r := master.Inbound(pkt{src: client, dst: vip, sport: 2, dport: 80, udp: true}.build(t), 0)
	if r.NextHop != rs[1] || r.Sync != SyncNeedTemplate {
		t.Fatalf("master: %+v", r)
	}
	worker(r)
	drain()
	if backup.Table().Templates() != 1 || backup.Table().Len() != 0 {
		t.Fatalf("backup: %d templates, %d connections", backup.Table().Templates(), backup.Table().Len())
	}
	// The backup's rr would pick rs[0].
	if got := udpTo(t, backup, [4]byte{198, 18, 0, 200}, 3, 0); got != rs[1] {
		t.Fatalf("backup sent the client's network to %v, master chose %v", got, rs[1])
	}
}

// TestSyncedCountsAgainstTable installs random records (new, updates,
// replacements, stale ones, unknown servers, templates, refusals in a
// small table) between random frames and expiry sweeps, and checks after
// every step that each server's active and inactive counts are exactly
// what the table holds, and that they return to zero when everything
// expired.
func TestSyncedCountsAgainstTable(t *testing.T) {
	e := newEngineSize(t, 2*numShards, 1, 1)
	tb := e.Table()
	rng := rand.New(rand.NewPCG(*seedFlag, 7))
	reals := [][4]byte{rs[0], rs[1], rs[2]} // rs[2] is no server of the services
	now := int64(time.Hour)
	check := func(step int) {
		t.Helper()
		want := map[*scheduler.Counts][2]int64{}
		tb.Walk(func(c Conn) {
			cnt := tb.counts(&c)
			if cnt == nil {
				return
			}
			v := want[cnt]
			if c.Active() {
				v[0]++
			} else {
				v[1]++
			}
			want[cnt] = v
		})
		for _, proto := range []uint8{header.ProtocolTCP, header.ProtocolUDP} {
			for i := 0; i < 2; i++ {
				cnt := countsOf(e, proto, i)
				if a, n := cnt.Active.Load(), cnt.Inactive.Load(); a != want[cnt][0] || n != want[cnt][1] {
					t.Fatalf("step %d: proto %d server %d counts %d/%d, table holds %d/%d",
						step, proto, i, a, n, want[cnt][0], want[cnt][1])
				}
			}
		}
	}
	for step := 0; step < 20000; step++ {
		cport := uint16(1 + rng.IntN(400))
		udp := rng.IntN(3) == 0
		proto := uint8(header.ProtocolTCP)
		if udp {
			proto = header.ProtocolUDP
		}
		switch k := rng.IntN(10); {
		case k < 5:
			rec := SyncRecord{Client: client, VIP: vip, Real: reals[rng.IntN(3)], CPort: cport, VPort: 80, RPort: 8080,
				Proto: proto, State: uint16(rng.IntN(11)), Timeout: uint32(rng.IntN(120))}
			if udp {
				rec.State = 0
			}
			if rng.IntN(2) == 0 {
				rec.Flags |= SyncFlagInactive
			}
			if rng.IntN(20) == 0 {
				rec.Flags |= SyncFlagTemplate
				rec.CPort = 0
			}
			if err := e.InstallSynced(rec, now); err != nil && !errors.Is(err, ErrTableFull) {
				t.Fatalf("step %d: %v", step, err)
			}
		case k < 8:
			f := pkt{src: client, dst: vip, sport: cport, dport: 80, udp: udp,
				syn: !udp && rng.IntN(4) == 0, ack: !udp && rng.IntN(2) == 0, fin: !udp && rng.IntN(8) == 0,
				rst: !udp && rng.IntN(16) == 0}.build(t)
			e.Inbound(f, now)
		case k < 9:
			for _, real := range reals {
				f := pkt{src: real, dst: client, sport: 8080, dport: cport, udp: udp,
					ack: !udp, fin: !udp && rng.IntN(6) == 0}.build(t)
				e.Outbound(f, now)
			}
		default:
			now += int64(rng.IntN(60)) * int64(time.Second)
			tb.Expire(now)
		}
		check(step)
	}
	tb.Expire(1 << 62)
	check(-1)
	t.Logf("%+v, %d evicted", tb.SyncStats(), tb.Evicted())
}

// TestInstallSyncedPersistent: a synced connection of a persistent service
// is counted against its client's template (made from the connection until
// the template's record comes), keeps it alive while it lives, and once
// this director is master its frames sync the template on.
func TestInstallSyncedPersistent(t *testing.T) {
	e := NewEngine(NewTable(1<<16, DefaultTimeouts))
	svc := &Service{VIP: vip, Port: 80, Proto: header.ProtocolTCP, Persistence: 60 * time.Second, PersistBits: 24,
		Reals: []Real{{Addr: rs[0], Port: 8080, Weight: 1}, {Addr: rs[1], Port: 8080, Weight: 1}}}
	sched, err := scheduler.New("rr", []scheduler.Server{{Weight: 1}, {Weight: 1}})
	if err != nil {
		t.Fatal(err)
	}
	svc.Sched = sched
	e.SetServices([]*Service{svc})
	if err := e.InstallSynced(syncedTCP(42000, rs[1]), 0); err != nil {
		t.Fatal(err)
	}
	c := onlyConn(t, e.Table())
	if c.Persist != svc.Persistence || c.PersistBits != 24 || e.Table().Templates() != 1 {
		t.Fatalf("synced connection Persist %v bits %d, %d templates; want the service's and 1", c.Persist, c.PersistBits, e.Table().Templates())
	}
	// The template holds while the connection lives, past its own time.
	if n := e.Table().expireTemplates(int64(2 * time.Minute)); n != 0 {
		t.Fatalf("%d templates expired under a live connection", n)
	}
	// A new connection of the client (another address in its /24) goes
	// to the template's server, not to the scheduler's first pick.
	other := client
	other[3]++
	r := e.Inbound(pkt{src: other, dst: vip, sport: 42001, dport: 80, syn: true}.build(t), 0)
	if r.Drop != DropNone || r.NextHop != rs[1] {
		t.Fatalf("new connection of the client: drop %v to %v, want %v", r.Drop, r.NextHop, rs[1])
	}
	// As master, a frame of the synced connection syncs its template.
	e.SetSync(true)
	if err := e.SetSyncPolicy(SyncPolicy{Threshold: 3, Period: 50}); err != nil {
		t.Fatal(err)
	}
	r = e.Inbound(pkt{src: client, dst: vip, sport: 42000, dport: 80, ack: true}.build(t), 0)
	if r.Drop != DropNone || r.Sync&SyncNeedTemplate == 0 {
		t.Fatalf("frame of the synced connection: drop %v, sync %v; want a template record", r.Drop, r.Sync)
	}
	tr := r.SyncRecord.Template()
	if tr.Client != ([4]byte{198, 18, 0, 0}) || tr.Real != rs[1] || tr.Timeout != 60 {
		t.Fatalf("template record %+v", tr)
	}
}
