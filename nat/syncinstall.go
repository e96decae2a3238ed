package nat

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/xvs-project/xvs/internal/header"
)

// Errors of InstallSynced; the errors it returns wrap one of them.
var (
	// ErrTableFull: the connection table (or, for a template, its part
	// of the template table) is at its limit and nothing could be
	// evicted for the record.
	ErrTableFull = errors.New("connection table full")
	// ErrSyncRecord: the record is for something nat does not handle,
	// a protocol other than TCP and UDP or a state the protocol does
	// not have.
	ErrSyncRecord = errors.New("sync record not supported")
)

// noDest is the registry number of a synced connection or template whose
// real server is not (yet) among the services: it is nobody's, counts
// nowhere (Table.counts finds nothing), and gives Result.Dest 0.
const noDest = ^uint32(0)

// templateSyncTimeout is the life of a synced template whose record gives
// no timeout: IPVS's 3 minutes (ip_vs_proc_conn).
const templateSyncTimeout = 3 * time.Minute

// SyncStats counts what InstallSynced did with the records it was given.
type SyncStats struct {
	// Installed is the connections installed anew.
	Installed uint64
	// Updated is the connections already in the table that a record
	// updated (state, activity, timeout).
	Updated uint64
	// Templates is the persistence templates installed or updated.
	Templates uint64
	// Replaced is the connections removed because a record gave their
	// tuple another real server (the master scheduled the tuple anew).
	Replaced uint64
	// Stale is the records ignored because they were for a connection
	// the table already has with another real server and were
	// inactive: the end of a connection the master has since replaced.
	Stale uint64
	// Refused is the records refused because the table was full
	// (ErrTableFull).
	Refused uint64
	// Invalid is the records refused for their protocol or state
	// (ErrSyncRecord).
	Invalid uint64
	// Unbound is the connections and templates installed without a
	// real server: none of the services given matched the record's.
	// They are forwarded but counted nowhere.
	Unbound uint64
}

// syncCounters are a table's SyncStats as they are kept.
type syncCounters struct {
	installed, updated, templates, replaced atomic.Uint64
	stale, refused, invalid, unbound        atomic.Uint64
}

// SyncStats returns the counts of what InstallSynced did.
func (t *Table) SyncStats() SyncStats {
	c := &t.sync
	return SyncStats{
		Installed: c.installed.Load(), Updated: c.updated.Load(),
		Templates: c.templates.Load(), Replaced: c.replaced.Load(),
		Stale: c.stale.Load(), Refused: c.refused.Load(),
		Invalid: c.invalid.Load(), Unbound: c.unbound.Load(),
	}
}

// realKey names a real server of a virtual service.
type realKey struct {
	svc  svcKey
	addr [4]byte
	port uint16
}

// real returns the real server addr:port of the service vip:vport/proto,
// or nil. Its index is built at the first call, so snapshots that never
// meet a sync record do not pay for it.
func (s *Services) real(vip [4]byte, vport uint16, proto uint8, addr [4]byte, port uint16) *Real {
	s.realsOnce.Do(func() {
		s.reals = map[realKey]*Real{}
		for k, svc := range s.m {
			for i := range svc.Reals {
				r := &svc.Reals[i]
				s.reals[realKey{svc: k, addr: r.Addr, port: r.Port}] = r
			}
		}
	})
	return s.reals[realKey{svc: svcKey{addr: vip, port: vport, proto: proto}, addr: addr, port: port}]
}

// syncDest returns the registry number of a record's real server in
// services svcs, through its connection counts, or noDest and false.
func (t *Table) syncDest(svcs *Services, rec *SyncRecord) (uint32, bool) {
	if svcs == nil {
		return noDest, false
	}
	r := svcs.real(rec.VIP, rec.VPort, rec.Proto, rec.Real, rec.RPort)
	if r == nil || r.Counts == nil {
		return noDest, false
	}
	return t.register(r.Counts), true
}

// countSynced counts a synced connection bound to its server, as IPVS's
// ip_vs_bind_dest does: active or inactive as the record said, without
// adding to the server's Conns statistic, which IPVS counts only for
// connections it schedules (ip_vs_conn_stats), not for synced ones.
func (t *Table) countSynced(c *Conn) {
	if cnt := t.counts(c); cnt != nil {
		cnt.Add(c.active)
		cnt.Conns.Add(^uint64(0))
	}
}

