// Package scheduler implements the IPVS schedulers that choose the real
// server for a new connection to a virtual service.
//
// The schedulers reproduce the selection rules of the Linux IPVS
// schedulers of the same names (net/netfilter/ipvs/ip_vs_*.c), so that a
// pool behaves the same under xvs as under the kernel. The names are
// spelled as keepalived's lb_algo spells them:
//
//	rr     round robin                         ip_vs_rr.c
//	wrr    weighted round robin                ip_vs_wrr.c
//	lc     least connection                    ip_vs_lc.c
//	wlc    weighted least connection           ip_vs_wlc.c
//	sed    shortest expected delay             ip_vs_sed.c
//	nq     never queue                         ip_vs_nq.c
//	fo     weighted failover                   ip_vs_fo.c
//	ovf    weighted overflow                   ip_vs_ovf.c
//	twos   weighted power of two choices       ip_vs_twos.c
//	dh     destination hashing                 ip_vs_dh.c
//	sh     source hashing                      ip_vs_sh.c
//	mh     Maglev hashing                      ip_vs_mh.c
//	lblc   locality-based least connection     ip_vs_lblc.c
//	lblcr  lblc with replication               ip_vs_lblcr.c
//
// Each scheduler's file says what it does and where it departs from the
// kernel. The definitions they share are IPVS's: a server of weight 0 is
// quiesced and gets no new connection (its existing ones carry on, which
// is the connection table's business); a server whose Counts are
// overloaded (IPVS's IP_VS_DEST_F_OVERLOAD, see Counts.SetThresholds) is
// skipped; a server's load, its overhead, is 256·ActiveConn + InActConn;
// loads relative to weights are compared by cross-multiplication, as
// h1·w2 > h2·w1, never by division; and among equally good servers the
// first in the pool's order wins.
//
// # Snapshots
//
// A Scheduler is built from an immutable snapshot of the service's real
// servers (their weights, keys and Counts) and starts in the state IPVS
// gives a freshly configured service. When the pool or a weight changes,
// the control plane builds a new Scheduler and publishes it (for example
// through an atomic.Pointer); the old one keeps serving the packets
// already in flight. The live state that must survive a rebuild is kept
// outside the snapshot and shared by reference: the connection counts
// (Counts, one per real server, kept by the connection table) and the
// lblc/lblcr destination tables (Locality, one per virtual service).
// Unlike the kernel, which keeps its position in the cycle across weight
// changes, a new rr or wrr Scheduler starts a new cycle.
//
// # Concurrency and cost
//
// Pick is called for the first packet of every new connection, from many
// goroutines at once (one per NIC queue), so every Pick here is safe for
// concurrent use and allocation-free. Established connections never reach
// the scheduler.
//
//   - rr and wrr precompute one whole IPVS cycle (for wrr,
//     sum(weights)/gcd(weights) picks) and hand its entries out in order
//     through a shared atomic counter: lock-free, and over whole cycles
//     each server gets exactly its share however the calls interleave. A
//     wrr cycle longer than 65536 entries is run step by step under a
//     mutex instead, with the same sequence.
//   - lc, wlc, sed, nq, fo, ovf and twos scan the pool reading the Counts
//     atomically, as IPVS scans its list under RCU: lock-free, O(servers).
//     twos draws its random numbers from the runtime's per-thread
//     generator (math/rand/v2), so it shares nothing between callers.
//   - dh, sh and mh look the flow up in a table built with the snapshot:
//     lock-free, O(1) unless the fallback has to search.
//   - lblc and lblcr keep, as IPVS does, a table from destination address
//     to server that every Pick may update. It is split into 32 shards,
//     each a mutex over a preallocated chained hash table: a Pick locks the
//     one shard its destination falls in, so callers contend only when
//     their destinations share a shard, and the table never allocates.
//
// # What the caller provides
//
// The hashing schedulers read the addresses and ports in Hint, IPVS's
// way: sh and mh hash the client (source) address and, with Options.Port,
// its port; dh, lblc and lblcr key on the destination address. The
// least-connection family reads Server.Counts. Every director that is
// given the same pool (the same Keys, weights and options) builds the same
// dh, sh and mh tables, whatever the order of the servers slice, so two
// directors behind VRRP or ECMP send a flow to the same real server.
package scheduler

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrUnknownScheduler is wrapped by the error New returns for a scheduler
// name it does not know.
var ErrUnknownScheduler = errors.New("unknown scheduler")

