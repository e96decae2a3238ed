// Package scheduler implements the IPVS schedulers that choose the real
// server for a new connection to a virtual service.
//
// The schedulers reproduce the selection order of the Linux IPVS
// schedulers of the same names (net/netfilter/ipvs/ip_vs_*.c), so that a
// pool behaves the same under xvs as under the kernel: "rr" is
// ip_vs_rr.c and "wrr" is ip_vs_wrr.c. The names are spelled as
// keepalived's lb_algo spells them. Only rr and wrr exist so far.
//
// A Scheduler is built from an immutable snapshot of the service's real
// servers and starts in the state IPVS gives a freshly configured service.
// When the pool or a weight changes, the control plane builds a new
// Scheduler and publishes it (for example through an atomic.Pointer); the
// old one keeps serving the packets already in flight. Unlike the kernel,
// which keeps its position in the cycle across weight changes, a new
// Scheduler starts a new cycle. IPVS's overload flag (the upper connection
// threshold) is not modelled yet.
//
// Pick is called for the first packet of every new connection, from many
// goroutines at once (one per NIC queue), so every Pick here is safe for
// concurrent use and allocation-free. Established connections never reach
// the scheduler. rr and wrr precompute one whole IPVS cycle when the
// Scheduler is built (for wrr, sum(weights)/gcd(weights) picks) and hand
// its entries out in order through a shared atomic counter: Pick is
// lock-free, and over any number of whole cycles each server gets exactly
// its share, however the concurrent calls interleave. A wrr cycle longer
// than 65536 entries (a large weight ratio such as 100000:1) is not
// precomputed; for such a pool Pick runs the IPVS algorithm step by step
// with its state guarded by a mutex, yielding the same sequence but
// serializing the callers.
//
// The interface is meant to grow with the remaining IPVS schedulers.
// Those that depend on the traffic (lc, wlc, sed, nq, ...) will read live
// per-server active and inactive connection counts, which will be added to
// Server as references to counters shared with the connection table, so
// that the snapshot itself stays immutable; those that hash the flow (sh,
// dh, mh) read Hint.Hash, and Hint may gain further fields. Callers
// construct Server and Hint with field names so that additions do not
// break them.
package scheduler

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// ErrUnknownScheduler is wrapped by the error New returns for a scheduler
// name it does not know.
var ErrUnknownScheduler = errors.New("unknown scheduler")

// ErrInvalidWeight is wrapped by the error New returns for a weight
// outside 0..MaxWeight.
var ErrInvalidWeight = errors.New("invalid server weight")

// MaxWeight is the largest weight a server may have: the largest value of
// the kernel's int weight, which IPVS accepts from 0 up (ipvsadm itself
// stops at 65535).
const MaxWeight = math.MaxInt32

// Server is a real server as a scheduler sees it.
type Server struct {
	// Weight is the server's relative capacity, 0..MaxWeight. A server of
	// weight 0 is quiesced: it is never picked for a new connection.
	Weight int
}

// Hint carries what a scheduler may know about the new connection.
type Hint struct {
	// Hash is a hash of the flow, for the hashing schedulers. rr and wrr
	// ignore it.
	Hash uint32
}

// Scheduler picks the real server for each new connection to one virtual
// service. Implementations are safe for concurrent use.
type Scheduler interface {
	// Pick returns the index into the servers given to New of the server
	// that gets the new connection, or -1 when no server can take it
	// (all weights are 0, or the pool is empty). It does not allocate.
	Pick(h Hint) int
}

// schedulers maps the lb_algo names to the constructors. The constructors
// get validated weights they may keep.
var schedulers = map[string]func(weights []int) Scheduler{
	"rr":  newRR,
	"wrr": func(w []int) Scheduler { return newWRR(w, maxCycle) },
}

// New returns a Scheduler of the named kind for a snapshot of a service's
// real servers. It copies what it needs from servers, which the caller may
// reuse. It returns an error wrapping ErrUnknownScheduler if name is not
// one of Names(), or ErrInvalidWeight if a weight is out of range.
func New(name string, servers []Server) (Scheduler, error) {
	ctor, ok := schedulers[name]
	if !ok {
		return nil, fmt.Errorf("scheduler %q: %w", name, ErrUnknownScheduler)
	}
	weights := make([]int, len(servers))
	for i, s := range servers {
		if s.Weight < 0 || s.Weight > MaxWeight {
			return nil, fmt.Errorf("scheduler %s: server %d: weight %d: %w", name, i, s.Weight, ErrInvalidWeight)
		}
		weights[i] = s.Weight
	}
	return ctor(weights), nil
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
