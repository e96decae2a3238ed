package scheduler

import (
	"fmt"
	"math/bits"
)

// mh is the Maglev-hashing scheduler (IPVS "mh", ip_vs_mh.c; Eisenbud et
// al., "Maglev: A Fast and Reliable Software Network Load Balancer",
// NSDI 2016, section 3.4).
//
// The lookup table has a prime number M of slots (Options.MHTableSize).
// Each server has a preference list of all the slots, the permutation
// offset, offset+skip, offset+2·skip, ... (mod M), where offset = h1(Key)
// mod M and skip = h2(Key) mod (M-1) + 1 come from two fixed hashes of
// its Key, so that the list depends on the server alone. The table is
// filled in rounds: in each round every server, in Key order, claims the
// next free slot of its list, as many times as its turns, until every
// slot is claimed. A server's turns are, as in the kernel, its weight
// divided by the gcd of the weights, shifted right so that the largest
// is below 2^(bits(M)/2) (64 for the default M), and at least 1; a
// quiesced server takes turns by its LastWeight, and none without one.
// With equal weights every server owns ⌊M/N⌋ or ⌈M/N⌉ slots.
//
// A flow goes to the server of slot hash(address + port) mod M, the client
// address folded to 32 bits and the port 0 unless Options.Port. If that
// server is quiesced or overloaded the connection is refused, or with
// Options.Fallback the kernel's search is made: slot hash(address + port +
// (slot+k) mod M) mod M for k = 0, 1, ... M-1, and the first available
// server is taken. A flow whose server is available never moves.
//
// The hashes are fixed (FNV-1a and a 64-bit finalizer, not the kernel's
// hsiphash), so every xvs director builds the same table for the same
// servers and maps a flow to the same slot; the table differs from the
// kernel's.
type mh struct {
	m        []member
	table    []int32 // slot → server index; all -1 if no server takes turns
	size     uint32
	fallback bool
	port     bool
}

func newMH(p *pool, opts *Options) (Scheduler, error) {
	size := opts.MHTableSize
	if size == 0 {
		size = DefaultMHTableSize
	}
	if size < 2 || size > MaxMHTableSize || !isPrime(size) {
		return nil, fmt.Errorf("MHTableSize %d is not a prime from 2 to %d: %w", size, MaxMHTableSize, ErrInvalidOption)
	}
	if len(p.m) > size {
		return nil, fmt.Errorf("%d servers do not fit an MHTableSize of %d: %w", len(p.m), size, ErrInvalidOption)
	}
	keys := make([]string, len(p.order))
	weights := make([]int, len(p.order))
	for j, i := range p.order {
		keys[j], weights[j] = p.keys[i], p.table[i]
	}
	table := maglevTable(keys, weights, size)
	for s, j := range table {
		if j >= 0 {
			table[s] = p.order[j]
		}
	}
	return &mh{m: p.m, table: table, size: uint32(size), fallback: opts.Fallback, port: opts.Port}, nil
}

func isPrime(n int) bool {
	if n < 2 {
		return false
	}
	for d := 2; d*d <= n; d++ {
		if n%d == 0 {
			return false
		}
	}
	return true
}

// Fixed seeds of the Maglev hashes. Changing them changes every table.
const (
	mhSeedOffset = 0x9e3779b97f4a7c15
	mhSeedSkip   = 0xc2b2ae3d27d4eb4f
	mhSeedFlow   = 0x165667b19e3779f9
)

// mix64 is a 64-bit finalizer (MurmurHash3's fmix64): every input bit
// affects every output bit.
func mix64(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// fnv64 is the 64-bit FNV-1a hash of s.
func fnv64(s string) uint64 {
	h := uint64(0xcbf29ce484222325)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 0x100000001b3
	}
	return h
}

// mhPermutation returns a server's offset and skip for a table of size
// slots.
func mhPermutation(key string, size int) (offset, skip uint32) {
	h := fnv64(key)
	offset = uint32(mix64(h^mhSeedOffset) % uint64(size))
	skip = uint32(mix64(h^mhSeedSkip)%uint64(size-1)) + 1
	return offset, skip
}

// mhFlow hashes a flow's folded address plus port plus offset, as
// ip_vs_mh_hashkey hashes its 32-bit sum.
func mhFlow(v uint32) uint32 {
	return uint32(mix64(uint64(v)^mhSeedFlow) >> 32)
}

// mhTurns returns each server's turns per round, as ip_vs_mh_permutate
// computes them from the weights, their gcd and the shift of
// ip_vs_mh_shift_weight.
func mhTurns(weights []int, size int) []int {
	g, mw := 0, 0
	for _, w := range weights {
		if w > 0 {
			g = gcd(g, w)
			mw = max(mw, w)
		}
	}
	turns := make([]int, len(weights))
	if g == 0 {
		return turns
	}
	shift := max(bits.Len(uint(mw/g))-bits.Len(uint(size))/2, 0)
	for j, w := range weights {
		if w > 0 {
			turns[j] = max((w/g)>>shift, 1)
		}
	}
	return turns
}

// maglevTable fills a table of size slots (a prime) for servers with the
// given keys and weights, in that order, and returns for each slot the
// position of its server in keys, or all -1 if no weight is positive.
func maglevTable(keys []string, weights []int, size int) []int32 {
	table := make([]int32, size)
	for s := range table {
		table[s] = -1
	}
	turns := mhTurns(weights, size)
	type setup struct{ next, skip uint32 }
	setups := make([]setup, len(keys))
	some := false
	for j, k := range keys {
		if turns[j] > 0 {
			some = true
			off, skip := mhPermutation(k, size)
			setups[j] = setup{next: off, skip: skip}
		}
	}
	if !some {
		return table
	}
	m := uint32(size)
	for n := 0; ; {
		for j := range setups {
			ds := &setups[j]
			for range turns[j] {
				c := ds.next
				for table[c] >= 0 {
					if c += ds.skip; c >= m {
						c -= m
					}
				}
				ds.next = c
				table[c] = int32(j)
				if n++; n == size {
					return table
				}
			}
		}
	}
}

// Pick implements Scheduler.
func (s *mh) Pick(h Hint) int {
	v := fold(&h.Src, h.IPv6)
	if s.port {
		v += uint32(h.SrcPort)
	}
	slot := mhFlow(v) % s.size
	i := s.table[slot]
	if i < 0 {
		return -1
	}
	if s.m[i].available() {
		return int(i)
	}
	if !s.fallback || !s.anyAvailable() {
		return -1
	}
	for k := range s.size {
		if i := s.table[mhFlow(v+(slot+k)%s.size)%s.size]; s.m[i].available() {
			return int(i)
		}
	}
	return -1
}

// anyAvailable reports whether some server can be picked, so that the
// fallback does not search M slots in vain.
func (s *mh) anyAvailable() bool {
	for i := range s.m {
		if s.m[i].available() {
			return true
		}
	}
	return false
}
