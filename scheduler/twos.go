package scheduler

import (
	"math/bits"
	"math/rand/v2"
)

// twos is the weighted power-of-two-choices scheduler (IPVS "twos",
// ip_vs_twos.c): two servers are drawn at random, each with a probability
// that grows with its weight, and the one with the less overhead per unit
// of weight gets the connection (the first drawn if they are equal).
//
// The draw is the kernel's: with W the sum of the available servers'
// weights, a number r is drawn uniformly from 0..W inclusive and the first
// server whose running weight sum reaches r is taken. (So the first
// available server is drawn with weight+1 chances in W+1, the others with
// weight chances; the kernel's bias, kept.)
//
// The random numbers come from rnd, by default the runtime's per-thread
// generator (math/rand/v2's top-level functions), which is lock-free and
// shares no state between callers.
type twos struct {
	m   []member
	rnd func() uint64
}

func newTwos(p *pool, _ *Options) (Scheduler, error) {
	return &twos{m: p.m, rnd: rand.Uint64}, nil
}

// below returns a uniform number in 0..n-1 from the random x (Lemire's
// multiply-and-shift).
func below(x, n uint64) uint64 {
	hi, _ := bits.Mul64(x, n)
	return hi
}

// Pick implements Scheduler.
func (s *twos) Pick(Hint) int {
	var total uint64
	last := -1
	for i := range s.m {
		if d := &s.m[i]; d.available() {
			total += uint64(d.w)
			last = i
		}
	}
	if last < 0 {
		return -1
	}
	r1, r2 := below(s.rnd(), total+1), below(s.rnd(), total+1)
	c1, c2 := -1, -1
	var sum uint64
	for i := range s.m {
		d := &s.m[i]
		if !d.available() {
			continue
		}
		sum += uint64(d.w)
		if c1 < 0 && sum >= r1 {
			c1 = i
		}
		if c2 < 0 && sum >= r2 {
			c2 = i
		}
		if c1 >= 0 && c2 >= 0 {
			break
		}
	}
	switch {
	case c1 < 0 && c2 < 0:
		// The counts changed under the second pass: the kernel falls back
		// on the last server the first pass found.
		return last
	case c2 < 0 || c1 == c2:
		return c1
	case c1 < 0:
		return c2
	}
	a, b := &s.m[c1], &s.m[c2]
	if heavier(a.c.overhead(), uint64(a.w), b.c.overhead(), uint64(b.w)) {
		return c2
	}
	return c1
}