// ErrInvalidWeight is wrapped by the error New returns for a weight or
// last weight outside 0..MaxWeight.
var ErrInvalidWeight = errors.New("invalid server weight")

// ErrDuplicateKey is wrapped by the error New returns when two servers
// have the same non-empty Key.
var ErrDuplicateKey = errors.New("duplicate server key")

// ErrInvalidOption is wrapped by the error New returns for Options it
// cannot honour (an MHTableSize that is not a prime in range or is
// smaller than the pool, a negative LBLCExpire).
var ErrInvalidOption = errors.New("invalid scheduler option")

// ErrUnknownFlag is wrapped by the error KeepalivedOptions returns for a
// flag keyword it does not know.
var ErrUnknownFlag = errors.New("unknown scheduler flag")

// MaxWeight is the largest weight a server may have: the largest value of
// the kernel's int weight, which IPVS accepts from 0 up (ipvsadm itself
// stops at 65535).
const MaxWeight = math.MaxInt32

// DefaultMHTableSize is the size of the mh lookup table when
// Options.MHTableSize is 0: the kernel's default (CONFIG_IP_VS_MH_TAB_INDEX
// 12, the prime 4093).
const DefaultMHTableSize = 4093

// MaxMHTableSize is the largest Options.MHTableSize accepted. The kernel
// stops at 131071; larger tables cost 4 bytes a slot and a rebuild time
// proportional to their size.
const MaxMHTableSize = 1 << 24

// DefaultLBLCExpire is the time after which an lblc or lblcr entry that
// was not used expires, and after which an unchanged lblcr server set
// loses its most loaded member, when Options.LBLCExpire is 0: the
// kernel's lblc_expiration and lblcr_expiration sysctls' default.
const DefaultLBLCExpire = 24 * time.Hour

// Server is a real server as a scheduler sees it.
type Server struct {
	// Weight is the server's relative capacity, 0..MaxWeight. A server of
	// weight 0 is quiesced: it is never picked for a new connection.
	Weight int

	// LastWeight is the server's latest non-zero weight, for a server that
	// is quiesced (Weight 0) but meant to come back, such as a real server
	// with keepalived's inhibit_on_failure whose check failed. It is read
	// only when Weight is 0, and only by mh and sh, which build their
	// tables from it so that quiescing a server moves no other flow: mh
	// then matches the kernel, whose mh keeps the last non-zero weight
	// (last_weight); the kernel's sh uses the current weight (a quiesced
	// server keeps one bucket), which LastWeight 0 reproduces. 0..MaxWeight.
	LastWeight int

	// Key is the server's stable identity, the same on every director and
	// across rebuilds, such as "198.18.1.11:80". dh, sh and mh order the
	// servers by Key, and mh derives each server's Maglev permutation from
	// it, so that every director builds the same table whatever the order
	// of the servers slice; lblc and lblcr find a destination's server by
	// Key after a rebuild. A server with an empty Key is identified by its
	// position in the slice instead, and comes before the keyed servers.
	// Non-empty keys must be unique.
	Key string

	// Counts are the server's live connection counts and overload state,
	// shared with the connection table and between snapshots. nil means
	// no connections and never overloaded.
	Counts *Counts
}

// Hint carries what a scheduler may know about the new connection, taken
// from its first packet in the client-to-service direction.
type Hint struct {
	// Hash is a hash of the flow that the caller may compute. No
	// scheduler reads it: sh, dh and mh hash the addresses themselves, as
	// IPVS does, so that their choice does not depend on how a caller
	// hashes.
	Hash uint32

	// Src and Dst are the client's address and the address it connects
	// to (the virtual address, or for a transparent cache cluster the
	// origin server's address). An IPv4 address is held in the first four
	// bytes, in network order, with IPv6 false; the other twelve bytes are
	// then ignored. An IPv6 address uses all sixteen, with IPv6 true.
	Src, Dst [16]byte

	// SrcPort and DstPort are the client's port and the service port, as
	// numbers (host order). 0 for protocols without ports.
	SrcPort, DstPort uint16

	// IPv6 says whether Src and Dst are IPv6 addresses.
	IPv6 bool
}

