package vrrp

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// State is the state of a virtual router instance (RFC 5798 §6.4, plus
// keepalived's FAULT).
type State uint8

const (
	// Initialize is the state before EventStartup and after
	// EventShutdown (RFC 5798 §6.4.1). Received adverts are ignored.
	Initialize State = iota
	// Backup monitors the master and takes over when it goes quiet
	// (RFC 5798 §6.4.2).
	Backup
	// Master owns the virtual addresses and advertises (RFC 5798 §6.4.3).
	Master
	// Fault is keepalived's FAULT state: a tracked interface or script
	// has failed, so the instance neither advertises nor takes over, and
	// ignores received adverts until the fault clears.
	Fault
)

// String returns the state as keepalived writes it: INIT, BACKUP, MASTER
// or FAULT.
func (s State) String() string {
	switch s {
	case Initialize:
		return "INIT"
	case Backup:
		return "BACKUP"
	case Master:
		return "MASTER"
	case Fault:
		return "FAULT"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// EventKind says what happened.
type EventKind uint8

const (
	_ EventKind = iota
	// EventStartup starts an instance in Initialize (RFC 5798 §6.4.1).
	// The address owner becomes master at once, any other router
	// becomes backup. An instance with an active fault goes to Fault.
	// In other states it is ignored.
	EventStartup
	// EventShutdown stops the instance: a master sends an advert of
	// priority 0 and releases the virtual addresses; every state goes
	// to Initialize.
	EventShutdown
	// EventAdvert delivers a received advertisement: Event.Advert, sent
	// from Event.From. It is ignored in Initialize and Fault.
	EventAdvert
	// EventTimer tells the machine that the time is Event.Now, at or
	// after NextDeadline. Timers fire only on this event; an advert
	// delivered after a deadline is handled as if the timer had not yet
	// expired, which spares a flap when a packet and a timeout are ready
	// together. Delivering it early does nothing.
	EventTimer
	// EventFault reports that a tracked interface or script has failed
	// (keepalived's FAULT): a master sends priority 0 and releases the
	// addresses, and the instance goes to Fault.
	EventFault
	// EventFaultCleared reports that the fault is over: the instance
	// leaves Fault as at startup.
	EventFaultCleared
	// EventPriority sets the effective priority to Event.Priority, as
	// keepalived's tracking weights do. It is clamped to 1..254 and is
	// ignored by an address owner. It changes the next adverts and
	// elections; it triggers nothing by itself.
	EventPriority
)

// String returns the name of the event kind.
func (k EventKind) String() string {
	switch k {
	case EventStartup:
		return "Startup"
	case EventShutdown:
		return "Shutdown"
	case EventAdvert:
		return "Advert"
	case EventTimer:
		return "Timer"
	case EventFault:
		return "Fault"
	case EventFaultCleared:
		return "FaultCleared"
	case EventPriority:
		return "Priority"
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Event is an input of Machine.Step.
type Event struct {
	Kind EventKind
	// Now is the current time. Every event needs it; the machine has no
	// clock of its own. It must not go backwards between events.
	Now time.Time
	// Advert is the received advertisement, for EventAdvert. The machine
	// does not keep it.
	Advert *Advert
	// From is the IPv4 source address of the advertisement, for
	// EventAdvert: the sender's primary address, used to break ties.
	From netip.Addr
	// Priority is the new effective priority, for EventPriority.
	Priority uint8
}

// ActionKind says what the caller must do.
type ActionKind uint8

const (
	_ ActionKind = iota
	// ActionSendAdvert: send an advertisement with Action.Priority
	// (Machine.Advert builds it), to the multicast group or to each
	// unicast peer.
	ActionSendAdvert
	// ActionAddVIPs: add the virtual addresses to the interface and start
	// answering for them. Emitted on entering Master.
	ActionAddVIPs
	// ActionRemoveVIPs: remove the virtual addresses. Emitted on leaving
	// Master.
	ActionRemoveVIPs
	// ActionSendGARP: send Action.Count gratuitous ARPs for each virtual
	// address (AppendGARPFrame builds them).
	ActionSendGARP
	// ActionTransition: the state changed from Action.From to Action.To.
	// For notification and counting; the work is in the other actions.
	// It comes after them.
	ActionTransition
)

// String returns the name of the action kind.
func (k ActionKind) String() string {
	switch k {
	case ActionSendAdvert:
		return "SendAdvert"
	case ActionAddVIPs:
		return "AddVIPs"
	case ActionRemoveVIPs:
		return "RemoveVIPs"
	case ActionSendGARP:
		return "SendGARP"
	case ActionTransition:
		return "Transition"
	}
	return fmt.Sprintf("ActionKind(%d)", uint8(k))
}

// Action is an output of Machine.Step. Actions are to be carried out in
// the order returned.
type Action struct {
	Kind     ActionKind
	Priority uint8 // ActionSendAdvert: the priority to advertise
	Count    int   // ActionSendGARP: gratuitous ARPs per virtual address
	From, To State // ActionTransition
}

// String formats the action for logs and examples.
func (a Action) String() string {
	switch a.Kind {
	case ActionSendAdvert:
		return fmt.Sprintf("SendAdvert(priority %d)", a.Priority)
	case ActionSendGARP:
		return fmt.Sprintf("SendGARP(%d per VIP)", a.Count)
	case ActionTransition:
		return fmt.Sprintf("Transition(%v -> %v)", a.From, a.To)
	}
	return a.Kind.String()
}

// Reasons why Machine.Step rejects an EventAdvert: the checks of RFC 5798
// §7.1 (RFC 3768 §7.1 for version 2) that depend on the local
// configuration. Step returns these values themselves, unwrapped.
var (
	// ErrInvalidEvent means an event of unknown kind, or an EventAdvert
	// without an Advert or without an IPv4 From.
	ErrInvalidEvent = errors.New("vrrp: invalid event")
	// ErrVersionMismatch means the advert's VRRP version is not the
	// configured one.
	ErrVersionMismatch = errors.New("vrrp: VRRP version mismatch")
	// ErrVRIDMismatch means the advert is for another virtual router.
	ErrVRIDMismatch = errors.New("vrrp: VRID mismatch")
	// ErrOwnAddress means the advert comes from this router's own primary
	// address: a looped-back copy of its own, or an address conflict.
	ErrOwnAddress = errors.New("vrrp: advert from own address")
	// ErrAddressOwner means this router is the address owner (priority
	// 255), which discards every advert (RFC 5798 §7.1).
	ErrAddressOwner = errors.New("vrrp: advert received by address owner")
	// ErrAuthType means a VRRPv2 authentication type other than the
	// configured one.
	ErrAuthType = errors.New("vrrp: authentication type mismatch")
	// ErrAuthFailed means a VRRPv2 password that is not the configured
	// one.
	ErrAuthFailed = errors.New("vrrp: authentication failed")
	// ErrIntervalMismatch means a VRRPv2 advert whose interval is not the
	// configured one (RFC 3768 §7.1).
	ErrIntervalMismatch = errors.New("vrrp: advertisement interval mismatch")
	// ErrAddrMismatch means the advert's addresses are not the
	// configured virtual addresses and the sender is not the address
	// owner (RFC 5798 §7.1).
	ErrAddrMismatch = errors.New("vrrp: virtual address mismatch")
)

// ErrInvalidConfig is wrapped by the errors of NewMachine and NewGroup.
var ErrInvalidConfig = errors.New("vrrp: invalid configuration")

// Config is the configuration of one virtual router instance
// (keepalived's vrrp_instance). Zero values take keepalived's defaults
// where it has one.
type Config struct {
	// VRID is the virtual router identifier (virtual_router_id), 1..255.
	VRID uint8
	// Version is the VRRP version (version / vrrp_version), 2 or 3;
	// 0 means 2, keepalived's default.
	Version int
	// Priority is the configured priority (priority), 1..255; 0 means
	// DefaultPriority. 255 makes this router the address owner, which
	// becomes master at startup and discards received adverts.
	Priority uint8
	// AdvertInterval is the advertisement interval (advert_int): whole
	// seconds from 1 s to 255 s for version 2, whole centiseconds from
	// 10 ms to 40.95 s for version 3. 0 means 1 s.
	AdvertInterval time.Duration
	// NoPreempt (nopreempt) stops a backup from taking over from a
	// lower-priority master; it waits for the master to fail.
	// Preemption is on by default (RFC 5798 §6.1 Preempt_Mode).
	NoPreempt bool
	// PreemptDelay (preempt_delay) delays preemption: a backup that
	// hears a lower-priority master keeps deferring to it until
	// PreemptDelay after the first such advert since it became backup,
	// and only then lets its Master_Down_Timer run out. An advert of
	// equal or higher priority cancels the delay. This is keepalived's
	// implementation of "seconds after startup until preemption".
	PreemptDelay time.Duration
	// StateMaster is keepalived's "state MASTER" for a router that is not
	// the address owner: at startup the first Master_Down_Timer is one
	// advertisement interval plus a minimal skew instead of
	// Master_Down_Interval, so the router takes over sooner if no master
	// is heard. It does not preempt a higher-priority master.
	StateMaster bool
	// PrimaryAddr is this router's primary IPv4 address on the interface
	// (or unicast_src_ip): the source of its adverts and its tie-breaker
	// in elections (RFC 5798 §6.4.3).
	PrimaryAddr netip.Addr
	// VIPs are the virtual addresses (virtual_ipaddress), 1 to 255 IPv4
	// prefixes. Adverts carry their addresses, without prefix lengths.
	VIPs []netip.Prefix
	// AuthType is the VRRPv2 authentication type (auth_type): AuthNone,
	// or AuthPass for keepalived's auth_type PASS. Version 3 has none.
	AuthType uint8
	// AuthPass is the password for AuthPass (auth_pass), at most 8
	// bytes; it is sent zero padded.
	AuthPass string
	// LowerPrioNoAdvert (lower_prio_no_advert) stops a master from
	// answering a lower-priority advert with an advert of its own. By
	// default it answers at once, as keepalived does, so that the other
	// router stops claiming mastership within one round trip instead of
	// one interval (RFC 5798 §6.4.3 only discards such adverts).
	LowerPrioNoAdvert bool
	// SkipCheckAdvertAddrs (skip_check_adv_addr) accepts adverts whose
	// addresses differ from VIPs.
	SkipCheckAdvertAddrs bool
	// DownTimerAdverts (down_timer_adverts) is the number of intervals in
	// Master_Down_Interval, 1..100; 0 means 3, as the RFCs have it.
	DownTimerAdverts int
	// GARP is the gratuitous ARP timing of a master.
	GARP GARPConfig
}

// normalize applies defaults and checks c.
func (c Config) normalize() (Config, error) {
	if c.Version == 0 {
		c.Version = 2
	}
	if c.Priority == 0 {
		c.Priority = DefaultPriority
	}
	if c.AdvertInterval == 0 {
		c.AdvertInterval = time.Second
	}
	if c.DownTimerAdverts == 0 {
		c.DownTimerAdverts = 3
	}
	bad := func(format string, args ...any) (Config, error) {
		return Config{}, fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.VRID == 0:
		return bad("VRID 0")
	case c.Version != 2 && c.Version != 3:
		return bad("version %d", c.Version)
	case c.PreemptDelay < 0:
		return bad("negative preempt delay %v", c.PreemptDelay)
	case !c.PrimaryAddr.Is4():
		return bad("primary address %v is not IPv4", c.PrimaryAddr)
	case len(c.VIPs) == 0 || len(c.VIPs) > 255:
		return bad("%d virtual addresses, want 1 to 255", len(c.VIPs))
	case c.DownTimerAdverts < 1 || c.DownTimerAdverts > 100:
		return bad("down timer adverts %d, want 1 to 100", c.DownTimerAdverts)
	case len(c.AuthPass) > AuthDataSize:
		return bad("password longer than %d bytes", AuthDataSize)
	}
	switch c.AuthType {
	case AuthNone:
		if c.AuthPass != "" {
			return bad("password without auth type PASS")
		}
	case AuthPass:
		if c.Version != 2 {
			return bad("VRRPv3 has no authentication")
		}
	default:
		return bad("auth type %d not supported", c.AuthType)
	}
	for _, p := range c.VIPs {
		if !p.IsValid() || !p.Addr().Is4() {
			return bad("virtual address %v is not IPv4", p)
		}
	}
	c.VIPs = slices.Clone(c.VIPs)
	probe := Advert{Version: uint8(c.Version), VRID: c.VRID, Interval: c.AdvertInterval, Addrs: []netip.Addr{c.PrimaryAddr}}
	if err := probe.check(); err != nil {
		return bad("advert interval %v for version %d", c.AdvertInterval, c.Version)
	}
	return c, nil
}

// Machine is the state machine of one virtual router instance
// (RFC 5798 §6, RFC 3768 §6), as a step function: Step takes an Event and
// appends the Actions to carry out, NextDeadline says when the next
// EventTimer is due. It does no I/O and reads no clock.
//
// A Machine is not safe for concurrent use; one goroutine owns it. A
// Machine in a Group must be stepped only through the Group.
type Machine struct {
	cfg  Config
	vips []netip.Addr
	auth [AuthDataSize]byte

	state   State
	prio    uint8 // effective priority
	faulted bool  // own fault condition (EventFault without EventFaultCleared)

	masterAdverInt time.Duration // Master_Adver_Interval
	masterAddr     netip.Addr    // source of the last advert accepted in Backup
	masterPrio     uint8         // its priority

	adverAt   time.Time // Master: Adver_Timer expiry
	downAt    time.Time // Backup: Master_Down_Timer expiry
	preemptAt time.Time // Backup with PreemptDelay: end of the delay; zero if not started

	garp GARPSchedule
}

// NewMachine returns a machine in Initialize for cfg. Errors wrap
// ErrInvalidConfig.
func NewMachine(cfg Config) (*Machine, error) {
	c, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	m := &Machine{
		cfg:            c,
		prio:           c.Priority,
		masterAdverInt: c.AdvertInterval,
		garp:           NewGARPSchedule(c.GARP),
	}
	m.vips = make([]netip.Addr, len(c.VIPs))
	for i, p := range c.VIPs {
		m.vips[i] = p.Addr()
	}
	if c.AuthType == AuthPass {
		copy(m.auth[:], c.AuthPass)
	}
	return m, nil
}

// Config returns the configuration with defaults applied.
func (m *Machine) Config() Config {
	c := m.cfg
	c.VIPs = slices.Clone(c.VIPs)
	return c
}

// State returns the current state.
func (m *Machine) State() State { return m.state }

// Priority returns the effective priority.
func (m *Machine) Priority() uint8 { return m.prio }

// Faulted reports whether a fault reported by EventFault is still active.
// In a Group, a member can be in Fault because another member faulted.
func (m *Machine) Faulted() bool { return m.faulted }

// MasterAdverInterval returns Master_Adver_Interval: in Backup, the
// interval of the master as learned from its adverts (VRRPv3) or the
// configured one (VRRPv2).
func (m *Machine) MasterAdverInterval() time.Duration { return m.masterAdverInt }

// MasterAddr returns the address and priority of the last master whose
// advert this instance accepted in Backup; the zero Addr if none.
func (m *Machine) MasterAddr() (netip.Addr, uint8) { return m.masterAddr, m.masterPrio }

// NextDeadline returns when the caller must deliver the next EventTimer:
// the Adver_Timer or next gratuitous ARPs in Master, the
// Master_Down_Timer in Backup. It is the zero Time in Initialize and
// Fault, which have no timers.
func (m *Machine) NextDeadline() time.Time {
	switch m.state {
	case Master:
		d := m.adverAt
		if g := m.garp.NextDeadline(); !g.IsZero() && g.Before(d) {
			d = g
		}
		return d
	case Backup:
		return m.downAt
	}
	return time.Time{}
}

// Advert returns the advertisement this instance sends with the given
// priority: Priority() normally, PriorityStop on shutdown, as
// ActionSendAdvert says. Its Addrs are shared with the machine and must
// not be modified.
func (m *Machine) Advert(priority uint8) Advert {
	a := Advert{
		Version:  uint8(m.cfg.Version),
		VRID:     m.cfg.VRID,
		Priority: priority,
		Interval: m.cfg.AdvertInterval,
		AuthType: m.cfg.AuthType,
		Addrs:    m.vips,
	}
	if m.cfg.AuthType == AuthPass {
		a.AuthData = m.auth
	}
	return a
}

// Step advances the machine by one event, appends the actions to carry
// out to acts and returns the extended slice. Passing acts[:0] of a
// reused slice makes Step allocation-free.
//
// An EventAdvert that fails the checks of RFC 5798 §7.1 is dropped with
// one of ErrVersionMismatch, ErrVRIDMismatch, ErrOwnAddress,
// ErrAddressOwner, ErrAuthType, ErrAuthFailed, ErrIntervalMismatch,
// ErrAddrMismatch or ErrInterval, and an ill-formed event with
// ErrInvalidEvent; acts is then returned unchanged. An advert that passes
// the checks but that the protocol discards (a lower-priority advert
// heard by a preempting backup) is not an error.
func (m *Machine) Step(ev Event, acts []Action) ([]Action, error) {
	switch ev.Kind {
	case EventStartup:
		if m.state == Initialize {
			acts = m.start(ev.Now, acts, true)
		}
	case EventShutdown:
		acts = m.shutdown(acts)
	case EventAdvert:
		return m.receive(ev, acts)
	case EventTimer:
		acts = m.timer(ev.Now, acts)
	case EventFault:
		m.faulted = true
		acts = m.enterFault(acts)
	case EventFaultCleared:
		m.faulted = false
		if m.state == Fault {
			acts = m.start(ev.Now, acts, false)
		}
	case EventPriority:
		m.setPriority(ev.Priority)
	default:
		return acts, ErrInvalidEvent
	}
	return acts, nil
}

func transition(acts []Action, from, to State) []Action {
	return append(acts, Action{Kind: ActionTransition, From: from, To: to})
}

// start leaves Initialize (startup) or Fault (fault cleared) as
// RFC 5798 §6.4.1 prescribes for Startup.
func (m *Machine) start(now time.Time, acts []Action, startup bool) []Action {
	if m.faulted {
		if m.state == Fault {
			return acts
		}
		from := m.state
		m.state = Fault
		m.clearTimers()
		return transition(acts, from, Fault)
	}
	if m.prio == PriorityOwner {
		return m.becomeMaster(now, acts)
	}
	m.masterAdverInt = m.cfg.AdvertInterval
	return m.becomeBackup(now, acts, startup && m.cfg.StateMaster)
}

func (m *Machine) clearTimers() {
	m.adverAt, m.downAt, m.preemptAt = time.Time{}, time.Time{}, time.Time{}
}

// becomeMaster enters Master: RFC 5798 §6.4.1 for the owner at startup,
// §6.4.2 when the Master_Down_Timer fires.
func (m *Machine) becomeMaster(now time.Time, acts []Action) []Action {
	from := m.state
	m.state = Master
	m.clearTimers()
	m.masterAdverInt = m.cfg.AdvertInterval
	m.adverAt = now.Add(m.cfg.AdvertInterval)
	acts = append(acts,
		Action{Kind: ActionAddVIPs},
		Action{Kind: ActionSendAdvert, Priority: m.prio})
	if n := m.garp.Start(now); n > 0 {
		acts = append(acts, Action{Kind: ActionSendGARP, Count: n})
	}
	return transition(acts, from, Master)
}

// becomeBackup enters Backup with a fresh Master_Down_Timer computed from
// the current Master_Adver_Interval, which the caller has set. quick is
// keepalived's "state MASTER" start.
func (m *Machine) becomeBackup(now time.Time, acts []Action, quick bool) []Action {
	from := m.state
	if from == Master {
		m.garp.Stop()
		acts = append(acts, Action{Kind: ActionRemoveVIPs})
	}
	m.state = Backup
	m.clearTimers()
	d := m.masterDownInterval()
	if quick {
		d = m.masterAdverInt + skew(m.cfg.Version, 1, m.masterAdverInt)
	}
	m.downAt = now.Add(d)
	return transition(acts, from, Backup)
}

func (m *Machine) masterDownInterval() time.Duration {
	return masterDown(m.cfg.Version, m.cfg.DownTimerAdverts, m.prio, m.masterAdverInt)
}

// shutdown handles EventShutdown (RFC 5798 §6.4.2, §6.4.3).
func (m *Machine) shutdown(acts []Action) []Action {
	from := m.state
	switch from {
	case Initialize:
		return acts
	case Master:
		m.garp.Stop()
		acts = append(acts,
			Action{Kind: ActionSendAdvert, Priority: PriorityStop},
			Action{Kind: ActionRemoveVIPs})
	}
	m.state = Initialize
	m.clearTimers()
	return transition(acts, from, Initialize)
}

// enterFault moves a Backup or Master to Fault; a master says so with
// priority 0 first, as keepalived does.
func (m *Machine) enterFault(acts []Action) []Action {
	from := m.state
	switch from {
	case Initialize, Fault:
		return acts
	case Master:
		m.garp.Stop()
		acts = append(acts,
			Action{Kind: ActionSendAdvert, Priority: PriorityStop},
			Action{Kind: ActionRemoveVIPs})
	}
	m.state = Fault
	m.clearTimers()
	return transition(acts, from, Fault)
}

// timer handles EventTimer.
func (m *Machine) timer(now time.Time, acts []Action) []Action {
	switch m.state {
	case Master:
		// Adver_Timer fired: send and rearm (RFC 5798 §6.4.3).
		if !now.Before(m.adverAt) {
			acts = append(acts, Action{Kind: ActionSendAdvert, Priority: m.prio})
			m.adverAt = now.Add(m.cfg.AdvertInterval)
		}
		if n := m.garp.Due(now); n > 0 {
			acts = append(acts, Action{Kind: ActionSendGARP, Count: n})
		}
	case Backup:
		// Master_Down_Timer fired (RFC 5798 §6.4.2).
		if !now.Before(m.downAt) {
			acts = m.becomeMaster(now, acts)
		}
	}
	return acts
}

// receive handles EventAdvert.
func (m *Machine) receive(ev Event, acts []Action) ([]Action, error) {
	a := ev.Advert
	if a == nil || !ev.From.Is4() {
		return acts, ErrInvalidEvent
	}
	if m.state != Backup && m.state != Master {
		return acts, nil
	}
	if err := m.check(a, ev.From); err != nil {
		return acts, err
	}
	if m.state == Backup {
		m.backupReceive(ev.Now, a, ev.From)
		return acts, nil
	}
	return m.masterReceive(ev.Now, a, ev.From, acts), nil
}

// check applies the receive checks of RFC 5798 §7.1 and RFC 3768 §7.1
// that depend on the configuration. Parse has done the others.
func (m *Machine) check(a *Advert, from netip.Addr) error {
	switch {
	case int(a.Version) != m.cfg.Version:
		return ErrVersionMismatch
	case a.VRID != m.cfg.VRID:
		return ErrVRIDMismatch
	case from == m.cfg.PrimaryAddr:
		return ErrOwnAddress
	case m.cfg.Priority == PriorityOwner:
		return ErrAddressOwner
	case a.Interval <= 0:
		return ErrInterval
	}
	if m.cfg.Version == 2 {
		switch {
		case a.AuthType != m.cfg.AuthType:
			return ErrAuthType
		case a.AuthType == AuthPass && a.AuthData != m.auth:
			return ErrAuthFailed
		case a.Interval != m.cfg.AdvertInterval:
			return ErrIntervalMismatch
		}
	}
	if !m.cfg.SkipCheckAdvertAddrs && a.Priority != PriorityOwner && !m.sameVIPs(a.Addrs) {
		return ErrAddrMismatch
	}
	return nil
}

// sameVIPs reports whether addrs hold exactly the configured addresses,
// in any order.
func (m *Machine) sameVIPs(addrs []netip.Addr) bool {
	if len(addrs) != len(m.vips) {
		return false
	}
	for _, v := range m.vips {
		if !slices.Contains(addrs, v) {
			return false
		}
	}
	return true
}

// backupReceive is RFC 5798 §6.4.2 "If an ADVERTISEMENT is received",
// with keepalived's preempt_delay.
func (m *Machine) backupReceive(now time.Time, a *Advert, from netip.Addr) {
	if a.Priority == PriorityStop {
		m.downAt = now.Add(SkewTime(m.cfg.Version, m.prio, m.masterAdverInt))
		return
	}
	delaying := m.cfg.PreemptDelay > 0 && (m.preemptAt.IsZero() || now.Before(m.preemptAt))
	if !m.cfg.NoPreempt && a.Priority < m.prio && !delaying {
		// Preempting: discard, and let the Master_Down_Timer run out.
		return
	}
	if m.cfg.Version == 3 {
		m.masterAdverInt = a.Interval
	}
	m.downAt = now.Add(m.masterDownInterval())
	m.masterAddr, m.masterPrio = from, a.Priority
	if m.cfg.PreemptDelay > 0 {
		if a.Priority >= m.prio {
			m.preemptAt = time.Time{}
		} else if m.preemptAt.IsZero() {
			m.preemptAt = now.Add(m.cfg.PreemptDelay)
		}
	}
}

// masterReceive is RFC 5798 §6.4.3 "If an ADVERTISEMENT is received",
// with keepalived's answer to a lower-priority advert.
func (m *Machine) masterReceive(now time.Time, a *Advert, from netip.Addr, acts []Action) []Action {
	if a.Priority == PriorityStop {
		m.adverAt = now.Add(m.cfg.AdvertInterval)
		return append(acts, Action{Kind: ActionSendAdvert, Priority: m.prio})
	}
	if a.Priority > m.prio || (a.Priority == m.prio && from.Compare(m.cfg.PrimaryAddr) > 0) {
		if m.cfg.Version == 3 {
			m.masterAdverInt = a.Interval
		} else {
			m.masterAdverInt = m.cfg.AdvertInterval
		}
		m.masterAddr, m.masterPrio = from, a.Priority
		return m.becomeBackup(now, acts, false)
	}
	// A lower priority, or the same from a lower address.
	if !m.cfg.LowerPrioNoAdvert {
		acts = append(acts, Action{Kind: ActionSendAdvert, Priority: m.prio})
	}
	if n := m.garp.LowerPriority(now); n > 0 {
		acts = append(acts, Action{Kind: ActionSendGARP, Count: n})
	}
	return acts
}

func (m *Machine) setPriority(p uint8) {
	if m.cfg.Priority == PriorityOwner {
		return
	}
	m.prio = min(max(p, 1), PriorityOwner-1)
}

// stepDown moves a Master to Backup for its sync group: no advert caused
// it, so Master_Adver_Interval is the configured interval.
func (m *Machine) stepDown(now time.Time, acts []Action) []Action {
	if m.state != Master {
		return acts
	}
	m.masterAdverInt = m.cfg.AdvertInterval
	return m.becomeBackup(now, acts, false)
}

// takeOver moves a Backup to Master for its sync group.
func (m *Machine) takeOver(now time.Time, acts []Action) []Action {
	if m.state != Backup {
		return acts
	}
	return m.becomeMaster(now, acts)
}
