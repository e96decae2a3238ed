package scheduler

import (
	"encoding/binary"
	"sync"
	"time"
)

// DefaultLocalityEntries is the capacity of the Locality New makes when
// Options.Locality is nil, and of NewLocality(0): the kernel's lblc and
// lblcr max_size (IP_VS_LBLC_TAB_SIZE·16), past which the kernel starts
// collecting entries unused for 6 minutes.
const DefaultLocalityEntries = 16384

// LBLCRMaxSet is the most servers an lblcr destination's set holds. The
// kernel's sets are unbounded; when a set is full and must grow, its most
// loaded member makes room.
const LBLCRMaxSet = 16

// locShards is the number of independently locked parts of a Locality.
const locShards = 32

// entryTimeout is the kernel's ENTRY_TIMEOUT: when the table is full, an
// entry unused for that long may be collected to make room.
const entryTimeout = int64(6 * time.Minute)

// Locality is the table lblc and lblcr keep for a virtual service: which
// real server (lblc) or set of real servers (lblcr) each destination
// address was sent to, and when. It lives as long as the service and is
// shared by the Schedulers built for it (Options.Locality), so that a
// rebuild after a weight or health change keeps every destination on its
// server. Entries name servers by Key, so a server that leaves the pool
// and comes back finds its destinations again; an entry naming a server
// that is not in the pool is treated as naming an unavailable one.
//
// The table is preallocated with a fixed capacity and never allocates
// afterwards. An entry unused for Options.LBLCExpire (24 hours by
// default) expires; when the part of the table a new destination falls in
// is full, entries unused for 6 minutes are collected, and if none is,
// the destination is scheduled without being remembered, as the kernel
// does when it cannot allocate an entry.
//
// Concurrency: the table is split into 32 shards by destination address,
// each a mutex over a chained hash table. A Pick holds its destination's
// shard for the whole lookup, load check, scheduling and update, so the
// kernel's sequence is atomic per destination; Picks for destinations in
// different shards do not wait for each other. New takes a separate mutex
// to register the servers' keys.
//
// One Locality serves one scheduler kind at a time: building an lblcr
// Scheduler on a Locality used by lblc (or the reverse) starts a new,
// empty table of that kind. A Locality must be created by NewLocality.
type Locality struct {
	capacity int
	base     time.Time // the clock's zero

	mu    sync.Mutex // guards the fields below; taken by New only
	ids   map[string]int32
	lblc  *locTable[int32]
	lblcr *locTable[lblcrSet]
}

// NewLocality returns an empty Locality for about maxEntries destinations
// (rounded up to a multiple of 32); maxEntries <= 0 means
// DefaultLocalityEntries. The memory is allocated when a Scheduler first
// uses it: about 44 bytes an entry for lblc and 116 for lblcr, with the buckets.
func NewLocality(maxEntries int) *Locality {
	if maxEntries <= 0 {
		maxEntries = DefaultLocalityEntries
	}
	return &Locality{capacity: maxEntries, base: time.Now(), ids: make(map[string]int32)}
}

// Len returns the number of destinations the Locality holds now,
// expired ones included until they are collected.
func (l *Locality) Len() int {
	l.mu.Lock()
	a, b := l.lblc, l.lblcr
	l.mu.Unlock()
	if a != nil {
		return a.len()
	}
	if b != nil {
		return b.len()
	}
	return 0
}

// register gives every key of the pool its id, the stable name of a server
// in the table, and returns the pool's ids by server index and its index
// by id (-1 for ids not in the pool).
func (l *Locality) register(p *pool) (ids, index []int32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ids = make([]int32, len(p.keys))
	for i, k := range p.keys {
		id, ok := l.ids[k]
		if !ok {
			id = int32(len(l.ids))
			l.ids[k] = id
		}
		ids[i] = id
	}
	index = make([]int32, len(l.ids))
	for id := range index {
		index[id] = -1
	}
	for i, id := range ids {
		index[id] = int32(i)
	}
	return ids, index
}

func (l *Locality) lblcTable() *locTable[int32] {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lblc == nil {
		l.lblc, l.lblcr = newLocTable[int32](l.capacity), nil
	}
	return l.lblc
}

