package scheduler

import (
	"slices"
	"sync"
)

// maxCycle is the longest weighted round-robin cycle that is precomputed.
// A longer one (a large weight ratio, e.g. weights 100000 and 1) is
// followed step by step under a mutex instead.
const maxCycle = 1 << 16

// newWRR returns the weighted round-robin scheduler (IPVS "wrr",
// ip_vs_wrr.c).
//
// IPVS keeps a position in the server list and a current weight cw. The
// current weight starts at the maximum weight mw. To pick, it walks on from
// the server after the last one picked and takes the first with weight >=
// cw that is not overloaded; each time the walk wraps past the end of the
// list, cw drops by di, the greatest common divisor of the non-zero
// weights, and when it reaches 0 or less it starts again at mw. Weights 4,
// 3, 2 give A A B A B C A B C. Over one whole cycle, of sum(weights)/di
// picks, each server is picked weight/di times. mw and di are computed
// from the weights alone, so an overloaded server's turns are simply
// passed over.
//
// If that cycle has at most limit entries it is precomputed and handed out
// lock-free (see cycle). Otherwise the algorithm is run step by step and
// its state is guarded by a mutex, so Pick is still safe for concurrent use
// and allocation-free but serializes its callers. The sequence is the same
// either way.
func newWRR(p *pool, limit int) Scheduler {
	var mw, di int
	for _, w := range p.weight {
		if w > 0 {
			mw = max(mw, w)
			di = gcd(di, w)
		}
	}
	if mw == 0 {
		return newCycle(p, nil) // no server can be picked
	}
	var length uint64
	for _, w := range p.weight {
		length += uint64(w / di)
	}
	if length > uint64(limit) {
		s := &wrrStep{weights: p.weight, counts: make([]*Counts, len(p.m)), mw: mw, di: di, cl: -1, cw: mw}
		for i := range p.m {
			s.counts[i] = p.m[i].c
		}
		return s
	}
	return newCycle(p, wrrSequence(p.weight, mw, di, int(length)))
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// wrrSequence lists one whole IPVS wrr cycle: for each current weight cw
// = mw, mw-di, ..., di, the servers of weight >= cw in list order.
func wrrSequence(weights []int, mw, di, length int) []int32 {
	seq := make([]int32, 0, length)
	// The set of eligible servers only changes when cw passes one of the
	// weights, so rebuild it only then; levels in between repeat it.
	var distinct []int
	for _, w := range weights {
		if w > 0 {
			distinct = append(distinct, w)
		}
	}
	slices.Sort(distinct)
	distinct = slices.Compact(distinct)
	next := len(distinct) - 1 // the largest weight not yet eligible
	var row []int32
	for cw := mw; cw > 0; cw -= di {
		if next >= 0 && distinct[next] >= cw {
			for next >= 0 && distinct[next] >= cw {
				next--
			}
			row = row[:0]
			for i, w := range weights {
				if w >= cw {
					row = append(row, int32(i))
				}
			}
		}
		seq = append(seq, row...)
	}
	return seq
}

// wrrStep runs the IPVS wrr algorithm one pick at a time, for pools whose
// cycle is too long to precompute. Without overloaded servers each pick
// walks at most once around the list, because the server of maximum
// weight qualifies at every cw. With overloaded servers, the levels above
// the largest weight that can be picked, which the kernel walks through
// one list pass each, are jumped over: they would find nothing.
type wrrStep struct {
	weights []int
	counts  []*Counts
	mw, di  int

	mu sync.Mutex
	cl int // index of the last server picked; -1 is the list head
	cw int // current weight
}

// Pick implements Scheduler.
func (s *wrrStep) Pick(Hint) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, cw := s.cl, s.cw
	for {
		i++
		if i == len(s.weights) {
			// Wrapped past the end: lower the bar, then go on from the
			// first server.
			i = 0
			cw -= s.di
			if cw <= 0 {
				cw = s.mw
			}
			top := s.top()
			if top == 0 {
				return -1 // all overloaded; the state is left as it was
			}
			cw = min(cw, top)
		}
		if s.weights[i] >= cw && !s.counts[i].overload.Load() {
			s.cl, s.cw = i, cw
			return i
		}
	}
}

// top returns the largest weight of a server that is not overloaded, 0 if
// there is none. Weights are multiples of di, so it is one of the levels.
func (s *wrrStep) top() int {
	top := 0
	for i, w := range s.weights {
		if w > top && !s.counts[i].overload.Load() {
			top = w
		}
	}
	return top
}
