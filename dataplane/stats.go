package dataplane

import "sync/atomic"

// DestStats are the traffic counters of one real server, IPVS's per
// destination statistics: packets and bytes from clients to it (in) and
// from it back to clients (out), as the director forwarded them. Bytes are
// IP bytes (the Ethernet header not counted), as IPVS counts them.
type DestStats struct {
	InPkts, OutPkts, InBytes, OutBytes uint64
}

// destCounters are a worker's published counters of one real server; only
// that worker writes them.
type destCounters struct {
	inPkts, outPkts, inBytes, outBytes atomic.Uint64
}

// destStats are a worker's counts per real server since its last publish,
// indexed by the table's registry number (nat.Result.Dest - 1), and the
// published totals. The slices grow when a server with a higher number
// first sends or receives, which happens once per real server, never per
// frame in the steady state.
type destStats struct {
	local   []DestStats
	touched []uint32 // indexes with local counts, each once
	pub     atomic.Pointer[[]*destCounters]
}

// count adds one forwarded frame of n bytes to real server dest (a
// nat.Result.Dest: registry number + 1; 0 counts nothing).
func (s *destStats) count(dest uint32, inbound bool, n int) {
	if dest == 0 {
		return
	}
	i := dest - 1
	if int(i) >= len(s.local) {
		s.grow(int(i))
	}
	st := &s.local[i]
	if st.InPkts == 0 && st.OutPkts == 0 {
		s.touched = append(s.touched, i)
	}
	if inbound {
		st.InPkts++
		st.InBytes += uint64(n)
	} else {
		st.OutPkts++
		st.OutBytes += uint64(n)
	}
}

// grow makes room for index i.
func (s *destStats) grow(i int) {
	n := max(64, 2*len(s.local), i+1)
	local := make([]DestStats, n)
	copy(local, s.local)
	s.local = local
	touched := make([]uint32, len(s.touched), n)
	copy(touched, s.touched)
	s.touched = touched
	var old []*destCounters
	if p := s.pub.Load(); p != nil {
		old = *p
	}
	pub := make([]*destCounters, n)
	copy(pub, old)
	for j := len(old); j < n; j++ {
		pub[j] = new(destCounters)
	}
	s.pub.Store(&pub)
}

// publish adds the local counts to the published ones.
func (s *destStats) publish() {
	if len(s.touched) == 0 {
		return
	}
	pub := *s.pub.Load()
	for _, i := range s.touched {
		st, p := &s.local[i], pub[i]
		p.inPkts.Add(st.InPkts)
		p.outPkts.Add(st.OutPkts)
		p.inBytes.Add(st.InBytes)
		p.outBytes.Add(st.OutBytes)
		*st = DestStats{}
	}
	s.touched = s.touched[:0]
}

// DestStats returns the traffic counters per real server, indexed by the
// connection table's registry number (nat.Table.Dests), summed over the
// workers. Servers that never carried traffic may be missing at the end.
func (d *Dataplane) DestStats() []DestStats {
	d.wmu.RLock()
	defer d.wmu.RUnlock()
	var out []DestStats
	for _, w := range d.workers {
		p := w.dests.pub.Load()
		if p == nil {
			continue
		}
		for i, c := range *p {
			if i >= len(out) {
				out = append(out, make([]DestStats, i+1-len(out))...)
			}
			o := &out[i]
			o.InPkts += c.inPkts.Load()
			o.OutPkts += c.outPkts.Load()
			o.InBytes += c.inBytes.Load()
			o.OutBytes += c.outBytes.Load()
		}
	}
	return out
}
