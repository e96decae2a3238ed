package scheduler

import (
	"fmt"
	"sync/atomic"
	"testing"
)

// benchPool returns n keyed servers with weights 1..5 and Counts holding
// a moderate load.
func benchPool(n int) []Server {
	pool := make([]Server, n)
	for i := range pool {
		c := new(Counts)
		c.Active.Store(int64(10 + i%7))
		c.Inactive.Store(int64(100 + 13*i%50))
		pool[i] = Server{Weight: 1 + i%5, Key: fmt.Sprintf("198.18.%d.%d:80", 1+i/250, 1+i%250), Counts: c}
	}
	return pool
}

// benchmarkPicks measures Pick for every scheduler over a pool of 8
// servers, the hints cycling through 4096 clients and 64 destinations.
func benchmarkPicks(b *testing.B, parallel bool) {
	for _, name := range Names() {
		b.Run(name, func(b *testing.B) {
			s, err := NewWithOptions(name, benchPool(8), Options{Fallback: true})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			if !parallel {
				var h Hint
				h.Src[0], h.Dst[0] = 198, 203
				var sink, k int
				for b.Loop() {
					k++
					h.Src[2], h.Src[3] = byte(k>>8&15), byte(k)
					h.Dst[3] = byte(k & 63)
					sink += s.Pick(h)
				}
				_ = sink
				return
			}
			var goroutines atomic.Int32
			b.RunParallel(func(pb *testing.PB) {
				var h Hint
				h.Src[0], h.Dst[0] = 198, 203
				var sink int
				k := int(goroutines.Add(1)) * 7919 // each its own clients and destinations
				for pb.Next() {
					k++
					h.Src[2], h.Src[3] = byte(k>>8&15), byte(k)
					h.Dst[3] = byte(k & 63)
					sink += s.Pick(h)
				}
				_ = sink
			})
		})
	}
}

// BenchmarkPick measures each scheduler's Pick from one goroutine.
func BenchmarkPick(b *testing.B) { benchmarkPicks(b, false) }

// BenchmarkPickParallel measures each scheduler's Pick from GOMAXPROCS
// goroutines at once.
func BenchmarkPickParallel(b *testing.B) { benchmarkPicks(b, true) }

// BenchmarkPickWRRStep measures wrr's step-by-step mode (a cycle too long
// to precompute).
func BenchmarkPickWRRStep(b *testing.B) {
	s := newWRR(weightPool(b, 40, 30, 20, 10, 0, 7), 0)
	b.ReportAllocs()
	var sink int
	for b.Loop() {
		sink += s.Pick(Hint{})
	}
	_ = sink
}

// BenchmarkPickWLC1000 measures wlc, a scan of the pool, with 1000
// servers.
func BenchmarkPickWLC1000(b *testing.B) {
	s, err := New("wlc", benchPool(1000))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var sink int
	for b.Loop() {
		sink += s.Pick(Hint{})
	}
	_ = sink
}

// BenchmarkMaglevBuild measures building an mh Scheduler for 1000 servers
// with a table of 65537 slots.
func BenchmarkMaglevBuild(b *testing.B) {
	for _, tc := range []struct {
		servers, size int
	}{
		{1000, 65537},
		{1000, 65521},
		{100, 4093},
	} {
		b.Run(fmt.Sprintf("servers=%d/M=%d", tc.servers, tc.size), func(b *testing.B) {
			pool := benchPool(tc.servers)
			opts := Options{MHTableSize: tc.size}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := NewWithOptions("mh", pool, opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
