package dataplane

import "testing"

// TestDestStats: counts per real server reach the published totals at
// publish, summed over workers, and counting a known server allocates
// nothing.
func TestDestStats(t *testing.T) {
	d := &Dataplane{workers: []*worker{{}, {}}}
	a, b := &d.workers[0].dests, &d.workers[1].dests
	a.count(1, true, 100)
	a.count(1, false, 60)
	a.count(3, true, 10)
	b.count(1, true, 100)
	b.count(0, true, 999) // no server: not counted
	if got := d.DestStats(); len(got) != 0 && got[0] != (DestStats{}) {
		t.Fatalf("before publish: %+v", got)
	}
	a.publish()
	b.publish()
	got := d.DestStats()
	if len(got) < 3 {
		t.Fatalf("DestStats has %d entries, want at least 3", len(got))
	}
	if want := (DestStats{InPkts: 2, InBytes: 200, OutPkts: 1, OutBytes: 60}); got[0] != want {
		t.Errorf("server 0: %+v, want %+v", got[0], want)
	}
	if got[1] != (DestStats{}) || got[2] != (DestStats{InPkts: 1, InBytes: 10}) {
		t.Errorf("servers 1 and 2: %+v %+v", got[1], got[2])
	}
	if n := testing.AllocsPerRun(1000, func() {
		a.count(2, true, 64)
		a.count(2, false, 64)
		a.publish()
	}); n != 0 {
		t.Errorf("counting and publishing allocate %v times per frame pair", n)
	}
}
