package vrrp

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// t0 is the fake clock's start. No test sleeps: time is whatever the test
// says it is in Event.Now.
var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

var (
	localAddr = netip.MustParseAddr("10.0.0.1")
	lowerAddr = netip.MustParseAddr("10.0.0.0")
	higher    = netip.MustParseAddr("10.0.0.9")
	vipPrefix = netip.MustParsePrefix("10.0.0.100/24")
)

func testConfig(version int, prio uint8) Config {
	return Config{
		VRID:           51,
		Version:        version,
		Priority:       prio,
		AdvertInterval: time.Second,
		PrimaryAddr:    localAddr,
		VIPs:           []netip.Prefix{vipPrefix},
	}
}

// harness steps a machine over a fake clock.
type harness struct {
	t *testing.T
	m *Machine
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	m, err := NewMachine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, m: m}
}

func (h *harness) step(ev Event) []Action {
	h.t.Helper()
	acts, err := h.m.Step(ev, nil)
	if err != nil {
		h.t.Fatalf("Step(%v at %v): %v", ev.Kind, ev.Now.Sub(t0), err)
	}
	return acts
}

func (h *harness) startup(at time.Duration) []Action {
	h.t.Helper()
	return h.step(Event{Kind: EventStartup, Now: t0.Add(at)})
}

func (h *harness) timer(at time.Duration) []Action {
	h.t.Helper()
	return h.step(Event{Kind: EventTimer, Now: t0.Add(at)})
}

// advert returns an EventAdvert matching the machine's configuration.
func (h *harness) advert(at time.Duration, prio uint8, from netip.Addr) Event {
	a := h.m.Advert(prio)
	a.Addrs = slices.Clone(a.Addrs)
	return Event{Kind: EventAdvert, Now: t0.Add(at), Advert: &a, From: from}
}

func (h *harness) recv(at time.Duration, prio uint8, from netip.Addr) []Action {
	h.t.Helper()
	return h.step(h.advert(at, prio, from))
}

// toMaster starts the machine as a backup and lets its timer run out.
func (h *harness) toMaster() time.Duration {
	h.t.Helper()
	h.startup(0)
	at := h.m.NextDeadline().Sub(t0)
	h.timer(at)
	h.expect(Master)
	return at
}

func (h *harness) expect(s State) {
	h.t.Helper()
	if got := h.m.State(); got != s {
		h.t.Fatalf("state %v, want %v", got, s)
	}
}

func (h *harness) expectDeadline(at time.Duration) {
	h.t.Helper()
	if got := h.m.NextDeadline(); !got.Equal(t0.Add(at)) {
		h.t.Fatalf("deadline %v, want %v", got.Sub(t0), at)
	}
}

func expectActions(t *testing.T, got []Action, want ...Action) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("actions\n\t%v\nwant\n\t%v", got, want)
	}
}

func sendAdvert(p uint8) Action { return Action{Kind: ActionSendAdvert, Priority: p} }
func sendGARP(n int) Action     { return Action{Kind: ActionSendGARP, Count: n} }
func trans(from, to State) Action {
	return Action{Kind: ActionTransition, From: from, To: to}
}

var (
	addVIPs    = Action{Kind: ActionAddVIPs}
	removeVIPs = Action{Kind: ActionRemoveVIPs}
)

// becameMaster is the action list of entering Master with the default
// GARP timing.
func becameMaster(from State, prio uint8) []Action {
	return []Action{addVIPs, sendAdvert(prio), sendGARP(DefaultGARPMasterRepeat), trans(from, Master)}
}

// forBoth runs f as a subtest for VRRPv2 and VRRPv3.
func forBoth(t *testing.T, f func(t *testing.T, version int)) {
	for _, v := range []int{2, 3} {
		t.Run(map[int]string{2: "v2", 3: "v3"}[v], func(t *testing.T) { f(t, v) })
	}
}

