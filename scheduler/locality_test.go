package scheduler

import (
	"fmt"
	"testing"
	"time"
)

func dstHint(i int) Hint {
	var h Hint
	h.Dst = [16]byte{203, 0, byte(i >> 8), byte(i)}
	return h
}

// TestLocalityKeptAcrossRebuilds: a rebuild on the same Locality keeps
// every destination on its server, found by key even when the servers'
// positions change; a Scheduler without one starts afresh.
func TestLocalityKeptAcrossRebuilds(t *testing.T) {
	for _, name := range []string{"lblc", "lblcr"} {
		pool := keyedPool(newRand(t), 8)
		for i := range pool {
			pool[i].Weight = 100 // never overloaded in lblc's sense here
		}
		loc := NewLocality(0)
		s := mustNewOpts(t, name, pool, Options{Locality: loc})
		first := map[int]string{}
		for d := range 200 {
			i := s.Pick(dstHint(d))
			first[d] = pool[i].Key
			// Load the server, so that wlc would choose another next time.
			pool[i].Counts.Add(true)
		}
		if got := loc.Len(); got != 200 {
			t.Fatalf("%s: Len() = %d, want 200", name, got)
		}
		// Rebuild with the servers reversed and one more.
		rebuilt := make([]Server, 0, len(pool)+1)
		for i := len(pool) - 1; i >= 0; i-- {
			rebuilt = append(rebuilt, pool[i])
		}
		rebuilt = append(rebuilt, Server{Weight: 100, Key: "new", Counts: new(Counts)})
		s2 := mustNewOpts(t, name, rebuilt, Options{Locality: loc})
		for d := range 200 {
			if got := rebuilt[s2.Pick(dstHint(d))].Key; got != first[d] {
				t.Fatalf("%s: destination %d moved from %s to %s across the rebuild", name, d, first[d], got)
			}
		}
		// Without the Locality the new server, idle, takes everything.
		s3 := mustNewOpts(t, name, rebuilt, Options{})
		if got := rebuilt[s3.Pick(dstHint(0))].Key; got != "new" {
			t.Fatalf("%s: a fresh table sent destination 0 to %s, not the idle server", name, got)
		}
	}
}

// TestLocalityCapacity: the table holds about its capacity; a full shard
// collects entries unused for 6 minutes, and when there are none it
// schedules without remembering.
func TestLocalityCapacity(t *testing.T) {
	for _, name := range []string{"lblc", "lblcr"} {
		now := time.Now()
		clock := func() time.Time { return now }
		loc := NewLocality(64) // 2 entries a shard
		pool := keyedPool(newRand(t), 3)
		s := mustNewOpts(t, name, pool, Options{Locality: loc, Now: clock})
		for d := range 1000 {
			if s.Pick(dstHint(d)) < 0 {
				t.Fatalf("%s: no pick with a full table", name)
			}
		}
		if got := loc.Len(); got != 64 {
			t.Fatalf("%s: Len() = %d after 1000 destinations, want 64", name, got)
		}
		// Five minutes on, nothing can be collected: new destinations are
		// not remembered, the old ones are.
		now = now.Add(5 * time.Minute)
		for d := 1000; d < 2000; d++ {
			s.Pick(dstHint(d))
		}
		if got := loc.Len(); got != 64 {
			t.Fatalf("%s: Len() = %d, want 64", name, got)
		}
		// Past 6 minutes the old entries make room.
		now = now.Add(2 * time.Minute)
		s.Pick(dstHint(5000))
		if got := loc.Len(); got >= 64 {
			t.Fatalf("%s: Len() = %d after the idle entries' timeout, want fewer than 64", name, got)
		}
	}
}

// TestLocalityExpiry: an entry unused for LBLCExpire is forgotten.
func TestLocalityExpiry(t *testing.T) {
	for _, name := range []string{"lblc", "lblcr"} {
		now := time.Now()
		clock := func() time.Time { return now }
		pool := keyedPool(newRand(t), 2)
		for i := range pool {
			pool[i].Weight = 100
		}
		opts := Options{Locality: NewLocality(0), Now: clock, LBLCExpire: time.Hour}
		s := mustNewOpts(t, name, pool, opts)
		i := s.Pick(dstHint(1))
		pool[i].Counts.Add(true) // the other server is now the lighter
		now = now.Add(59 * time.Minute)
		if got := s.Pick(dstHint(1)); got != i {
			t.Fatalf("%s: destination moved before expiring", name)
		}
		now = now.Add(59 * time.Minute) // used 59 minutes ago: still there
		if got := s.Pick(dstHint(1)); got != i {
			t.Fatalf("%s: destination moved though used within the hour", name)
		}
		now = now.Add(time.Hour)
		if got := s.Pick(dstHint(1)); got != 1-i {
			t.Fatalf("%s: destination not rescheduled after expiring: %d", name, got)
		}
	}
}

