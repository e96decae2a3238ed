package vrrp

import (
	"errors"
	"fmt"
	"time"
)

// MemberAction is an Action of the Member-th machine of a Group.
type MemberAction struct {
	Member int
	Action
}

// Group makes virtual router instances move together, as keepalived's
// vrrp_sync_group does, so that a director owns either all of a set of
// addresses (say the WAN VIP and the LAN gateway address an LVS-NAT pool
// routes through) or none:
//
//   - when a member becomes master, every member in Backup becomes master;
//   - when a master member steps down to Backup, every master member does;
//   - while any member has a fault (EventFault without
//     EventFaultCleared), every started member is in Fault; when the last
//     fault clears, they all leave Fault as at startup.
//
// Group is a step function over its members like Machine: Step takes an
// event for one member (or all), lets that member react, then forces the
// others, and returns every member's actions. It is not safe for
// concurrent use, and its members must be stepped only through it.
type Group struct {
	members []*Machine
	scratch []Action
}

// NewGroup returns a sync group of the given machines, which must be
// distinct and in Initialize. Errors wrap ErrInvalidConfig.
func NewGroup(members ...*Machine) (*Group, error) {
	if len(members) == 0 {
		return nil, fmt.Errorf("%w: empty sync group", ErrInvalidConfig)
	}
	for i, m := range members {
		if m == nil {
			return nil, fmt.Errorf("%w: sync group member %d is nil", ErrInvalidConfig, i)
		}
		if m.state != Initialize {
			return nil, fmt.Errorf("%w: sync group member %d is in %v", ErrInvalidConfig, i, m.state)
		}
		for _, o := range members[:i] {
			if o == m {
				return nil, fmt.Errorf("%w: machine in sync group twice", ErrInvalidConfig)
			}
		}
	}
	return &Group{members: append([]*Machine(nil), members...)}, nil
}

// Len returns the number of members.
func (g *Group) Len() int { return len(g.members) }

// Member returns the i-th member, for reading its state. It must not be
// stepped directly.
func (g *Group) Member(i int) *Machine { return g.members[i] }

// NextDeadline returns the earliest NextDeadline of the members, or the
// zero Time if none has a timer.
func (g *Group) NextDeadline() time.Time {
	var d time.Time
	for _, m := range g.members {
		if t := m.NextDeadline(); !t.IsZero() && (d.IsZero() || t.Before(d)) {
			d = t
		}
	}
	return d
}

// Step delivers ev to the member-th machine, or to every member if member
// is negative (for EventStartup, EventShutdown, EventTimer and
// EventPriority; EventAdvert always has one addressee), then brings the
// other members along. It appends the actions of all members to acts and
// returns the extended slice, and the error of the addressed member's
// Step (joined, for a broadcast). A member index out of range, or a
// broadcast EventAdvert, gives ErrInvalidEvent.
func (g *Group) Step(member int, ev Event, acts []MemberAction) ([]MemberAction, error) {
	if member >= len(g.members) || (member < 0 && ev.Kind == EventAdvert) {
		return acts, ErrInvalidEvent
	}
	start := len(acts)
	var err error
	if member >= 0 {
		acts, err = g.stepOne(member, ev, acts)
	} else {
		var errs []error
		for i := range g.members {
			var e error
			if acts, e = g.stepOne(i, ev, acts); e != nil {
				errs = append(errs, e)
			}
		}
		err = errors.Join(errs...)
	}
	return g.sync(ev.Now, acts, start), err
}

func (g *Group) stepOne(i int, ev Event, acts []MemberAction) ([]MemberAction, error) {
	m := g.members[i]
	if ev.Kind == EventFaultCleared && g.faultedExcept(i) {
		// The group stays in fault while another member has one.
		m.faulted = false
		return acts, nil
	}
	var err error
	g.scratch, err = m.Step(ev, g.scratch[:0])
	return g.collect(i, acts), err
}

// collect appends the scratch actions of member i to acts.
func (g *Group) collect(i int, acts []MemberAction) []MemberAction {
	for _, a := range g.scratch {
		acts = append(acts, MemberAction{Member: i, Action: a})
	}
	return acts
}

func (g *Group) faultedExcept(i int) bool {
	for j, m := range g.members {
		if j != i && m.faulted {
			return true
		}
	}
	return false
}

// sync forces the members into line after the transitions in
// acts[start:].
func (g *Group) sync(now time.Time, acts []MemberAction, start int) []MemberAction {
	if g.faultedExcept(-1) {
		for i, m := range g.members {
			if m.state == Backup || m.state == Master {
				g.scratch = m.enterFault(g.scratch[:0])
				acts = g.collect(i, acts)
			}
		}
		return acts
	}
	for i, m := range g.members {
		if m.state == Fault {
			g.scratch = m.start(now, g.scratch[:0], false)
			acts = g.collect(i, acts)
		}
	}
	var steppedDown, tookOver bool
	for _, a := range acts[start:] {
		if a.Kind != ActionTransition {
			continue
		}
		switch {
		case a.From == Master && a.To == Backup:
			steppedDown = true
		case a.To == Master:
			tookOver = true
		}
	}
	switch {
	case steppedDown:
		for i, m := range g.members {
			if m.state == Master {
				g.scratch = m.stepDown(now, g.scratch[:0])
				acts = g.collect(i, acts)
			}
		}
	case tookOver:
		for i, m := range g.members {
			if m.state == Backup {
				g.scratch = m.takeOver(now, g.scratch[:0])
				acts = g.collect(i, acts)
			}
		}
	}
	return acts
}