func TestTimers(t *testing.T) {
	tests := []struct {
		version  int
		prio     uint8
		interval time.Duration
		skew     time.Duration
		down     time.Duration
	}{
		// v2: (256-100)/256 s = 0.609375 s, whatever the interval.
		{2, 100, time.Second, 609375 * time.Microsecond, 3609375 * time.Microsecond},
		{2, 100, 3 * time.Second, 609375 * time.Microsecond, 9609375 * time.Microsecond},
		{2, 254, time.Second, 7812500 * time.Nanosecond, 3007812500 * time.Nanosecond},
		{2, 1, time.Second, 996093750 * time.Nanosecond, 3996093750 * time.Nanosecond},
		// v3: scaled by Master_Adver_Interval.
		{3, 100, time.Second, 609375 * time.Microsecond, 3609375 * time.Microsecond},
		{3, 100, 3 * time.Second, 1828125 * time.Microsecond, 10828125 * time.Microsecond},
		{3, 200, 50 * time.Millisecond, 10937500 * time.Nanosecond, 160937500 * time.Nanosecond},
	}
	for _, tt := range tests {
		if got := SkewTime(tt.version, tt.prio, tt.interval); got != tt.skew {
			t.Errorf("SkewTime(%d, %d, %v) = %v, want %v", tt.version, tt.prio, tt.interval, got, tt.skew)
		}
		if got := MasterDownInterval(tt.version, tt.prio, tt.interval); got != tt.down {
			t.Errorf("MasterDownInterval(%d, %d, %v) = %v, want %v", tt.version, tt.prio, tt.interval, got, tt.down)
		}
	}
}

// TestOwnerStartup: RFC 5798 §6.4.1, priority 255 goes straight to Master.
func TestOwnerStartup(t *testing.T) {
	forBoth(t, func(t *testing.T, v int) {
		h := newHarness(t, testConfig(v, PriorityOwner))
		expectActions(t, h.startup(0), becameMaster(Initialize, 255)...)
		h.expect(Master)
		h.expectDeadline(time.Second)
		// Every interval, an advert.
		expectActions(t, h.timer(time.Second), sendAdvert(255))
		h.expectDeadline(2 * time.Second)
		// The owner discards adverts (RFC 5798 §7.1).
		if _, err := h.m.Step(h.advert(2*time.Second, 254, higher), nil); err != ErrAddressOwner {
			t.Fatalf("owner received advert: %v", err)
		}
		h.expect(Master)
	})
}

// TestBackupStartupAndTakeover: Initialize -> Backup -> Master when no
// master is heard (RFC 5798 §6.4.1, §6.4.2).
func TestBackupStartupAndTakeover(t *testing.T) {
	forBoth(t, func(t *testing.T, v int) {
		h := newHarness(t, testConfig(v, 100))
		expectActions(t, h.startup(0), trans(Initialize, Backup))
		down := MasterDownInterval(v, 100, time.Second)
		h.expectDeadline(down)
		// An early timer does nothing.
		expectActions(t, h.timer(down-time.Nanosecond))
		h.expect(Backup)
		expectActions(t, h.timer(down), becameMaster(Backup, 100)...)
		h.expectDeadline(down + time.Second)
		// A second startup is ignored.
		expectActions(t, h.startup(down))
	})
}

// TestBackupReceive covers RFC 5798 §6.4.2 "If an ADVERTISEMENT is
// received" for every branch, both versions.
func TestBackupReceive(t *testing.T) {
	const local = 100
	tests := []struct {
		desc      string
		noPreempt bool
		prio      uint8
		reset     bool // Master_Down_Timer reset to Master_Down_Interval
		skew      bool // Master_Down_Timer set to Skew_Time
	}{
		{"higher priority resets", false, 200, true, false},
		{"equal priority resets", false, local, true, false},
		{"lower priority with preempt is discarded", false, 50, false, false},
		{"lower priority with nopreempt resets", true, 50, true, false},
		{"priority 0 sets Skew_Time", false, 0, false, true},
		{"priority 0 with nopreempt sets Skew_Time", true, 0, false, true},
	}
	forBoth(t, func(t *testing.T, v int) {
		for _, tt := range tests {
			t.Run(tt.desc, func(t *testing.T) {
				cfg := testConfig(v, local)
				cfg.NoPreempt = tt.noPreempt
				h := newHarness(t, cfg)
				h.startup(0)
				before := h.m.NextDeadline()
				at := 2 * time.Second
				expectActions(t, h.recv(at, tt.prio, higher))
				h.expect(Backup)
				switch {
				case tt.reset:
					h.expectDeadline(at + MasterDownInterval(v, local, time.Second))
					if a, p := h.m.MasterAddr(); a != higher || p != tt.prio {
						t.Fatalf("MasterAddr = %v, %d", a, p)
					}
				case tt.skew:
					h.expectDeadline(at + SkewTime(v, local, time.Second))
				default:
					if !h.m.NextDeadline().Equal(before) {
						t.Fatalf("deadline moved to %v", h.m.NextDeadline().Sub(t0))
					}
				}
				// Whatever happened, the timer's expiry makes it master.
				expectActions(t, h.timer(h.m.NextDeadline().Sub(t0)), becameMaster(Backup, local)...)
			})
		}
	})
}