// TestLocalityKindSwitch: an lblcr Scheduler on an lblc Locality starts
// an empty table, and the old lblc Scheduler keeps working.
func TestLocalityKindSwitch(t *testing.T) {
	pool := keyedPool(newRand(t), 3)
	loc := NewLocality(0)
	a := mustNewOpts(t, "lblc", pool, Options{Locality: loc})
	a.Pick(dstHint(1))
	if loc.Len() != 1 {
		t.Fatal("lblc entry missing")
	}
	b := mustNewOpts(t, "lblcr", pool, Options{Locality: loc})
	if loc.Len() != 0 {
		t.Fatal("lblcr inherited lblc's entries")
	}
	b.Pick(dstHint(1))
	b.Pick(dstHint(2))
	if loc.Len() != 2 {
		t.Fatalf("Len() = %d", loc.Len())
	}
	if a.Pick(dstHint(3)) < 0 {
		t.Fatal("the old lblc Scheduler stopped")
	}
}

// TestLocalityIPv4IgnoresPadding: the twelve bytes after an IPv4 address
// are not part of the destination.
func TestLocalityIPv4IgnoresPadding(t *testing.T) {
	pool := keyedPool(newRand(t), 4)
	loc := NewLocality(0)
	s := mustNewOpts(t, "lblc", pool, Options{Locality: loc})
	h := dstHint(7)
	s.Pick(h)
	h.Dst[9], h.Dst[15] = 1, 2
	s.Pick(h)
	if loc.Len() != 1 {
		t.Fatalf("Len() = %d: the padding made another destination", loc.Len())
	}
	h.IPv6 = true
	s.Pick(h)
	if loc.Len() != 2 {
		t.Fatalf("Len() = %d: IPv6 destination not separate", loc.Len())
	}
}

// TestLBLCRSetBounded: a destination whose set would grow past
// LBLCRMaxSet keeps LBLCRMaxSet members.
func TestLBLCRSetBounded(t *testing.T) {
	pool := make([]Server, 30)
	for i := range pool {
		pool[i] = Server{Weight: 1, Key: fmt.Sprintf("s%02d", i), Counts: new(Counts)}
	}
	// An idle server far away keeps is_overloaded true for loaded members.
	pool = append(pool, Server{Weight: 1000, Key: "idle", Counts: new(Counts)})
	pool[30].Counts.SetThresholds(1, 0)
	pool[30].Counts.Add(false) // overloaded: never chosen, but half-idle
	loc := NewLocality(0)
	s := mustNewOpts(t, "lblcr", pool, Options{Locality: loc}).(*lblcr)
	seen := map[int]bool{}
	for range 100 {
		i := s.Pick(dstHint(1))
		seen[i] = true
		pool[i].Counts.Add(true)
		pool[i].Counts.Add(true)
	}
	if len(seen) < LBLCRMaxSet+1 {
		t.Fatalf("only %d servers used", len(seen))
	}
	dst := [16]byte{203, 0, 0, 1}
	h := locHash(&dst, false)
	sh := s.tab.shard(h)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.lookup(&dst, false, h, s.clock(), s.expire)
	if e < 0 {
		t.Fatal("no entry for the destination")
	}
	if n := sh.ents[e].val.n; n != LBLCRMaxSet {
		t.Fatalf("set of %d members, want %d", n, LBLCRMaxSet)
	}
}

func TestLocalityEntrySizes(t *testing.T) {
	t.Logf("entry sizes: lblc %d, lblcr %d bytes", sizeOf(&locEntry[int32]{}), sizeOf(&locEntry[lblcrSet]{}))
	if got := sizeOf(&locEntry[int32]{}); got > 48 {
		t.Errorf("lblc entry is %d bytes", got)
	}
	if got := sizeOf(&locEntry[lblcrSet]{}); got > 112 {
		t.Errorf("lblcr entry is %d bytes", got)
	}
}
