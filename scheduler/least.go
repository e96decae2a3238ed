package scheduler

import "math/bits"

// heavier reports whether load h1 on weight w1 is more than load h2 on
// weight w2, that is h1/w1 > h2/w2, compared as IPVS compares them, by
// cross-multiplication (h1·w2 > h2·w1), here in 128 bits so that no count
// or weight can overflow it.
func heavier(h1, w1, h2, w2 uint64) bool {
	hi1, lo1 := bits.Mul64(h1, w2)
	hi2, lo2 := bits.Mul64(h2, w1)
	return hi1 > hi2 || hi1 == hi2 && lo1 > lo2
}

// lc is the least-connection scheduler (IPVS "lc", ip_vs_lc.c): the
// available server with the least overhead (256·active + inactive),
// whatever its weight beyond being non-zero; the first in the pool's
// order among equals.
type lc struct{ m []member }

// Pick implements Scheduler.
func (s *lc) Pick(Hint) int {
	best := -1
	var least uint64
	for i := range s.m {
		d := &s.m[i]
		if !d.available() {
			continue
		}
		if oh := d.c.overhead(); best < 0 || oh < least {
			best, least = i, oh
		}
	}
	return best
}

// wlc is the weighted least-connection scheduler (IPVS "wlc",
// ip_vs_wlc.c): the available server with the least overhead per unit of
// weight; the first in the pool's order among equals.
type wlc struct{ m []member }

// Pick implements Scheduler.
func (s *wlc) Pick(Hint) int { return pickWLC(s.m) }

// pickWLC is wlc's choice, which lblc and lblcr also make when a
// destination has no usable server.
func pickWLC(m []member) int {
	best := -1
	var loh, lw uint64
	for i := range m {
		d := &m[i]
		if !d.available() {
			continue
		}
		oh := d.c.overhead()
		if best < 0 || heavier(loh, lw, oh, uint64(d.w)) {
			best, loh, lw = i, oh, uint64(d.w)
		}
	}
	return best
}

// sed is the shortest-expected-delay scheduler (IPVS "sed", ip_vs_sed.c):
// the available server with the least (active+1)/weight, the expected
// delay of a new connection if each is served at a rate proportional to
// the weight. IPVS's sed counts only active connections.
type sed struct{ m []member }

// Pick implements Scheduler.
func (s *sed) Pick(Hint) int {
	best := -1
	var loh, lw uint64
	for i := range s.m {
		d := &s.m[i]
		if !d.available() {
			continue
		}
		oh := d.c.active() + 1
		if best < 0 || heavier(loh, lw, oh, uint64(d.w)) {
			best, loh, lw = i, oh, uint64(d.w)
		}
	}
	return best
}

// nq is the never-queue scheduler (IPVS "nq", ip_vs_nq.c): the first
// available server with no active connection; if every one has some, sed's
// choice.
type nq struct{ m []member }

// Pick implements Scheduler.
func (s *nq) Pick(Hint) int {
	best := -1
	var loh, lw uint64
	for i := range s.m {
		d := &s.m[i]
		if !d.available() {
			continue
		}
		a := d.c.active()
		if a == 0 {
			return i
		}
		if oh := a + 1; best < 0 || heavier(loh, lw, oh, uint64(d.w)) {
			best, loh, lw = i, oh, uint64(d.w)
		}
	}
	return best
}

// fo is the weighted failover scheduler (IPVS "fo", ip_vs_fo.c): the
// available server of the highest weight; the first in the pool's order
// among equals. Connections go to one server until it is quiesced or
// overloaded.
type fo struct{ m []member }

// Pick implements Scheduler.
func (s *fo) Pick(Hint) int {
	best := -1
	var hw int64
	for i := range s.m {
		d := &s.m[i]
		if d.w > hw && !d.c.overload.Load() {
			best, hw = i, d.w
		}
	}
	return best
}

// ovf is the weighted overflow scheduler (IPVS "ovf", ip_vs_ovf.c): the
// available server of the highest weight whose active connections do not
// exceed its weight (IPVS skips a server when active > weight, so a
// server takes connections until it holds weight+1 active ones); the
// first in the pool's order among equals.
type ovf struct{ m []member }

// Pick implements Scheduler.
func (s *ovf) Pick(Hint) int {
	best := -1
	var hw int64
	for i := range s.m {
		d := &s.m[i]
		if d.w > hw && !d.c.overload.Load() && d.c.active() <= uint64(d.w) {
			best, hw = i, d.w
		}
	}
	return best
}