// InstallSynced applies a sync record received from a master director at
// time now (Monotonic), as a kernel backup applies one (ip_vs_proc_conn):
//
// A connection record installs the connection, or updates the one the
// table has for the tuple (client, VIP, ports, protocol): its state, its
// activity (SyncFlagInactive), and its timeout. The timeout is the
// record's (seconds; 0: the table's timeout for the state) until a frame
// of the connection passes this table, which gives it the table's own.
// If the table has the tuple with another real server, an active record
// replaces it (the master scheduled the tuple anew) and an inactive one
// is ignored as stale: the end of the connection the master replaced.
//
// A new connection counts in its real server's counts as the record's
// SyncFlagInactive says (a kernel backup keeps the activity flag of a
// synced connection, ip_vs_bind_dest), not in the server's Conns total;
// from its first frame through this table it counts by its state like any
// other, so a connection the record called inactive but ESTABLISHED moves
// to the active count then. The real server is looked up in svcs (the
// caller's services; usually Engine.Services) by VIP, port, protocol and
// real address and port, and its counts found in the table's registry
// (Dests). A record whose server is not among svcs is installed unbound,
// as IPVS does: forwarded, counted nowhere, Result.Dest 0; a later record
// for it binds it once the server is there. A synced connection of a
// service with persistence (looked up in svcs) is counted against its
// client's template, made from the connection until the template's own
// record comes, as a connection scheduled here would be (IPVS's backup
// links none): the template lives while the connection does, and once
// this director is master the connection's frames sync the template on,
// so a director that joins later learns the client's real server too.
//
// A template record (SyncFlagTemplate) installs or updates the
// persistence template of its client (address already masked), VIP, port
// and protocol, pointing at the record's real server, for the record's
// timeout (0: 3 minutes). Unlike IPVS, which keeps an existing template's
// server, an update moves the template to the record's server: the
// master's choice is the one to follow.
//
// The table's limits hold: a record is refused with ErrTableFull (and
// counted, SyncStats.Refused) when the client's shard is full and has no
// embryonic (SYN_RECV) entry to evict; established connections are never
// evicted. Protocols other than TCP and UDP and states the protocol does
// not have are refused with ErrSyncRecord. Fields a kernel backup ignores
// are ignored: flags outside IP_VS_CONN_F_BACKUP_MASK and the forwarding
// method (nat's is NAT), and the record's Persist and PersistBits (the
// service's own are used). Packet and byte
// counts are left alone (IPVS sets in_pkts to sync_threshold; nat's
// counters are statistics, and SyncPolicy counts from them, so a backup
// that takes over syncs the connection at its third frame through it).
//
// It is safe for concurrent use with frames and other calls; it takes one
// shard's lock and allocates nothing unless the table grows.
func (t *Table) InstallSynced(rec SyncRecord, svcs *Services, now int64) error {
	if rec.Proto != header.ProtocolTCP && rec.Proto != header.ProtocolUDP {
		t.sync.invalid.Add(1)
		return fmt.Errorf("%w: protocol %d", ErrSyncRecord, rec.Proto)
	}
	if rec.Flags&SyncFlagTemplate != 0 {
		return t.installTemplate(&rec, svcs, now)
	}
	st, ok := StateFromIPVS(rec.Proto, rec.State)
	if !ok {
		t.sync.invalid.Add(1)
		return fmt.Errorf("%w: protocol %d state %d", ErrSyncRecord, rec.Proto, rec.State)
	}
	active := rec.Flags&SyncFlagInactive == 0
	timeout := t.timeouts[st]
	if rec.Timeout != 0 {
		timeout = int64(rec.Timeout) * int64(time.Second)
	}
	dest, bound := t.syncDest(svcs, &rec)

	c := Conn{
		Client: rec.Client, VIP: rec.VIP, Real: rec.Real,
		CPort: rec.CPort, VPort: rec.VPort, RPort: rec.RPort,
		Proto: rec.Proto, State: st, Dest: dest,
		Expires: now + timeout,
		active:  active, synced: true, syncState: st,
	}
	if svcs != nil {
		if svc := svcs.Lookup(rec.VIP, rec.VPort, rec.Proto); svc != nil && svc.Persistence > 0 {
			c.Persist, c.PersistBits = svc.Persistence, svc.PersistBits
		}
	}
	fk, rk := keyOf(&c, dirInput), keyOf(&c, dirOutput)
	s := t.shardFor(rec.Client, rec.CPort, rec.Proto)
	s.mu.Lock()
	defer s.mu.Unlock()
	if idx, found := s.get(dirInput, &fk); found {
		old := &s.conns[idx]
		if old.Real == rec.Real && old.RPort == rec.RPort {
			t.updateSynced(old, st, active, dest, bound, now+timeout)
			return nil
		}
		if !active {
			t.sync.stale.Add(1)
			return nil
		}
		t.remove(s, idx, now)
		t.sync.replaced.Add(1)
	}
	// The reply tuple must be the table's only one: a connection of the
	// same client port to another VIP on the same real server gives way
	// to an active record, as above.
	if idx, found := s.get(dirOutput, &rk); found {
		if !active {
			t.sync.stale.Add(1)
			return nil
		}
		t.remove(s, idx, now)
		t.sync.replaced.Add(1)
	}
	idx, ok := t.insertAt(s, c, now)
	if !ok {
		t.sync.refused.Add(1)
		return fmt.Errorf("%w: installing %v:%d", ErrTableFull, rec.Client, rec.CPort)
	}
	if c.Persist != 0 {
		t.bindSynced(&s.conns[idx], now)
	}
	// insertAt counted it with Add, which also counts a scheduled
	// connection in Conns: take that back.
	if cnt := t.counts(&s.conns[idx]); cnt != nil {
		cnt.Conns.Add(^uint64(0))
	}
	t.sync.installed.Add(1)
	if !bound {
		t.sync.unbound.Add(1)
	}
	return nil
}

