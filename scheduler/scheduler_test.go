package scheduler

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
)

var seedFlag = flag.Int64("seed", 20240601, "seed for the randomized tests; rerun with the logged value to reproduce a failure")

func newRand(t testing.TB) *rand.Rand {
	t.Helper()
	t.Logf("random seed %d (override with -seed=N)", *seedFlag)
	return rand.New(rand.NewPCG(uint64(*seedFlag), 0x7363686564756c65))
}

// ipvsList is a literal model of the kernel's circular destination list:
// nodes 0..n-1 are the servers and node n is the list head, which is not a
// server. The references below walk it the way ip_vs_rr.c and ip_vs_wrr.c
// walk svc->destinations, one node at a time.
type ipvsList struct {
	weights []int
}

func (l ipvsList) head() int         { return len(l.weights) }
func (l ipvsList) next(node int) int { return (node + 1) % (len(l.weights) + 1) }

// refRR is the reference for ip_vs_rr_schedule: start after the last
// picked server (initially the head) and take the first server of
// non-zero weight that is not overloaded; give up after a whole lap,
// leaving the position as it was.
type refRR struct {
	l        ipvsList
	last     int
	overload func(i int) bool // IP_VS_DEST_F_OVERLOAD of server i
}

func newRefRR(weights []int) *refRR {
	l := ipvsList{weights}
	return &refRR{l: l, last: l.head(), overload: func(int) bool { return false }}
}

func (r *refRR) pick() int {
	node := r.last
	for steps := 0; steps <= len(r.l.weights)+1; steps++ {
		node = r.l.next(node)
		if node != r.l.head() && r.l.weights[node] > 0 && !r.overload(node) {
			r.last = node
			return node
		}
	}
	return -1
}

// refWRR is the reference for ip_vs_wrr_schedule with its mark: cl is the
// last node picked (initially the head), cw the current weight, mw the
// maximum weight and di the gcd of the non-zero weights, computed here by
// brute force. A server that is overloaded is walked past. The caller
// must leave at least one server of non-zero weight not overloaded (the
// kernel's give-up rule for an all-overloaded pool is not modelled).
type refWRR struct {
	l              ipvsList
	cl, cw, mw, di int
	overload       func(i int) bool
}

func newRefWRR(weights []int) *refWRR {
	l := ipvsList{weights}
	r := &refWRR{l: l, cl: l.head()}
	for _, w := range weights {
		r.mw = max(r.mw, w)
	}
	// The largest d that divides every non-zero weight; 1 if there is none,
	// as in ip_vs_wrr_gcd_weight.
	r.di = 1
	for d := r.mw; d >= 1; d-- {
		ok := true
		for _, w := range weights {
			if w > 0 && w%d != 0 {
				ok = false
				break
			}
		}
		if ok {
			r.di = d
			break
		}
	}
	r.cw = r.mw
	r.overload = func(int) bool { return false }
	return r
}

func (r *refWRR) pick() int {
	if r.mw == 0 {
		return -1
	}
	node := r.cl
	for {
		node = r.l.next(node)
		if node == r.l.head() {
			// The kernel's inner list walk ended: lower cw and walk again
			// from the head.
			r.cw -= r.di
			if r.cw <= 0 {
				r.cw = r.mw
			}
			continue
		}
		if r.l.weights[node] >= r.cw && !r.overload(node) {
			r.cl = node
			return node
		}
	}
}

func servers(weights ...int) []Server {
	s := make([]Server, len(weights))
	for i, w := range weights {
		s[i] = Server{Weight: w}
	}
	return s
}

