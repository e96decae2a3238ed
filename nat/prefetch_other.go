//go:build !amd64

package nat

import "unsafe"

// prefetch does nothing where xvs has no prefetch instruction written.
func prefetch(p unsafe.Pointer) {}

// loadCellEntry returns 0 where xvs has no unchecked load written, so
// PrefetchEntry prefetches nothing: a Go load here would be a data race.
func loadCellEntry(c *cell) uint32 { return 0 }
