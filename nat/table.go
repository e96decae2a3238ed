package nat

import (
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/xvs-project/xvs/scheduler"
)

// numShards is the number of independently locked parts of the table. A
// power of two.
const numShards = 256

// DefaultMaxConns returns the table's capacity when none is configured:
// enough entries (about 120 bytes each, measured) to use an eighth of the
// machine's memory, at least 64 Ki and at most 16 Mi. The table grows to
// it as flows arrive; memory is not taken up front.
func DefaultMaxConns() int {
	const lo, hi, perEntry = 1 << 16, 1 << 24, 128
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err != nil {
		return lo
	}
	n := int(uint64(si.Totalram) * uint64(si.Unit) / 8 / perEntry)
	return min(max(n, lo), hi)
}

// Conn is one connection entry: a flow from a client to a virtual service,
// and the real server it was given to. It holds no pointers.
type Conn struct {
	Client, VIP, Real   [4]byte
	CPort, VPort, RPort uint16
	Proto               uint8
	State               State
	// ClientMAC is the link-layer source of the client's last frame: the
	// client or the router it came through.
	ClientMAC [6]byte
	// Expires is when the entry ends unless a frame refreshes it, in
	// nanoseconds of the clock the table is driven with.
	Expires                            int64
	InPkts, OutPkts, InBytes, OutBytes uint64
	// Dest is the real server's number in the table's registry of
	// connection counts.
	Dest uint32
	// Persist is the service's persistence timeout when the connection was
	// made through a persistence template (0: it was not), and PersistBits
	// the template's client prefix length.
	Persist     time.Duration
	PersistBits uint8
	used        bool
	// active is whether the connection is counted among its server's
	// active connections: IPVS's IP_VS_CONN_F_INACTIVE flag, inverted.
	// For a connection made here it is State == StateEstablished; for
	// one installed from a sync record it is what the record said until
	// a frame of the connection passes this table (see setState).
	active bool
	// synced marks a connection installed from a sync record
	// (IP_VS_CONN_F_SYNC).
	synced bool
	// syncState is the state the connection had when it was last synced
	// (IPVS's old_state), for SyncPolicy.Needed.
	syncState State
}

// Active reports whether the connection counts as active for the
// schedulers, as IPVS counts it: a TCP connection in ESTABLISHED. A
// connection installed from a sync record counts as the record said
// (IP_VS_CONN_F_INACTIVE) until its first frame through this table.
func (c *Conn) Active() bool { return c.active }

// Synced reports whether the connection was installed from a sync record
// (Table.InstallSynced) rather than made by this table's own scheduling.
func (c *Conn) Synced() bool { return c.synced }

// key is a flow's 5-tuple as seen in one direction. It has no padding, so it
// hashes as plain memory.
type key struct {
	a, b   [4]byte
	pa, pb uint16
	proto  uint8
	zero   [3]byte
}

// shard is one independently locked part of the table: a slab of entries
// and two indexes into it, by the client→VIP tuple (dirInput) and by the
// real→client tuple (dirOutput).
type shard struct {
	mu     sync.Mutex
	idx    [2]index
	conns  []Conn
	free   []uint32
	n      int
	cursor uint32 // where the next eviction search starts
	// slab is conns at its full capacity, published for Prefetch as the
	// index publishes its cells.
	slab atomic.Pointer[[]Conn]
	_    [64]byte // keep neighbouring shards' locks off one cache line
}

// setSlab installs a new slab of entries and publishes it for Prefetch.
func (s *shard) setSlab(conns []Conn) {
	s.conns = conns
	publish(&s.slab, conns)
}

// Table is the connection table. All methods are safe for concurrent use.
type Table struct {
	shards   [numShards]shard
	perShard int
	timeouts [numStates]int64

	// dests is the registry of real servers' connection counts, indexed by
	// Conn.Dest; append-only: registering publishes a longer slice under
	// destMu, whose first elements never change.
	dests   atomic.Pointer[[]*scheduler.Counts]
	destMu  sync.Mutex
	destIdx map[*scheduler.Counts]uint32 // the registry's numbers, under destMu

	tmpls   [numShards]tmplShard
	evicted atomic.Uint64
	sync    syncCounters
}

