package ipvsadm

import (
	"flag"
	"math/rand/v2"
	"testing"
	"time"
)

// kernelEstimator is the reference: ip_vs_chain_estimation and
// ip_vs_read_estimator written out literally for one counter set, run
// once per 2 s tick.
type kernelEstimator struct {
	last                              Stats
	cps, inpps, outpps, inbps, outbps uint64
}

func (k *kernelEstimator) tick(s Stats) {
	step := func(avg *uint64, cur uint64, last *uint64, shift uint) {
		rate := (cur - *last) << shift
		*last = cur
		*avg += uint64((int64(rate) - int64(*avg)) >> 2)
	}
	step(&k.cps, s.Conns, &k.last.Conns, 9)
	step(&k.inpps, s.InPkts, &k.last.InPkts, 9)
	step(&k.outpps, s.OutPkts, &k.last.OutPkts, 9)
	step(&k.inbps, s.InBytes, &k.last.InBytes, 4)
	step(&k.outbps, s.OutBytes, &k.last.OutBytes, 4)
}

func (k *kernelEstimator) rate() Rate {
	return Rate{
		CPS:    (k.cps + 0x1FF) >> 10,
		InPPS:  (k.inpps + 0x1FF) >> 10,
		OutPPS: (k.outpps + 0x1FF) >> 10,
		InBPS:  (k.inbps + 0xF) >> 5,
		OutBPS: (k.outbps + 0xF) >> 5,
	}
}

func addStats(a, b Stats) Stats {
	return Stats{a.Conns + b.Conns, a.InPkts + b.InPkts, a.OutPkts + b.OutPkts, a.InBytes + b.InBytes, a.OutBytes + b.OutBytes}
}

var seedFlag = flag.Uint64("seed", 0, "seed for TestEstimatorMatchesKernel (0: from the clock)")

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// TestEstimatorFirstSteps checks the first averaging steps at a constant
// 1000 conn/s against values worked out by hand from the kernel formula:
// avg = 0 + (1000<<10 - 0)>>2 = 256000, read as (256000+511)>>10 = 250;
// then 448000 -> 437 and 592000 -> 578.
func TestEstimatorFirstSteps(t *testing.T) {
	var e Estimator
	e.Update(t0, Stats{})
	var s Stats
	for i, want := range []uint64{250, 437, 578} {
		s.Conns += 2000
		s.InBytes += 2_000_000 // 1e6 B/s: (1e6<<5)>>2 = 8e6 -> (8e6+15)>>5 = 250000
		e.Update(t0.Add(time.Duration(i+1)*EstimateInterval), s)
		if got := e.Rate().CPS; got != want {
			t.Errorf("step %d: CPS = %d, want %d", i+1, got, want)
		}
	}
	if got := e.Rate().InBPS; got != 578125 { // 18500000>>5
		t.Errorf("InBPS after 3 steps = %d, want 578125", got)
	}
}

// TestEstimatorMatchesKernel feeds random increments, rising and falling,
// every 2 s to the Estimator and to the literal kernel arithmetic and
// requires the same rates after every step.
func TestEstimatorMatchesKernel(t *testing.T) {
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay with -seed %[1]d)", seed)
	r := rand.New(rand.NewPCG(seed, 0))

	var e Estimator
	var k kernelEstimator
	var s Stats
	now := t0
	e.Update(now, s)
	for i := range 2000 {
		// Phases of different magnitude so averages both rise and fall.
		scale := uint64(1) << (r.Uint64N(40))
		inc := Stats{r.Uint64N(scale + 1), r.Uint64N(scale + 1), r.Uint64N(scale + 1), r.Uint64N(scale + 1), r.Uint64N(scale + 1)}
		s = addStats(s, inc)
		now = now.Add(EstimateInterval)
		e.Update(now, s)
		k.tick(s)
		if got, want := e.Rate(), k.rate(); got != want {
			t.Fatalf("step %d (seed %d): got %+v, want %+v", i, seed, got, want)
		}
	}
}

