package ipvsadm

import (
	"math"
	"math/bits"
	"time"
)

// EstimateInterval is how often the kernel's IPVS estimator samples the
// counters, and the interval Estimator assumes between samples.
const EstimateInterval = 2 * time.Second

// maxSteps bounds the averaging steps one Update applies after a long gap;
// 256 steps of weight 3/4 leave nothing of a 64-bit average.
const maxSteps = 256

// Estimator estimates connection, packet and byte rates from cumulative
// Stats the way the kernel's IPVS estimator does (ip_vs_chain_estimation
// and ip_vs_read_estimator in net/netfilter/ipvs/ip_vs_est.c): every
// EstimateInterval the increase of each counter becomes a rate, and each
// average moves a quarter of the way towards it,
//
//	avg += (rate - avg) / 4
//
// in fixed point: connection and packet rates scaled by 2^10, byte rates by
// 2^5. With samples exactly EstimateInterval apart, the arithmetic is the
// kernel's, bit for bit.
//
// Update does the sampling, so an Estimator needs no timer of its own: call
// it at least every EstimateInterval. An Update sooner than that after the
// last sample is ignored; a later one is spread evenly over the intervals
// it covers (see Update). Time comes from the caller, so an Estimator is
// deterministic.
//
// The zero Estimator is ready to use. An Estimator is not safe for
// concurrent use: one goroutine updates it, and Rate must not run at the
// same time as Update.
type Estimator struct {
	started bool
	last    Stats     // counters at the last sample
	at      time.Time // time of the last sample

	// Averages, u64 in the kernel's struct ip_vs_estimator: cps, inpps
	// and outpps scaled by 2^10, inbps and outbps by 2^5.
	cps, inpps, outpps, inbps, outbps uint64
}

// Update gives the estimator the cumulative counters s as of now.
//
// The first Update only records s as the starting point, so rates cover
// the traffic from then on; to count from zero, as the kernel does for a
// new service, first Update with zero Stats when the counters are created.
// After that, an Update less than EstimateInterval after the last sample
// is ignored. Otherwise the elapsed time is rounded to a whole number n of
// intervals (at least one), the increase of each counter is turned into a
// rate per interval by the elapsed time, and the kernel's averaging step is
// applied n times with that rate. For an Update exactly EstimateInterval
// after the last one this is the kernel's estimation step.
//
// If a counter is lower than at the last sample, the counters were reset:
// like ip_vs_zero_estimator, Update then clears the averages and starts
// again from s. If now is before the last sample, Update starts again from
// s and now, keeping the averages. Pass times from time.Now, whose
// monotonic reading keeps wall-clock jumps out of the elapsed time.
func (e *Estimator) Update(now time.Time, s Stats) {
	if !e.started {
		e.started, e.last, e.at = true, s, now
		return
	}
	if s.Conns < e.last.Conns || s.InPkts < e.last.InPkts || s.OutPkts < e.last.OutPkts ||
		s.InBytes < e.last.InBytes || s.OutBytes < e.last.OutBytes {
		e.Reset(now, s)
		return
	}
	elapsed := now.Sub(e.at)
	if elapsed < 0 {
		e.last, e.at = s, now
		return
	}
	if elapsed < EstimateInterval {
		return
	}
	n := min((elapsed+EstimateInterval/2)/EstimateInterval, maxSteps)

	// The kernel computes (counter - last) << 9 for a 2 s interval: the
	// rate per second scaled by 2^10. Here the same value is
	// delta * 2^10 * 1 s / elapsed, which is delta << 9 when elapsed is
	// exactly 2 s; byte rates likewise with 2^5.
	cps := scaledRate(s.Conns-e.last.Conns, 1<<10, elapsed)
	inpps := scaledRate(s.InPkts-e.last.InPkts, 1<<10, elapsed)
	outpps := scaledRate(s.OutPkts-e.last.OutPkts, 1<<10, elapsed)
	inbps := scaledRate(s.InBytes-e.last.InBytes, 1<<5, elapsed)
	outbps := scaledRate(s.OutBytes-e.last.OutBytes, 1<<5, elapsed)
	for range n {
		e.cps = ewma(e.cps, cps)
		e.inpps = ewma(e.inpps, inpps)
		e.outpps = ewma(e.outpps, outpps)
		e.inbps = ewma(e.inbps, inbps)
		e.outbps = ewma(e.outbps, outbps)
	}
	e.last, e.at = s, now
}

// Reset clears the averages and makes s at now the new starting point, as
// ip_vs_zero_estimator does when IPVS counters are zeroed (ipvsadm -Z).
func (e *Estimator) Reset(now time.Time, s Stats) {
	*e = Estimator{started: true, last: s, at: now}
}

// Rate returns the current estimates per second, rounded as
// ip_vs_read_estimator rounds them for ipvsadm: (avg + 2^9 - 1) >> 10 for
// connection and packet rates, (avg + 2^4 - 1) >> 5 for byte rates. It is
// zero until the first interval has been estimated.
func (e *Estimator) Rate() Rate {
	return Rate{
		CPS:    (e.cps + 0x1FF) >> 10,
		InPPS:  (e.inpps + 0x1FF) >> 10,
		OutPPS: (e.outpps + 0x1FF) >> 10,
		InBPS:  (e.inbps + 0xF) >> 5,
		OutBPS: (e.outbps + 0xF) >> 5,
	}
}

// ewma is the kernel's averaging step, avg += ((s64)rate - (s64)avg) >> 2,
// with the arithmetic shift of a signed difference.
func ewma(avg, rate uint64) uint64 {
	return avg + uint64((int64(rate)-int64(avg))>>2)
}

// scaledRate returns delta * scale * 1 s / elapsed, computed without
// overflow and saturated at the largest int64, beyond which the kernel's
// signed averaging step would not work either.
func scaledRate(delta, scale uint64, elapsed time.Duration) uint64 {
	hi, lo := bits.Mul64(delta, scale*uint64(time.Second))
	d := uint64(elapsed)
	if hi >= d {
		return math.MaxInt64
	}
	q, _ := bits.Div64(hi, lo, d)
	return min(q, math.MaxInt64)
}
