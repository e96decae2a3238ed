package nat

import (
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/xvs-project/xvs/internal/header"
)

// hugePage is the size of a transparent huge page on x86_64 and arm64.
const hugePage = 2 << 20

// madvCollapse is MADV_COLLAPSE (Linux 6.1): make the range huge pages now.
const madvCollapse = 25

// adviseHuge asks the kernel to back the whole 2 MiB pages inside the
// n bytes at p with transparent huge pages (MADV_HUGEPAGE), and to make
// them huge now (MADV_COLLAPSE) where the memory was already touched. A
// lookup in a table of millions of entries misses the TLB on nearly every
// access with 4 KiB pages. It is advice: a kernel without THP, or with it
// off, keeps small pages, and nothing is reported. Memory that is not
// within whole huge pages is left alone, so no other object's pages change.
func adviseHuge(p unsafe.Pointer, n uintptr) {
	start := (uintptr(p) + hugePage - 1) &^ (hugePage - 1)
	end := (uintptr(p) + n) &^ (hugePage - 1)
	if end <= start {
		return
	}
	b := unsafe.Slice((*byte)(unsafe.Add(p, start-uintptr(p))), end-start)
	if syscall.Madvise(b, syscall.MADV_HUGEPAGE) == nil {
		_ = syscall.Madvise(b, madvCollapse)
	}
}

// publish advises a new slab or cell array for huge pages and stores, for
// Prefetch, a slice header of it at its full capacity that is written once
// here and never changed, so a reader holding an old one reads valid (if
// stale) memory.
func publish[T any](p *atomic.Pointer[[]T], s []T) {
	var zero T
	adviseHuge(unsafe.Pointer(unsafe.SliceData(s)), uintptr(cap(s))*unsafe.Sizeof(zero))
	h := new([]T)
	*h = s[:cap(s)]
	p.Store(h)
}

// Hint is what a first pass over a batch of frames learned of one frame's
// flow, for PrefetchEntry in a second pass. The zero Hint prefetches
// nothing.
type Hint struct {
	s     *shard
	cells *[]cell
	cell  uint32
}

// Prefetch starts loading the index cell of the frame's flow into the
// cache and returns a Hint for PrefetchEntry. It takes no lock, changes
// nothing and validates nothing: a frame it cannot read at fixed offsets
// (not IPv4 TCP or UDP without options) gives the zero Hint, and the
// frame's later Inbound or Outbound does the real work either way.
//
// A worker that calls Prefetch for every frame of a batch, then
// PrefetchEntry for every frame, then processes them, has the cache misses
// of a large table (an index cell and an entry per frame, each a trip to
// memory) overlap instead of following one another.
func (e *Engine) Prefetch(frame []byte, inbound bool) Hint {
	const ipOff, l4Off = header.EthernetSize, header.EthernetSize + header.IPv4MinimumSize
	if len(frame) < l4Off+4 || frame[12] != 0x08 || frame[13] != 0x00 || frame[ipOff] != 0x45 {
		return Hint{}
	}
	proto := frame[ipOff+9]
	if proto != header.ProtocolTCP && proto != header.ProtocolUDP {
		return Hint{}
	}
	k := key{a: [4]byte(frame[ipOff+12 : ipOff+16]), b: [4]byte(frame[ipOff+16 : ipOff+20]),
		pa: uint16(frame[l4Off])<<8 | uint16(frame[l4Off+1]), pb: uint16(frame[l4Off+2])<<8 | uint16(frame[l4Off+3]), proto: proto}
	// Both directions' keys are (source, destination) as the frame
	// carries them; the shard is the client's, its source inbound and its
	// destination outbound.
	dir, client, cport := dirInput, k.a, k.pa
	if !inbound {
		dir, client, cport = dirOutput, k.b, k.pb
	}
	s := e.table.shardFor(client, cport, proto)
	cells := s.idx[dir].pub.Load()
	h := hashKey(&k)
	i := h & uint32(len(*cells)-1)
	prefetch(unsafe.Pointer(&(*cells)[i]))
	return Hint{s: s, cells: cells, cell: i}
}

// PrefetchEntry starts loading the entry the hint's index cell names, if
// any. The cell is read without the shard's lock: a stale or torn value
// only prefetches the wrong entry, and the lookup proper, under the lock,
// is not affected.
func (e *Engine) PrefetchEntry(h Hint) {
	if h.s == nil {
		return
	}
	v := loadCellEntry(&(*h.cells)[h.cell])
	if v == 0 {
		return
	}
	slab := h.s.slab.Load()
	if int(v-1) < len(*slab) {
		prefetch(unsafe.Pointer(&(*slab)[v-1]))
	}
}