// TestMasterReceive covers RFC 5798 §6.4.3 "If an ADVERTISEMENT is
// received", and keepalived's answer to a lower-priority advert.
func TestMasterReceive(t *testing.T) {
	const local = 100
	tests := []struct {
		desc   string
		prio   uint8
		from   netip.Addr
		noAdv  bool // LowerPrioNoAdvert
		stepDn bool
		want   []Action // when staying master
	}{
		{"higher priority", 101, lowerAddr, false, true, nil},
		{"equal priority, higher address", local, higher, false, true, nil},
		{"equal priority, lower address", local, lowerAddr, false, false,
			[]Action{sendAdvert(local), sendGARP(DefaultGARPMasterRepeat)}},
		{"lower priority answers at once", 99, higher, false, false,
			[]Action{sendAdvert(local), sendGARP(DefaultGARPMasterRepeat)}},
		{"lower priority, lower_prio_no_advert", 99, higher, true, false,
			[]Action{sendGARP(DefaultGARPMasterRepeat)}},
		{"priority 0 answers with an advert", 0, higher, false, false,
			[]Action{sendAdvert(local)}},
	}
	forBoth(t, func(t *testing.T, v int) {
		for _, tt := range tests {
			t.Run(tt.desc, func(t *testing.T) {
				cfg := testConfig(v, local)
				cfg.LowerPrioNoAdvert = tt.noAdv
				h := newHarness(t, cfg)
				mt := h.toMaster()
				at := mt + 300*time.Millisecond
				acts := h.recv(at, tt.prio, tt.from)
				if tt.stepDn {
					expectActions(t, acts, removeVIPs, trans(Master, Backup))
					h.expectDeadline(at + MasterDownInterval(v, local, time.Second))
					return
				}
				expectActions(t, acts, tt.want...)
				h.expect(Master)
				if tt.prio == 0 {
					// The Adver_Timer restarts (RFC 5798 §6.4.3).
					h.expectDeadline(at + time.Second)
				} else {
					h.expectDeadline(mt + time.Second)
				}
			})
		}
	})
}

// TestV3LearnsMasterInterval: a VRRPv3 backup takes Master_Adver_Interval
// from the master's adverts (RFC 5798 §6.4.2), and so does a master that
// steps down (§6.4.3); VRRPv2 drops adverts with another interval.
func TestV3LearnsMasterInterval(t *testing.T) {
	h := newHarness(t, testConfig(3, 100))
	h.startup(0)
	ev := h.advert(time.Second, 200, higher)
	ev.Advert.Interval = 2500 * time.Millisecond
	h.step(ev)
	if got := h.m.MasterAdverInterval(); got != 2500*time.Millisecond {
		t.Fatalf("Master_Adver_Interval %v", got)
	}
	// 3 * 2.5 s + (156 * 2.5 s) / 256.
	h.expectDeadline(time.Second + 7500*time.Millisecond + 1523437500*time.Nanosecond)
	// Priority 0 uses the learned interval for Skew_Time.
	h.recv(2*time.Second, 0, higher)
	h.expectDeadline(2*time.Second + SkewTime(3, 100, 2500*time.Millisecond))
	// Becoming master, it advertises its own interval.
	h.timer(h.m.NextDeadline().Sub(t0))
	h.expect(Master)
	if a := h.m.Advert(100); a.Interval != time.Second {
		t.Fatalf("master advertises %v", a.Interval)
	}
	// Stepping down learns the new master's.
	ev = h.advert(10*time.Second, 200, higher)
	ev.Advert.Interval = 200 * time.Millisecond
	h.step(ev)
	h.expect(Backup)
	h.expectDeadline(10*time.Second + MasterDownInterval(3, 100, 200*time.Millisecond))

	h2 := newHarness(t, testConfig(2, 100))
	h2.startup(0)
	ev = h2.advert(time.Second, 200, higher)
	ev.Advert.Interval = 2 * time.Second
	if _, err := h2.m.Step(ev, nil); err != ErrIntervalMismatch {
		t.Fatalf("v2 interval mismatch: %v", err)
	}
}