func mustNew(t testing.TB, name string, weights ...int) Scheduler {
	t.Helper()
	s, err := New(name, servers(weights...))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// weightPool returns the validated pool of servers with these weights and
// no counts.
func weightPool(t testing.TB, weights ...int) *pool {
	t.Helper()
	p, err := newPool(servers(weights...))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// wrrBoth returns the wrr scheduler for weights in both of its modes.
func wrrBoth(t testing.TB, weights []int) map[string]Scheduler {
	return wrrBothPool(weightPool(t, weights...))
}

func wrrBothPool(p *pool) map[string]Scheduler {
	return map[string]Scheduler{
		"precomputed": newWRR(p, maxCycle),
		"step":        newWRR(p, 0),
	}
}

func letters(s Scheduler, n int) string {
	var b strings.Builder
	for range n {
		i := s.Pick(Hint{})
		if i < 0 {
			b.WriteByte('-')
		} else {
			b.WriteByte(byte('A' + i))
		}
	}
	return b.String()
}

// TestWRRExactSequences checks golden wrr cycles. The first, weights
// A=4 B=3 C=2, derived by hand from ip_vs_wrr_schedule: mw = 4, di =
// gcd(4,3,2) = 1, the mark starts at the list head with cw = mw = 4.
//
//	pick 1: walk from the head: A (4 >= 4) → A
//	pick 2: walk on from A: B (3 < 4), C (2 < 4), head: cw = 3;
//	        A (4 >= 3) → A
//	pick 3: from A: B (3 >= 3) → B
//	pick 4: from B: C (2 < 3), head: cw = 2; A → A
//	pick 5: from A: B (3 >= 2) → B
//	pick 6: from B: C (2 >= 2) → C
//	pick 7: from C: head: cw = 1; A → A
//	pick 8: B → B
//	pick 9: C → C
//	pick 10: from C: head: cw = 0 <= 0, so cw = mw = 4; A → A, and the
//	        cycle of 4+3+2 = 9 picks starts again.
//
// So one cycle is A A B A B C A B C: A 4 times, B 3, C 2.
//
// With B overloaded (its turns passed over, mw and di unchanged) the
// same walk gives A A A C A C; see TestWRROverloadSequence.
func TestWRRExactSequences(t *testing.T) {
	for _, tc := range []struct {
		weights []int
		want    string
	}{
		{[]int{4, 3, 2}, "AABABCABC"},
		{[]int{3, 2, 1}, "AABABC"},
		{[]int{1, 1, 1}, "ABC"},
		{[]int{4, 2}, "AAB"},          // gcd 2
		{[]int{0, 5, 0, 5}, "BD"},     // quiesced servers skipped, gcd 5
		{[]int{2, 0, 6, 4}, "CCDACD"}, // gcd 2: levels 6, 4, 2
		{[]int{1, 3}, "BBAB"},         // the heavy server need not be first
		{[]int{5}, "A"},               // single server
		{[]int{7, 7, 14}, "CABC"},     // gcd 7
		{[]int{3, 3, 1}, "ABABABC"},   // ties
		{[]int{100, 1}, strings.Repeat("A", 100) + "B"},
	} {
		for mode, s := range wrrBoth(t, tc.weights) {
			// Three whole cycles.
			if got, want := letters(s, 3*len(tc.want)), strings.Repeat(tc.want, 3); got != want {
				t.Errorf("wrr %v (%s): %s, want %s", tc.weights, mode, got, want)
			}
		}
		ref := newRefWRR(tc.weights)
		var got strings.Builder
		for range len(tc.want) {
			got.WriteByte(byte('A' + ref.pick()))
		}
		if got.String() != tc.want {
			t.Errorf("reference wrr %v: %s, want %s (the reference is wrong)", tc.weights, got.String(), tc.want)
		}
	}
}

func TestRRSequences(t *testing.T) {
	for _, tc := range []struct {
		weights []int
		want    string
	}{
		{[]int{1, 1, 1}, "ABC"},
		{[]int{4, 3, 2}, "ABC"}, // rr ignores the weight's size
		{[]int{0, 1, 0, 9, 1}, "BDE"},
		{[]int{5}, "A"},
	} {
		s := mustNew(t, "rr", tc.weights...)
		if got, want := letters(s, 3*len(tc.want)), strings.Repeat(tc.want, 3); got != want {
			t.Errorf("rr %v: %s, want %s", tc.weights, got, want)
		}
	}
}

func TestNoServerAvailable(t *testing.T) {
	for _, weights := range [][]int{nil, {}, {0}, {0, 0, 0}} {
		for _, name := range Names() {
			s := mustNew(t, name, weights...)
			for range 3 {
				if i := s.Pick(Hint{Hash: 1}); i != -1 {
					t.Errorf("%s %v: Pick = %d, want -1", name, weights, i)
				}
			}
		}
		for mode, s := range wrrBoth(t, weights) {
			if i := s.Pick(Hint{}); i != -1 {
				t.Errorf("wrr %v (%s): Pick = %d, want -1", weights, mode, i)
			}
		}
	}
}

// randomWeights returns a pool of 1..20 servers with weights 0..100,
// often with several servers quiesced and often with a common divisor.
func randomWeights(r *rand.Rand) []int {
	w := make([]int, 1+r.IntN(20))
	scale := 1
	if r.IntN(3) == 0 {
		scale = 1 + r.IntN(10)
	}
	for i := range w {
		switch r.IntN(5) {
		case 0:
			w[i] = 0
		default:
			w[i] = min(100, scale*r.IntN(101/scale+1))
		}
	}
	return w
}

func TestAgainstReferenceRandomPools(t *testing.T) {
	r := newRand(t)
	const pools = 1500
	for p := range pools {
		weights := randomWeights(r)
		refW := newRefWRR(weights)
		refR := newRefRR(weights)
		wrr := wrrBoth(t, weights)
		rr := mustNew(t, "rr", weights...)
		length := 0
		for _, w := range weights {
			length += w / refW.di
		}
		// Two whole cycles and a bit.
		for k := range 2*length + 17 {
			want := refW.pick()
			for mode, s := range wrr {
				if got := s.Pick(Hint{}); got != want {
					t.Fatalf("pool %d %v (%s): pick %d = %d, reference %d", p, weights, mode, k, got, want)
				}
			}
			if got, want := rr.Pick(Hint{}), refR.pick(); got != want {
				t.Fatalf("pool %d %v rr: pick %d = %d, reference %d", p, weights, k, got, want)
			}
		}
	}
}

func TestCycleLengthLimit(t *testing.T) {
	// Cycle of exactly maxCycle entries: precomputed.
	s := mustNew(t, "wrr", maxCycle-1, 1)
	if c, ok := s.(*cycle); !ok || len(c.seq) != maxCycle {
		t.Fatalf("cycle of %d entries not precomputed: %T", maxCycle, s)
	}
	// With a gcd the weights may be far larger.
	s = mustNew(t, "wrr", 3*(maxCycle-1), 3)
	if _, ok := s.(*cycle); !ok {
		t.Fatalf("cycle of %d entries with gcd 3 not precomputed: %T", maxCycle, s)
	}
	// One more entry: step mode, same sequence.
	weights := []int{maxCycle, 0, 1}
	s = mustNew(t, "wrr", weights...)
	if _, ok := s.(*wrrStep); !ok {
		t.Fatalf("cycle of %d entries precomputed: %T", maxCycle+1, s)
	}
	ref := newRefWRR(weights)
	for k := range 2*(maxCycle+1) + 3 {
		if got, want := s.Pick(Hint{}), ref.pick(); got != want {
			t.Fatalf("step mode pick %d = %d, reference %d", k, got, want)
		}
	}
	// Huge weights work too.
	s = mustNew(t, "wrr", MaxWeight, MaxWeight-1, 1)
	if got := letters(s, 5); got != "AABAB" {
		t.Fatalf("huge weights: %s", got)
	}
}

func TestProportionalOverWholeCycles(t *testing.T) {
	weights := []int{4, 3, 2, 0, 6}
	const cycles = 50
	for mode, s := range wrrBoth(t, weights) {
		counts := make([]int, len(weights))
		for range cycles * (4 + 3 + 2 + 6) {
			counts[s.Pick(Hint{})]++
		}
		for i, w := range weights {
			if counts[i] != cycles*w {
				t.Errorf("%s: server %d (weight %d) picked %d times, want %d", mode, i, w, counts[i], cycles*w)
			}
		}
	}
}

// TestConcurrentExactTotals runs 8 goroutines that together make a whole
// number of cycles; the totals must be exact. Run it with -race.
func TestConcurrentExactTotals(t *testing.T) {
	const goroutines = 8
	const cyclesPerGoroutine = 40
	for _, tc := range []struct {
		name    string
		s       Scheduler
		weights []int
		perLap  func(w int) int // picks per cycle for a server of weight w
	}{
		{"wrr precomputed", newWRR(weightPool(t, 4, 3, 2, 0, 1), maxCycle), []int{4, 3, 2, 0, 1}, func(w int) int { return w }},
		{"wrr step", newWRR(weightPool(t, 6, 0, 9, 3), 0), []int{6, 0, 9, 3}, func(w int) int { return w / 3 }},
		{"rr", mustNew(t, "rr", 5, 0, 1, 1), []int{5, 0, 1, 1}, func(w int) int { return min(w, 1) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			length := 0
			for _, w := range tc.weights {
				length += tc.perLap(w)
			}
			totals := make([][]int, goroutines)
			var wg sync.WaitGroup
			for g := range goroutines {
				totals[g] = make([]int, len(tc.weights))
				wg.Go(func() {
					for range cyclesPerGoroutine * length {
						totals[g][tc.s.Pick(Hint{Hash: uint32(g)})]++
					}
				})
			}
			wg.Wait()
			for i, w := range tc.weights {
				sum := 0
				for g := range goroutines {
					sum += totals[g][i]
				}
				if want := goroutines * cyclesPerGoroutine * tc.perLap(w); sum != want {
					t.Errorf("server %d (weight %d): %d picks, want %d", i, w, sum, want)
				}
			}
		})
	}
}

func TestPickDoesNotAllocate(t *testing.T) {
	cases := map[string]Scheduler{
		"wrr step": newWRR(weightPool(t, 4, 3, 2), 0),
		"empty":    mustNew(t, "wrr"),
	}
	for _, name := range Names() {
		for _, fallback := range []bool{false, true} {
			pool := benchPool(20)
			// Some servers unavailable, so that the skips and fallbacks run.
			pool[3].Counts.overload.Store(true)
			pool[7].Weight = 0
			s, err := NewWithOptions(name, pool, Options{Fallback: fallback, Port: true})
			if err != nil {
				t.Fatal(err)
			}
			cases[fmt.Sprintf("%s fallback=%v", name, fallback)] = s
		}
	}
	for name, s := range cases {
		var h Hint
		var sink int
		n := testing.AllocsPerRun(2000, func() {
			h.Src[3]++
			h.Dst[2]++
			h.SrcPort++
			sink += s.Pick(h)
		})
		if n != 0 {
			t.Errorf("%s: %v allocations per Pick", name, n)
		}
		_ = sink
	}
}

func TestNewErrors(t *testing.T) {
	for _, name := range []string{"", "RR", "WLC", "round-robin", "wrr ", "random"} {
		if _, err := New(name, servers(1)); !errors.Is(err, ErrUnknownScheduler) {
			t.Errorf("New(%q): %v, want ErrUnknownScheduler", name, err)
		}
	}
	tooBig := MaxWeight
	tooBig++ // wraps to a negative weight where int is 32 bits: also invalid
	for _, w := range []int{-1, tooBig} {
		if _, err := New("wrr", servers(1, w)); !errors.Is(err, ErrInvalidWeight) {
			t.Errorf("weight %d: %v, want ErrInvalidWeight", w, err)
		}
	}
	if _, err := New("rr", servers(0, MaxWeight)); err != nil {
		t.Errorf("weights 0 and MaxWeight: %v", err)
	}
	for _, w := range []int{-1, tooBig} {
		if _, err := New("mh", []Server{{Weight: 0, LastWeight: w}}); !errors.Is(err, ErrInvalidWeight) {
			t.Errorf("last weight %d: %v, want ErrInvalidWeight", w, err)
		}
	}
	dup := []Server{{Weight: 1, Key: "a"}, {Weight: 1, Key: "b"}, {Weight: 2, Key: "a"}}
	for _, name := range Names() {
		if _, err := New(name, dup); !errors.Is(err, ErrDuplicateKey) {
			t.Errorf("%s with a duplicate key: %v, want ErrDuplicateKey", name, err)
		}
		// Servers without a key are told apart by position.
		if _, err := New(name, []Server{{Weight: 1}, {Weight: 1}}); err != nil {
			t.Errorf("%s without keys: %v", name, err)
		}
	}
	for _, opts := range []Options{{MHTableSize: 4096}, {MHTableSize: 2, LBLCExpire: 1}} {
		if _, err := NewWithOptions("mh", servers(1, 1, 1), opts); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("%+v: %v, want ErrInvalidOption", opts, err)
		}
	}
	if _, err := NewWithOptions("lblc", servers(1), Options{LBLCExpire: -1}); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("negative LBLCExpire: %v, want ErrInvalidOption", err)
	}
}

