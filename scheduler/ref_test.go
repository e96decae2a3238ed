package scheduler

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// This file holds slow, obviously right references for every scheduler,
// written from the kernel's definitions rather than from the code under
// test, and checks the schedulers against them over random pools and
// random loads. Every test logs its seed; rerun with -seed=N to replay.

// refServer is a server as the references see it: what IPVS's struct
// ip_vs_dest holds at the moment of a pick.
type refServer struct {
	weight, lastWeight int
	key                string
	active, inactive   int64
	overload           bool
	present            bool // in the pool (lblc/lblcr entries may name servers that left)
}

func (d refServer) available() bool { return d.weight > 0 && !d.overload }
func (d refServer) overhead() int64 { return 256*d.active + d.inactive }

// ratio is x/y as an exact rational.
func ratio(x, y int64) *big.Rat { return new(big.Rat).SetFrac64(x, y) }

// firstMin returns the candidate whose cost is least, the first in the
// list among equals, or -1 if there is no candidate.
func firstMin(cands []int, cost func(i int) *big.Rat) int {
	if len(cands) == 0 {
		return -1
	}
	return slices.MinFunc(cands, func(a, b int) int { return cost(a).Cmp(cost(b)) })
}

func availableOf(ds []refServer) []int {
	var c []int
	for i, d := range ds {
		if d.available() {
			c = append(c, i)
		}
	}
	return c
}

// refLC: the least overhead among available servers, first among equals.
func refLC(ds []refServer) int {
	return firstMin(availableOf(ds), func(i int) *big.Rat { return ratio(ds[i].overhead(), 1) })
}

// refWLC: the least overhead/weight among available servers.
func refWLC(ds []refServer) int {
	return firstMin(availableOf(ds), func(i int) *big.Rat { return ratio(ds[i].overhead(), int64(ds[i].weight)) })
}

// refSED: the least (active+1)/weight among available servers.
func refSED(ds []refServer) int {
	return firstMin(availableOf(ds), func(i int) *big.Rat { return ratio(ds[i].active+1, int64(ds[i].weight)) })
}

// refNQ: the first available server without active connections, else sed.
func refNQ(ds []refServer) int {
	for _, i := range availableOf(ds) {
		if ds[i].active == 0 {
			return i
		}
	}
	return refSED(ds)
}

// refFO: the available server of the highest weight, first among equals.
func refFO(ds []refServer) int {
	c := availableOf(ds)
	if len(c) == 0 {
		return -1
	}
	return slices.MaxFunc(c, func(a, b int) int { return ds[a].weight - ds[b].weight })
}

// refOVF: like fo, among the servers with active <= weight.
func refOVF(ds []refServer) int {
	var c []int
	for _, i := range availableOf(ds) {
		if ds[i].active <= int64(ds[i].weight) {
			c = append(c, i)
		}
	}
	if len(c) == 0 {
		return -1
	}
	return slices.MaxFunc(c, func(a, b int) int { return ds[a].weight - ds[b].weight })
}

// refTwos draws as ip_vs_twos_schedule does with the random numbers x1
// and x2: the available servers' weights laid end to end on 1..W, with
// 0 belonging to the first; r in 0..W drawn from each x; the server owning
// r. Then the lighter per unit of weight, the first drawn among equals.
func refTwos(ds []refServer, x1, x2 uint64) int {
	var owner []int // owner[r] for r in 0..W
	for _, i := range availableOf(ds) {
		if len(owner) == 0 {
			owner = append(owner, i) // r = 0
		}
		for range ds[i].weight {
			owner = append(owner, i)
		}
	}
	if len(owner) == 0 {
		return -1
	}
	n := uint64(len(owner))
	c1, c2 := owner[below(x1, n)], owner[below(x2, n)]
	if ratio(ds[c2].overhead(), int64(ds[c2].weight)).Cmp(ratio(ds[c1].overhead(), int64(ds[c1].weight))) < 0 {
		return c2
	}
	return c1
}

// keyOrder returns the server indices in identity order: servers without
// a key by position, then by key.
func keyOrder(ds []refServer) []int {
	var unkeyed, keyed []int
	for i, d := range ds {
		if d.key == "" {
			unkeyed = append(unkeyed, i)
		} else {
			keyed = append(keyed, i)
		}
	}
	slices.SortFunc(keyed, func(a, b int) int { return strings.Compare(ds[a].key, ds[b].key) })
	return append(unkeyed, keyed...)
}

