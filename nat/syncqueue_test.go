package nat

import (
	"runtime"
	"sync"
	"testing"
)

// seqRecord is a record carrying sequence number i in fields the tests
// check.
func seqRecord(i uint64) SyncRecord {
	return SyncRecord{Timeout: uint32(i), Persist: uint32(i >> 32), CPort: uint16(i), Proto: 6}
}

func recordSeq(r *SyncRecord) uint64 { return uint64(r.Persist)<<32 | uint64(r.Timeout) }

func TestSyncQueueSize(t *testing.T) {
	for _, tc := range []struct{ n, want int }{{-1, 1}, {0, 1}, {1, 1}, {2, 2}, {3, 4}, {5, 8}, {8, 8}, {1000, 1024}} {
		if got := NewSyncQueue(tc.n).Cap(); got != tc.want {
			t.Errorf("NewSyncQueue(%d).Cap() = %d, want %d", tc.n, got, tc.want)
		}
	}
}

// TestSyncQueueOrder fills, empties and wraps a small queue: records come
// out in order, Push refuses exactly when full, Pop and Drain stop when
// empty, Drain copies across the end of the ring.
func TestSyncQueueOrder(t *testing.T) {
	q := NewSyncQueue(8)
	var next, want uint64 // next to push, next expected out
	push := func(n int) {
		t.Helper()
		for i := 0; i < n; i++ {
			if !q.Push(seqRecord(next)) {
				t.Fatalf("push %d refused with %d queued", next, q.Len())
			}
			next++
		}
	}
	pop := func(n int) {
		t.Helper()
		var r SyncRecord
		for i := 0; i < n; i++ {
			if !q.Pop(&r) {
				t.Fatalf("pop found nothing, expected %d", want)
			}
			if got := recordSeq(&r); got != want || r != seqRecord(want) {
				t.Fatalf("popped %d, want %d", got, want)
			}
			want++
		}
	}
	var r SyncRecord
	if q.Pop(&r) || q.Drain(make([]SyncRecord, 4)) != 0 {
		t.Fatal("an empty queue gave a record")
	}
	push(8)
	if q.Push(seqRecord(99)) {
		t.Fatal("a full queue took a record")
	}
	if q.Len() != 8 {
		t.Fatalf("Len %d, want 8", q.Len())
	}
	pop(3)
	push(3) // wraps
	if q.Push(seqRecord(99)) {
		t.Fatal("a full queue took a record after wrapping")
	}
	dst := make([]SyncRecord, 6)
	if n := q.Drain(dst); n != 6 { // 5 at the end of the ring, 1 at its start
		t.Fatalf("Drain moved %d, want 6", n)
	}
	for i := range dst {
		if got := recordSeq(&dst[i]); got != want {
			t.Fatalf("drained %d at %d, want %d", got, i, want)
		}
		want++
	}
	pop(2)
	if q.Pop(&r) || q.Len() != 0 {
		t.Fatal("queue not empty after taking everything")
	}
	for round := 0; round < 100; round++ {
		push(5)
		pop(1)
		if n := q.Drain(dst[:3]); n != 3 {
			t.Fatalf("Drain into 3 moved %d", n)
		}
		want += 3
		if n := q.Drain(dst); n != 1 {
			t.Fatalf("Drain moved %d, want the 1 left", n)
		}
		want++
	}
}

func TestSyncQueueAllocatesNothing(t *testing.T) {
	q := NewSyncQueue(16)
	dst := make([]SyncRecord, 16)
	var r SyncRecord
	allocs := testing.AllocsPerRun(1000, func() {
		for i := 0; i < 5; i++ {
			q.Push(seqRecord(uint64(i)))
		}
		q.Pop(&r)
		q.Drain(dst)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per round", allocs)
	}
}

// TestSyncQueueConcurrent hammers a small queue from a producer and a
// consumer goroutine (run it with -race). The producer first retries
// refused pushes, so that every record must arrive, in order and intact;
// then it drops them as a worker would, so that what arrives is in order
// and, with what was refused, adds up to what was pushed.
func TestSyncQueueConcurrent(t *testing.T) {
	n := uint64(200_000)
	if testing.Short() {
		n = 50_000
	}
	for _, retry := range []bool{true, false} {
		q := NewSyncQueue(64)
		var refused uint64
		done := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(done)
			for i := uint64(0); i < n; {
				if q.Push(seqRecord(i)) {
					i++
					continue
				}
				if !retry {
					refused++
					i++
				}
				runtime.Gosched()
			}
		}()
		var got, last uint64
		first := true
		take := func(r *SyncRecord) {
			if *r != seqRecord(recordSeq(r)) {
				t.Fatalf("torn record %+v", *r)
			}
			s := recordSeq(r)
			if !first && s <= last || retry && s != got {
				t.Fatalf("record %d after %d (%d received)", s, last, got)
			}
			first, last = false, s
			got++
		}
		dst := make([]SyncRecord, 7)
		var r SyncRecord
		for finished := false; ; {
			select {
			case <-done:
				finished = true
			default:
			}
			moved := 0
			if got%2 == 0 {
				moved = q.Drain(dst)
				for i := 0; i < moved; i++ {
					take(&dst[i])
				}
			} else if q.Pop(&r) {
				moved = 1
				take(&r)
			}
			if moved == 0 {
				if finished && q.Len() == 0 {
					break
				}
				runtime.Gosched()
			}
		}
		wg.Wait()
		if got+refused != n || retry && refused != 0 {
			t.Fatalf("retry %v: %d received and %d refused of %d", retry, got, refused, n)
		}
		t.Logf("retry %v: %d received, %d refused", retry, got, refused)
	}
}

// BenchmarkSyncQueue measures one Push and one Pop: from one goroutine,
// and from a producer and a consumer goroutine running at once (the
// consumer draining in batches, as a sync sender would).
func BenchmarkSyncQueue(b *testing.B) {
	b.Run("push-pop", func(b *testing.B) {
		q := NewSyncQueue(1024)
		rec := seqRecord(1)
		var r SyncRecord
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			q.Push(rec)
			q.Pop(&r)
		}
	})
	b.Run("spsc", func(b *testing.B) {
		q := NewSyncQueue(1024)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			dst := make([]SyncRecord, 64)
			for {
				if q.Drain(dst) == 0 {
					select {
					case <-stop:
						return
					default:
						runtime.Gosched()
					}
				}
			}
		}()
		rec := seqRecord(1)
		full := 0
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if !q.Push(rec) {
				full++
			}
		}
		b.StopTimer()
		close(stop)
		wg.Wait()
		b.ReportMetric(float64(full)/float64(b.N), "full/op")
	})
}