// TestMasterTimers: adverts every interval and the second GARP burst.
func TestMasterTimers(t *testing.T) {
	cfg := testConfig(3, PriorityOwner)
	cfg.AdvertInterval = 2 * time.Second
	h := newHarness(t, cfg)
	h.startup(0)
	var garps []time.Duration
	sent := 0
	for now := time.Duration(0); now < 12*time.Second; {
		now = h.m.NextDeadline().Sub(t0)
		for _, a := range h.timer(now) {
			switch a.Kind {
			case ActionSendAdvert:
				sent++
			case ActionSendGARP:
				garps = append(garps, now)
			default:
				t.Fatalf("unexpected %v", a)
			}
		}
	}
	if sent != 6 || !slices.Equal(garps, []time.Duration{5 * time.Second}) {
		t.Fatalf("%d adverts, GARPs at %v", sent, garps)
	}
}

// TestShutdown: a master sends priority 0 and releases the addresses
// (RFC 5798 §6.4.3); a backup just stops (§6.4.2).
func TestShutdown(t *testing.T) {
	forBoth(t, func(t *testing.T, v int) {
		h := newHarness(t, testConfig(v, 100))
		mt := h.toMaster()
		expectActions(t, h.step(Event{Kind: EventShutdown, Now: t0.Add(mt + time.Second)}),
			sendAdvert(0), removeVIPs, trans(Master, Initialize))
		if !h.m.NextDeadline().IsZero() {
			t.Fatal("timer left in Initialize")
		}
		// Adverts are ignored in Initialize.
		expectActions(t, h.recv(mt+2*time.Second, 200, higher))

		h.startup(20 * time.Second)
		h.expect(Backup)
		expectActions(t, h.step(Event{Kind: EventShutdown, Now: t0.Add(21 * time.Second)}), trans(Backup, Initialize))
		expectActions(t, h.step(Event{Kind: EventShutdown, Now: t0.Add(22 * time.Second)}))
	})
}

// TestPreemptDelay: keepalived's preempt_delay defers preemption of a
// lower-priority master until the delay after its first advert.
func TestPreemptDelay(t *testing.T) {
	cfg := testConfig(2, 150)
	cfg.PreemptDelay = 10 * time.Second
	h := newHarness(t, cfg)
	h.startup(0)
	down := MasterDownInterval(2, 150, time.Second)
	// The lower-priority master advertises every second. Until 1 s + 10 s
	// the backup defers to it.
	for at := time.Second; at < 11*time.Second; at += time.Second {
		expectActions(t, h.recv(at, 100, higher))
		h.expectDeadline(at + down)
	}
	// From 11 s its adverts are discarded; the timer set at 10 s runs out.
	h.recv(11*time.Second, 100, higher)
	h.recv(12*time.Second, 100, higher)
	h.expectDeadline(10*time.Second + down)
	expectActions(t, h.timer(10*time.Second+down), becameMaster(Backup, 150)...)

	// An advert of higher priority cancels a running delay.
	h = newHarness(t, cfg)
	h.startup(0)
	h.recv(time.Second, 100, higher)
	h.recv(2*time.Second, 200, higher)
	h.recv(3*time.Second, 100, higher) // restarts the delay: until 13 s
	h.recv(12*time.Second, 100, higher)
	h.expectDeadline(12*time.Second + down)
	h.recv(13*time.Second, 100, higher)
	h.expectDeadline(12*time.Second + down)
}