func (l *Locality) lblcrTable() *locTable[lblcrSet] {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lblcr == nil {
		l.lblc, l.lblcr = nil, newLocTable[lblcrSet](l.capacity)
	}
	return l.lblcr
}

// locTable is a fixed-capacity hash table from destination address to V,
// in shards.
type locTable[V any] struct {
	shards [locShards]locShard[V]
}

// locShard is one part of a locTable: chains of entries, linked by index,
// in a preallocated slice, with a free list. Guarded by mu.
type locShard[V any] struct {
	mu    sync.Mutex
	heads []int32 // bucket → first entry, -1 if none
	ents  []locEntry[V]
	free  int32 // first free entry, -1 if none
	used  int
	_     [cacheLine]byte // keep shards' locks apart
}

type locEntry[V any] struct {
	addr    [16]byte
	v6      bool
	next    int32 // next entry in the chain or the free list, -1 at the end
	lastuse int64 // nanoseconds since the Locality's base
	val     V
}

func newLocTable[V any](capacity int) *locTable[V] {
	per := (capacity + locShards - 1) / locShards
	buckets := 1
	for buckets < per {
		buckets <<= 1
	}
	t := new(locTable[V])
	for s := range t.shards {
		sh := &t.shards[s]
		sh.heads = make([]int32, buckets)
		for b := range sh.heads {
			sh.heads[b] = -1
		}
		sh.ents = make([]locEntry[V], per)
		for e := range sh.ents {
			sh.ents[e].next = int32(e + 1)
		}
		sh.ents[per-1].next = -1
	}
	return t
}

func (t *locTable[V]) len() int {
	n := 0
	for s := range t.shards {
		sh := &t.shards[s]
		sh.mu.Lock()
		n += sh.used
		sh.mu.Unlock()
	}
	return n
}

// destination returns the hint's destination address as the table keys
// it: an IPv4 address without the twelve ignored bytes.
func destination(h *Hint) [16]byte {
	a := h.Dst
	if !h.IPv6 {
		clear(a[4:])
	}
	return a
}

// locHash hashes a destination address for the table.
func locHash(a *[16]byte, v6 bool) uint64 {
	h := uint64(binary.BigEndian.Uint32(a[0:4]))
	if v6 {
		h = mix64(binary.BigEndian.Uint64(a[0:8])) ^ binary.BigEndian.Uint64(a[8:16])
	}
	return mix64(h ^ 0x51afd7ed558ccd3b)
}

func (t *locTable[V]) shard(h uint64) *locShard[V] {
	return &t.shards[h%locShards]
}

func (sh *locShard[V]) bucket(h uint64) int {
	return int((h >> 32) & uint64(len(sh.heads)-1))
}

// lookup returns the entry for the address, or -1. An entry unused for
// expire or longer is removed and not returned.
func (sh *locShard[V]) lookup(a *[16]byte, v6 bool, h uint64, now, expire int64) int32 {
	b := sh.bucket(h)
	prev := int32(-1)
	for e := sh.heads[b]; e >= 0; prev, e = e, sh.ents[e].next {
		en := &sh.ents[e]
		if en.addr != *a || en.v6 != v6 {
			continue
		}
		if now-en.lastuse >= expire {
			sh.unlink(b, prev, e)
			return -1
		}
		return e
	}
	return -1
}

// insert adds an entry for an address that has none and returns it, or -1
// if the shard is full even after collecting the entries unused for 6
// minutes (or expire, if shorter).
func (sh *locShard[V]) insert(a *[16]byte, v6 bool, h uint64, now, expire int64, val V) int32 {
	if sh.free < 0 {
		sh.collect(now, min(entryTimeout, expire))
		if sh.free < 0 {
			return -1
		}
	}
	e := sh.free
	en := &sh.ents[e]
	sh.free = en.next
	b := sh.bucket(h)
	*en = locEntry[V]{addr: *a, v6: v6, next: sh.heads[b], lastuse: now, val: val}
	sh.heads[b] = e
	sh.used++
	return e
}

// unlink removes entry e, which follows prev (-1: the head) in bucket b.
func (sh *locShard[V]) unlink(b int, prev, e int32) {
	next := sh.ents[e].next
	if prev < 0 {
		sh.heads[b] = next
	} else {
		sh.ents[prev].next = next
	}
	sh.ents[e].next = sh.free
	sh.free = e
	sh.used--
}

