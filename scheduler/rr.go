package scheduler

// newRR returns the round-robin scheduler (IPVS "rr", ip_vs_rr.c). IPVS
// walks the servers in order from the one after the last picked, skipping
// servers of weight 0 and overloaded ones, starting from the first; whole
// cycles visit every available server once. That sequence is precomputed.
func newRR(p *pool, _ *Options) (Scheduler, error) {
	var seq []int32
	for i, m := range p.m {
		if m.w > 0 {
			seq = append(seq, int32(i))
		}
	}
	return newCycle(p, seq), nil
}