// register returns the registry number of c, adding it if new.
func (t *Table) register(c *scheduler.Counts) uint32 {
	t.destMu.Lock()
	defer t.destMu.Unlock()
	if i, ok := t.destIdx[c]; ok {
		return i
	}
	var cur []*scheduler.Counts
	if p := t.dests.Load(); p != nil {
		cur = *p
	}
	// Appending in place is safe: a reader's slice never reaches past
	// the elements it was published with, and those never change.
	next := append(cur, c)
	t.dests.Store(&next)
	if t.destIdx == nil {
		t.destIdx = map[*scheduler.Counts]uint32{}
	}
	t.destIdx[c] = uint32(len(next) - 1)
	return uint32(len(next) - 1)
}

// Dests returns the registry of real servers' connection counts: the
// counts of the real server numbered i (Result.Dest i+1) are Dests()[i].
// The registry only grows; the slice returned must not be modified.
func (t *Table) Dests() []*scheduler.Counts {
	if p := t.dests.Load(); p != nil {
		return *p
	}
	return nil
}

// counts returns the registered counts of a connection's real server, or
// nil for a connection made without a registered server (tests).
func (t *Table) counts(c *Conn) *scheduler.Counts {
	if p := t.dests.Load(); p != nil && int(c.Dest) < len(*p) {
		return (*p)[c.Dest]
	}
	return nil
}

// setState moves c to state st, keeping its server's active and inactive
// counts right. A connection installed from a sync record whose activity
// the record gave against its state (IP_VS_CONN_F_INACTIVE on an
// ESTABLISHED connection, say) is put right by its first frame here.
func (t *Table) setState(c *Conn, st State) {
	was := c.active
	c.State = st
	if now := st == StateEstablished; now != was {
		c.active = now
		if cnt := t.counts(c); cnt != nil {
			cnt.Move(was, now)
		}
	}
}

// NewTable returns a table for at most max connections (DefaultMaxConns() when
// max <= 0) with the given timeouts.
func NewTable(max int, t Timeouts) *Table {
	if max <= 0 {
		max = DefaultMaxConns()
	}
	tb := &Table{perShard: (max + numShards - 1) / numShards}
	for i := range tb.shards {
		s := &tb.shards[i]
		hint := tb.perShard
		if hint > 1024 {
			hint = 1024
		}
		s.idx[dirInput].init(hint)
		s.idx[dirOutput].init(hint)
		s.setSlab(make([]Conn, 0, hint))
	}
	for i, d := range t {
		tb.timeouts[i] = int64(d)
	}
	for i := range tb.tmpls {
		tb.tmpls[i].m = map[tmplKey]tmpl{}
	}
	return tb
}

// shardFor picks the shard of a flow from the client's address and port,
// which frames of both directions carry.
func (t *Table) shardFor(client [4]byte, cport uint16, proto uint8) *shard {
	h := uint32(client[0]) | uint32(client[1])<<8 | uint32(client[2])<<16 | uint32(client[3])<<24
	h ^= uint32(cport)<<16 | uint32(proto)
	h *= 0x9E3779B1
	return &t.shards[h>>(32-8)]
}

// insert is insertAt for a connection whose idle time starts now: its
// Expires less its state's timeout.
func (t *Table) insert(s *shard, c Conn) (uint32, bool) {
	return t.insertAt(s, c, c.Expires-t.timeouts[c.State])
}

