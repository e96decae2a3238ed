package control

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/xvs-project/xvs/dataplane"
	"github.com/xvs-project/xvs/healthcheck"
	"github.com/xvs-project/xvs/nat"
	"github.com/xvs-project/xvs/scheduler"
	"go.uber.org/zap"
)

// From check results to pools: a check's change updates its pool, and a
// pool that changed becomes a new nat.Service snapshot handed to Apply.

// onChange is the Runner's OnChange: one check changed state.
func (h *Health) onChange(c healthcheck.Change) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f := []zap.Field{zap.String("check", c.ID.String())}
	switch {
	case c.Prev.Up != c.State.Up && c.State.Up:
		h.log.Info("health check up", f...)
	case c.Prev.Up != c.State.Up:
		h.log.Warn("health check down", append(f, zap.Error(c.Err))...)
	case c.State.HasWeight:
		h.log.Info("health check weight", append(f, zap.Int("weight", c.State.Weight))...)
	}
	hs := h.byName[c.ID.Service]
	if hs == nil || h.stopped {
		return
	}
	// The Runner's current state, not the change's: a change of a check
	// that a reload replaced may still be on its way.
	// A server may go down or up without its pool changing (while the
	// sorry server serves), so the down flags are brought up to date
	// after every change; publishLocked tells whether the pool changed.
	st, ok := h.runner.Status(c.ID)
	if !ok {
		return
	}
	wasUp := hs.up[c.ID.Server]
	hs.pool.Set(c.ID, st)
	h.mailCheck(hs, c, wasUp) // alerts.go
	if err := h.publishLocked(false); err != nil && !errors.Is(err, dataplane.ErrClosed) {
		h.log.Error("installing the new pools", zap.Error(err))
	}
}

// publishLocked rebuilds the snapshots of the pools that changed and, if
// any did or apply is set, hands the whole list to Apply. Servers coming
// back lose their down flag before Apply, so the pool that has them never
// moves their flows away; servers leaving get it after, once no new flow
// can be scheduled to them. Call it with h.mu held.
func (h *Health) publishLocked(apply bool) error {
	if h.stopped {
		return nil
	}
	list := make([]*nat.Service, 0, len(h.services))
	var up, down []*scheduler.Counts
	var changes [][]zap.Field
	flag := func(c *scheduler.Counts, want bool) {
		switch {
		case c == nil || c.Down() == want:
		case want:
			down = append(down, c)
		default:
			up = append(up, c)
		}
	}
	for _, hs := range h.services {
		if hs.pool == nil {
			list = append(list, hs.snap)
			continue
		}
		// The members alone make the snapshot: a change of the live
		// weight that moves no member (a server of a pool the sorry
		// server replaces) leaves the scheduler as it is.
		d := hs.pool.Desired()
		if hs.snap == nil || !slices.Equal(d.Members, hs.desired.Members) {
			snap, err := hs.build(d, h.keepDead)
			if err != nil {
				return fmt.Errorf("service %s: %w", hs.name, err)
			}
			if hs.snap != nil {
				changes = append(changes, []zap.Field{zap.String("service", hs.name), zap.String("pool", describePool(d)),
					zap.Bool("quorum", d.QuorumUp), zap.Bool("sorry_server", d.SorryActive)})
			}
			hs.snap, hs.desired = snap, d
			apply = true
		}
		list = append(list, hs.snap)
		for name, i := range hs.reals {
			flag(hs.counts[i], !hs.up[name])
		}
		if hs.sorry != nil && !hs.sorryShared {
			flag(hs.sorry.counts, !hs.desired.SorryActive)
		}
	}
	for _, c := range up {
		c.SetDown(false)
	}
	var err error
	if apply {
		err = h.cfg.Apply(list)
	}
	for _, c := range down {
		c.SetDown(true)
	}
	if err == nil {
		// Logged once installed, so that a reader of the log knows the
		// pool is what new connections get.
		for _, f := range changes {
			h.log.Info("pool changed", f...)
		}
	}
	return err
}

// describePool returns "name/weight …" of a Desired pool.
func describePool(d healthcheck.Desired) string {
	var b strings.Builder
	for i, m := range d.Members {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s/%d", m.Name, m.Weight)
	}
	if b.Len() == 0 {
		return "(empty)"
	}
	return b.String()
}

// build returns the snapshot of hs for a Desired pool (natService): its
// members with their weights (0 for inhibited ones, which keep their
// configured weight as LastWeight so that sh and mh move no other flow),
// over the real servers' own Counts, and a new scheduler.
func (hs *healthService) build(d healthcheck.Desired, keepDead bool) (*nat.Service, error) {
	ms := make([]member, 0, len(d.Members))
	for _, m := range d.Members {
		if m.Sorry {
			ms = append(ms, member{addr: hs.sorry.addr, weight: m.Weight, last: m.Weight, counts: hs.sorry.counts})
			continue
		}
		i := hs.reals[m.Name]
		ms = append(ms, member{addr: hs.plan.Reals[i].Addr, weight: m.Weight, last: hs.plan.Reals[i].Weight, counts: hs.counts[i]})
	}
	return natService(hs.plan, ms, hs.opts, keepDead)
}