// Options are the per-service settings some schedulers take. The zero
// value gives the kernel's defaults.
type Options struct {
	// MHTableSize is the size of mh's lookup table, a prime from 2 up to
	// MaxMHTableSize and at least the number of servers; 0 means
	// DefaultMHTableSize. The kernel offers 251, 509, 1021, 2039, 4093,
	// 8191, 16381, 32749, 65521 and 131071; a table about 100 times the
	// number of servers keeps each server's share within about 1%.
	MHTableSize int

	// Fallback is IPVS's sh-fallback / mh-fallback flag (scheduler flag 1,
	// IP_VS_SVC_F_SCHED1): when the server a flow hashes to is quiesced or
	// overloaded, sh and mh look for another one instead of refusing the
	// connection. dh honours it too, an xvs extension (the kernel's dh has
	// no flags).
	Fallback bool

	// Port is IPVS's sh-port / mh-port flag (scheduler flag 2,
	// IP_VS_SVC_F_SCHED2): sh and mh hash the client's port as well as its
	// address.
	Port bool

	// OnePacket is IPVS's one-packet scheduling (keepalived's ops) for UDP:
	// each datagram is scheduled on its own and no connection entry is
	// kept. The schedulers ignore it; it is carried here for the caller.
	OnePacket bool

	// LBLCExpire is how long an lblc or lblcr entry lives without being
	// used, and how long an lblcr server set must stay unchanged before
	// its most loaded member is dropped; 0 means DefaultLBLCExpire.
	LBLCExpire time.Duration

	// Locality is the lblc or lblcr destination table of the virtual
	// service. Pass the same Locality to every New for the service so that
	// destinations keep their servers across rebuilds; nil gives the new
	// Scheduler a table of its own, of DefaultLocalityEntries entries.
	// Other schedulers ignore it.
	Locality *Locality

	// Now is the clock lblc and lblcr read on every Pick; nil means
	// time.Now. Tests inject a fake one. It must be safe for concurrent
	// use and must not allocate; only differences between its readings
	// and the Locality's creation time matter, so they must stay within
	// Duration's ±292 years of it.
	Now func() time.Time
}

// Scheduler picks the real server for each new connection to one virtual
// service. Implementations are safe for concurrent use.
type Scheduler interface {
	// Pick returns the index into the servers given to New of the server
	// that gets the new connection, or -1 when no server can take it (the
	// pool is empty, every server is quiesced or overloaded, or, for dh,
	// sh and mh without Fallback, the flow hashes to such a server). It
	// does not allocate.
	Pick(h Hint) int
}

// constructor builds a scheduler over a validated pool.
type constructor func(p *pool, opts *Options) (Scheduler, error)

// schedulers maps the lb_algo names to the constructors.
var schedulers = map[string]constructor{
	"rr":    newRR,
	"wrr":   func(p *pool, _ *Options) (Scheduler, error) { return newWRR(p, maxCycle), nil },
	"lc":    func(p *pool, _ *Options) (Scheduler, error) { return &lc{m: p.m}, nil },
	"wlc":   func(p *pool, _ *Options) (Scheduler, error) { return &wlc{m: p.m}, nil },
	"sed":   func(p *pool, _ *Options) (Scheduler, error) { return &sed{m: p.m}, nil },
	"nq":    func(p *pool, _ *Options) (Scheduler, error) { return &nq{m: p.m}, nil },
	"fo":    func(p *pool, _ *Options) (Scheduler, error) { return &fo{m: p.m}, nil },
	"ovf":   func(p *pool, _ *Options) (Scheduler, error) { return &ovf{m: p.m}, nil },
	"twos":  newTwos,
	"dh":    newDH,
	"sh":    newSH,
	"mh":    newMH,
	"lblc":  newLBLC,
	"lblcr": newLBLCR,
}