// collect removes the entries unused for idle or longer.
func (sh *locShard[V]) collect(now, idle int64) {
	for b := range sh.heads {
		prev := int32(-1)
		for e := sh.heads[b]; e >= 0; {
			next := sh.ents[e].next
			if now-sh.ents[e].lastuse >= idle {
				sh.unlink(b, prev, e)
			} else {
				prev = e
			}
			e = next
		}
	}
}

// localityBase is what lblc and lblcr share: the pool, the servers' ids
// in the Locality and the clock.
type localityBase struct {
	m      []member
	ids    []int32 // server index → id
	index  []int32 // id → server index, -1 if not in this pool
	base   time.Time
	expire int64
	now    func() time.Time
}

func newLocalityBase(p *pool, opts *Options) (*Locality, localityBase) {
	loc := opts.Locality
	if loc == nil {
		loc = NewLocality(0)
	}
	ids, index := loc.register(p)
	b := localityBase{m: p.m, ids: ids, index: index, base: loc.base, expire: int64(opts.LBLCExpire), now: opts.Now}
	if b.expire == 0 {
		b.expire = int64(DefaultLBLCExpire)
	}
	if b.now == nil {
		b.now = time.Now
	}
	return loc, b
}

// clock returns the time in nanoseconds since the Locality's base.
func (b *localityBase) clock() int64 {
	return int64(b.now().Sub(b.base))
}

// server returns the index of the server with the id, -1 if it is not in
// the pool.
func (b *localityBase) server(id int32) int {
	if id < 0 || int(id) >= len(b.index) {
		return -1
	}
	return int(b.index[id])
}

// overloaded is lblc's and lblcr's own test (is_overloaded in
// ip_vs_lblc.c): server i has more active connections than its weight,
// and some server in the pool has fewer than half its weight.
func (b *localityBase) overloaded(i int) bool {
	if d := &b.m[i]; d.c.active() <= uint64(d.w) {
		return false
	}
	for j := range b.m {
		if d := &b.m[j]; d.c.active()*2 < uint64(d.w) {
			return true
		}
	}
	return false
}

// lblc is the locality-based least-connection scheduler (IPVS "lblc",
// ip_vs_lblc.c), meant for cache clusters: connections to the same
// destination address go to the same server, so that its cache holds
// that destination's objects.
//
// The destination's entry names its server. If the server is in the pool,
// not quiesced, and not overloaded in lblc's sense (more active
// connections than its weight while some server has fewer than half its
// weight), it gets the connection. Otherwise wlc's choice does, and
// becomes the destination's server. As in the kernel, the Counts overload
// state (the thresholds) is not consulted for a destination's own server,
// only by the wlc choice. The entry's use time is renewed on every
// lookup.
type lblc struct {
	localityBase
	tab *locTable[int32]
}

func newLBLC(p *pool, opts *Options) (Scheduler, error) {
	loc, b := newLocalityBase(p, opts)
	return &lblc{localityBase: b, tab: loc.lblcTable()}, nil
}

// Pick implements Scheduler.
func (s *lblc) Pick(h Hint) int {
	now := s.clock()
	dst := destination(&h)
	hv := locHash(&dst, h.IPv6)
	sh := s.tab.shard(hv)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.lookup(&dst, h.IPv6, hv, now, s.expire)
	if e >= 0 {
		en := &sh.ents[e]
		en.lastuse = now
		if i := s.server(en.val); i >= 0 && s.m[i].w > 0 && !s.overloaded(i) {
			return i
		}
	}
	i := pickWLC(s.m)
	switch {
	case i < 0:
	case e >= 0:
		sh.ents[e].val = s.ids[i]
	default:
		sh.insert(&dst, h.IPv6, hv, now, s.expire, s.ids[i])
	}
	return i
}

// lblcrSet is an lblcr destination's server set, newest member first.
type lblcrSet struct {
	lastmod int64 // when a member was last added or removed
	n       int32
	ids     [LBLCRMaxSet]int32
}

