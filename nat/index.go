package nat

import "sync/atomic"

// index is an open-addressing hash index from a flow key to an entry
// number in its shard's slab, with linear probing and backward-shift
// deletion (no tombstones). A cell holds only the key's hash and the entry
// number: the key itself is compared against the entry, so an index costs
// 8 bytes a cell. It holds no pointers, so the garbage collector never scans
// it, and it doubles when more than 3/4 full. It is not safe for concurrent
// use: its shard's lock guards it.
//
// pub is the current cell array published for Prefetch, which reads it
// without the lock: each generation's slice header is written once, before
// it is stored, and never changed, so a reader holding an old one reads
// valid (if stale) memory.
type index struct {
	cells []cell
	mask  uint32
	n     int
	pub   atomic.Pointer[[]cell]
}

// cell is the hash of a key and its entry number plus one (0 = empty).
type cell struct {
	hash uint32
	v    uint32
}

const minIndexSize = 16

// init sizes an empty index for hint entries.
func (x *index) init(hint int) {
	size := minIndexSize
	for size*3 < hint*4 {
		size *= 2
	}
	x.setCells(make([]cell, size))
}

// setCells installs a new cell array and publishes it for Prefetch.
func (x *index) setCells(cells []cell) {
	x.cells = cells
	x.mask = uint32(len(cells) - 1)
	publish(&x.pub, cells)
}

// hashKey mixes a key's fields into 32 bits.
func hashKey(k *key) uint32 {
	a := uint64(k.a[0]) | uint64(k.a[1])<<8 | uint64(k.a[2])<<16 | uint64(k.a[3])<<24 |
		uint64(k.b[0])<<32 | uint64(k.b[1])<<40 | uint64(k.b[2])<<48 | uint64(k.b[3])<<56
	b := uint64(k.pa) | uint64(k.pb)<<16 | uint64(k.proto)<<32
	h := a*0x9E3779B97F4A7C15 ^ b*0xC2B2AE3D27D4EB4F
	h ^= h >> 29
	h *= 0xBF58476D1CE4E5B9
	h ^= h >> 32
	return uint32(h)
}

// keyOf returns the key under which entry c is found from direction dir.
func keyOf(c *Conn, dir int) key {
	if dir == dirInput {
		return key{a: c.Client, b: c.VIP, pa: c.CPort, pb: c.VPort, proto: c.Proto}
	}
	return key{a: c.Real, b: c.Client, pa: c.RPort, pb: c.CPort, proto: c.Proto}
}

// get returns the entry number for k in direction dir.
func (s *shard) get(dir int, k *key) (uint32, bool) {
	x := &s.idx[dir]
	h := hashKey(k)
	for i := h & x.mask; ; i = (i + 1) & x.mask {
		c := x.cells[i]
		if c.v == 0 {
			return 0, false
		}
		if c.hash == h && keyOf(&s.conns[c.v-1], dir) == *k {
			return c.v - 1, true
		}
	}
}

// put adds entry v under its key in direction dir. The key must not be in
// the index.
func (s *shard) put(dir int, v uint32) {
	x := &s.idx[dir]
	if 4*(x.n+1) > 3*len(x.cells) {
		x.grow()
	}
	k := keyOf(&s.conns[v], dir)
	h := hashKey(&k)
	for i := h & x.mask; ; i = (i + 1) & x.mask {
		if x.cells[i].v == 0 {
			x.cells[i] = cell{hash: h, v: v + 1}
			x.n++
			return
		}
	}
}

// del removes entry v from direction dir's index, shifting later cells of
// its probe run back so that no lookup ever stops early.
func (s *shard) del(dir int, v uint32) bool {
	x := &s.idx[dir]
	k := keyOf(&s.conns[v], dir)
	h := hashKey(&k)
	i := h & x.mask
	for {
		c := x.cells[i]
		if c.v == 0 {
			return false
		}
		if c.v == v+1 {
			break
		}
		i = (i + 1) & x.mask
	}
	for j := (i + 1) & x.mask; ; j = (j + 1) & x.mask {
		c := x.cells[j]
		if c.v == 0 {
			break
		}
		// c may move into the hole at i only if i lies on its probe path,
		// between its home cell and j.
		home := c.hash & x.mask
		if (j-home)&x.mask >= (j-i)&x.mask {
			x.cells[i] = c
			i = j
		}
	}
	x.cells[i] = cell{}
	x.n--
	return true
}

func (x *index) grow() {
	old := x.cells
	x.setCells(make([]cell, 2*len(old)))
	for _, c := range old {
		if c.v == 0 {
			continue
		}
		for j := c.hash & x.mask; ; j = (j + 1) & x.mask {
			if x.cells[j].v == 0 {
				x.cells[j] = c
				break
			}
		}
	}
}
