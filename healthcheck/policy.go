package healthcheck

import (
	"fmt"
	"hash/fnv"
	"time"
)

// Policy holds the keywords that say when a checker runs and when its
// failures count. Its methods are pure: the same inputs always give the
// same outputs, so they are tested without a clock.
type Policy struct {
	// DelayLoop is delay_loop: the time from the end of one check to the
	// start of the next. Zero means DefaultDelayLoop.
	DelayLoop time.Duration
	// Retry is retry (formerly nb_get_retry): how many more checks a
	// failure of an up checker gets before the checker is declared down.
	// 0 declares it down at the first failure. keepalived's default
	// depends on the checker type; see DefaultPolicy.
	Retry int
	// DelayBeforeRetry is delay_before_retry: the delay before such a
	// further check. Zero means DefaultDelayBeforeRetry; a negative value
	// means DelayLoop (keepalived's default for DNS_CHECK).
	DelayBeforeRetry time.Duration
	// Warmup is warmup: the first check runs at an offset within
	// [0, Warmup), spreading checks that start together. The offset is
	// derived from the check's ID, so it is the same on every run and
	// differs between checks. Zero means DelayLoop, keepalived's default;
	// a negative value (keepalived's "warmup 0") starts at once.
	Warmup time.Duration
	// Alpha is alpha: the checker starts down and needs one success to
	// come up. Without it the checker starts up.
	Alpha bool
	// LogAllFailures is log_all_failures: the Runner logs every failed
	// check of an up checker, not only the changes of state.
	LogAllFailures bool
}

// DefaultPolicy returns keepalived's defaults for a checker type: retry 1
// (3 for DNS_CHECK, 0 for MISC_CHECK), delay_before_retry 1s (3s for
// HTTP_GET and SSL_GET, the delay_loop for DNS_CHECK), delay_loop 60s and
// warmup up to the delay_loop.
func DefaultPolicy(k Kind) Policy {
	p := Policy{DelayLoop: DefaultDelayLoop, Retry: 1, DelayBeforeRetry: DefaultDelayBeforeRetry}
	switch k {
	case KindHTTP, KindSSL:
		p.DelayBeforeRetry = 3 * time.Second
	case KindDNS:
		p.Retry = 3
		p.DelayBeforeRetry = -1
	case KindMisc:
		p.Retry = 0
	}
	return p
}

// Validate reports a policy no checker can follow. Its errors wrap
// ErrInvalidConfig.
func (p Policy) Validate() error {
	switch {
	case p.DelayLoop < 0:
		return fmt.Errorf("%w: negative delay_loop %v", ErrInvalidConfig, p.DelayLoop)
	case p.Retry < 0:
		return fmt.Errorf("%w: negative retry %d", ErrInvalidConfig, p.Retry)
	}
	return nil
}

func (p Policy) delayLoop() time.Duration {
	if p.DelayLoop <= 0 {
		return DefaultDelayLoop
	}
	return p.DelayLoop
}

func (p Policy) delayBeforeRetry() time.Duration {
	switch {
	case p.DelayBeforeRetry < 0:
		return p.delayLoop()
	case p.DelayBeforeRetry == 0:
		return DefaultDelayBeforeRetry
	}
	return p.DelayBeforeRetry
}

// State is one checker's state as Policy.Step advances it. The zero value
// is a checker that is down and has not run; start from Policy.Initial.
type State struct {
	// Up is the checker's verdict on the server.
	Up bool
	// Ran reports that at least one check has completed.
	Ran bool
	// Retries counts the failures of an up checker that have not yet
	// brought it down.
	Retries int
	// Weight is the last dynamic weight a healthy check reported
	// (MISC_CHECK with misc_dynamic); meaningful when HasWeight is set.
	Weight    int
	HasWeight bool
}

// Initial returns a checker's state before its first check: down under
// alpha, up otherwise.
func (p Policy) Initial() State { return State{Up: !p.Alpha} }

// Step returns the state after a check with result r, and the delay until
// the next check. It follows keepalived:
//
//   - A success brings the checker up (at once, even under alpha), clears
//     the retries and records a dynamic weight; next check after
//     DelayLoop.
//   - A failure of an up checker with retries left counts one and checks
//     again after DelayBeforeRetry; with none left it brings the checker
//     down; next check after DelayLoop.
//   - A failure of a down checker changes nothing; next check after
//     DelayLoop.
func (p Policy) Step(s State, r Result) (State, time.Duration) {
	s.Ran = true
	switch {
	case r.Healthy:
		s.Up, s.Retries = true, 0
		if r.HasWeight {
			s.Weight, s.HasWeight = r.Weight, true
		}
	case !s.Up:
		s.Retries = 0
	case s.Retries < p.Retry:
		s.Retries++
		return s, p.delayBeforeRetry()
	default:
		s.Up, s.Retries = false, 0
	}
	return s, p.delayLoop()
}

// changed reports whether b differs from a in what a Pool acts on: up or
// down, and the dynamic weight.
func changed(a, b State) bool {
	return a.Up != b.Up || a.HasWeight != b.HasWeight || a.Weight != b.Weight
}

// FirstDelay returns the delay before the first check with ID id: an
// offset within the warmup window (see Warmup) derived from a hash of id.
func (p Policy) FirstDelay(id CheckID) time.Duration {
	window := p.Warmup
	switch {
	case window < 0:
		return 0
	case window == 0:
		window = p.delayLoop()
	}
	h := fnv.New64a()
	h.Write([]byte(id.String()))
	return time.Duration(h.Sum64() % uint64(window))
}

// CheckID names one checker: the virtual service, the real server within
// it, and the checker's position among the server's checkers.
type CheckID struct {
	// Service is ServiceSpec.Name.
	Service string
	// Server is ServerSpec.Name.
	Server string
	// Index is the position in ServerSpec.Checks.
	Index int
}

// String returns "service/server/index".
func (id CheckID) String() string { return fmt.Sprintf("%s/%s/%d", id.Service, id.Server, id.Index) }
