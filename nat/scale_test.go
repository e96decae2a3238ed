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

var entriesFlag = flag.Int("entries", 1_000_000, "entries for TestTableMemoryAndGC (the issue's figure is at 10000000)")

// TestTableMemoryAndGC measures bytes per entry from the heap and the
// longest GC pause with the table full, at -entries entries.
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

	debug.SetGCPercent(100)
	var st debug.GCStats
	debug.ReadGCStats(&st)
	base := st.NumGC
	for i := 0; i < 5; i++ {
		runtime.GC()
		_ = make([]byte, 1<<20)
	}
	st = debug.GCStats{PauseQuantiles: make([]time.Duration, 5)}
	debug.ReadGCStats(&st)
	var longest time.Duration
	for i := 0; i < int(st.NumGC-base) && i < len(st.Pause); i++ {
		longest = max(longest, st.Pause[i])
	}
	t.Logf("longest of the last %d GC pauses with %d entries: %v", st.NumGC-base, n, longest)
	if tb.Len() != n {
		t.Fatalf("table holds %d entries, want %d", tb.Len(), n)
	}
	runtime.KeepAlive(tb)
}