// tableWeight is the weight hashing tables are built from.
func tableWeight(d refServer) int {
	if d.weight == 0 {
		return d.lastWeight
	}
	return d.weight
}

// refSHTable lays the servers, in key order, each repeated max(1, weight)
// times, end to end and over again, and cuts the first 256.
func refSHTable(ds []refServer) []int {
	order := keyOrder(ds)
	if len(order) == 0 {
		return nil
	}
	var line []int
	for len(line) < hashBuckets {
		for _, i := range order {
			for range max(1, tableWeight(ds[i])) {
				line = append(line, i)
			}
		}
	}
	return line[:hashBuckets]
}

// refSH is ip_vs_sh_schedule, with the fallback's walk written out: the
// hash with offsets (b+k) mod 256.
func refSH(ds []refServer, tab []int, h Hint, fallback, port bool) int {
	if tab == nil {
		return -1
	}
	a := fold(&h.Src, h.IPv6)
	var p uint32
	if port {
		p = uint32(h.SrcPort)
	}
	b := (p + a) * 0x61C88647 >> 24
	if ds[tab[b]].available() {
		return tab[b]
	}
	if !fallback {
		return -1
	}
	for k := range uint32(256) {
		roff := (k + b) % 256
		if i := tab[(roff+(p+a)*0x61C88647>>24)%256]; ds[i].available() {
			return i
		}
	}
	return -1
}

// refDH deals the 256 buckets to the servers in key order, one each in
// turn; without the fallback a flow whose server is unavailable is
// refused, with it the next buckets are tried.
func refDH(ds []refServer, h Hint, fallback bool) int {
	order := keyOrder(ds)
	if len(order) == 0 {
		return -1
	}
	b := int(fold(&h.Dst, h.IPv6) * 2654435761 % 256)
	for k := range 256 {
		if k > 0 && !fallback {
			return -1
		}
		if i := order[(b+k)%256%len(order)]; ds[i].available() {
			return i
		}
	}
	return -1
}

// refMHTable fills a Maglev table as the paper describes it (section
// 3.4, Pseudocode 1), with each server taking its turns in a row: the
// full permutation of each server is listed, and next[j] counts how far
// server j has read its own.
func refMHTable(ds []refServer, size int) []int {
	order := keyOrder(ds)
	// Turns: weight/gcd shifted right until the largest fits in half the
	// bits of the table size, at least 1 for a positive weight.
	mw := 0
	for _, i := range order {
		mw = max(mw, tableWeight(ds[i]))
	}
	g := mw // the largest g dividing every positive weight, by brute force
	for ; g > 1; g-- {
		divides := true
		for _, i := range order {
			if w := tableWeight(ds[i]); w > 0 && w%g != 0 {
				divides = false
			}
		}
		if divides {
			break
		}
	}
	table := make([]int, size)
	for s := range table {
		table[s] = -1
	}
	if mw == 0 {
		return table
	}
	bitLen := func(x int) int {
		n := 0
		for ; x > 0; x >>= 1 {
			n++
		}
		return n
	}
	shift := max(0, bitLen(mw/g)-bitLen(size)/2)
	perm := make([][]int, len(order))
	turns := make([]int, len(order))
	for j, i := range order {
		if w := tableWeight(ds[i]); w > 0 {
			turns[j] = max(1, (w/g)>>shift)
		}
		key := ds[i].key
		if key == "" {
			key = fmt.Sprintf("\x00%d", i)
		}
		off, skip := mhPermutation(key, size)
		perm[j] = make([]int, size)
		for k := range size {
			perm[j][k] = (int(off) + k*int(skip)) % size
		}
	}
	next := make([]int, len(order))
	filled := 0
	for {
		for j, i := range order {
			for range turns[j] {
				c := perm[j][next[j]]
				for table[c] >= 0 {
					next[j]++
					c = perm[j][next[j]]
				}
				table[c] = i
				next[j]++
				if filled++; filled == size {
					return table
				}
			}
		}
	}
}

// refMH is ip_vs_mh_schedule over a table from refMHTable.
func refMH(ds []refServer, table []int, h Hint, fallback, port bool) int {
	m := uint32(len(table))
	v := fold(&h.Src, h.IPv6)
	if port {
		v += uint32(h.SrcPort)
	}
	slot := mhFlow(v) % m
	if table[slot] < 0 {
		return -1
	}
	if ds[table[slot]].available() {
		return table[slot]
	}
	if !fallback {
		return -1
	}
	for k := range m {
		if i := table[mhFlow(v+(k+slot)%m)%m]; ds[i].available() {
			return i
		}
	}
	return -1
}

