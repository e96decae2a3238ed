package control

import (
	"context"
	"strconv"
	"time"

	"github.com/xvs-project/xvs/healthcheck"
	"github.com/xvs-project/xvs/vrrp"
	"go.uber.org/zap"
)

// What a VRRP state change sets off: the log, the onState callback, the
// mail alert and the instance's and sync group's notify scripts.

type notifyScripts struct {
	master, backup, fault, stop, any *healthcheck.Script
}

func (r *vrrpRunner) transition(inst *vrrpInstance, from, to vrrp.State, now time.Time) {
	r.mu.Lock()
	r.status[inst.idx].Since = now
	r.status[inst.idx].Transitions++
	r.mu.Unlock()
	r.log.Info("VRRP state changed", zap.String("instance", inst.spec.Name), zap.String("from", from.String()),
		zap.String("to", to.String()), zap.Int("priority", int(inst.m.Priority())))
	if r.onState != nil {
		r.onState(inst.spec.Name, to)
	}
	r.alerts.vrrpState(inst, to) // queued, never waited for (alerts.go)
	state := ""
	var one *healthcheck.Script
	switch to {
	case vrrp.Master:
		state, one = "MASTER", inst.notify.master
	case vrrp.Backup:
		state, one = "BACKUP", inst.notify.backup
	case vrrp.Fault:
		state, one = "FAULT", inst.notify.fault
	case vrrp.Initialize:
		state, one = "STOP", inst.notify.stop
	}
	r.runNotify(one)
	if inst.notify.any != nil {
		r.runNotify(inst.notify.any.WithArgs("INSTANCE", inst.spec.Name, state, strconv.Itoa(int(inst.m.Priority()))))
	}
	// A sync group's scripts run once, when its first member moves.
	g := inst.g
	if g.name != "" && inst.member == firstMoved(g, to) {
		switch to {
		case vrrp.Master:
			one = g.notify.master
		case vrrp.Backup:
			one = g.notify.backup
		case vrrp.Fault:
			one = g.notify.fault
		case vrrp.Initialize:
			one = g.notify.stop
		}
		r.runNotify(one)
		if g.notify.any != nil {
			r.runNotify(g.notify.any.WithArgs("GROUP", g.name, state, "0"))
		}
	}
}

// firstMoved returns the first member of g in state to.
func firstMoved(g *vrrpGroup, to vrrp.State) int {
	for i, inst := range g.members {
		if inst.m.State() == to {
			return i
		}
	}
	return -1
}

// runNotify runs a notify script without waiting for it; at most
// cap(r.notify) run at once, further ones wait their turn in their own
// goroutine, so the state machine never blocks on a script.
func (r *vrrpRunner) runNotify(s *healthcheck.Script) {
	if s == nil {
		return
	}
	go func() {
		r.notify <- struct{}{}
		defer func() { <-r.notify }()
		if code, err := s.Run(context.Background(), 60*time.Second); err != nil || code != 0 {
			r.log.Warn("notify script failed", zap.String("script", s.String()), zap.Int("status", code), zap.Error(err))
		}
	}()
}