// TestNoPreemptKeepsLowerMaster: with nopreempt a higher-priority backup
// never takes over from a live master.
func TestNoPreemptKeepsLowerMaster(t *testing.T) {
	cfg := testConfig(3, 200)
	cfg.NoPreempt = true
	h := newHarness(t, cfg)
	h.startup(0)
	for at := time.Second; at < time.Minute; at += time.Second {
		h.recv(at, 100, higher)
		if d := h.m.NextDeadline(); !d.After(t0.Add(at)) {
			t.Fatal("timer would fire")
		}
	}
	h.expect(Backup)
}

// TestStateMaster: keepalived's "state MASTER" takes over after one
// interval and a minimal skew instead of Master_Down_Interval.
func TestStateMaster(t *testing.T) {
	cfg := testConfig(3, 100)
	cfg.StateMaster = true
	h := newHarness(t, cfg)
	h.startup(0)
	h.expect(Backup)
	h.expectDeadline(time.Second + time.Second/256)
	// A higher-priority master keeps it backup, with the normal timer.
	h.recv(500*time.Millisecond, 200, higher)
	h.expectDeadline(500*time.Millisecond + MasterDownInterval(3, 100, time.Second))
}

// TestFault: keepalived's FAULT state.
func TestFault(t *testing.T) {
	forBoth(t, func(t *testing.T, v int) {
		h := newHarness(t, testConfig(v, 100))
		mt := h.toMaster()
		at := mt + time.Second
		expectActions(t, h.step(Event{Kind: EventFault, Now: t0.Add(at)}),
			sendAdvert(0), removeVIPs, trans(Master, Fault))
		if !h.m.Faulted() || !h.m.NextDeadline().IsZero() {
			t.Fatal("fault not recorded or timer left")
		}
		// Adverts and timers are ignored; a second fault changes nothing.
		expectActions(t, h.recv(at+time.Second, 50, higher))
		expectActions(t, h.timer(at+time.Hour))
		expectActions(t, h.step(Event{Kind: EventFault, Now: t0.Add(at + time.Hour)}))
		// Cleared, it starts again as a backup.
		expectActions(t, h.step(Event{Kind: EventFaultCleared, Now: t0.Add(2 * time.Hour)}), trans(Fault, Backup))
		h.expectDeadline(2*time.Hour + MasterDownInterval(v, 100, time.Second))
		// Backup -> Fault says nothing on the wire.
		expectActions(t, h.step(Event{Kind: EventFault, Now: t0.Add(3 * time.Hour)}), trans(Backup, Fault))
		// A fault present at startup keeps it in Fault.
		h.step(Event{Kind: EventShutdown, Now: t0.Add(4 * time.Hour)})
		expectActions(t, h.startup(5*time.Hour), trans(Initialize, Fault))
		// A cleared fault is forgotten in Initialize too.
		h.step(Event{Kind: EventShutdown, Now: t0.Add(6 * time.Hour)})
		h.step(Event{Kind: EventFaultCleared, Now: t0.Add(6 * time.Hour)})
		expectActions(t, h.startup(7*time.Hour), trans(Initialize, Backup))
	})
	// The owner leaves Fault straight to Master.
	h := newHarness(t, testConfig(3, PriorityOwner))
	h.step(Event{Kind: EventFault, Now: t0})
	h.startup(0)
	h.expect(Fault)
	expectActions(t, h.step(Event{Kind: EventFaultCleared, Now: t0.Add(time.Second)}), becameMaster(Fault, 255)...)
}