// randomPool returns 0..maxN servers with random weights (some 0, some
// with a last weight), random unique keys (some empty), random
// thresholds-free counts and random overload flags, and their Counts.
func randomPool(r *rand.Rand, maxN int) []Server {
	n := r.IntN(maxN + 1)
	if n == 0 && r.IntN(2) == 0 {
		n = 1
	}
	s := make([]Server, n)
	keys := r.Perm(1000)
	scale := 1
	if r.IntN(3) == 0 {
		scale = 1 + r.IntN(10)
	}
	for i := range s {
		switch r.IntN(6) {
		case 0:
			s[i].Weight = 0
			if r.IntN(2) == 0 {
				s[i].LastWeight = 1 + r.IntN(20)
			}
		default:
			s[i].Weight = scale * (1 + r.IntN(20))
		}
		if r.IntN(8) != 0 {
			s[i].Key = fmt.Sprintf("10.%d.%d.%d:80", keys[i]%7, keys[i]/7%250, keys[i]%250)
		}
		if r.IntN(10) != 0 {
			s[i].Counts = new(Counts)
		}
	}
	return s
}

// randomLoad gives every server with Counts random counts and overload
// flags. keepOne makes sure some server of non-zero weight is available.
func randomLoad(r *rand.Rand, pool []Server, keepOne bool) {
	for {
		for _, s := range pool {
			if s.Counts == nil {
				continue
			}
			hi := int64(2*s.Weight + 3)
			s.Counts.Active.Store(r.Int64N(hi))
			if r.IntN(4) == 0 {
				s.Counts.Active.Store(0)
			}
			s.Counts.Inactive.Store(r.Int64N(600))
			s.Counts.overload.Store(r.IntN(5) == 0)
		}
		if !keepOne || slices.ContainsFunc(pool, func(s Server) bool { return s.Weight > 0 && !s.Counts.Overloaded() }) {
			return
		}
	}
}

// snapshot reads the pool as the references see it.
func snapshot(pool []Server) []refServer {
	ds := make([]refServer, len(pool))
	for i, s := range pool {
		ds[i] = refServer{weight: s.Weight, lastWeight: s.LastWeight, key: s.Key, present: true}
		if s.Counts != nil {
			ds[i].active = s.Counts.Active.Load()
			ds[i].inactive = s.Counts.Inactive.Load()
			ds[i].overload = s.Counts.Overloaded()
		}
	}
	return ds
}

// randomHint returns a flow from a small space of addresses, IPv4 or
// IPv6, so that flows repeat.
func randomHint(r *rand.Rand) Hint {
	var h Hint
	h.IPv6 = r.IntN(4) == 0
	n := 4
	if h.IPv6 {
		n = 16
	}
	for i := range n {
		h.Src[i] = byte(r.IntN(4))
		h.Dst[i] = byte(r.IntN(3))
	}
	h.Src[0], h.Dst[0] = 198, 203
	h.SrcPort = uint16(1024 + r.IntN(64))
	h.DstPort = 80
	h.Hash = r.Uint32()
	return h
}

func mustNewOpts(t testing.TB, name string, pool []Server, opts Options) Scheduler {
	t.Helper()
	s, err := NewWithOptions(name, pool, opts)
	if err != nil {
		t.Fatalf("%s %v: %v", name, pool, err)
	}
	return s
}

// TestLeastFamilyAgainstReference checks lc, wlc, sed, nq, fo and ovf
// against their references over random pools and loads.
func TestLeastFamilyAgainstReference(t *testing.T) {
	r := newRand(t)
	refs := map[string]func([]refServer) int{
		"lc": refLC, "wlc": refWLC, "sed": refSED, "nq": refNQ, "fo": refFO, "ovf": refOVF,
	}
	for p := range 600 {
		pool := randomPool(r, 16)
		for name, ref := range refs {
			s := mustNewOpts(t, name, pool, Options{})
			for k := range 20 {
				randomLoad(r, pool, false)
				ds := snapshot(pool)
				if got, want := s.Pick(randomHint(r)), ref(ds); got != want {
					t.Fatalf("pool %d pick %d %s: %d, reference %d\n%+v", p, k, name, got, want, ds)
				}
			}
		}
	}
}

