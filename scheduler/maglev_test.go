package scheduler

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// keyedPool returns n servers of weight 1 with distinct keys drawn from r.
func keyedPool(r *rand.Rand, n int) []Server {
	pool := make([]Server, n)
	seen := map[string]bool{}
	for i := range pool {
		for {
			k := fmt.Sprintf("10.%d.%d.%d:%d", r.IntN(256), r.IntN(256), r.IntN(256), 80+r.IntN(3))
			if !seen[k] {
				seen[k] = true
				pool[i] = Server{Weight: 1, Key: k, Counts: new(Counts)}
				break
			}
		}
	}
	return pool
}

// owners returns, for each slot of an mh Scheduler's table, the key of
// its server ("" for none).
func owners(t testing.TB, pool []Server, opts Options) []string {
	t.Helper()
	s := mustNewOpts(t, "mh", pool, opts).(*mh)
	out := make([]string, len(s.table))
	for slot, i := range s.table {
		if i >= 0 {
			out[slot] = pool[i].Key
		}
	}
	return out
}

func TestMaglevEqualWeightsBalance(t *testing.T) {
	r := newRand(t)
	for _, size := range []int{251, 4093, 65537} {
		for _, n := range []int{1, 2, 3, 7, 10, 100, 250} {
			if n > size {
				continue
			}
			pool := keyedPool(r, n)
			slots := map[string]int{}
			for _, k := range owners(t, pool, Options{MHTableSize: size}) {
				slots[k]++
			}
			lo, hi := size/n, (size+n-1)/n
			for _, s := range pool {
				if c := slots[s.Key]; c < lo || c > hi {
					t.Errorf("M=%d N=%d: %s owns %d slots, want %d..%d", size, n, s.Key, c, lo, hi)
				}
			}
		}
	}
}

// TestMaglevWeightsProportional: a server's slots follow its turns, its
// weight over the gcd (shifted down for large ratios): each round hands
// out every server's turns, so a server owns its share of the table to
// within one round's turns.
func TestMaglevWeightsProportional(t *testing.T) {
	r := newRand(t)
	for trial := range 50 {
		n := 2 + r.IntN(30)
		pool := keyedPool(r, n)
		scale := 1 + r.IntN(5)
		for i := range pool {
			pool[i].Weight = scale * (1 + r.IntN(10))
		}
		if trial%10 == 0 {
			pool[0].Weight = 100000 // a large ratio: turns are shifted
		}
		size := 65537
		weights := make([]int, n)
		for i := range pool {
			weights[i] = pool[i].Weight
		}
		turns := mhTurns(weights, size)
		total := 0
		for _, tn := range turns {
			total += tn
		}
		slots := map[string]int{}
		for _, k := range owners(t, pool, Options{MHTableSize: size}) {
			slots[k]++
		}
		for i, s := range pool {
			want := float64(size) * float64(turns[i]) / float64(total)
			if got := float64(slots[s.Key]); got < want-float64(turns[i])-1 || got > want+float64(turns[i])+1 {
				t.Errorf("trial %d: server %d weight %d turns %d/%d owns %v slots, want %.1f ± %d", trial, i, s.Weight, turns[i], total, got, want, turns[i])
			}
		}
	}
	// The kernel's shift: weights 1 and 1000 at M=4093 (bits 12, so turns
	// stay below 2^6): 1000 needs 10 bits, shifted right by 4, 62 turns.
	if got := mhTurns([]int{1, 1000, 0}, 4093); !slices.Equal(got, []int{1, 62, 0}) {
		t.Errorf("turns %v, want [1 62 0]", got)
	}
}

// TestMaglevSameTableEverywhere: two directors given the same servers in
// different orders build the same table.
func TestMaglevSameTableEverywhere(t *testing.T) {
	r := newRand(t)
	for range 20 {
		pool := keyedPool(r, 1+r.IntN(50))
		for i := range pool {
			pool[i].Weight = 1 + r.IntN(5)
		}
		a := owners(t, pool, Options{})
		shuffled := slices.Clone(pool)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		if b := owners(t, shuffled, Options{}); !slices.Equal(a, b) {
			t.Fatal("the same pool in another order gives another table")
		}
	}
}

// moved counts the slots whose owner differs, among those whose owner in
// before is not skip.
func moved(before, after []string, skip string) int {
	n := 0
	for s := range before {
		if before[s] != skip && after[s] != before[s] {
			n++
		}
	}
	return n
}

