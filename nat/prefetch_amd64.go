package nat

import "unsafe"

// prefetch hints the CPU to load the cache line at p (PREFETCHT0). It
// never faults and changes nothing.
//
//go:noescape
func prefetch(p unsafe.Pointer)

// loadCellEntry reads a cell's entry number with a plain load that the race
// detector does not see: Prefetch's read of a cell another worker may be
// writing under its shard's lock is a hint, never used as a result.
//
//go:noescape
func loadCellEntry(c *cell) uint32