// TestPriorityChange: tracking changes the effective priority, and the
// elections follow.
func TestPriorityChange(t *testing.T) {
	h := newHarness(t, testConfig(3, 100))
	h.startup(0)
	h.recv(time.Second, 150, higher)
	// Raised above the master, it preempts: the next advert is discarded.
	expectActions(t, h.step(Event{Kind: EventPriority, Now: t0.Add(1500 * time.Millisecond), Priority: 200}))
	if h.m.Priority() != 200 {
		t.Fatalf("priority %d", h.m.Priority())
	}
	h.recv(2*time.Second, 150, higher)
	h.expectDeadline(time.Second + MasterDownInterval(3, 100, time.Second))
	expectActions(t, h.timer(h.m.NextDeadline().Sub(t0)), becameMaster(Backup, 200)...)
	// Clamped to 1..254.
	for in, want := range map[uint8]uint8{0: 1, 255: 254, 254: 254, 7: 7} {
		h.step(Event{Kind: EventPriority, Now: t0.Add(time.Hour), Priority: in})
		if h.m.Priority() != want {
			t.Errorf("priority %d became %d, want %d", in, h.m.Priority(), want)
		}
	}
	// The owner ignores it.
	o := newHarness(t, testConfig(3, PriorityOwner))
	o.step(Event{Kind: EventPriority, Now: t0, Priority: 10})
	if o.m.Priority() != PriorityOwner {
		t.Fatalf("owner priority %d", o.m.Priority())
	}
}

// TestReceiveChecks covers the configuration-dependent drops of RFC 5798
// §7.1 and RFC 3768 §7.1.
func TestReceiveChecks(t *testing.T) {
	v2pass := testConfig(2, 100)
	v2pass.AuthType = AuthPass
	v2pass.AuthPass = "secret"
	tests := []struct {
		desc string
		cfg  Config
		mod  func(ev *Event)
		want error
	}{
		{"accepted", testConfig(3, 100), func(ev *Event) {}, nil},
		{"version", testConfig(3, 100), func(ev *Event) { ev.Advert.Version = 2 }, ErrVersionMismatch},
		{"VRID", testConfig(3, 100), func(ev *Event) { ev.Advert.VRID = 52 }, ErrVRIDMismatch},
		{"own address", testConfig(3, 100), func(ev *Event) { ev.From = localAddr }, ErrOwnAddress},
		{"owner", testConfig(3, 255), func(ev *Event) {}, ErrAddressOwner},
		{"interval 0", testConfig(3, 100), func(ev *Event) { ev.Advert.Interval = 0 }, ErrInterval},
		{"v2 interval", testConfig(2, 100), func(ev *Event) { ev.Advert.Interval = 2 * time.Second }, ErrIntervalMismatch},
		{"v2 auth type", v2pass, func(ev *Event) { ev.Advert.AuthType = AuthNone }, ErrAuthType},
		{"v2 password", v2pass, func(ev *Event) { ev.Advert.AuthData[0] = 'S' }, ErrAuthFailed},
		{"v2 password accepted", v2pass, func(ev *Event) {}, nil},
		{"v2 auth where none", testConfig(2, 100), func(ev *Event) { ev.Advert.AuthType = AuthPass }, ErrAuthType},
		{"other address", testConfig(3, 100), func(ev *Event) { ev.Advert.Addrs[0] = vip2 }, ErrAddrMismatch},
		{"extra address", testConfig(3, 100), func(ev *Event) { ev.Advert.Addrs = append(ev.Advert.Addrs, vip2) }, ErrAddrMismatch},
		{"other address from owner", testConfig(3, 100), func(ev *Event) {
			ev.Advert.Addrs[0] = vip2
			ev.Advert.Priority = 255
		}, nil},
		{"skip_check_adv_addr", func() Config { c := testConfig(3, 100); c.SkipCheckAdvertAddrs = true; return c }(),
			func(ev *Event) { ev.Advert.Addrs[0] = vip2 }, nil},
		{"no advert", testConfig(3, 100), func(ev *Event) { ev.Advert = nil }, ErrInvalidEvent},
		{"no source", testConfig(3, 100), func(ev *Event) { ev.From = netip.Addr{} }, ErrInvalidEvent},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			h := newHarness(t, tt.cfg)
			h.startup(0)
			ev := h.advert(time.Second, 200, higher)
			tt.mod(&ev)
			before := h.m.NextDeadline()
			acts, err := h.m.Step(ev, nil)
			if err != tt.want {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			if err != nil && (len(acts) != 0 || !h.m.NextDeadline().Equal(before)) {
				t.Fatalf("dropped advert acted: %v", acts)
			}
		})
	}
	m, _ := NewMachine(testConfig(3, 100))
	if _, err := m.Step(Event{Kind: 99}, nil); err != ErrInvalidEvent {
		t.Fatalf("unknown event: %v", err)
	}
}

