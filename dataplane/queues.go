package dataplane

// QueueCounters returns the counters of each queue's worker, indexed by
// queue number (0 to Queues()-1): what Counters sums. It reads the
// published atomics, so it is safe to call while the workers run; the
// workers publish once per round, so a snapshot may trail by one batch.
func (d *Dataplane) QueueCounters() []Counters {
	out := make([]Counters, len(d.workers))
	for _, w := range d.workers {
		c := &out[w.queue]
		for i := range c {
			c[i] = w.published[i].Load()
		}
	}
	return out
}
