package control

import (
	"context"
	"runtime"
	"strconv"
	"time"

	"github.com/xvs-project/xvs/dataplane"
	"github.com/xvs-project/xvs/vrrp"
	"golang.org/x/sys/unix"
)

// The VRRP runner's event loop: adverts from the control queue, timers and
// tracking changes step the state machines, whose actions it carries out;
// and the VIPs owned, published to the director.

// run runs the instances until ctx ends; then it shuts them down (a master
// sends priority 0 so a backup takes over after Skew_Time) and releases
// every VIP. The goroutine is locked to a thread with a higher scheduling
// priority than the workers', so that a saturated data path does not
// delay adverts.
func (r *vrrpRunner) run(ctx context.Context) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	_ = unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), -10) // best effort
	// use_vmac's interfaces go after the sockets close, on every return
	// (vmac.go).
	defer r.removeVMACs()
	if err := r.setupVMACs(); err != nil {
		return err
	}
	for _, inst := range r.insts {
		idx := inst.link.Attrs().Index
		if r.socks[idx] != nil {
			continue
		}
		s, err := openVRRPSocket(inst.link)
		if err != nil {
			return err
		}
		r.socks[idx] = s
	}
	defer func() {
		for _, s := range r.socks {
			s.Close()
		}
	}()
	linkCtx, stopLinks := context.WithCancel(context.Background())
	defer stopLinks()
	r.watchLinks(linkCtx)
	for _, s := range r.scripts {
		go r.runScript(linkCtx, s)
	}
	now := time.Now()
	for _, inst := range r.insts {
		r.applyTracking(inst, now)
	}
	for _, g := range r.groups {
		r.step(g, -1, vrrp.Event{Kind: vrrp.EventStartup, Now: now})
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	frames := r.dp.ControlFrames()
	for {
		next := r.nextDeadline()
		if !next.IsZero() {
			timer.Reset(time.Until(next))
		}
		select {
		case <-ctx.Done():
			now := time.Now()
			for _, g := range r.groups {
				r.step(g, -1, vrrp.Event{Kind: vrrp.EventShutdown, Now: now})
			}
			return nil
		case f := <-frames:
			r.receive(f)
			r.dp.Release(f)
		case ev := <-r.track:
			r.tracked(ev)
		case <-timer.C:
		}
		now := time.Now()
		for _, g := range r.groups {
			if d := g.g.NextDeadline(); !d.IsZero() && !now.Before(d) {
				r.step(g, -1, vrrp.Event{Kind: vrrp.EventTimer, Now: now})
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

func (r *vrrpRunner) nextDeadline() time.Time {
	var d time.Time
	for _, g := range r.groups {
		if t := g.g.NextDeadline(); !t.IsZero() && (d.IsZero() || t.Before(d)) {
			d = t
		}
	}
	return d
}

// receive hands one advert to its instance.
func (r *vrrpRunner) receive(f *dataplane.ControlFrame) {
	msg, err := vrrp.ParseFrame(f.Data, &vrrp.ParseOptions{V3ChecksumCompat: true, AnyTTL: true})
	if err != nil {
		r.drop(err)
		return
	}
	inst := r.byVRID[ifVRID{f.Ifindex, msg.Advert.VRID}]
	if inst == nil {
		r.drop(errUnknownVRID)
		return
	}
	if inst.unicast {
		if !inst.peers[msg.Src] {
			r.drop(errNotPeer)
			return
		}
	} else if msg.TTL != vrrp.TTL {
		r.drop(vrrp.ErrTTL)
		return
	}
	if err := r.step(inst.g, inst.member, vrrp.Event{Kind: vrrp.EventAdvert, Now: time.Now(), Advert: &msg.Advert, From: msg.Src}); err != nil {
		r.drop(err)
		return
	}
	r.received.Add(1)
}

// step delivers ev to a group (member -1: every member) and carries out
// the actions.
func (r *vrrpRunner) step(g *vrrpGroup, member int, ev vrrp.Event) error {
	var err error
	g.acts, err = g.g.Step(member, ev, g.acts[:0])
	ownedChanged := false
	for _, a := range g.acts {
		inst := g.members[a.Member]
		switch a.Kind {
		case vrrp.ActionSendAdvert:
			r.sendAdvert(inst, a.Priority)
		case vrrp.ActionAddVIPs:
			inst.owned, ownedChanged = true, true
		case vrrp.ActionRemoveVIPs:
			inst.owned, ownedChanged = false, true
		case vrrp.ActionSendGARP:
			if ownedChanged {
				r.publishOwned() // answer ARP before announcing
				ownedChanged = false
			}
			r.sendGARPs(inst, a.Count)
		case vrrp.ActionTransition:
			r.transition(inst, a.From, a.To, ev.Now)
		}
	}
	if ownedChanged {
		r.publishOwned()
	}
	r.updateStatus(g)
	return err
}

func (r *vrrpRunner) publishOwned() {
	var list []dataplane.Owned
	for _, inst := range r.insts {
		if !inst.owned {
			continue
		}
		for _, v := range inst.spec.VirtualIPs {
			list = append(list, dataplane.Owned{Addr: v.Prefix.Addr().As4(), Ifindex: inst.link.Attrs().Index, MAC: inst.vipMAC()})
		}
	}
	if r.onOwned != nil {
		r.onOwned(list)
	}
}

func (r *vrrpRunner) updateStatus(g *vrrpGroup) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, inst := range g.members {
		st := &r.status[inst.idx]
		st.State = inst.m.State().String()
		st.Priority = int(inst.m.Priority())
		if a, p := inst.m.MasterAddr(); a.IsValid() {
			st.Master = a.String() + " priority " + strconv.Itoa(int(p))
		}
		if inst.m.State() == vrrp.Master {
			st.Master = inst.src.String() + " (this director)"
		}
	}
}
