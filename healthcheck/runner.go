package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Clock is the Runner's source of time, so that tests can drive it.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine after d, unless the timer is
	// stopped first.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a timer made by Clock.AfterFunc.
type Timer interface {
	// Stop prevents the timer from firing; it reports whether it did.
	Stop() bool
}

// SystemClock is the Clock of the time package.
var SystemClock Clock = systemClock{}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// DefaultMaxConcurrent is used when RunnerConfig.MaxConcurrent is zero.
const DefaultMaxConcurrent = 32

// Runner errors.
var (
	ErrDuplicateCheck = errors.New("duplicate check ID")
	ErrRunnerStopped  = errors.New("runner stopped")
	ErrRunnerRunning  = errors.New("runner already running")
)

// Job is one checker for the Runner to run.
type Job struct {
	// ID names the job; it is unique within a Runner.
	ID CheckID
	// Checker makes the checks. The Runner never runs two checks of
	// the same job at once.
	Checker Checker
	// Policy says when checks run and when failures count.
	Policy Policy
}

// Change reports that a check's state changed: it went up or down, or its
// dynamic weight changed.
type Change struct {
	// ID is the job whose state changed.
	ID CheckID
	// Time is when the check that caused the change ended, by the
	// Runner's clock.
	Time time.Time
	// Prev and State are the check's state before and after.
	Prev, State State
	// Err is the failure that brought the check down; nil otherwise.
	Err error
}

// RunnerConfig configures a Runner.
type RunnerConfig struct {
	// Clock schedules the checks; nil means SystemClock. Checkers use
	// real time for their own I/O timeouts whatever the Clock.
	Clock Clock
	// MaxConcurrent bounds the checks running at once; zero means
	// DefaultMaxConcurrent. Checks that come due while the bound is
	// reached wait, in the order they came due.
	MaxConcurrent int
	// OnChange receives every Change, in the order the changes happened,
	// from a single goroutine: calls never overlap, and none happens
	// after Run returns. It may call the Runner's methods. A slow OnChange
	// delays later OnChange calls, never checks.
	OnChange func(Change)
	// Logger receives state changes at Info level, and failures of up
	// checks whose Policy has LogAllFailures; nil discards them.
	Logger *slog.Logger
}

// Runner runs checks, each on its own schedule, and reports the changes
// of their states.
//
// Each check runs in its own goroutine, so a slow or hung server delays
// only its own checks (up to its timeout), provided fewer than
// MaxConcurrent checks hang at once. The next check of a job is scheduled
// when its previous one ends, per its Policy; the first is spread over
// the warmup window (Policy.FirstDelay).
//
// All methods are safe for concurrent use.
type Runner struct {
	clock    Clock
	onChange func(Change)
	log      *slog.Logger
	sem      chan struct{}
	wake     chan struct{} // a job came due
	notify   chan struct{} // a change was recorded

	mu        sync.Mutex
	jobs      map[CheckID]*job
	queue     []*job // came due, not yet started
	suspended map[string]bool
	events    []Change // not yet delivered
	running   bool
	stopped   bool
}

// job is a Job with its live state; guarded by Runner.mu.
type job struct {
	Job
	state   State
	timer   Timer              // next check; nil while due or running
	cancel  context.CancelFunc // of the running check; nil when none
	removed bool
}

