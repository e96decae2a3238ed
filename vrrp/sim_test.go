package vrrp

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// A simulated LAN of routers running Machines over a fake clock. Adverts
// go through the wire format: AppendAdvertFrame on one side, ParseFrame on
// the others, so this also checks that what one Machine sends another
// accepts.

type simRouter struct {
	m    *Machine
	up   bool
	addr netip.Addr
	mac  [6]byte
	vips bool // holds the virtual addresses
}

type simPacket struct {
	at    time.Time
	from  int
	frame []byte
}

type sim struct {
	t       *testing.T
	now     time.Time
	delay   time.Duration // one-way delay of the LAN
	routers []*simRouter
	queue   []simPacket
	ipID    uint16
}

func newSim(t *testing.T, version int, cfgs ...Config) *sim {
	s := &sim{t: t, now: t0, delay: time.Millisecond}
	for i, c := range cfgs {
		c.Version = version
		c.VRID = 7
		c.AdvertInterval = time.Second
		c.VIPs = []netip.Prefix{vipPrefix}
		c.PrimaryAddr = netip.AddrFrom4([4]byte{10, 0, 0, byte(10 + i)})
		m, err := NewMachine(c)
		if err != nil {
			t.Fatal(err)
		}
		s.routers = append(s.routers, &simRouter{m: m, addr: c.PrimaryAddr, mac: [6]byte{2, 0, 0, 0, 0, byte(i)}})
	}
	return s
}

func (s *sim) act(i int, acts []Action) {
	r := s.routers[i]
	for _, a := range acts {
		switch a.Kind {
		case ActionSendAdvert:
			adv := r.m.Advert(a.Priority)
			s.ipID++
			frame, err := AppendAdvertFrame(nil, FrameParams{SrcMAC: r.mac, Src: r.addr, Dst: MulticastGroup, ID: s.ipID}, &adv)
			if err != nil {
				s.t.Fatal(err)
			}
			s.queue = append(s.queue, simPacket{at: s.now.Add(s.delay), from: i, frame: frame})
		case ActionAddVIPs:
			r.vips = true
		case ActionRemoveVIPs:
			r.vips = false
		}
	}
}

func (s *sim) step(i int, ev Event) {
	acts, err := s.routers[i].m.Step(ev, nil)
	if err != nil {
		s.t.Fatalf("router %d: %v: %v", i, ev.Kind, err)
	}
	s.act(i, acts)
}

func (s *sim) start(i int) {
	s.routers[i].up = true
	s.step(i, Event{Kind: EventStartup, Now: s.now})
}

func (s *sim) shutdown(i int) {
	s.step(i, Event{Kind: EventShutdown, Now: s.now})
	s.routers[i].up = false
}

// crash stops router i without a word.
func (s *sim) crash(i int) {
	s.routers[i].up = false
	s.routers[i].vips = false
	s.routers[i].m, _ = NewMachine(s.routers[i].m.Config())
}

// run advances the clock by d, delivering packets and timers in order.
func (s *sim) run(d time.Duration) {
	end := s.now.Add(d)
	for {
		next, pkt := time.Time{}, -1
		for j, p := range s.queue {
			if next.IsZero() || p.at.Before(next) {
				next, pkt = p.at, j
			}
		}
		for _, r := range s.routers {
			if dl := r.m.NextDeadline(); r.up && !dl.IsZero() && (next.IsZero() || dl.Before(next)) {
				next, pkt = dl, -1
			}
		}
		if next.IsZero() || next.After(end) {
			s.now = end
			return
		}
		s.now = next
		if pkt >= 0 {
			p := s.queue[pkt]
			s.queue = slices.Delete(s.queue, pkt, pkt+1)
			msg, err := ParseFrame(p.frame, nil)
			if err != nil {
				s.t.Fatalf("router %d sent a frame that does not parse: %v", p.from, err)
			}
			for i, r := range s.routers {
				if i != p.from && r.up {
					s.step(i, Event{Kind: EventAdvert, Now: s.now, Advert: &msg.Advert, From: msg.Src})
				}
			}
			continue
		}
		for i, r := range s.routers {
			if r.up && !r.m.NextDeadline().After(s.now) {
				s.step(i, Event{Kind: EventTimer, Now: s.now})
			}
		}
	}
}