// lblcr is the locality-based least-connection scheduler with replication
// (IPVS "lblcr", ip_vs_lblcr.c): like lblc, but a busy destination may be
// served by a set of servers.
//
// For a destination with an entry, the least loaded member of its set
// (overhead per unit of weight, skipping members that are quiesced,
// overloaded or gone from the pool) is taken. Then, if the set has more
// than one member and has not changed for Options.LBLCExpire, its most
// loaded member is dropped (the kernel's order: the member already taken
// may be the one dropped). If the member taken is overloaded in lblc's
// sense, or there is none, wlc's choice gets the connection and joins the
// set. A destination without an entry gets wlc's choice as its set. In
// the kernel the sets are unbounded; here a full set (LBLCRMaxSet) drops
// its most loaded member to make room, and a member gone from the pool
// counts as the most loaded.
type lblcr struct {
	localityBase
	tab *locTable[lblcrSet]
}

func newLBLCR(p *pool, opts *Options) (Scheduler, error) {
	loc, b := newLocalityBase(p, opts)
	return &lblcr{localityBase: b, tab: loc.lblcrTable()}, nil
}

// Pick implements Scheduler.
func (s *lblcr) Pick(h Hint) int {
	now := s.clock()
	dst := destination(&h)
	hv := locHash(&dst, h.IPv6)
	sh := s.tab.shard(hv)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.lookup(&dst, h.IPv6, hv, now, s.expire)
	if e < 0 {
		i := pickWLC(s.m)
		if i >= 0 {
			set := lblcrSet{lastmod: now, n: 1}
			set.ids[0] = s.ids[i]
			sh.insert(&dst, h.IPv6, hv, now, s.expire, set)
		}
		return i
	}
	en := &sh.ents[e]
	en.lastuse = now
	set := &en.val
	i := s.least(set)
	if set.n > 1 && now-set.lastmod > s.expire {
		if k := s.most(set); k >= 0 {
			set.erase(k, now)
		}
	}
	if i >= 0 && !s.overloaded(i) {
		return i
	}
	i = pickWLC(s.m)
	if i >= 0 {
		s.add(set, i, now)
	}
	return i
}

// least returns the set's member with the least overhead per unit of
// weight (ip_vs_dest_set_min), -1 if none can be picked.
func (s *lblcr) least(set *lblcrSet) int {
	least := -1
	var loh uint64
	for _, id := range set.ids[:set.n] {
		i := s.server(id)
		if i < 0 {
			continue
		}
		d := &s.m[i]
		if d.c.overload.Load() {
			continue
		}
		if least < 0 {
			if d.w > 0 {
				least, loh = i, d.c.overhead()
			}
			continue
		}
		if oh := d.c.overhead(); heavier(loh, uint64(s.m[least].w), oh, uint64(d.w)) {
			least, loh = i, oh
		}
	}
	return least
}

// most returns the position in the set of its member with the most
// overhead per unit of weight (ip_vs_dest_set_max), -1 if no member has a
// weight. A member gone from the pool comes first.
func (s *lblcr) most(set *lblcrSet) int {
	for k, id := range set.ids[:set.n] {
		if s.server(id) < 0 {
			return k
		}
	}
	most := -1
	var moh uint64
	var mw int64
	for k, id := range set.ids[:set.n] {
		d := &s.m[s.server(id)]
		if d.w <= 0 {
			continue
		}
		if oh := d.c.overhead(); most < 0 || heavier(oh, uint64(d.w), moh, uint64(mw)) {
			most, moh, mw = k, oh, d.w
		}
	}
	return most
}

// add puts server i first in the set unless it is a member already
// (ip_vs_dest_set_insert), making room if the set is full.
func (s *lblcr) add(set *lblcrSet, i int, now int64) {
	id := s.ids[i]
	for _, m := range set.ids[:set.n] {
		if m == id {
			return
		}
	}
	if set.n == LBLCRMaxSet {
		k := s.most(set)
		if k < 0 {
			k = int(set.n) - 1
		}
		set.erase(k, now)
	}
	copy(set.ids[1:set.n+1], set.ids[:set.n])
	set.ids[0] = id
	set.n++
	set.lastmod = now
}

// erase removes the member at position k (ip_vs_dest_set_erase).
func (set *lblcrSet) erase(k int, now int64) {
	copy(set.ids[k:set.n], set.ids[k+1:set.n])
	set.n--
	set.lastmod = now
}