// insertAt adds c under the shard's lock at time now, returning its index,
// or false when the shard is full and no embryonic entry could be evicted.
// A connection made here (not synced) counts as active exactly when it is
// ESTABLISHED.
func (t *Table) insertAt(s *shard, c Conn, now int64) (uint32, bool) {
	if !c.synced {
		c.active = c.State == StateEstablished
	}
	var idx uint32
	if n := len(s.free); n > 0 {
		idx = s.free[n-1]
		s.free = s.free[:n-1]
		s.conns[idx] = c
	} else if len(s.conns) < t.perShard {
		idx = uint32(len(s.conns))
		if len(s.conns) == cap(s.conns) {
			grown := make([]Conn, len(s.conns), min(max(2*cap(s.conns), 64), t.perShard))
			copy(grown, s.conns)
			s.setSlab(grown)
		}
		s.conns = append(s.conns, c)
	} else if v, ok := t.evictEmbryonic(s, now); ok {
		idx = v
		s.conns[idx] = c
	} else {
		return 0, false
	}
	s.conns[idx].used = true
	if cnt := t.counts(&s.conns[idx]); cnt != nil {
		cnt.Add(s.conns[idx].Active())
	}
	s.put(dirInput, idx)
	s.put(dirOutput, idx)
	s.n++
	return idx, true
}

// evictScan bounds how many entries a full shard looks at for one to evict.
const evictScan = 64

// evictEmbryonic makes room in a full shard by removing an embryonic TCP
// entry (SYN_RECV: a handshake the client never completed, what a SYN
// flood leaves behind), looking at up to evictScan entries from where the
// last search stopped. It returns the freed slot. Established and closing
// connections are never evicted: when no embryonic entry is found the new
// flow is refused.
func (t *Table) evictEmbryonic(s *shard, now int64) (uint32, bool) {
	n := uint32(len(s.conns))
	for i := 0; i < evictScan && n > 0; i++ {
		j := s.cursor % n
		s.cursor = j + 1
		if c := &s.conns[j]; c.used && c.State == StateSynRecv {
			t.remove(s, j, now)
			s.free = s.free[:len(s.free)-1] // remove pushed j; the caller takes it
			t.evicted.Add(1)
			return j, true
		}
	}
	return 0, false
}

// Evicted returns how many embryonic entries were evicted to make room.
func (t *Table) Evicted() uint64 { return t.evicted.Load() }

// remove deletes the entry at idx under the shard's lock; the connection
// ended at time now.
func (t *Table) remove(s *shard, idx uint32, now int64) {
	c := &s.conns[idx]
	t.releaseTemplate(c, now)
	if cnt := t.counts(c); cnt != nil {
		cnt.Remove(c.Active())
	}
	s.del(dirInput, idx)
	s.del(dirOutput, idx)
	s.conns[idx] = Conn{}
	s.free = append(s.free, idx)
	s.n--
}

// Expire removes every entry whose time has passed and returns how many.
// It takes one shard's lock at a time, so workers wait at most for the sweep
// of one shard.
func (t *Table) Expire(now int64) int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		for j := range s.conns {
			if s.conns[j].used && s.conns[j].Expires <= now {
				// It ended when its time ran out, not when the sweep came.
				t.remove(s, uint32(j), s.conns[j].Expires)
				n++
			}
		}
		s.mu.Unlock()
	}
	t.expireTemplates(now)
	return n
}

// Cap returns the number of entries the table holds at most.
func (t *Table) Cap() int { return t.perShard * numShards }

// Len returns the number of entries.
func (t *Table) Len() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		n += s.n
		s.mu.Unlock()
	}
	return n
}

// Walk calls fn with a copy of every entry, one shard at a time. fn must not
// call back into the table.
func (t *Table) Walk(fn func(Conn)) {
	var buf []Conn
	for i := range t.shards {
		s := &t.shards[i]
		buf = buf[:0]
		s.mu.Lock()
		for j := range s.conns {
			if s.conns[j].used {
				buf = append(buf, s.conns[j])
			}
		}
		s.mu.Unlock()
		for _, c := range buf {
			fn(c)
		}
	}
}

// Monotonic returns a clock reading in nanoseconds for driving the table.
func Monotonic() int64 { return int64(time.Since(epoch)) }

var epoch = time.Now()