// masters returns the routers in Master, checking that exactly they hold
// the virtual addresses.
func (s *sim) masters() []int {
	var ms []int
	for i, r := range s.routers {
		if r.m.State() == Master {
			ms = append(ms, i)
		}
		if r.vips != (r.up && r.m.State() == Master) {
			s.t.Fatalf("router %d in %v holds VIPs: %v", i, r.m.State(), r.vips)
		}
	}
	return ms
}

func (s *sim) expectMaster(i int) {
	s.t.Helper()
	if got := s.masters(); !slices.Equal(got, []int{i}) {
		s.t.Fatalf("at %v masters %v, want [%d]", s.now.Sub(t0), got, i)
	}
}

func TestSimulatedLAN(t *testing.T) {
	forBoth(t, func(t *testing.T, v int) {
		s := newSim(t, v,
			Config{Priority: 100},
			Config{Priority: 150},
			Config{Priority: 200})
		s.start(0)
		s.run(300 * time.Millisecond)
		s.start(1)
		s.run(300 * time.Millisecond)
		s.start(2)
		// Router 0 takes over first (nothing heard), then 1 and 2 preempt.
		s.run(15 * time.Second)
		s.expectMaster(2)

		// A clean shutdown: the priority-0 advert makes router 1 take over
		// after its Skew_Time, (256-150)/256 s, not Master_Down_Interval.
		stop := s.now
		s.shutdown(2)
		skew := SkewTime(v, 150, time.Second)
		s.run(s.delay + skew - time.Millisecond)
		if got := s.masters(); len(got) != 0 {
			t.Fatalf("masters %v before Skew_Time", got)
		}
		s.run(2 * time.Millisecond)
		s.expectMaster(1)
		if took := s.now.Sub(stop); took > time.Second {
			t.Fatalf("takeover after shutdown took %v", took)
		}

		// A crash: router 0 waits Master_Down_Interval.
		s.run(5 * time.Second)
		crash := s.now
		s.crash(1)
		s.run(MasterDownInterval(v, 100, time.Second) - 10*time.Millisecond)
		if got := s.masters(); len(got) != 0 {
			t.Fatalf("masters %v before Master_Down_Interval", got)
		}
		s.run(time.Second)
		s.expectMaster(0)
		if took := s.now.Sub(crash); took > 5*time.Second {
			t.Fatalf("took %v", took)
		}

		// Router 2 comes back and preempts router 0.
		s.start(2)
		s.run(10 * time.Second)
		s.expectMaster(2)
		// Steady state: over a minute nothing changes.
		for range 60 {
			s.run(time.Second)
			s.expectMaster(2)
		}
	})
}

// TestSimulatedNoPreempt: a higher-priority router with nopreempt that
// joins late leaves the running master alone.
func TestSimulatedNoPreempt(t *testing.T) {
	s := newSim(t, 3, Config{Priority: 100}, Config{Priority: 200, NoPreempt: true})
	s.start(0)
	s.run(5 * time.Second)
	s.expectMaster(0)
	s.start(1)
	s.run(time.Minute)
	s.expectMaster(0)
	s.shutdown(0)
	s.run(2 * time.Second)
	s.expectMaster(1)
}

// TestSimulatedTie: equal priorities elect the higher primary address
// (RFC 5798 §6.4.3), even when both start at once.
func TestSimulatedTie(t *testing.T) {
	for _, delay := range []time.Duration{0, time.Millisecond, 50 * time.Millisecond} {
		t.Run(fmt.Sprint(delay), func(t *testing.T) {
			s := newSim(t, 3, Config{Priority: 100}, Config{Priority: 100}, Config{Priority: 100})
			s.delay = delay
			for i := range s.routers {
				s.start(i)
			}
			s.run(20 * time.Second)
			s.expectMaster(2)
		})
	}
}
