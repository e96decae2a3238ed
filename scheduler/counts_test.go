package scheduler

import (
	"math"
	"testing"
	"unsafe"
)

// refCounts follows the kernel's rules for IP_VS_DEST_F_OVERLOAD:
// ip_vs_bind_dest sets it when the total reaches u_threshold;
// ip_vs_unbind_dest clears it below l_threshold, or below 3/4 of
// u_threshold if l_threshold is 0, or at once if both are 0;
// __ip_vs_update_dest clears it when u_threshold is removed or raised.
type refCounts struct {
	active, inactive int64
	upper, lower     int64
	overload         bool
}

func (c *refCounts) add(active bool) {
	if active {
		c.active++
	} else {
		c.inactive++
	}
	if c.upper != 0 && c.active+c.inactive >= c.upper {
		c.overload = true
	}
}

func (c *refCounts) remove(active bool) {
	if active {
		c.active--
	} else {
		c.inactive--
	}
	total := c.active + c.inactive
	if c.lower != 0 {
		if total < c.lower {
			c.overload = false
		}
	} else if c.upper != 0 {
		if total*4 < c.upper*3 {
			c.overload = false
		}
	} else {
		c.overload = false
	}
}

func (c *refCounts) setThresholds(u, l int64) {
	if u == 0 || u > c.upper {
		c.overload = false
	}
	c.upper, c.lower = u, l
}

func TestCountsAgainstReference(t *testing.T) {
	r := newRand(t)
	for trial := range 200 {
		var c Counts
		var ref refCounts
		for k := range 2000 {
			switch op := r.IntN(20); {
			case op == 0:
				u := int64(r.IntN(30))
				l := int64(0)
				if r.IntN(2) == 0 && u > 0 {
					l = int64(r.IntN(int(u)))
				}
				c.SetThresholds(int(u), int(l))
				ref.setThresholds(u, l)
			case op < 10:
				active := r.IntN(2) == 0
				c.Add(active)
				ref.add(active)
			case op < 17:
				active := r.IntN(2) == 0
				if active && ref.active == 0 || !active && ref.inactive == 0 {
					continue
				}
				c.Remove(active)
				ref.remove(active)
			default:
				from, to := r.IntN(2) == 0, r.IntN(2) == 0
				if from && ref.active == 0 || !from && ref.inactive == 0 {
					continue
				}
				c.Move(from, to)
				if from != to {
					if to {
						ref.inactive--
						ref.active++
					} else {
						ref.active--
						ref.inactive++
					}
				}
			}
			if c.Active.Load() != ref.active || c.Inactive.Load() != ref.inactive || c.Overloaded() != ref.overload {
				t.Fatalf("trial %d op %d: counts %d/%d overloaded %v, reference %+v",
					trial, k, c.Active.Load(), c.Inactive.Load(), c.Overloaded(), ref)
			}
		}
	}
}

func TestCountsHysteresis(t *testing.T) {
	var c Counts
	c.SetThresholds(4, 0) // lower: below 3/4·4 = 3
	for range 3 {
		c.Add(false)
	}
	if c.Overloaded() {
		t.Fatal("overloaded at 3 of 4")
	}
	c.Add(true)
	if !c.Overloaded() {
		t.Fatal("not overloaded at 4 of 4")
	}
	c.Remove(false) // 3: not below 3
	if !c.Overloaded() {
		t.Fatal("overload ended at 3, not below 3/4 of 4")
	}
	c.Remove(false) // 2
	if c.Overloaded() {
		t.Fatal("still overloaded at 2")
	}
	if c.Active.Load() != 1 || c.Inactive.Load() != 1 {
		t.Fatalf("counts %d/%d", c.Active.Load(), c.Inactive.Load())
	}
	// Lowering the upper threshold does not end an overload, raising it does.
	c.SetThresholds(2, 1)
	c.Add(false)
	if !c.Overloaded() {
		t.Fatal("not overloaded at 3 of 2")
	}
	c.SetThresholds(1, 0)
	if !c.Overloaded() {
		t.Fatal("lowering the threshold ended the overload")
	}
	c.SetThresholds(10, 0)
	if c.Overloaded() {
		t.Fatal("raising the threshold kept the overload")
	}
	if u, l := c.Thresholds(); u != 10 || l != 0 {
		t.Fatalf("Thresholds() = %d, %d", u, l)
	}
	c.SetThresholds(-5, math.MaxInt)
	if u, l := c.Thresholds(); u != 0 || l != math.MaxUint32 {
		t.Fatalf("clamped Thresholds() = %d, %d", u, l)
	}
	var nilCounts *Counts
	if nilCounts.Overloaded() {
		t.Fatal("nil Counts overloaded")
	}
}

// TestOverloadSkipped: every scheduler passes over an overloaded server
// that it would otherwise pick (lblc and lblcr only for a new
// destination: the kernel does not look at the flag for a destination's
// own server).
func TestOverloadSkipped(t *testing.T) {
	for _, name := range Names() {
		pool := []Server{{Weight: 5, Key: "a", Counts: new(Counts)}}
		s := mustNewOpts(t, name, pool, Options{Fallback: true})
		if got := s.Pick(Hint{}); got != 0 {
			t.Fatalf("%s: %d with one available server", name, got)
		}
		pool[0].Counts.SetThresholds(1, 0)
		pool[0].Counts.Add(true)
		var h Hint
		h.Dst[0] = 1 // another destination for lblc and lblcr
		if got := s.Pick(h); got != -1 {
			t.Errorf("%s: picked overloaded server: %d", name, got)
		}
		pool[0].Counts.Remove(true)
		if got := s.Pick(h); got != 0 {
			t.Errorf("%s: %d once the overload ended", name, got)
		}
	}
}

func TestCountsSize(t *testing.T) {
	// Two cache lines: the counters, then the flag and thresholds.
	var c Counts
	if got := sizeOf(&c); got != 2*cacheLine {
		t.Errorf("Counts is %d bytes, want %d", got, 2*cacheLine)
	}
}

func sizeOf[T any](p *T) uintptr { return unsafe.Sizeof(*p) }

// TestCountsDown checks the health flag: set and cleared by SetDown, never
// set on a nil Counts, and independent of the counts and the overload
// state, which schedulers keep reading as before.
func TestCountsDown(t *testing.T) {
	var nilCounts *Counts
	if nilCounts.Down() {
		t.Fatal("a nil Counts reads down")
	}
	pool := []Server{{Weight: 1, Counts: new(Counts)}}
	s, err := New("rr", pool)
	if err != nil {
		t.Fatal(err)
	}
	c := pool[0].Counts
	if c.Down() {
		t.Fatal("a new Counts reads down")
	}
	c.SetDown(true)
	c.Add(false)
	if !c.Down() || c.Overloaded() || c.Inactive.Load() != 1 {
		t.Fatalf("after SetDown(true): down %v overloaded %v inactive %d", c.Down(), c.Overloaded(), c.Inactive.Load())
	}
	// Schedulers see the pool they were given, not the flag: taking a
	// server out is the control plane's job (a new snapshot).
	if got := s.Pick(Hint{}); got != 0 {
		t.Fatalf("rr picked %d with the only server flagged down, want 0", got)
	}
	c.SetDown(false)
	if c.Down() {
		t.Fatal("SetDown(false) left it down")
	}
}