// bindSynced counts a synced connection of a persistent service against
// its client's template, making the template from the connection if the
// template's own record has not come yet (the master sends it after the
// connection's), as a connection scheduled here is counted: the template
// then lives while the connection does, and when this director becomes
// master the connection's frames sync the template on to the next backup.
// With the template table full, the connection is left without a
// template. Called under the connection's shard lock.
func (t *Table) bindSynced(c *Conn, now int64) {
	k := tmplKey{client: mask(c.Client, c.PersistBits), vip: c.VIP, vport: c.VPort, proto: c.Proto}
	ts := t.tmplShardFor(&k)
	ts.mu.Lock()
	defer ts.mu.Unlock()
	tp, found := ts.m[k]
	if !found {
		if len(ts.m) >= t.perShard {
			c.Persist, c.PersistBits = 0, 0
			return
		}
		tp = tmpl{real: c.Real, rport: c.RPort, dest: c.Dest, expires: now + int64(c.Persist)}
	}
	tp.conns++
	ts.m[k] = tp
}

// updateSynced applies a record to the connection c the table already has
// with the record's real server, under its shard's lock, as
// ip_vs_proc_conn updates one: a change of activity moves it between its
// server's counts, an unbound connection is bound if its server is known
// now (ip_vs_try_bind_dest), and the state and timeout are the record's.
func (t *Table) updateSynced(c *Conn, st State, active bool, dest uint32, bound bool, expires int64) {
	if c.Dest == noDest && bound {
		c.Dest = dest
		c.active = active
		t.countSynced(c)
	} else if c.active != active {
		if cnt := t.counts(c); cnt != nil {
			cnt.Move(c.active, active)
		}
		c.active = active
	}
	c.State, c.syncState = st, st
	c.Expires = expires
	t.sync.updated.Add(1)
}

// installTemplate applies a template record (see InstallSynced).
func (t *Table) installTemplate(rec *SyncRecord, svcs *Services, now int64) error {
	timeout := int64(templateSyncTimeout)
	if rec.Timeout != 0 {
		timeout = int64(rec.Timeout) * int64(time.Second)
	}
	dest, bound := t.syncDest(svcs, rec)
	k := tmplKey{client: rec.Client, vip: rec.VIP, vport: rec.VPort, proto: rec.Proto}
	ts := t.tmplShardFor(&k)
	ts.mu.Lock()
	defer ts.mu.Unlock()
	tp, found := ts.m[k]
	if !found && len(ts.m) >= t.perShard {
		t.sync.refused.Add(1)
		return fmt.Errorf("%w: installing the template of %v", ErrTableFull, rec.Client)
	}
	// A template made here keeps its count of the connections it
	// controls; a synced one controls none.
	tp.real, tp.rport, tp.dest = rec.Real, rec.RPort, dest
	tp.expires = now + timeout
	ts.m[k] = tp
	t.sync.templates.Add(1)
	if !bound {
		t.sync.unbound.Add(1)
	}
	return nil
}

// InstallSynced is Table.InstallSynced over the engine's current services.
func (e *Engine) InstallSynced(rec SyncRecord, now int64) error {
	return e.table.InstallSynced(rec, e.services.Load(), now)
}
