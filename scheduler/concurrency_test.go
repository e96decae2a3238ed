package scheduler

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
)

// TestConcurrentPicksWhileCountsChange runs, for every scheduler, pickers
// on several goroutines while others open, move and close connections and
// change thresholds, and the control plane swaps in rebuilt snapshots
// through an atomic pointer, as the data path and the connection table
// do. Run with -race. Whatever the interleaving, a pick is a valid index
// and never a quiesced server.
func TestConcurrentPicksWhileCountsChange(t *testing.T) {
	const (
		pickers  = 4
		updaters = 2
		picks    = 3000
	)
	seed := uint64(*seedFlag)
	t.Logf("random seed %d (override with -seed=N)", seed)
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			pool := benchPool(12)
			pool[4].Weight = 0
			pool[9].LastWeight, pool[9].Weight = pool[9].Weight, 0
			loc := NewLocality(256)
			opts := Options{Fallback: true, Port: true, Locality: loc, MHTableSize: 251}
			var cur atomic.Pointer[Scheduler]
			build := func(p []Server) {
				s, err := NewWithOptions(name, p, opts)
				if err != nil {
					t.Error(err)
					return
				}
				cur.Store(&s)
			}
			build(pool)
			var stop atomic.Bool
			var wg sync.WaitGroup
			for u := range updaters {
				wg.Go(func() {
					r := rand.New(rand.NewPCG(seed, uint64(u)))
					open := make([][2]int, len(pool)) // active, inactive per server
					for !stop.Load() {
						i := r.IntN(len(pool))
						c := pool[i].Counts
						switch r.IntN(8) {
						case 0:
							c.SetThresholds(r.IntN(40), r.IntN(20))
						case 1, 2, 3:
							active := r.IntN(2) == 0
							c.Add(active)
							open[i][btoi(!active)]++
						case 4:
							if open[i][1] > 0 {
								c.Move(false, true)
								open[i][1]--
								open[i][0]++
							}
						default:
							if k := r.IntN(2); open[i][k] > 0 {
								c.Remove(k == 0)
								open[i][k]--
							}
						}
					}
				})
			}
			wg.Go(func() { // the control plane: rebuilds
				r := rand.New(rand.NewPCG(seed, 99))
				for !stop.Load() {
					p := make([]Server, len(pool))
					copy(p, pool)
					r.Shuffle(len(p), func(i, j int) { p[i], p[j] = p[j], p[i] })
					build(p)
				}
			})
			var pw sync.WaitGroup
			for g := range pickers {
				pw.Go(func() {
					r := rand.New(rand.NewPCG(seed, uint64(100+g)))
					for range picks {
						s := *cur.Load()
						h := randomHint(r)
						i := s.Pick(h)
						if i < -1 || i >= len(pool) {
							t.Errorf("pick %d out of range", i)
							return
						}
						// The snapshot may be shuffled: find the server by key.
						if i >= 0 {
							if w := serverOf(s, i); w == 0 {
								t.Errorf("picked a quiesced server")
								return
							}
						}
					}
				})
			}
			pw.Wait()
			stop.Store(true)
			wg.Wait()
		})
	}
}

// serverOf returns the weight of server i of the snapshot s.
func serverOf(s Scheduler, i int) int64 {
	switch s := s.(type) {
	case *cycle:
		for _, m := range s.members {
			if int(m) == i {
				return 1 // members have non-zero weight
			}
		}
		return 0
	case *wrrStep:
		return int64(s.weights[i])
	case *lc:
		return s.m[i].w
	case *wlc:
		return s.m[i].w
	case *sed:
		return s.m[i].w
	case *nq:
		return s.m[i].w
	case *fo:
		return s.m[i].w
	case *ovf:
		return s.m[i].w
	case *twos:
		return s.m[i].w
	case *sh:
		return s.m[i].w
	case *dh:
		return s.m[i].w
	case *mh:
		return s.m[i].w
	case *lblc:
		return s.m[i].w
	case *lblcr:
		return s.m[i].w
	}
	panic("unknown scheduler type")
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