// TestMaglevQuiesceMovesNothingElse: quiescing a server (weight 0, its
// last weight kept, as keepalived's inhibit_on_failure does and as the
// kernel's mh keeps last_weight) or its overload leaves every slot where
// it was; with mh-fallback only the flows of that server go elsewhere,
// without it they are refused.
func TestMaglevQuiesceMovesNothingElse(t *testing.T) {
	r := newRand(t)
	for range 20 {
		n := 2 + r.IntN(40)
		pool := keyedPool(r, n)
		before := owners(t, pool, Options{})
		victim := r.IntN(n)
		for _, how := range []string{"quiesce", "overload"} {
			p2 := slices.Clone(pool)
			switch how {
			case "quiesce":
				p2[victim].LastWeight, p2[victim].Weight = p2[victim].Weight, 0
			case "overload":
				p2[victim].Counts = new(Counts)
				p2[victim].Counts.overload.Store(true)
			}
			if after := owners(t, p2, Options{}); !slices.Equal(before, after) {
				t.Fatalf("%s: the table changed", how)
			}
			for _, fallback := range []bool{false, true} {
				s0 := mustNewOpts(t, "mh", pool, Options{Fallback: fallback})
				s1 := mustNewOpts(t, "mh", p2, Options{Fallback: fallback})
				for range 2000 {
					h := randomHint(r)
					was, now := s0.Pick(h), s1.Pick(h)
					switch {
					case was != victim && now != was:
						t.Fatalf("%s fallback=%v: a flow of server %d moved to %d", how, fallback, was, now)
					case was == victim && fallback && (now < 0 || now == victim):
						t.Fatalf("%s with fallback: the victim's flow went to %d", how, now)
					case was == victim && !fallback && now != -1:
						t.Fatalf("%s without fallback: the victim's flow went to %d", how, now)
					}
				}
			}
		}
	}
}

// TestMaglevRemoveAndAdd: removing a server from the pool moves all its
// slots, and — Maglev's table being a function of the pool alone that
// keeps every server's share exact — a few others: at M = 65537, under 1%
// of the table. Adding one moves about 1/(N+1) of the slots, plus under
// 1%.
func TestMaglevRemoveAndAdd(t *testing.T) {
	r := newRand(t)
	const size = 65537
	for _, n := range []int{3, 10, 50, 100} {
		pool := keyedPool(r, n)
		before := owners(t, pool, Options{MHTableSize: size})
		victim := r.IntN(n)
		rest := slices.Delete(slices.Clone(pool), victim, victim+1)
		after := owners(t, rest, Options{MHTableSize: size})
		for s := range before {
			if before[s] == pool[victim].Key && after[s] == pool[victim].Key {
				t.Fatal("a slot of the removed server stayed with it")
			}
		}
		others := moved(before, after, pool[victim].Key)
		t.Logf("N=%d: removing one moved %d other slots (%.3f%%)", n, others, 100*float64(others)/size)
		if others > size/100 {
			t.Errorf("N=%d: removing a server moved %d of the other slots, more than 1%%", n, others)
		}

		grown := append(slices.Clone(pool), keyedPool(r, 1)[0])
		added := owners(t, grown, Options{MHTableSize: size})
		changed := moved(before, added, "")
		limit := size/(n+1) + size/100
		t.Logf("N=%d: adding one changed %d slots (%.3f%%, 1/(N+1) = %.3f%%)", n, changed, 100*float64(changed)/size, 100/float64(n+1))
		if changed > limit {
			t.Errorf("N=%d: adding a server changed %d slots, more than %d", n, changed, limit)
		}
	}
}

func TestMaglevOptions(t *testing.T) {
	pool := keyedPool(newRand(t), 5)
	for _, size := range []int{1, 4, 4096, 65535, MaxMHTableSize + 1, 3} {
		if _, err := NewWithOptions("mh", pool, Options{MHTableSize: size}); err == nil {
			t.Errorf("MHTableSize %d accepted", size)
		}
	}
	for _, size := range []int{0, 5, 251, 65521, 65537, 131071} {
		s, err := NewWithOptions("mh", pool, Options{MHTableSize: size})
		if err != nil {
			t.Errorf("MHTableSize %d: %v", size, err)
			continue
		}
		want := size
		if size == 0 {
			want = DefaultMHTableSize
		}
		if len(s.(*mh).table) != want {
			t.Errorf("MHTableSize %d: table of %d", size, len(s.(*mh).table))
		}
	}
}

// TestMaglevPort: with mh-port the client's port picks the slot too.
func TestMaglevPort(t *testing.T) {
	pool := keyedPool(newRand(t), 10)
	plain := mustNewOpts(t, "mh", pool, Options{})
	port := mustNewOpts(t, "mh", pool, Options{Port: true})
	var h Hint
	h.Src = [16]byte{198, 51, 100, 7}
	seen := map[int]bool{}
	first := plain.Pick(h)
	for p := range 200 {
		h.SrcPort = uint16(p)
		if plain.Pick(h) != first {
			t.Fatal("without mh-port the port changed the server")
		}
		seen[port.Pick(h)] = true
	}
	if len(seen) < 8 {
		t.Errorf("with mh-port 200 ports reached %d of 10 servers", len(seen))
	}
}