// TestEstimatorConverges checks that a steady rate is read back exactly.
func TestEstimatorConverges(t *testing.T) {
	var e Estimator
	var s Stats
	e.Update(t0, s)
	inc := Stats{Conns: 2 * 1234, InPkts: 2 * 56789, OutPkts: 2 * 60000, InBytes: 2 * 7_000_000, OutBytes: 2 * 90_000_000}
	for i := range 100 {
		s = addStats(s, inc)
		e.Update(t0.Add(time.Duration(i+1)*EstimateInterval), s)
	}
	want := Rate{CPS: 1234, InPPS: 56789, OutPPS: 60000, InBPS: 7_000_000, OutBPS: 90_000_000}
	if got := e.Rate(); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

// TestEstimatorTiming checks how Update treats samples that are early,
// late or out of order.
func TestEstimatorTiming(t *testing.T) {
	inc := Stats{Conns: 2000, InPkts: 20000, OutPkts: 20000, InBytes: 2e6, OutBytes: 4e6}

	t.Run("early samples are ignored", func(t *testing.T) {
		var e, ref Estimator
		e.Update(t0, Stats{})
		ref.Update(t0, Stats{})
		e.Update(t0.Add(time.Second), Stats{Conns: 1000})
		if e.Rate() != (Rate{}) {
			t.Fatalf("a sample 1 s in changed the rate to %+v", e.Rate())
		}
		e.Update(t0.Add(EstimateInterval), inc)
		ref.Update(t0.Add(EstimateInterval), inc)
		if e.Rate() != ref.Rate() {
			t.Errorf("got %+v, want %+v", e.Rate(), ref.Rate())
		}
	})

	t.Run("a late sample counts for each interval", func(t *testing.T) {
		var e, ref Estimator
		e.Update(t0, Stats{})
		ref.Update(t0, Stats{})
		var s Stats
		for i := range 3 {
			s = addStats(s, inc)
			ref.Update(t0.Add(time.Duration(i+1)*EstimateInterval), s)
		}
		e.Update(t0.Add(3*EstimateInterval), s)
		if e.Rate() != ref.Rate() {
			t.Errorf("one sample after 6 s: got %+v, want three steps %+v", e.Rate(), ref.Rate())
		}
	})

	t.Run("rate is per second of elapsed time", func(t *testing.T) {
		var e, ref Estimator
		e.Update(t0, Stats{})
		ref.Update(t0, Stats{})
		// 2.5 s of traffic at the same rate as inc: one step, same rate.
		e.Update(t0.Add(2500*time.Millisecond), Stats{Conns: 2500, InPkts: 25000, OutPkts: 25000, InBytes: 2.5e6, OutBytes: 5e6})
		ref.Update(t0.Add(EstimateInterval), inc)
		if e.Rate() != ref.Rate() {
			t.Errorf("got %+v, want %+v", e.Rate(), ref.Rate())
		}
	})

	t.Run("a counter reset clears the averages", func(t *testing.T) {
		var e Estimator
		e.Update(t0, Stats{})
		e.Update(t0.Add(EstimateInterval), inc)
		e.Update(t0.Add(2*EstimateInterval), Stats{Conns: 5})
		if e.Rate() != (Rate{}) {
			t.Fatalf("after reset: %+v, want zero", e.Rate())
		}
		// Counting resumes from the reset values.
		e.Update(t0.Add(3*EstimateInterval), Stats{Conns: 5 + 2000})
		if got := e.Rate().CPS; got != 250 {
			t.Errorf("CPS after reset and one step = %d, want 250", got)
		}
	})

	t.Run("time going back keeps the averages and restarts the interval", func(t *testing.T) {
		var e Estimator
		e.Update(t0, Stats{})
		e.Update(t0.Add(EstimateInterval), inc)
		before := e.Rate()
		e.Update(t0, addStats(inc, inc))
		if e.Rate() != before {
			t.Fatalf("rate changed to %+v", e.Rate())
		}
		e.Update(t0.Add(EstimateInterval), addStats(addStats(inc, inc), inc))
		var ref Estimator
		ref.Update(t0, Stats{})
		ref.Update(t0.Add(EstimateInterval), inc)
		ref.Update(t0.Add(2*EstimateInterval), addStats(inc, inc))
		if e.Rate() != ref.Rate() {
			t.Errorf("got %+v, want %+v", e.Rate(), ref.Rate())
		}
	})

	t.Run("huge gaps and counts do not overflow", func(t *testing.T) {
		var e Estimator
		e.Update(t0, Stats{})
		e.Update(t0.Add(100*24*time.Hour), Stats{Conns: 1 << 62, InBytes: 1 << 63})
		e.Update(t0.Add(100*24*time.Hour+EstimateInterval), Stats{Conns: 1<<62 + 2, InBytes: 1<<63 + 2})
		if r := e.Rate(); r.CPS == 0 || r.InBPS == 0 {
			t.Errorf("got %+v, want non-zero rates", r)
		}
	})
}

// TestScaledRate checks the fixed-point conversion against the kernel's
// shifts for an exact 2 s interval.
func TestScaledRate(t *testing.T) {
	for _, d := range []uint64{0, 1, 3, 1000, 1 << 40} {
		if got, want := scaledRate(d, 1<<10, EstimateInterval), d<<9; got != want {
			t.Errorf("scaledRate(%d, 2^10, 2s) = %d, want %d", d, got, want)
		}
		if got, want := scaledRate(d, 1<<5, EstimateInterval), d<<4; got != want {
			t.Errorf("scaledRate(%d, 2^5, 2s) = %d, want %d", d, got, want)
		}
	}
}