// TestTwosAgainstReference gives twos and its reference the same random
// numbers.
func TestTwosAgainstReference(t *testing.T) {
	r := newRand(t)
	for p := range 600 {
		pool := randomPool(r, 16)
		s := mustNewOpts(t, "twos", pool, Options{})
		var xs []uint64
		s.(*twos).rnd = func() uint64 {
			x := r.Uint64()
			xs = append(xs, x)
			return x
		}
		for k := range 20 {
			randomLoad(r, pool, false)
			ds := snapshot(pool)
			xs = xs[:0]
			got := s.Pick(Hint{})
			var want int
			switch len(xs) {
			case 0:
				want = refTwos(ds, 0, 0) // must find no server
			case 2:
				want = refTwos(ds, xs[0], xs[1])
			default:
				t.Fatalf("twos drew %d numbers", len(xs))
			}
			if got != want {
				t.Fatalf("pool %d pick %d: %d, reference %d\n%+v", p, k, got, want, ds)
			}
		}
	}
}

// TestTwosDistribution checks that with equal loads twos's picks follow
// the weights (the kernel's draw gives the first server one extra chance
// in W+1, which this pool's W of 100 makes 1%).
func TestTwosDistribution(t *testing.T) {
	pool := []Server{{Weight: 50}, {Weight: 30}, {Weight: 0}, {Weight: 20}}
	s := mustNewOpts(t, "twos", pool, Options{})
	counts := make([]int, len(pool))
	const n = 200000
	for range n {
		counts[s.Pick(Hint{})]++
	}
	// With no load at all, the first drawn always wins: each server gets
	// what one weighted draw gives it.
	for i, want := range []float64{51.0 / 101, 30.0 / 101, 0, 20.0 / 101} {
		got := float64(counts[i]) / n
		if got < want-0.01 || got > want+0.01 {
			t.Errorf("server %d: %.3f of the picks, want %.3f", i, got, want)
		}
	}
}

// TestRRWRRAgainstReferenceWithOverload runs rr and wrr next to the
// kernel-walk references while servers' overload flags change between
// picks.
func TestRRWRRAgainstReferenceWithOverload(t *testing.T) {
	r := newRand(t)
	for p := range 400 {
		pool := randomPool(r, 12)
		for i := range pool {
			if pool[i].Counts == nil {
				pool[i].Counts = new(Counts)
			}
		}
		if !slices.ContainsFunc(pool, func(s Server) bool { return s.Weight > 0 }) {
			continue
		}
		weights := make([]int, len(pool))
		for i, s := range pool {
			weights[i] = s.Weight
		}
		overload := func(i int) bool { return pool[i].Counts.Overloaded() }
		refR, refW := newRefRR(weights), newRefWRR(weights)
		refR.overload, refW.overload = overload, overload
		pp, err := newPool(pool)
		if err != nil {
			t.Fatal(err)
		}
		rr, _ := newRR(pp, nil)
		wrr := wrrBothPool(pp)
		for k := range 300 {
			if k%7 == 0 {
				randomLoad(r, pool, true)
			}
			if got, want := rr.Pick(Hint{}), refR.pick(); got != want {
				t.Fatalf("pool %d %v rr pick %d: %d, reference %d", p, weights, k, got, want)
			}
			want := refW.pick()
			for mode, s := range wrr {
				if got := s.Pick(Hint{}); got != want {
					t.Fatalf("pool %d %v wrr (%s) pick %d: %d, reference %d", p, weights, mode, k, got, want)
				}
			}
		}
		// Everything overloaded: no pick, for either.
		for _, s := range pool {
			s.Counts.overload.Store(true)
		}
		if got := rr.Pick(Hint{}); got != -1 {
			t.Fatalf("pool %d: rr picked %d with every server overloaded", p, got)
		}
		for mode, s := range wrr {
			if got := s.Pick(Hint{}); got != -1 {
				t.Fatalf("pool %d: wrr (%s) picked %d with every server overloaded", p, mode, got)
			}
		}
	}
}

func TestWRROverloadSequence(t *testing.T) {
	pool := servers(4, 3, 2)
	pool[1].Counts = new(Counts)
	pool[1].Counts.overload.Store(true)
	pp, err := newPool(pool)
	if err != nil {
		t.Fatal(err)
	}
	for mode, s := range wrrBothPool(pp) {
		if got, want := letters(s, 12), "AAACACAAACAC"; got != want {
			t.Errorf("%s: %s, want %s", mode, got, want)
		}
	}
}

