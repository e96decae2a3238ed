package scheduler

import "encoding/binary"

// hashBuckets is the size of the dh and sh tables, the kernel's default
// (CONFIG_IP_VS_DH_TAB_BITS and CONFIG_IP_VS_SH_TAB_BITS 8).
const hashBuckets = 256

// fold reduces an address to 32 bits as IPVS's hashing schedulers do: an
// IPv4 address as a number, an IPv6 address as the XOR of its four 32-bit
// words.
func fold(a *[16]byte, v6 bool) uint32 {
	x := binary.BigEndian.Uint32(a[0:4])
	if v6 {
		x ^= binary.BigEndian.Uint32(a[4:8]) ^ binary.BigEndian.Uint32(a[8:12]) ^ binary.BigEndian.Uint32(a[12:16])
	}
	return x
}

// shBucket is ip_vs_sh_hashkey: the kernel's hash_32 of port+address
// (multiplication by GOLDEN_RATIO_32, top 8 bits), plus offset, modulo the
// table size.
func shBucket(addr, port, offset uint32) uint32 {
	return (offset + (port+addr)*0x61C88647>>(32-8)) % hashBuckets
}

// dhBucket is ip_vs_dh_hashkey: the address times 2654435761, modulo the
// table size.
func dhBucket(addr uint32) uint32 {
	return addr * 2654435761 % hashBuckets
}

// sh is the source-hashing scheduler (IPVS "sh", ip_vs_sh.c). The 256
// buckets are filled once, in Key order, as ip_vs_sh_reassign fills them:
// each server takes as many consecutive buckets as its weight (at least
// one, so a quiesced server keeps one), the list starting over until all
// 256 are taken; a weight of 256 or more takes them all. The weight used
// is Server.LastWeight for a quiesced server that has one, so that
// quiescing it leaves every other bucket where it was (the kernel uses the
// current weight; see Server.LastWeight).
//
// A flow goes to the server of the bucket its client address (and, with
// Options.Port, port) hashes to. If that server is quiesced or overloaded,
// the connection is refused, or with Options.Fallback the kernel's search
// is made: for offset 0..255, the server of bucket hash(address, port,
// (bucket+offset) mod 256), which visits every bucket once starting from
// bucket 2·bucket mod 256, and the first available one is taken. A flow
// whose server is available never moves, whatever happens to the others.
type sh struct {
	m        []member
	tab      [hashBuckets]int32 // server index; -1 if the pool is empty
	fallback bool
	port     bool
}

func newSH(p *pool, opts *Options) (Scheduler, error) {
	s := &sh{m: p.m, fallback: opts.Fallback, port: opts.Port}
	k, count := 0, 0
	for b := range s.tab {
		if len(p.order) == 0 {
			s.tab[b] = -1
			continue
		}
		i := p.order[k]
		s.tab[b] = i
		// Don't move to the next server until it has filled its weight.
		if count++; count >= p.table[i] {
			k, count = (k+1)%len(p.order), 0
		}
	}
	return s, nil
}

// Pick implements Scheduler.
func (s *sh) Pick(h Hint) int {
	if s.tab[0] < 0 {
		return -1
	}
	addr := fold(&h.Src, h.IPv6)
	var port uint32
	if s.port {
		port = uint32(h.SrcPort)
	}
	b := shBucket(addr, port, 0)
	if i := s.tab[b]; s.m[i].available() {
		return int(i)
	}
	if !s.fallback {
		return -1
	}
	for off := range uint32(hashBuckets) {
		if i := s.tab[shBucket(addr, port, (b+off)%hashBuckets)]; s.m[i].available() {
			return int(i)
		}
	}
	return -1
}

// dh is the destination-hashing scheduler (IPVS "dh", ip_vs_dh.c). The 256
// buckets are dealt to the servers in Key order, one each in turn, as
// ip_vs_dh_reassign deals them: the kernel's dh ignores the weights beyond
// refusing a quiesced server, and with more than 256 servers the last ones
// get no bucket.
//
// A flow goes to the server of the bucket its destination address hashes
// to. If that server is quiesced or overloaded the connection is refused;
// with Options.Fallback (an xvs extension: the kernel's dh has no flags)
// the following buckets are tried in turn and the first available server
// is taken. A flow whose server is available never moves.
type dh struct {
	m        []member
	tab      [hashBuckets]int32 // server index; -1 if the pool is empty
	fallback bool
}

func newDH(p *pool, opts *Options) (Scheduler, error) {
	s := &dh{m: p.m, fallback: opts.Fallback}
	for b := range s.tab {
		s.tab[b] = -1
		if len(p.order) > 0 {
			s.tab[b] = p.order[b%len(p.order)]
		}
	}
	return s, nil
}

// Pick implements Scheduler.
func (s *dh) Pick(h Hint) int {
	if s.tab[0] < 0 {
		return -1
	}
	b := dhBucket(fold(&h.Dst, h.IPv6))
	if i := s.tab[b]; s.m[i].available() {
		return int(i)
	}
	if !s.fallback {
		return -1
	}
	for off := uint32(1); off < hashBuckets; off++ {
		if i := s.tab[(b+off)%hashBuckets]; s.m[i].available() {
			return int(i)
		}
	}
	return -1
}
