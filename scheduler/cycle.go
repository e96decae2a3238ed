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
type cycle struct {
	seq []int32 // server indices; empty if no server can be picked
	_   [cacheLine]byte
	n   atomic.Uint64 // tickets issued
	_   [cacheLine - 8]byte
}

// Pick implements Scheduler.
func (c *cycle) Pick(Hint) int {
	if len(c.seq) == 0 {
		return -1
	}
	t := c.n.Add(1) - 1
	return int(c.seq[t%uint64(len(c.seq))])
}