// NewRunner returns a Runner with no jobs. Nothing runs before Run.
func NewRunner(cfg RunnerConfig) *Runner {
	r := &Runner{
		clock:     cfg.Clock,
		onChange:  cfg.OnChange,
		log:       cfg.Logger,
		wake:      make(chan struct{}, 1),
		notify:    make(chan struct{}, 1),
		jobs:      make(map[CheckID]*job),
		suspended: make(map[string]bool),
	}
	if r.clock == nil {
		r.clock = SystemClock
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	n := cfg.MaxConcurrent
	if n <= 0 {
		n = DefaultMaxConcurrent
	}
	r.sem = make(chan struct{}, n)
	return r
}

// Add schedules a job's first check after j.Policy.FirstDelay(j.ID). Its
// state starts at j.Policy.Initial(); no Change reports that. Jobs may be
// added before or while Run runs. Add returns ErrDuplicateCheck if a job
// with the same ID is present, ErrRunnerStopped once Run has returned,
// and an error wrapping ErrInvalidConfig for a bad job.
func (r *Runner) Add(j Job) error {
	if j.Checker == nil {
		return fmt.Errorf("check %s: %w: no checker", j.ID, ErrInvalidConfig)
	}
	if err := j.Policy.Validate(); err != nil {
		return fmt.Errorf("check %s: %w", j.ID, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return ErrRunnerStopped
	}
	if _, ok := r.jobs[j.ID]; ok {
		return fmt.Errorf("check %s: %w", j.ID, ErrDuplicateCheck)
	}
	jb := &job{Job: j, state: j.Policy.Initial()}
	r.jobs[j.ID] = jb
	r.scheduleLocked(jb, j.Policy.FirstDelay(j.ID))
	return nil
}

// Remove removes a job and cancels its running check, if any; its result
// is discarded. It reports whether the job was present.
func (r *Runner) Remove(id CheckID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	jb, ok := r.jobs[id]
	if !ok {
		return false
	}
	delete(r.jobs, id)
	jb.removed = true
	if jb.timer != nil {
		jb.timer.Stop()
		jb.timer = nil
	}
	if jb.cancel != nil {
		jb.cancel()
	}
	return true
}

// Suspend suspends or resumes the checks of a virtual service
// (keepalived's ha_suspend, for while this director does not hold the
// virtual address). A suspended check that comes due is not run, and is
// due again after its DelayLoop; states are kept.
func (r *Runner) Suspend(service string, suspended bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if suspended {
		r.suspended[service] = true
	} else {
		delete(r.suspended, service)
	}
}

// Status returns a job's current state.
func (r *Runner) Status(id CheckID) (State, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	jb, ok := r.jobs[id]
	if !ok {
		return State{}, false
	}
	return jb.state, true
}

// Run runs the checks until ctx is done, then cancels the running checks,
// waits for them, delivers the remaining changes and returns nil. Results
// of checks cut short by the end of Run are discarded. A Runner runs once:
// Run returns ErrRunnerRunning while it runs and ErrRunnerStopped after.
func (r *Runner) Run(ctx context.Context) error {
	r.mu.Lock()
	switch {
	case r.stopped:
		r.mu.Unlock()
		return ErrRunnerStopped
	case r.running:
		r.mu.Unlock()
		return ErrRunnerRunning
	}
	r.running = true
	r.mu.Unlock()

	quit, delivered := make(chan struct{}), make(chan struct{})
	go r.deliver(quit, delivered)

	var checks sync.WaitGroup
	for ctx.Err() == nil {
		r.mu.Lock()
		due := r.queue
		r.queue = nil
		r.mu.Unlock()
		for _, jb := range due {
			if !r.start(ctx, jb, &checks) {
				break
			}
		}
		select {
		case <-r.wake:
		case <-ctx.Done():
		}
	}

	r.mu.Lock()
	r.stopped = true
	for _, jb := range r.jobs {
		if jb.timer != nil {
			jb.timer.Stop()
			jb.timer = nil
		}
	}
	r.queue = nil
	r.mu.Unlock()
	checks.Wait()
	close(quit)
	<-delivered
	return nil
}

// scheduleLocked arms jb's next check after d.
func (r *Runner) scheduleLocked(jb *job, d time.Duration) {
	if r.stopped || jb.removed {
		return
	}
	jb.timer = r.clock.AfterFunc(d, func() { r.due(jb) })
}

// due queues jb for Run's loop; called by jb's timer.
func (r *Runner) due(jb *job) {
	r.mu.Lock()
	if jb.removed || r.stopped {
		r.mu.Unlock()
		return
	}
	jb.timer = nil
	r.queue = append(r.queue, jb)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// start runs jb's check in a goroutine once a slot is free. It returns
// false when ctx ended while waiting.
func (r *Runner) start(ctx context.Context, jb *job, checks *sync.WaitGroup) bool {
	r.mu.Lock()
	if jb.removed {
		r.mu.Unlock()
		return true
	}
	if r.suspended[jb.ID.Service] {
		r.scheduleLocked(jb, jb.Policy.delayLoop())
		r.mu.Unlock()
		return true
	}
	r.mu.Unlock()

	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		return false
	}
	r.mu.Lock()
	if jb.removed {
		r.mu.Unlock()
		<-r.sem
		return true
	}
	cctx, cancel := context.WithCancel(ctx)
	jb.cancel = cancel
	r.mu.Unlock()
	checks.Go(func() {
		defer func() { <-r.sem }()
		defer cancel()
		r.check(cctx, jb)
	})
	return true
}

// check runs one check of jb and applies its result.
func (r *Runner) check(ctx context.Context, jb *job) {
	res := safeCheck(ctx, jb.Checker)
	now := r.clock.Now()

	r.mu.Lock()
	jb.cancel = nil
	if jb.removed || r.stopped || ctx.Err() != nil {
		r.mu.Unlock()
		return
	}
	prev := jb.state
	next, delay := jb.Policy.Step(prev, res)
	jb.state = next
	r.scheduleLocked(jb, delay)
	ch := changed(prev, next)
	if ch {
		c := Change{ID: jb.ID, Time: now, Prev: prev, State: next}
		if !next.Up {
			c.Err = res.Err
		}
		r.events = append(r.events, c)
	}
	r.mu.Unlock()

	if ch {
		select {
		case r.notify <- struct{}{}:
		default:
		}
	}
	r.logResult(jb, prev, next, res)
}

func (r *Runner) logResult(jb *job, prev, next State, res Result) {
	id := slog.String("check", jb.ID.String())
	switch {
	case prev.Up != next.Up && next.Up:
		r.log.Info("health check up", id)
	case prev.Up != next.Up:
		r.log.Info("health check down", id, slog.Any("err", res.Err))
	case !res.Healthy && prev.Up && jb.Policy.LogAllFailures:
		r.log.Info("health check failed", id, slog.Int("retry", next.Retries), slog.Int("of", jb.Policy.Retry), slog.Any("err", res.Err))
	}
	if next.HasWeight && (!prev.HasWeight || prev.Weight != next.Weight) {
		r.log.Info("health check weight", id, slog.Int("weight", next.Weight))
	}
}

// safeCheck runs c, turning a panic into a failed result.
func safeCheck(ctx context.Context, c Checker) (res Result) {
	defer func() {
		if p := recover(); p != nil {
			res = fail(fmt.Errorf("checker panicked: %v", p))
		}
	}()
	res = c.Check(ctx)
	if !res.Healthy && res.Err == nil {
		res.Err = errors.New("check failed")
	}
	return res
}

// deliver calls OnChange for the recorded changes, in order, until quit is
// closed and the last are delivered.
func (r *Runner) deliver(quit <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	for {
		r.mu.Lock()
		evs := r.events
		r.events = nil
		r.mu.Unlock()
		for _, e := range evs {
			if r.onChange != nil {
				r.onChange(e)
			}
		}
		if len(evs) > 0 {
			continue
		}
		select {
		case <-r.notify:
		case <-quit:
			r.mu.Lock()
			evs = r.events
			r.events = nil
			r.mu.Unlock()
			for _, e := range evs {
				if r.onChange != nil {
					r.onChange(e)
				}
			}
			return
		}
	}
}
