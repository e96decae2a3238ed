package scheduler

import "sync/atomic"

// cacheLine is a conservative cache line size, used to keep the hot
// counter away from the read-only fields.
const cacheLine = 128

// cycle hands out the entries of a precomputed sequence in order, cycling,
// to any number of concurrent callers. Each call takes a distinct ticket
// from a shared counter, so over any number of whole cycles every entry is
// handed out exactly as often as it occurs in seq, however the calls
// interleave. The counter is 64 bits wide, so it does not wrap in practice.
//
// An entry whose server is overloaded is passed over, as IPVS's rr and wrr
// pass over an overloaded destination: the call takes the next entry whose
// server is not, and consumes the tickets it skipped if no other call took
// a ticket meanwhile. For a single caller that is exactly the kernel's
// sequence, because the kernel's walk visits the same servers in the same
// order; concurrent callers may see a skipped-to server twice in a row.
// The search is bounded by the cycle's length.
type cycle struct {
	seq     []int32   // server indices; empty if no server can be picked
	counts  []*Counts // by server index
	members []int32   // the servers seq holds, each once
	_       [cacheLine]byte
	n       atomic.Uint64 // tickets issued
	_       [cacheLine - 8]byte
}

func newCycle(p *pool, seq []int32) *cycle {
	c := &cycle{seq: seq, counts: make([]*Counts, len(p.m))}
	for i := range p.m {
		c.counts[i] = p.m[i].c
		if p.m[i].w > 0 {
			c.members = append(c.members, int32(i))
		}
	}
	return c
}

// Pick implements Scheduler.
func (c *cycle) Pick(Hint) int {
	if len(c.seq) == 0 {
		return -1
	}
	t := c.n.Add(1) - 1
	i := c.seq[t%uint64(len(c.seq))]
	if !c.counts[i].overload.Load() {
		return int(i)
	}
	return c.skip(t)
}

// skip finds the first entry after ticket t whose server is not
// overloaded.
func (c *cycle) skip(t uint64) int {
	found := false
	for _, i := range c.members {
		if !c.counts[i].overload.Load() {
			found = true
			break
		}
	}
	if !found {
		return -1
	}
	l := uint64(len(c.seq))
	for k := uint64(1); k < l; k++ {
		i := c.seq[(t+k)%l]
		if !c.counts[i].overload.Load() {
			// Take the skipped tickets too, unless another call took a
			// ticket meanwhile.
			c.n.CompareAndSwap(t+1, t+k+1)
			return int(i)
		}
	}
	return -1
}