func TestNewMachineErrors(t *testing.T) {
	tests := []struct {
		desc string
		mod  func(*Config)
	}{
		{"VRID 0", func(c *Config) { c.VRID = 0 }},
		{"version 4", func(c *Config) { c.Version = 4 }},
		{"v2 interval 1.5 s", func(c *Config) { c.Version = 2; c.AdvertInterval = 1500 * time.Millisecond }},
		{"v3 interval 1 ms", func(c *Config) { c.AdvertInterval = time.Millisecond }},
		{"negative preempt delay", func(c *Config) { c.PreemptDelay = -1 }},
		{"no primary address", func(c *Config) { c.PrimaryAddr = netip.Addr{} }},
		{"IPv6 primary address", func(c *Config) { c.PrimaryAddr = netip.MustParseAddr("::1") }},
		{"no VIPs", func(c *Config) { c.VIPs = nil }},
		{"IPv6 VIP", func(c *Config) { c.VIPs = []netip.Prefix{netip.MustParsePrefix("2001:db8::1/64")} }},
		{"v3 with PASS", func(c *Config) { c.AuthType = AuthPass }},
		{"AH", func(c *Config) { c.Version = 2; c.AuthType = AuthAH }},
		{"password too long", func(c *Config) { c.Version = 2; c.AuthType = AuthPass; c.AuthPass = "123456789" }},
		{"password without PASS", func(c *Config) { c.AuthPass = "x" }},
		{"down timer adverts", func(c *Config) { c.DownTimerAdverts = 101 }},
	}
	for _, tt := range tests {
		c := testConfig(3, 100)
		tt.mod(&c)
		if _, err := NewMachine(c); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: %v", tt.desc, err)
		}
	}
	m, err := NewMachine(Config{VRID: 1, PrimaryAddr: localAddr, VIPs: []netip.Prefix{vipPrefix}})
	if err != nil {
		t.Fatal(err)
	}
	c := m.Config()
	if c.Version != 2 || c.Priority != 100 || c.AdvertInterval != time.Second || c.DownTimerAdverts != 3 {
		t.Fatalf("defaults %+v", c)
	}
}

func TestDownTimerAdverts(t *testing.T) {
	cfg := testConfig(3, 100)
	cfg.DownTimerAdverts = 5
	h := newHarness(t, cfg)
	h.startup(0)
	h.expectDeadline(5*time.Second + SkewTime(3, 100, time.Second))
}

func TestStepAllocs(t *testing.T) {
	h := newHarness(t, testConfig(3, 100))
	h.startup(0)
	ev := h.advert(time.Second, 200, higher)
	acts := make([]Action, 0, 8)
	allocs := testing.AllocsPerRun(100, func() {
		ev.Now = ev.Now.Add(time.Second)
		acts, _ = h.m.Step(ev, acts[:0])
		acts, _ = h.m.Step(Event{Kind: EventTimer, Now: ev.Now}, acts[:0])
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per step", allocs)
	}
}

func TestStrings(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{Master.String(), "MASTER"},
		{State(9).String(), "State(9)"},
		{EventFaultCleared.String(), "FaultCleared"},
		{EventKind(0).String(), "EventKind(0)"},
		{ActionRemoveVIPs.String(), "RemoveVIPs"},
		{sendAdvert(7).String(), "SendAdvert(priority 7)"},
		{sendGARP(5).String(), "SendGARP(5 per VIP)"},
		{trans(Backup, Master).String(), "Transition(BACKUP -> MASTER)"},
		{addVIPs.String(), "AddVIPs"},
	} {
		if tt.got != tt.want {
			t.Errorf("%q, want %q", tt.got, tt.want)
		}
	}
}
