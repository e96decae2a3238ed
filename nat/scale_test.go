package nat

import (
	"flag"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"testing"
	"time"
	"unsafe"
)

// scaleConn returns the i-th distinct UDP flow of a synthetic population.
func scaleConn(i int) Conn {
	return Conn{
		Client: [4]byte{198, 18 + byte(i>>24&1), byte(i >> 16), byte(i >> 8)}, CPort: uint16(1024 + i&0xff),
		VIP: [4]byte{198, 18, 0, 100}, VPort: 53,
		Real: [4]byte{198, 18, 1, byte(11 + i%3)}, RPort: 53,
		Proto: 17, State: StateUDP, Expires: 1 << 62,
	}
}

// fill inserts n flows into a table sized for them.
func fill(tb testing.TB, n int) *Table {
	t := NewTable(n+n/4, DefaultTimeouts)
	for i := 0; i < n; i++ {
		c := scaleConn(i)
		s := t.shardFor(c.Client, c.CPort, c.Proto)
		s.mu.Lock()
		_, ok := t.insert(s, c)
		s.mu.Unlock()
		if !ok {
			tb.Fatalf("insert %d refused", i)
		}
	}
	return t
}

// lookup finds flow i from the client side.
func (t *Table) lookup(i int) bool {
	c := scaleConn(i)
	k := keyOf(&c, dirInput)
	s := t.shardFor(c.Client, c.CPort, c.Proto)
	s.mu.Lock()
	_, ok := s.get(dirInput, &k)
	s.mu.Unlock()
	return ok
}

var scaleSizes = []int{10_000, 1_000_000, 10_000_000}

// BenchmarkTableLookup looks up random existing flows at 10k, 1M and 10M
// entries from 1 and 2 goroutines.
func BenchmarkTableLookup(b *testing.B) {
	for _, n := range scaleSizes {
		if testing.Short() && n > 1_000_000 {
			continue
		}
		t := fill(b, n)
		for _, g := range []int{1, 2} {
			b.Run(fmt.Sprintf("entries=%d/goroutines=%d", n, g), func(b *testing.B) {
				b.ReportAllocs()
				b.SetParallelism(1)
				var wg sync.WaitGroup
				per := b.N / g
				b.ResetTimer()
				for w := 0; w < g; w++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						x := uint32(w*7919 + 1)
						for i := 0; i < per; i++ {
							x ^= x << 13
							x ^= x >> 17
							x ^= x << 5
							if !t.lookup(int(x % uint32(n))) {
								b.Error("flow not found")
								return
							}
						}
					}()
				}
				wg.Wait()
			})
		}
		runtime.KeepAlive(t)
	}
}

// BenchmarkTableInsert inserts and removes flows in a table kept at 10k,
// 1M and 10M entries, from 1 and 2 goroutines (each on its own flows).
func BenchmarkTableInsert(b *testing.B) {
	for _, n := range scaleSizes {
		if testing.Short() && n > 1_000_000 {
			continue
		}
		t := fill(b, n)
		for _, g := range []int{1, 2} {
			b.Run(fmt.Sprintf("entries=%d/goroutines=%d", n, g), func(b *testing.B) {
				b.ReportAllocs()
				var wg sync.WaitGroup
				per := b.N / g
				for w := 0; w < g; w++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := 0; i < per; i++ {
							c := scaleConn(n + w<<20 + i%(1<<20))
							s := t.shardFor(c.Client, c.CPort, c.Proto)
							s.mu.Lock()
							idx, ok := t.insert(s, c)
							if ok {
								t.remove(s, idx, 0)
							}
							s.mu.Unlock()
							if !ok {
								b.Error("insert refused")
								return
							}
						}
					}()
				}
				wg.Wait()
			})
		}
		runtime.KeepAlive(t)
	}
}

var entriesFlag = flag.Int("entries", 1_000_000, "entries for TestTableMemoryAndGC and BenchmarkGCWithTable (the issue's figure is at 10000000)")

// TestTableMemoryAndGC measures the heap bytes per entry at -entries
// entries and holds them to the layout's bound; the GC pauses with the
// table full are BenchmarkGCWithTable's.
func TestTableMemoryAndGC(t *testing.T) {
	n := *entriesFlag
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	tb := fill(t, n)
	runtime.GC()
	runtime.ReadMemStats(&after)
	perEntry := float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
	t.Logf("%d entries: %.1f bytes per entry on the heap (Conn is %d bytes)", n, perEntry, unsafe.Sizeof(Conn{}))
	// An entry is its Conn in a slab plus its two index cells (input and
	// output tuples) and the slack of tables grown by doubling: at most
	// 64 bytes beyond the Conn.
	if limit := float64(unsafe.Sizeof(Conn{})) + 64; perEntry > limit {
		t.Errorf("%.1f bytes per entry, more than the %.0f the layout allows", perEntry, limit)
	}
	if tb.Len() != n {
		t.Fatalf("table holds %d entries, want %d", tb.Len(), n)
	}
	runtime.KeepAlive(tb)
}

// BenchmarkGCWithTable measures garbage collection with a full table on
// the heap (-entries, 1 000 000 by default): each iteration is one forced
// collection; it reports the longest stop-the-world pause seen. The table
// holds no pointers per entry, so the pauses stay those of an empty heap.
//
//	go test -run '^$' -bench GCWithTable -benchtime 20x ./nat/
func BenchmarkGCWithTable(b *testing.B) {
	tb := fill(b, *entriesFlag)
	debug.SetGCPercent(100)
	var st debug.GCStats
	debug.ReadGCStats(&st)
	base := st.NumGC
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		runtime.GC()
	}
	b.StopTimer()
	st = debug.GCStats{}
	debug.ReadGCStats(&st)
	var longest time.Duration
	for i := 0; i < int(st.NumGC-base) && i < len(st.Pause); i++ {
		longest = max(longest, st.Pause[i])
	}
	b.ReportMetric(float64(longest.Microseconds()), "max_pause_µs")
	if tb.Len() != *entriesFlag {
		b.Fatalf("table holds %d entries", tb.Len())
	}
	runtime.KeepAlive(tb)
}