// TestHashingAgainstReference checks sh, dh and mh, with and without their
// flags, against their references.
func TestHashingAgainstReference(t *testing.T) {
	r := newRand(t)
	for p := range 300 {
		pool := randomPool(r, 20)
		size := []int{251, 509, 1021, 4093}[r.IntN(4)]
		opts := Options{Fallback: r.IntN(2) == 0, Port: r.IntN(2) == 0, MHTableSize: size}
		ds := snapshot(pool)
		shTab := refSHTable(ds)
		mhTab := refMHTable(ds, size)
		sS := mustNewOpts(t, "sh", pool, opts)
		dS := mustNewOpts(t, "dh", pool, opts)
		mS := mustNewOpts(t, "mh", pool, opts)
		if got := sS.(*sh).tab; shTab != nil && !slices.Equal(int32s(got[:]), shTab) {
			t.Fatalf("pool %d: sh table\n%v\nreference\n%v", p, got, shTab)
		}
		if got := mS.(*mh).table; !slices.Equal(int32s(got), mhTab) {
			t.Fatalf("pool %d: mh table differs from the reference", p)
		}
		for k := range 200 {
			if k%20 == 0 {
				randomLoad(r, pool, false)
				ds = snapshot(pool)
			}
			h := randomHint(r)
			if got, want := sS.Pick(h), refSH(ds, shTab, h, opts.Fallback, opts.Port); got != want {
				t.Fatalf("pool %d pick %d sh %+v: %d, reference %d", p, k, opts, got, want)
			}
			if got, want := dS.Pick(h), refDH(ds, h, opts.Fallback); got != want {
				t.Fatalf("pool %d pick %d dh %+v: %d, reference %d", p, k, opts, got, want)
			}
			if got, want := mS.Pick(h), refMH(ds, mhTab, h, opts.Fallback, opts.Port); got != want {
				t.Fatalf("pool %d pick %d mh %+v: %d, reference %d", p, k, opts, got, want)
			}
		}
	}
}

func int32s(s []int32) []int {
	out := make([]int, len(s))
	for i, v := range s {
		out[i] = int(v)
	}
	return out
}

// refLocality is the lblc and lblcr reference: a map from destination to
// the keys of its servers, newest first, with the use and modification
// times, over which the kernel's rules are followed literally.
type refLocality struct {
	expire  time.Duration
	entries map[Hint]*refEntry
	// What happened, so that the test can tell it covered each case.
	hits, rescheduled, expired, shrunk, grown int
}

type refEntry struct {
	keys             []string
	lastuse, lastmod time.Time
}

func destOf(h Hint) Hint {
	d := Hint{Dst: h.Dst, IPv6: h.IPv6}
	if !h.IPv6 {
		clear(d.Dst[4:])
	}
	return d
}

// find returns the entry of the destination, dropping it if expired.
func (l *refLocality) find(h Hint, now time.Time) *refEntry {
	d := destOf(h)
	en := l.entries[d]
	if en != nil && now.Sub(en.lastuse) >= l.expire {
		delete(l.entries, d)
		l.expired++
		return nil
	}
	return en
}

// byKey finds a server of the current pool by key, -1 if it is gone.
func byKey(ds []refServer, key string) int {
	return slices.IndexFunc(ds, func(d refServer) bool { return d.key == key })
}

// lblcOverloaded is is_overloaded in ip_vs_lblc.c.
func lblcOverloaded(ds []refServer, i int) bool {
	return ds[i].active > int64(ds[i].weight) &&
		slices.ContainsFunc(ds, func(d refServer) bool { return 2*d.active < int64(d.weight) })
}

func (l *refLocality) lblc(ds []refServer, h Hint, now time.Time) int {
	en := l.find(h, now)
	if en != nil {
		en.lastuse = now
		if i := byKey(ds, en.keys[0]); i >= 0 && ds[i].weight > 0 && !lblcOverloaded(ds, i) {
			l.hits++
			return i
		}
		l.rescheduled++
	}
	i := refWLC(ds)
	if i >= 0 {
		l.entries[destOf(h)] = &refEntry{keys: []string{ds[i].key}, lastuse: now}
	}
	return i
}

// setLoad is a member's overhead per unit of weight; a member gone from
// the pool is the most loaded of all.
func setLoad(ds []refServer, key string) (*big.Rat, bool) {
	i := byKey(ds, key)
	if i < 0 {
		return nil, false
	}
	return ratio(ds[i].overhead(), int64(max(ds[i].weight, 1))), true
}

