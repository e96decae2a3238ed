package control

import (
	"context"
	"sync"
	"time"

	"github.com/xvs-project/xvs/internal/ipvsadm"
	"github.com/xvs-project/xvs/scheduler"
)

// rates keeps an IPVS rate estimator per real server (by its counts, which
// outlive reloads) and per virtual service, fed every EstimateInterval.
type rates struct {
	mu    sync.Mutex
	reals map[*scheduler.Counts]*ipvsadm.Estimator
	svcs  map[svcID]*ipvsadm.Estimator
}

// svcID names a virtual service.
type svcID struct {
	vip   [4]byte
	port  uint16
	proto uint8
}

// destStats returns the cumulative statistics of every registered real
// server, by its counts.
func (d *Director) destStats() map[*scheduler.Counts]ipvsadm.Stats {
	dests := d.Engine.Table().Dests()
	traffic := d.Dataplane.DestStats()
	out := make(map[*scheduler.Counts]ipvsadm.Stats, len(dests))
	for i, c := range dests {
		if c == nil {
			continue
		}
		st := ipvsadm.Stats{Conns: c.Conns.Load()}
		if i < len(traffic) {
			tr := traffic[i]
			st.InPkts, st.OutPkts, st.InBytes, st.OutBytes = tr.InPkts, tr.OutPkts, tr.InBytes, tr.OutBytes
		}
		out[c] = st
	}
	return out
}

func addStats(a, b ipvsadm.Stats) ipvsadm.Stats {
	return ipvsadm.Stats{Conns: a.Conns + b.Conns, InPkts: a.InPkts + b.InPkts, OutPkts: a.OutPkts + b.OutPkts,
		InBytes: a.InBytes + b.InBytes, OutBytes: a.OutBytes + b.OutBytes}
}

// estimate runs the rate estimators until ctx ends.
func (d *Director) estimate(ctx context.Context) {
	t := time.NewTicker(ipvsadm.EstimateInterval)
	defer t.Stop()
	for {
		d.sampleRates(time.Now())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sampleRates feeds every estimator the current counters.
func (d *Director) sampleRates(now time.Time) {
	stats := d.destStats()
	d.mu.Lock()
	wanted := d.wanted
	d.mu.Unlock()
	d.rates.mu.Lock()
	defer d.rates.mu.Unlock()
	if d.rates.reals == nil {
		d.rates.reals = map[*scheduler.Counts]*ipvsadm.Estimator{}
		d.rates.svcs = map[svcID]*ipvsadm.Estimator{}
	}
	for c, st := range stats {
		e := d.rates.reals[c]
		if e == nil {
			e = new(ipvsadm.Estimator)
			d.rates.reals[c] = e
		}
		e.Update(now, st)
	}
	for _, s := range wanted {
		var sum ipvsadm.Stats
		for _, r := range s.Reals {
			sum = addStats(sum, stats[r.Counts])
		}
		id := svcID{s.VIP, s.Port, s.Proto}
		e := d.rates.svcs[id]
		if e == nil {
			e = new(ipvsadm.Estimator)
			d.rates.svcs[id] = e
		}
		e.Update(now, sum)
	}
}

// fillStats puts the counters and rates into a listing made by Services.
func (d *Director) fillStats(list []ipvsadm.Service, ids []svcID, counts [][]*scheduler.Counts) {
	stats := d.destStats()
	templates := d.Engine.Table().TemplatesPerDest()
	index := map[*scheduler.Counts]uint32{}
	for i, c := range d.Engine.Table().Dests() {
		index[c] = uint32(i)
	}
	d.rates.mu.Lock()
	defer d.rates.mu.Unlock()
	for i := range list {
		s := &list[i]
		for j := range s.Reals {
			c := counts[i][j]
			s.Reals[j].Stats = stats[c]
			if k, ok := index[c]; ok {
				s.Reals[j].PersistConn = uint64(templates[k])
			}
			s.Stats = addStats(s.Stats, stats[c])
			if e := d.rates.reals[c]; e != nil {
				s.Reals[j].Rate = e.Rate()
			}
		}
		if e := d.rates.svcs[ids[i]]; e != nil {
			s.Rate = e.Rate()
		}
	}
}
