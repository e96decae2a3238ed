package vrrp

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// newTestGroup returns a sync group of two VRRPv3 instances, as an LVS-NAT
// director has: VRID 51 on the WAN (VIP 10.0.0.100) and VRID 52 on the LAN
// (gateway 192.168.0.1).
func newTestGroup(t *testing.T, prio0, prio1 uint8) *Group {
	t.Helper()
	c0 := testConfig(3, prio0)
	c1 := testConfig(3, prio1)
	c1.VRID = 52
	c1.PrimaryAddr = netip.MustParseAddr("192.168.0.2")
	c1.VIPs = []netip.Prefix{netip.MustParsePrefix("192.168.0.1/24")}
	m0, err := NewMachine(c0)
	if err != nil {
		t.Fatal(err)
	}
	m1, err := NewMachine(c1)
	if err != nil {
		t.Fatal(err)
	}
	g, err := NewGroup(m0, m1)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func gstep(t *testing.T, g *Group, member int, ev Event) []MemberAction {
	t.Helper()
	acts, err := g.Step(member, ev, nil)
	if err != nil {
		t.Fatalf("Group.Step(%d, %v): %v", member, ev.Kind, err)
	}
	return acts
}

func expectStates(t *testing.T, g *Group, want ...State) {
	t.Helper()
	var got []State
	for i := range g.Len() {
		got = append(got, g.Member(i).State())
	}
	if !slices.Equal(got, want) {
		t.Fatalf("states %v, want %v", got, want)
	}
}

// transitions returns the member transitions in acts, as "member:FROM->TO".
func transitions(acts []MemberAction) []Action {
	var ts []Action
	for _, a := range acts {
		if a.Kind == ActionTransition {
			ts = append(ts, a.Action)
		}
	}
	return ts
}

func groupAdvert(g *Group, member int, at time.Duration, prio uint8, from netip.Addr) Event {
	a := g.Member(member).Advert(prio)
	a.Addrs = slices.Clone(a.Addrs)
	return Event{Kind: EventAdvert, Now: t0.Add(at), Advert: &a, From: from}
}

func TestGroupTakeOverTogether(t *testing.T) {
	g := newTestGroup(t, 100, 100)
	gstep(t, g, -1, Event{Kind: EventStartup, Now: t0})
	expectStates(t, g, Backup, Backup)
	// Member 1 keeps hearing its master, member 0 does not: when member
	// 0's timer runs out, both become master.
	gstep(t, g, 1, groupAdvert(g, 1, time.Second, 200, netip.MustParseAddr("192.168.0.3")))
	dl := g.NextDeadline()
	if !dl.Equal(g.Member(0).NextDeadline()) {
		t.Fatal("group deadline is not the earliest member's")
	}
	acts := gstep(t, g, -1, Event{Kind: EventTimer, Now: dl})
	expectStates(t, g, Master, Master)
	want := []MemberAction{
		{0, addVIPs}, {0, sendAdvert(100)}, {0, sendGARP(5)}, {0, trans(Backup, Master)},
		{1, addVIPs}, {1, sendAdvert(100)}, {1, sendGARP(5)}, {1, trans(Backup, Master)},
	}
	if !slices.Equal(acts, want) {
		t.Fatalf("actions\n\t%v\nwant\n\t%v", acts, want)
	}
}

func TestGroupStepDownTogether(t *testing.T) {
	g := newTestGroup(t, 100, 100)
	gstep(t, g, -1, Event{Kind: EventStartup, Now: t0})
	gstep(t, g, -1, Event{Kind: EventTimer, Now: g.NextDeadline()})
	expectStates(t, g, Master, Master)
	// Member 0 hears a higher priority on the WAN: both step down.
	acts := gstep(t, g, 0, groupAdvert(g, 0, 10*time.Second, 200, higher))
	expectStates(t, g, Backup, Backup)
	if ts := transitions(acts); !slices.Equal(ts, []Action{trans(Master, Backup), trans(Master, Backup)}) {
		t.Fatalf("transitions %v", ts)
	}
	if acts[0] != (MemberAction{0, removeVIPs}) || acts[2] != (MemberAction{1, removeVIPs}) {
		t.Fatalf("actions %v", acts)
	}
	for i := range 2 {
		if !g.Member(i).NextDeadline().Equal(t0.Add(10*time.Second + MasterDownInterval(3, 100, time.Second))) {
			t.Fatalf("member %d deadline %v", i, g.Member(i).NextDeadline().Sub(t0))
		}
	}
}

func TestGroupOwnerPullsOthers(t *testing.T) {
	g := newTestGroup(t, 100, PriorityOwner)
	gstep(t, g, -1, Event{Kind: EventStartup, Now: t0})
	expectStates(t, g, Master, Master)
}

func TestGroupFault(t *testing.T) {
	g := newTestGroup(t, 100, 100)
	gstep(t, g, -1, Event{Kind: EventStartup, Now: t0})
	gstep(t, g, -1, Event{Kind: EventTimer, Now: g.NextDeadline()})
	expectStates(t, g, Master, Master)

	// The LAN link fails: both go to Fault, both masters say priority 0.
	acts := gstep(t, g, 1, Event{Kind: EventFault, Now: t0.Add(10 * time.Second)})
	expectStates(t, g, Fault, Fault)
	want := []MemberAction{
		{1, sendAdvert(0)}, {1, removeVIPs}, {1, trans(Master, Fault)},
		{0, sendAdvert(0)}, {0, removeVIPs}, {0, trans(Master, Fault)},
	}
	if !slices.Equal(acts, want) {
		t.Fatalf("actions\n\t%v\nwant\n\t%v", acts, want)
	}
	if g.Member(0).Faulted() || !g.Member(1).Faulted() {
		t.Fatal("fault recorded on the wrong member")
	}
	// The WAN fails too, then the LAN recovers: still in fault.
	gstep(t, g, 0, Event{Kind: EventFault, Now: t0.Add(11 * time.Second)})
	if acts := gstep(t, g, 1, Event{Kind: EventFaultCleared, Now: t0.Add(12 * time.Second)}); len(acts) != 0 {
		t.Fatalf("actions %v while a fault remains", acts)
	}
	expectStates(t, g, Fault, Fault)
	// The last fault clears: both start as backups.
	acts = gstep(t, g, 0, Event{Kind: EventFaultCleared, Now: t0.Add(13 * time.Second)})
	expectStates(t, g, Backup, Backup)
	if ts := transitions(acts); len(ts) != 2 {
		t.Fatalf("transitions %v", ts)
	}

	// A member faulted before startup keeps the group in Fault.
	g = newTestGroup(t, 100, 100)
	gstep(t, g, 0, Event{Kind: EventFault, Now: t0})
	gstep(t, g, -1, Event{Kind: EventStartup, Now: t0})
	expectStates(t, g, Fault, Fault)
	if !g.NextDeadline().IsZero() {
		t.Fatal("timer in Fault")
	}
	gstep(t, g, 0, Event{Kind: EventFaultCleared, Now: t0.Add(time.Second)})
	expectStates(t, g, Backup, Backup)
}

func TestGroupShutdown(t *testing.T) {
	g := newTestGroup(t, 100, 100)
	gstep(t, g, -1, Event{Kind: EventStartup, Now: t0})
	gstep(t, g, -1, Event{Kind: EventTimer, Now: g.NextDeadline()})
	acts := gstep(t, g, -1, Event{Kind: EventShutdown, Now: t0.Add(time.Minute)})
	expectStates(t, g, Initialize, Initialize)
	if len(acts) != 6 || acts[0] != (MemberAction{0, sendAdvert(0)}) || acts[3] != (MemberAction{1, sendAdvert(0)}) {
		t.Fatalf("actions %v", acts)
	}
}

func TestGroupErrors(t *testing.T) {
	m, _ := NewMachine(testConfig(3, 100))
	if _, err := NewGroup(); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("empty group: %v", err)
	}
	if _, err := NewGroup(m, m); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("duplicate member: %v", err)
	}
	if _, err := NewGroup(m, nil); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("nil member: %v", err)
	}
	started, _ := NewMachine(testConfig(3, 100))
	started.Step(Event{Kind: EventStartup, Now: t0}, nil)
	if _, err := NewGroup(m, started); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("started member: %v", err)
	}
	g := newTestGroup(t, 100, 100)
	if _, err := g.Step(2, Event{Kind: EventTimer, Now: t0}, nil); err != ErrInvalidEvent {
		t.Errorf("member out of range: %v", err)
	}
	if _, err := g.Step(-1, groupAdvert(g, 0, 0, 100, higher), nil); err != ErrInvalidEvent {
		t.Errorf("broadcast advert: %v", err)
	}
	gstep(t, g, -1, Event{Kind: EventStartup, Now: t0})
	ev := groupAdvert(g, 0, time.Second, 100, higher)
	ev.Advert.VRID = 9
	if _, err := g.Step(0, ev, nil); err != ErrVRIDMismatch {
		t.Errorf("member error: %v", err)
	}
}
