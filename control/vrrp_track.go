package control

import (
	"context"
	"net"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/xvs-project/xvs/config"
	"github.com/xvs-project/xvs/healthcheck"
	"github.com/xvs-project/xvs/vrrp"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// VRRP tracking: track_interface (a netlink link watcher), vrrp_script and
// track_script (a runner per script), and their effect on an instance's
// fault state and priority.

// trackEvent says that something tracked changed: a link (script nil),
// whose state applyTracking reads again, or a vrrp_script's result.
type trackEvent struct {
	script *vrrpScript
	ok     bool
}

// vrrpScript is a vrrp_script; ok is owned by the runner's goroutine.
type vrrpScript struct {
	spec config.VRRPScript
	s    *healthcheck.Script
	ok   bool
}

// tracked applies a tracked interface or script change.
func (r *vrrpRunner) tracked(ev trackEvent) {
	now := time.Now()
	if ev.script != nil {
		ev.script.ok = ev.ok
	}
	for _, inst := range r.insts {
		r.applyTracking(inst, now)
	}
}

// applyTracking recomputes an instance's fault and priority from its
// tracked interfaces and scripts, and steps it when they changed.
func (r *vrrpRunner) applyTracking(inst *vrrpInstance, now time.Time) {
	fault := false
	prio := inst.base
	up := func(name string) bool {
		l, err := netlink.LinkByName(name)
		return err == nil && l.Attrs().Flags&net.FlagUp != 0 && l.Attrs().OperState != netlink.OperDown
	}
	if !up(inst.spec.Interface) {
		fault = true
	}
	if inst.vmacName != "" && !r.vmacUp(inst) {
		fault = true
	}
	for _, t := range inst.spec.TrackInterfaces {
		ok := up(t.Name)
		switch {
		case !t.WeightSet && !ok:
			fault = true
		case t.WeightSet && t.Weight > 0 && ok:
			prio += t.Weight
		case t.WeightSet && t.Weight < 0 && !ok:
			prio += t.Weight
		}
	}
	for _, t := range inst.spec.TrackScripts {
		var sc *vrrpScript
		for _, s := range r.scripts {
			if s.spec.Name == t.Name {
				sc = s
			}
		}
		if sc == nil {
			continue
		}
		w, set := sc.spec.Weight, sc.spec.Weight != 0
		if t.WeightSet {
			w, set = t.Weight, true
		}
		switch {
		case !set && !sc.ok:
			fault = true
		case w > 0 && sc.ok:
			prio += w
		case w < 0 && !sc.ok:
			prio += w
		}
	}
	prio = max(1, min(prio, 254))
	if int(inst.m.Priority()) != prio && inst.base != 255 {
		r.step(inst.g, inst.member, vrrp.Event{Kind: vrrp.EventPriority, Now: now, Priority: uint8(prio)}) //nolint:errcheck
	}
	switch {
	case fault && !inst.m.Faulted():
		r.log.Warn("VRRP instance fault", zap.String("instance", inst.spec.Name))
		r.step(inst.g, inst.member, vrrp.Event{Kind: vrrp.EventFault, Now: now}) //nolint:errcheck
	case !fault && inst.m.Faulted():
		r.log.Info("VRRP instance fault cleared", zap.String("instance", inst.spec.Name))
		r.step(inst.g, inst.member, vrrp.Event{Kind: vrrp.EventFaultCleared, Now: now}) //nolint:errcheck
	}
}

// watchLinks reports link changes of the interfaces the instances use or
// track.
func (r *vrrpRunner) watchLinks(ctx context.Context) {
	names := map[string]bool{}
	for _, inst := range r.insts {
		names[inst.spec.Interface] = true
		if inst.vmacName != "" {
			names[inst.vmacName] = true
		}
		for _, t := range inst.spec.TrackInterfaces {
			names[t.Name] = true
		}
	}
	updates := make(chan netlink.LinkUpdate, 16)
	if err := netlink.LinkSubscribeWithOptions(updates, ctx.Done(), netlink.LinkSubscribeOptions{}); err != nil {
		r.log.Warn("watching links for VRRP tracking", zap.Error(err))
		return
	}
	go func() {
		state := map[string]bool{}
		for u := range updates {
			name := u.Attrs().Name
			if !names[name] {
				continue
			}
			up := u.Attrs().Flags&net.FlagUp != 0 && u.Attrs().OperState != netlink.OperDown
			if u.Header.Type == unix.RTM_DELLINK {
				delete(state, name) // gone: always worth a look
			} else if prev, seen := state[name]; seen && prev == up {
				continue
			} else {
				state[name] = up
			}
			select {
			case r.track <- trackEvent{}:
			case <-ctx.Done():
				return
			}
		}
	}()
}

// runScript runs a vrrp_script every interval and reports when its
// result changes after rise successes or fall failures.
func (r *vrrpRunner) runScript(ctx context.Context, s *vrrpScript) {
	interval := s.spec.Interval
	if interval <= 0 {
		interval = time.Second
	}
	timeout := s.spec.Timeout
	if timeout <= 0 {
		timeout = interval
	}
	rise, fall := max(1, s.spec.Rise), max(1, s.spec.Fall)
	ok, streak := true, 0
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		code, err := s.s.Run(ctx, timeout)
		if ctx.Err() != nil {
			return
		}
		good := err == nil && code == 0
		if good == ok {
			streak = 0
		} else {
			streak++
			if (good && streak >= rise) || (!good && streak >= fall) {
				ok, streak = good, 0
				r.log.Info("vrrp_script changed", zap.String("script", s.spec.Name), zap.Bool("ok", ok))
				select {
				case r.track <- trackEvent{script: s, ok: ok}:
				case <-ctx.Done():
					return
				}
			}
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}
