package nat

import (
	"math/bits"
	"sync/atomic"
)

// cacheLine is the size that keeps the producer's and the consumer's
// fields of a SyncQueue off each other's cache lines.
const cacheLine = 64

// SyncQueue is a bounded single-producer, single-consumer lock-free queue
// of sync records: a ring preallocated by NewSyncQueue, with atomic head
// and tail positions. One goroutine at a time may push (a dataplane worker,
// each with its own queue) and one at a time may pop or drain (the sync
// sender); the two run concurrently without locks. Push never blocks: it
// reports a full queue, and the caller counts the record as lost. Neither
// side allocates.
type SyncQueue struct {
	buf  []SyncRecord
	mask uint64
	// Whole lines of padding keep the consumer's fields, the
	// producer's, and the shared ones apart whatever the alignment.
	_ [cacheLine]byte

	// head is the position of the next record to pop; only the
	// consumer writes it.
	head atomic.Uint64
	// tailSeen is the consumer's last reading of tail.
	tailSeen uint64
	_        [cacheLine]byte

	// tail is the position of the next record to push; only the
	// producer writes it.
	tail atomic.Uint64
	// headSeen is the producer's last reading of head.
	headSeen uint64
	_        [cacheLine]byte
}

// NewSyncQueue returns an empty queue for at least n records (at least
// 1), rounded up to a power of two.
func NewSyncQueue(n int) *SyncQueue {
	size := uint64(1)
	if n > 1 {
		size = 1 << bits.Len64(uint64(n-1))
	}
	return &SyncQueue{buf: make([]SyncRecord, size), mask: size - 1}
}

// Cap returns the number of records the queue holds at most.
func (q *SyncQueue) Cap() int { return len(q.buf) }

// Len returns the number of records in the queue: exact when neither side
// is busy, a snapshot otherwise.
func (q *SyncQueue) Len() int {
	h := q.head.Load()
	return int(q.tail.Load() - h)
}

// Push appends rec and reports whether there was room; a full queue is
// left as it is. Only one goroutine at a time may push.
func (q *SyncQueue) Push(rec SyncRecord) bool {
	t := q.tail.Load()
	if t-q.headSeen > q.mask {
		q.headSeen = q.head.Load()
		if t-q.headSeen > q.mask {
			return false
		}
	}
	q.buf[t&q.mask] = rec
	q.tail.Store(t + 1) // publishes the record to the consumer
	return true
}

// Pop removes the oldest record into *rec and reports whether there was
// one. Only one goroutine at a time may pop or drain.
func (q *SyncQueue) Pop(rec *SyncRecord) bool {
	h := q.head.Load()
	if h == q.tailSeen {
		q.tailSeen = q.tail.Load()
		if h == q.tailSeen {
			return false
		}
	}
	*rec = q.buf[h&q.mask]
	q.head.Store(h + 1) // hands the slot back to the producer
	return true
}

// Drain moves up to len(dst) of the oldest records into dst, in order,
// and returns how many it moved. Only one goroutine at a time may pop or
// drain.
func (q *SyncQueue) Drain(dst []SyncRecord) int {
	h := q.head.Load()
	q.tailSeen = q.tail.Load()
	n := min(q.tailSeen-h, uint64(len(dst)))
	if n == 0 {
		return 0
	}
	i := h & q.mask
	first := min(n, uint64(len(q.buf))-i)
	copy(dst, q.buf[i:i+first])
	copy(dst[first:n], q.buf[:n-first])
	q.head.Store(h + n)
	return int(n)
}
