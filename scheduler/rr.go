package scheduler

// newRR returns the round-robin scheduler (IPVS "rr", ip_vs_rr.c). IPVS
// walks the servers in order from the one after the last picked, skipping
// servers of weight 0, starting from the first; whole cycles visit every
// server of non-zero weight once. That sequence is precomputed.
func newRR(weights []int) Scheduler {
	c := &cycle{}
	for i, w := range weights {
		if w > 0 {
			c.seq = append(c.seq, int32(i))
		}
	}
	return c
}