func TestNames(t *testing.T) {
	names := Names()
	want := []string{"dh", "fo", "lblc", "lblcr", "lc", "mh", "nq", "ovf", "rr", "sed", "sh", "twos", "wlc", "wrr"}
	if !slices.Equal(names, want) {
		t.Fatalf("Names() = %v, want %v", names, want)
	}
	names[0] = "changed"
	if Names()[0] != "dh" {
		t.Fatal("Names returns shared state")
	}
	for _, n := range Names() {
		if _, err := New(n, servers(1)); err != nil {
			t.Errorf("New(%q): %v", n, err)
		}
	}
}

func TestSnapshotIsCopied(t *testing.T) {
	pool := servers(4, 3, 2)
	s, err := New("wrr", pool)
	if err != nil {
		t.Fatal(err)
	}
	pool[0].Weight, pool[2].Weight = 0, 100
	if got := letters(s, 9); got != "AABABCABC" {
		t.Fatalf("after the caller changed its slice: %s", got)
	}
}

// BenchmarkNewWRR measures building a snapshot with a cycle near the limit.
func BenchmarkNewWRR(b *testing.B) {
	pool := make([]Server, 200)
	for i := range pool {
		pool[i].Weight = 1 + i*3
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := New("wrr", pool); err != nil {
			b.Fatal(err)
		}
	}
}