// New returns a Scheduler of the named kind for a snapshot of a service's
// real servers, with the default Options. It is NewWithOptions(name,
// servers, Options{}).
func New(name string, servers []Server) (Scheduler, error) {
	return NewWithOptions(name, servers, Options{})
}

// NewWithOptions returns a Scheduler of the named kind for a snapshot of a
// service's real servers. It copies what it needs from servers, which the
// caller may reuse; the Counts and the Locality are shared, not copied.
// It returns an error wrapping ErrUnknownScheduler if name is not one of
// Names(), ErrInvalidWeight if a weight is out of range, ErrDuplicateKey
// if two servers share a Key, or ErrInvalidOption if opts cannot be
// honoured.
func NewWithOptions(name string, servers []Server, opts Options) (Scheduler, error) {
	ctor, ok := schedulers[name]
	if !ok {
		return nil, fmt.Errorf("scheduler %q: %w", name, ErrUnknownScheduler)
	}
	p, err := newPool(servers)
	if err != nil {
		return nil, fmt.Errorf("scheduler %s: %w", name, err)
	}
	if opts.LBLCExpire < 0 {
		return nil, fmt.Errorf("scheduler %s: LBLCExpire %v: %w", name, opts.LBLCExpire, ErrInvalidOption)
	}
	s, err := ctor(p, &opts)
	if err != nil {
		return nil, fmt.Errorf("scheduler %s: %w", name, err)
	}
	return s, nil
}

// Names returns the names New accepts, sorted. The caller owns the slice.
func Names() []string {
	names := make([]string, 0, len(schedulers))
	for n := range schedulers {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// member is a server as the scans read it: its weight and its counts,
// next to each other.
type member struct {
	w int64   // weight
	c *Counts // never nil
}

// available reports whether the server may take a new connection at all:
// not quiesced and not overloaded.
func (m *member) available() bool { return m.w > 0 && !m.c.overload.Load() }

// pool is a validated snapshot of a service's servers.
type pool struct {
	m      []member // in the caller's order
	weight []int    // Weight, in the caller's order
	table  []int    // weight the hashing tables are built from: Weight, or LastWeight when Weight is 0
	keys   []string // identity: Key, or NUL and the position for a server without a Key
	order  []int32  // server indices by identity: unkeyed servers by position, then keyed ones by Key
}

func newPool(servers []Server) (*pool, error) {
	p := &pool{
		m:      make([]member, len(servers)),
		weight: make([]int, len(servers)),
		table:  make([]int, len(servers)),
		keys:   make([]string, len(servers)),
		order:  make([]int32, len(servers)),
	}
	var zero *Counts // shared by the servers without Counts; never written
	for i, s := range servers {
		if s.Weight < 0 || s.Weight > MaxWeight {
			return nil, fmt.Errorf("server %d: weight %d: %w", i, s.Weight, ErrInvalidWeight)
		}
		if s.LastWeight < 0 || s.LastWeight > MaxWeight {
			return nil, fmt.Errorf("server %d: last weight %d: %w", i, s.LastWeight, ErrInvalidWeight)
		}
		c := s.Counts
		if c == nil {
			if zero == nil {
				zero = new(Counts)
			}
			c = zero
		}
		p.m[i] = member{w: int64(s.Weight), c: c}
		p.weight[i] = s.Weight
		p.table[i] = s.Weight
		if s.Weight == 0 {
			p.table[i] = s.LastWeight
		}
		p.keys[i] = s.Key
		if s.Key == "" {
			p.keys[i] = "\x00" + strconv.Itoa(i)
		}
		p.order[i] = int32(i)
	}
	slices.SortStableFunc(p.order, func(a, b int32) int {
		ka, kb := servers[a].Key, servers[b].Key
		switch {
		case ka == "" && kb == "":
			return 0 // stable: by position
		case ka == "":
			return -1
		case kb == "":
			return 1
		}
		return strings.Compare(ka, kb)
	})
	for j := 1; j < len(p.order); j++ {
		a, b := p.order[j-1], p.order[j]
		if k := servers[b].Key; k != "" && k == servers[a].Key {
			return nil, fmt.Errorf("servers %d and %d: key %q: %w", a, b, k, ErrDuplicateKey)
		}
	}
	return p, nil
}