func (l *refLocality) lblcr(ds []refServer, h Hint, now time.Time) int {
	en := l.find(h, now)
	if en == nil {
		i := refWLC(ds)
		if i >= 0 {
			l.entries[destOf(h)] = &refEntry{keys: []string{ds[i].key}, lastuse: now, lastmod: now}
		}
		return i
	}
	en.lastuse = now
	// The least loaded available member, first among equals.
	var cands []int
	for _, k := range en.keys {
		if i := byKey(ds, k); i >= 0 && ds[i].available() {
			cands = append(cands, i)
		}
	}
	least := firstMin(cands, func(i int) *big.Rat { return ratio(ds[i].overhead(), int64(ds[i].weight)) })
	// Shrink a set unchanged for longer than the expiry.
	if len(en.keys) > 1 && now.Sub(en.lastmod) > l.expire {
		drop := -1
		for k, key := range en.keys {
			if _, ok := setLoad(ds, key); !ok {
				drop = k
				break
			}
		}
		if drop < 0 {
			var most *big.Rat
			for k, key := range en.keys {
				i := byKey(ds, key)
				if ds[i].weight <= 0 {
					continue
				}
				if load, _ := setLoad(ds, key); most == nil || load.Cmp(most) > 0 {
					drop, most = k, load
				}
			}
		}
		if drop >= 0 {
			en.keys = slices.Delete(en.keys, drop, drop+1)
			en.lastmod = now
			l.shrunk++
		}
	}
	if least >= 0 && !lblcOverloaded(ds, least) {
		l.hits++
		return least
	}
	l.rescheduled++
	i := refWLC(ds)
	if i >= 0 && !slices.Contains(en.keys, ds[i].key) {
		en.keys = slices.Insert(en.keys, 0, ds[i].key)
		en.lastmod = now
		l.grown++
	}
	return i
}

// TestLocalityAgainstReference runs lblc and lblcr next to the reference
// under a fake clock, with loads changing, destinations expiring, sets
// growing and shrinking, and the pool rebuilt on the same Locality.
func TestLocalityAgainstReference(t *testing.T) {
	r := newRand(t)
	start := time.Now()
	for _, name := range []string{"lblc", "lblcr"} {
		var total refLocality
		for p := range 150 {
			expire := time.Duration(5+r.IntN(60)) * time.Second
			now := start
			clock := func() time.Time { return now }
			loc := NewLocality(1 << 12)
			ref := &refLocality{expire: expire, entries: map[Hint]*refEntry{}}
			// Every server has a key here: lblc and lblcr name servers by key.
			all := randomPool(r, 14)
			for i := range all {
				all[i].Key = fmt.Sprintf("s%02d", i)
				if all[i].Counts == nil {
					all[i].Counts = new(Counts)
				}
			}
			pool := all
			var s Scheduler
			rebuild := func() {
				s = mustNewOpts(t, name, pool, Options{Locality: loc, LBLCExpire: expire, Now: clock})
			}
			rebuild()
			for k := range 400 {
				switch {
				case k%50 == 49 && len(all) > 1:
					// A rebuild with some servers left out and weights changed.
					pool = nil
					for _, srv := range all {
						if r.IntN(4) != 0 {
							srv.Weight = r.IntN(3) * srv.Weight
							pool = append(pool, srv)
						}
					}
					rebuild()
				case k%5 == 0:
					randomLoad(r, pool, false)
				}
				now = now.Add(time.Duration(r.Int64N(int64(expire) / 4)))
				h := randomHint(r)
				ds := snapshot(pool)
				var want int
				if name == "lblc" {
					want = ref.lblc(ds, h, now)
				} else {
					want = ref.lblcr(ds, h, now)
				}
				if got := s.Pick(h); got != want {
					t.Fatalf("%s pool %d pick %d: %d, reference %d\n%+v", name, p, k, got, want, ds)
				}
			}
			total.hits += ref.hits
			total.rescheduled += ref.rescheduled
			total.expired += ref.expired
			total.shrunk += ref.shrunk
			total.grown += ref.grown
		}
		t.Logf("%s: %d hits, %d rescheduled, %d expired, %d sets shrunk, %d grown",
			name, total.hits, total.rescheduled, total.expired, total.shrunk, total.grown)
		if total.hits == 0 || total.rescheduled == 0 || total.expired == 0 ||
			name == "lblcr" && (total.shrunk == 0 || total.grown == 0) {
			t.Errorf("%s: the random runs missed a case", name)
		}
	}
}
