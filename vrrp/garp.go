package vrrp

import "time"

// Defaults of GARPConfig, those of keepalived.
const (
	// DefaultGARPMasterDelay is vrrp_garp_master_delay: the delay of the
	// second burst of gratuitous ARPs after becoming master.
	DefaultGARPMasterDelay = 5 * time.Second
	// DefaultGARPMasterRepeat is vrrp_garp_master_repeat: the gratuitous
	// ARPs sent for each virtual address in one burst.
	DefaultGARPMasterRepeat = 5
	// DefaultGARPMasterRefreshRepeat is vrrp_garp_master_refresh_repeat:
	// the gratuitous ARPs for each address in one refresh.
	DefaultGARPMasterRefreshRepeat = 1
)

// GARPConfig is keepalived's gratuitous ARP timing for a master. A zero
// field takes keepalived's default; a negative one turns that part off
// (keepalived's 0).
type GARPConfig struct {
	// MasterDelay is vrrp_garp_master_delay / garp_master_delay: after
	// the burst sent on becoming master, another burst follows after this
	// delay. Default DefaultGARPMasterDelay.
	MasterDelay time.Duration
	// MasterRepeat is vrrp_garp_master_repeat / garp_master_repeat: the
	// gratuitous ARPs for each virtual address in a burst. Default
	// DefaultGARPMasterRepeat.
	MasterRepeat int
	// MasterRefresh is vrrp_garp_master_refresh / garp_master_refresh:
	// while master, a refresh is sent this often. Default off.
	MasterRefresh time.Duration
	// MasterRefreshRepeat is vrrp_garp_master_refresh_repeat: the
	// gratuitous ARPs for each address in a refresh. Default
	// DefaultGARPMasterRefreshRepeat.
	MasterRefreshRepeat int
	// LowerPrioDelay is vrrp_garp_lower_prio_delay: the delay of the
	// second burst after a master hears a lower-priority advertisement.
	// Default MasterDelay.
	LowerPrioDelay time.Duration
	// LowerPrioRepeat is vrrp_garp_lower_prio_repeat: the gratuitous ARPs
	// for each address in each burst after a master hears a
	// lower-priority advertisement. Default MasterRepeat.
	LowerPrioRepeat int
}

// normalize resolves defaults: afterwards 0 means off.
func (c GARPConfig) normalize() GARPConfig {
	dur := func(v, def time.Duration) time.Duration {
		switch {
		case v < 0:
			return 0
		case v == 0:
			return def
		}
		return v
	}
	num := func(v, def int) int {
		switch {
		case v < 0:
			return 0
		case v == 0:
			return def
		}
		return v
	}
	var n GARPConfig
	n.MasterDelay = dur(c.MasterDelay, DefaultGARPMasterDelay)
	n.MasterRepeat = num(c.MasterRepeat, DefaultGARPMasterRepeat)
	n.MasterRefresh = dur(c.MasterRefresh, 0)
	n.MasterRefreshRepeat = num(c.MasterRefreshRepeat, DefaultGARPMasterRefreshRepeat)
	n.LowerPrioDelay = dur(c.LowerPrioDelay, n.MasterDelay)
	n.LowerPrioRepeat = num(c.LowerPrioRepeat, n.MasterRepeat)
	return n
}

// GARPSchedule says when a master is due to send gratuitous ARPs, as
// keepalived schedules them:
//
//   - on becoming master, MasterRepeat for each virtual address at once,
//     and MasterRepeat more after MasterDelay;
//   - every MasterRefresh while master, MasterRefreshRepeat;
//   - on hearing a lower-priority advertisement while master,
//     LowerPrioRepeat at once and LowerPrioRepeat more after
//     LowerPrioDelay.
//
// Counts are per virtual address: a count of 5 means five gratuitous ARPs
// for each address. The schedule is a value with no clock of its own;
// Machine keeps one and turns it into ActionSendGARP, so most users need
// not use it directly. The zero value is stopped and uses the defaults of
// a zero GARPConfig once started.
type GARPSchedule struct {
	cfg        GARPConfig // normalized
	configured bool
	active     bool
	second     time.Time // second burst after becoming master; zero if none
	lower      time.Time // second burst after a lower-priority advert
	refresh    time.Time // next refresh
}

// NewGARPSchedule returns a stopped schedule with the timing of cfg.
func NewGARPSchedule(cfg GARPConfig) GARPSchedule {
	return GARPSchedule{cfg: cfg.normalize(), configured: true}
}

func (s *GARPSchedule) init() {
	if !s.configured {
		s.cfg = GARPConfig{}.normalize()
		s.configured = true
	}
}

// Start records that the router became master at now and returns the
// number of gratuitous ARPs to send for each address at once.
func (s *GARPSchedule) Start(now time.Time) int {
	s.init()
	s.active = true
	s.second, s.lower, s.refresh = time.Time{}, time.Time{}, time.Time{}
	if s.cfg.MasterDelay > 0 && s.cfg.MasterRepeat > 0 {
		s.second = now.Add(s.cfg.MasterDelay)
	}
	if s.cfg.MasterRefresh > 0 && s.cfg.MasterRefreshRepeat > 0 {
		s.refresh = now.Add(s.cfg.MasterRefresh)
	}
	return s.cfg.MasterRepeat
}

// LowerPriority records that the master heard a lower-priority
// advertisement at now and returns the number of gratuitous ARPs to send
// for each address at once. A stopped schedule returns 0.
func (s *GARPSchedule) LowerPriority(now time.Time) int {
	if !s.active {
		return 0
	}
	if s.cfg.LowerPrioDelay > 0 && s.cfg.LowerPrioRepeat > 0 {
		s.lower = now.Add(s.cfg.LowerPrioDelay)
	}
	return s.cfg.LowerPrioRepeat
}

// Stop records that the router is no longer master.
func (s *GARPSchedule) Stop() {
	s.active = false
	s.second, s.lower, s.refresh = time.Time{}, time.Time{}, time.Time{}
}

// Active reports whether the schedule is started.
func (s *GARPSchedule) Active() bool { return s.active }

// Due returns the number of gratuitous ARPs for each address that are due
// at now, and takes them off the schedule. It returns 0 when nothing is
// due.
func (s *GARPSchedule) Due(now time.Time) int {
	if !s.active {
		return 0
	}
	n := 0
	if !s.second.IsZero() && !now.Before(s.second) {
		n += s.cfg.MasterRepeat
		s.second = time.Time{}
	}
	if !s.lower.IsZero() && !now.Before(s.lower) {
		n += s.cfg.LowerPrioRepeat
		s.lower = time.Time{}
	}
	if !s.refresh.IsZero() && !now.Before(s.refresh) {
		n += s.cfg.MasterRefreshRepeat
		s.refresh = now.Add(s.cfg.MasterRefresh)
	}
	return n
}

// NextDeadline returns when the next gratuitous ARPs are due, or the zero
// Time if none are scheduled.
func (s *GARPSchedule) NextDeadline() time.Time {
	var d time.Time
	if !s.active {
		return d
	}
	for _, t := range [...]time.Time{s.second, s.lower, s.refresh} {
		if !t.IsZero() && (d.IsZero() || t.Before(d)) {
			d = t
		}
	}
	return d
}
