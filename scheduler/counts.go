package scheduler

import (
	"math"
	"sync/atomic"
)

// Counts are a real server's live connection counts, kept by the
// connection table (package nat) and read by schedulers. Shared between
// snapshots: a server keeps its Counts across rebuilds, so the control
// plane creates one Counts per real server and passes the same pointer in
// every Server it builds for it.
//
// A connection is counted active while it is a TCP connection in the
// ESTABLISHED state and inactive otherwise (TCP in any other state, UDP
// and other protocols), as IPVS's ActiveConn and InActConn count them.
// The connection table reports each change with Add, Remove and Move,
// from any goroutine; those keep the overload state current against the
// thresholds, as the kernel does when it binds a connection to a server
// and unbinds it (ip_vs_bind_dest, ip_vs_unbind_dest). Active and
// Inactive are exported to be read, and may be stored directly only where
// thresholds are not used (as tests do); the overload state then goes
// stale.
//
// Counts must not be copied after first use.
type Counts struct {
	// Active is the number of active connections, IPVS's ActiveConn.
	Active atomic.Int64
	// Inactive is the number of inactive connections, IPVS's InActConn.
	Inactive atomic.Int64
	// Conns is the number of connections ever made to the server (Add
	// calls), IPVS's Conns statistic.
	Conns atomic.Uint64

	// The counters change with every connection; the overload flag, read
	// by every Pick, changes rarely. A line of its own keeps it shared in
	// every reader's cache.
	_ [cacheLine - 24]byte

	overload   atomic.Bool   // IP_VS_DEST_F_OVERLOAD
	down       atomic.Bool   // taken out by health checks; see SetDown
	thresholds atomic.Uint64 // upper<<32 | lower
	_          [cacheLine - 16]byte
}

// SetDown records whether health checks took the server out of service
// (it failed its checks, or it is a sorry server that is not serving).
// The control plane sets it after it installed a pool without the server
// (or with it at weight 0), and clears it before it installs one with the
// server back. Schedulers do not read it: they see the pool they are
// given. The connection table (package nat) reads it for every datagram
// of an established UDP flow and schedules such a flow anew when its
// server is down, unless the service keeps dead destinations.
func (c *Counts) SetDown(down bool) { c.down.Store(down) }

// Down reports what SetDown last recorded. A nil Counts is never down.
func (c *Counts) Down() bool {
	return c != nil && c.down.Load()
}

// Overloaded reports whether the server is overloaded: its connections
// reached the upper threshold and have not yet fallen below the lower
// one. Schedulers skip an overloaded server, as IPVS skips a destination
// with IP_VS_DEST_F_OVERLOAD. A nil Counts is never overloaded.
func (c *Counts) Overloaded() bool {
	return c != nil && c.overload.Load()
}

// SetThresholds sets the connection thresholds, keepalived's uthreshold
// and lthreshold (ipvsadm -x and -y). When the active and inactive
// connections together reach upper, the server becomes overloaded; it
// stays so until they fall below lower, or, if lower is 0, below 3/4 of
// upper. upper 0 disables the overload state. Values are clamped to
// 0..math.MaxUint32.
//
// As in the kernel (__ip_vs_update_dest), raising or removing the upper
// threshold ends an overload at once; otherwise the new thresholds are
// applied at the next Add or Remove.
func (c *Counts) SetThresholds(upper, lower int) {
	u, l := clampThreshold(upper), clampThreshold(lower)
	old := c.thresholds.Swap(uint64(u)<<32 | uint64(l))
	if oldUpper := uint32(old >> 32); u == 0 || u > oldUpper {
		c.overload.Store(false)
	}
}

// Thresholds returns the upper and lower thresholds set by SetThresholds.
func (c *Counts) Thresholds() (upper, lower int) {
	t := c.thresholds.Load()
	return int(t >> 32), int(uint32(t))
}

func clampThreshold(v int) uint32 {
	return uint32(min(max(v, 0), math.MaxUint32))
}

// Add counts a new connection to the server, active or not, and marks the
// server overloaded if its connections reached the upper threshold.
func (c *Counts) Add(active bool) {
	c.Conns.Add(1)
	if active {
		c.Active.Add(1)
	} else {
		c.Inactive.Add(1)
	}
	upper := uint32(c.thresholds.Load() >> 32)
	if upper != 0 && c.total() >= int64(upper) && !c.overload.Load() {
		c.overload.Store(true)
	}
}

// Remove uncounts a connection that went away, active or not, and ends
// the server's overload if its connections fell below the lower
// threshold (3/4 of the upper one if lower is 0).
func (c *Counts) Remove(active bool) {
	if active {
		c.Active.Add(-1)
	} else {
		c.Inactive.Add(-1)
	}
	if !c.overload.Load() {
		return
	}
	t := c.thresholds.Load()
	upper, lower := int64(t>>32), int64(uint32(t))
	total := c.total()
	var below bool
	switch {
	case lower != 0:
		below = total < lower
	case upper != 0:
		below = total*4 < upper*3
	default:
		below = true
	}
	if below {
		c.overload.Store(false)
	}
}

// Move moves a connection between the active and inactive counts, for a
// state change such as a TCP connection becoming ESTABLISHED (fromActive
// false, toActive true) or leaving it. It does nothing if the two are
// equal. The total is unchanged, so the overload state is too.
func (c *Counts) Move(fromActive, toActive bool) {
	switch {
	case fromActive == toActive:
	case toActive:
		c.Inactive.Add(-1)
		c.Active.Add(1)
	default:
		c.Active.Add(-1)
		c.Inactive.Add(1)
	}
}

// total is the server's connection count, IPVS's ip_vs_dest_totalconns.
func (c *Counts) total() int64 {
	return c.Active.Load() + c.Inactive.Load()
}

// active returns the active count, never negative.
func (c *Counts) active() uint64 {
	return uint64(max(c.Active.Load(), 0))
}

// overhead returns the server's load as IPVS estimates it
// (ip_vs_dest_conn_overhead): an active connection costs 256 times an
// inactive one. Negative counts, which a caller's bug could produce, read
// as 0.
func (c *Counts) overhead() uint64 {
	return c.active()<<8 + uint64(max(c.Inactive.Load(), 0))
}
