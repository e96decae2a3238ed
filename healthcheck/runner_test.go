package healthcheck

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// harness is a Runner on a fake clock, running until the test ends.
type harness struct {
	t       *testing.T
	clk     *fakeClock
	r       *Runner
	changes chan Change
	stop    func() // stops Run and waits for it
}

func startRunner(t *testing.T, cfg RunnerConfig) *harness {
	t.Helper()
	noRunnerLeak(t)
	h := &harness{t: t, clk: newFakeClock(), changes: make(chan Change, 100)}
	cfg.Clock = h.clk
	cfg.OnChange = func(c Change) {
		h.r.Status(c.ID) // OnChange may call back into the Runner
		h.changes <- c
	}
	h.r = NewRunner(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.r.Run(ctx) }()
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(h.stop)
	return h
}

// advance moves the clock by d and waits until n more timers are armed,
// which happens when the checks that came due have finished.
func (h *harness) advance(d time.Duration, n int) {
	h.t.Helper()
	before := h.clk.Armed()
	h.clk.Advance(d)
	waitFor(h.t, "checks to finish and re-arm", func() bool { return h.clk.Armed() >= before+n })
}

func (h *harness) nextChange() Change {
	h.t.Helper()
	select {
	case c := <-h.changes:
		return c
	case <-time.After(5 * time.Second):
		h.t.Fatal("no change reported")
		return Change{}
	}
}

// noMoreChanges stops the Runner and checks that no change is left.
func (h *harness) noMoreChanges() {
	h.t.Helper()
	h.stop()
	select {
	case c := <-h.changes:
		h.t.Errorf("unexpected change %+v", c)
	default:
	}
}

// scripted returns results in order, repeating the last, and counts calls.
type scripted struct {
	mu      sync.Mutex
	results []Result
	calls   int
}

func newScripted(rs ...Result) *scripted { return &scripted{results: rs} }

func (s *scripted) Check(context.Context) Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.results[min(s.calls, len(s.results)-1)]
	s.calls++
	return r
}

func (s *scripted) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

var id1 = CheckID{Service: "TCP 198.18.0.100:80", Server: "198.18.1.11:80", Index: 0}

func TestRunnerRetry(t *testing.T) {
	var logs syncBuffer
	h := startRunner(t, RunnerConfig{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	sc := newScripted(bad, bad, bad, ok)
	p := Policy{DelayLoop: 10 * time.Second, Retry: 2, DelayBeforeRetry: time.Second, Warmup: -1, LogAllFailures: true}
	if err := h.r.Add(Job{ID: id1, Checker: sc, Policy: p}); err != nil {
		t.Fatal(err)
	}
	if s, _ := h.r.Status(id1); !s.Up || s.Ran {
		t.Fatalf("initial status %+v", s)
	}
	// The first check is due at once; each later one after the delay
	// the previous one armed.
	delay := time.Duration(0)
	for i, want := range []time.Duration{time.Second, time.Second, 10 * time.Second, 10 * time.Second} {
		h.advance(delay, 1)
		delays := h.clk.Delays()
		if got := delays[len(delays)-1]; got != want {
			t.Fatalf("after check %d the next is in %v, want %v (all: %v)", i+1, got, want, delays)
		}
		delay = want
	}
	if c := h.nextChange(); c.ID != id1 || c.State.Up || !c.Prev.Up || c.Err == nil || c.Time != h.clk.Now().Add(-10*time.Second) {
		t.Errorf("first change %+v, want down with an error at the third check", c)
	}
	if c := h.nextChange(); !c.State.Up || c.Err != nil {
		t.Errorf("second change %+v, want up", c)
	}
	if s, _ := h.r.Status(id1); !s.Up || !s.Ran || sc.Calls() != 4 {
		t.Errorf("status %+v after %d calls", s, sc.Calls())
	}
	h.noMoreChanges()
	out := logs.String()
	if n := strings.Count(out, "health check failed"); n != 2 {
		t.Errorf("logged %d failures of the up check, want 2:\n%s", n, out)
	}
	if !strings.Contains(out, "health check down") || !strings.Contains(out, "health check up") {
		t.Errorf("state changes not logged:\n%s", out)
	}
}

func TestRunnerAlphaAndWeight(t *testing.T) {
	h := startRunner(t, RunnerConfig{})
	sc := newScripted(bad, weighted(5), weighted(5), ok, weighted(8))
	h.r.Add(Job{ID: id1, Checker: sc, Policy: Policy{DelayLoop: time.Second, Warmup: -1, Alpha: true, Retry: 3}})
	if s, _ := h.r.Status(id1); s.Up {
		t.Fatal("alpha check starts up")
	}
	h.advance(0, 1)
	for range 4 {
		h.advance(time.Second, 1)
	}
	if c := h.nextChange(); c.Prev.Up || !c.State.Up || c.State.Weight != 5 || !c.State.HasWeight {
		t.Errorf("change %+v, want up with weight 5", c)
	}
	if c := h.nextChange(); !c.State.Up || c.State.Weight != 8 {
		t.Errorf("change %+v, want weight 8", c)
	}
	h.noMoreChanges()
}

func TestRunnerWarmupSpread(t *testing.T) {
	h := startRunner(t, RunnerConfig{})
	p := Policy{DelayLoop: time.Minute, Warmup: 10 * time.Second}
	var want []time.Duration
	for i := range 5 {
		id := CheckID{"svc", string(rune('a' + i)), 0}
		h.r.Add(Job{ID: id, Checker: newScripted(ok), Policy: p})
		want = append(want, p.FirstDelay(id))
	}
	got := h.clk.Delays()
	for i := range want {
		if got[i] != want[i] || got[i] >= 10*time.Second {
			t.Errorf("job %d first check after %v, want %v", i, got[i], want[i])
		}
	}
	if got[0] == got[1] && got[1] == got[2] {
		t.Errorf("first checks not spread: %v", got)
	}
}

// blocking is a checker that blocks until released or cancelled, counting
// how many run at once.
type blocking struct {
	release        chan struct{}
	running, peak  atomic.Int32
	started, ended atomic.Int32
}

func newBlocking() *blocking { return &blocking{release: make(chan struct{})} }

func (b *blocking) Check(ctx context.Context) Result {
	b.started.Add(1)
	n := b.running.Add(1)
	for {
		p := b.peak.Load()
		if n <= p || b.peak.CompareAndSwap(p, n) {
			break
		}
	}
	defer b.ended.Add(1)
	defer b.running.Add(-1)
	select {
	case <-b.release:
		return ok
	case <-ctx.Done():
		return bad
	}
}

func TestRunnerConcurrencyBound(t *testing.T) {
	h := startRunner(t, RunnerConfig{MaxConcurrent: 2})
	b := newBlocking()
	for i := range 6 {
		h.r.Add(Job{ID: CheckID{"svc", string(rune('a' + i)), 0}, Checker: b, Policy: Policy{DelayLoop: time.Hour, Warmup: -1}})
	}
	h.clk.Advance(0) // all six due
	waitFor(t, "two checks to run", func() bool { return b.running.Load() == 2 })
	time.Sleep(20 * time.Millisecond) // room for a third to start wrongly
	if n := b.started.Load(); n != 2 {
		t.Fatalf("%d checks started with MaxConcurrent 2", n)
	}
	close(b.release)
	waitFor(t, "all checks to finish", func() bool { return b.ended.Load() == 6 })
	if p := b.peak.Load(); p != 2 {
		t.Errorf("peak concurrency %d, want 2", p)
	}
}

// TestRunnerSlowServer checks that a server whose check hangs does not
// delay another's checks.
func TestRunnerSlowServer(t *testing.T) {
	h := startRunner(t, RunnerConfig{})
	hung := newBlocking()
	fast := newScripted(ok)
	p := Policy{DelayLoop: time.Second, Warmup: -1}
	h.r.Add(Job{ID: CheckID{"svc", "hung", 0}, Checker: hung, Policy: p})
	h.r.Add(Job{ID: CheckID{"svc", "fast", 0}, Checker: fast, Policy: p})
	h.advance(0, 1) // the fast one re-arms; the hung one never finishes
	for range 5 {
		h.advance(time.Second, 1)
	}
	if fast.Calls() != 6 || hung.started.Load() != 1 {
		t.Errorf("fast checked %d times, hung %d, while hung hangs", fast.Calls(), hung.started.Load())
	}
	h.noMoreChanges() // cancels the hung check; its result is discarded
	if hung.ended.Load() != 1 {
		t.Error("hung check not cancelled by the end of Run")
	}
}

func TestRunnerSuspend(t *testing.T) {
	h := startRunner(t, RunnerConfig{})
	sc := newScripted(ok)
	h.r.Add(Job{ID: id1, Checker: sc, Policy: Policy{DelayLoop: time.Second, Warmup: -1}})
	h.r.Suspend(id1.Service, true)
	h.r.Suspend("another service", false)
	h.advance(0, 1)
	h.advance(time.Second, 1)
	if sc.Calls() != 0 {
		t.Fatalf("suspended check ran %d times", sc.Calls())
	}
	if d := h.clk.Delays(); d[len(d)-1] != time.Second {
		t.Errorf("suspended check re-armed after %v, want the delay_loop", d[len(d)-1])
	}
	h.r.Suspend(id1.Service, false)
	h.advance(time.Second, 1)
	if sc.Calls() != 1 {
		t.Errorf("resumed check ran %d times, want 1", sc.Calls())
	}
}

func TestRunnerRemove(t *testing.T) {
	h := startRunner(t, RunnerConfig{})
	b := newBlocking()
	waiting := CheckID{"svc", "waiting", 0}
	h.r.Add(Job{ID: id1, Checker: b, Policy: Policy{DelayLoop: time.Second, Warmup: -1}})
	h.r.Add(Job{ID: waiting, Checker: newScripted(ok), Policy: Policy{DelayLoop: time.Hour, Warmup: time.Hour}})
	h.clk.Advance(0)
	waitFor(t, "the check to start", func() bool { return b.running.Load() == 1 })
	armed := h.clk.Armed()
	if !h.r.Remove(id1) || h.r.Remove(id1) {
		t.Fatal("Remove did not report presence")
	}
	waitFor(t, "the removed check to be cancelled", func() bool { return b.ended.Load() == 1 })
	if !h.r.Remove(waiting) || h.clk.Pending() != 0 {
		t.Errorf("%d timers pending after removing every job", h.clk.Pending())
	}
	if _, ok := h.r.Status(id1); ok {
		t.Error("removed job still has a status")
	}
	h.noMoreChanges()
	if h.clk.Armed() != armed {
		t.Error("removed job was re-armed")
	}
}

func TestRunnerErrors(t *testing.T) {
	noRunnerLeak(t)
	clk := newFakeClock()
	r := NewRunner(RunnerConfig{Clock: clk})
	if err := r.Add(Job{ID: id1}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("Add without checker: %v", err)
	}
	if err := r.Add(Job{ID: id1, Checker: newScripted(ok), Policy: Policy{Retry: -1}}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("Add with a bad policy: %v", err)
	}
	sc := newScripted(ok)
	if err := r.Add(Job{ID: id1, Checker: sc, Policy: Policy{Warmup: -1}}); err != nil {
		t.Fatal(err)
	}
	if err := r.Add(Job{ID: id1, Checker: newScripted(ok)}); !errors.Is(err, ErrDuplicateCheck) {
		t.Errorf("duplicate Add: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	clk.Advance(0)
	waitFor(t, "Run to run the check", func() bool { return sc.Calls() == 1 })
	if err := r.Run(ctx); !errors.Is(err, ErrRunnerRunning) {
		t.Errorf("second Run: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := r.Run(context.Background()); !errors.Is(err, ErrRunnerStopped) {
		t.Errorf("Run after stop: %v", err)
	}
	if err := r.Add(Job{ID: CheckID{"x", "y", 0}, Checker: newScripted(ok)}); !errors.Is(err, ErrRunnerStopped) {
		t.Errorf("Add after stop: %v", err)
	}
}

func TestRunnerPanickingChecker(t *testing.T) {
	h := startRunner(t, RunnerConfig{})
	h.r.Add(Job{ID: id1, Checker: CheckerFunc(func(context.Context) Result { panic("boom") }), Policy: Policy{Warmup: -1}})
	h.advance(0, 1)
	if c := h.nextChange(); c.State.Up || c.Err == nil || !strings.Contains(c.Err.Error(), "boom") {
		t.Errorf("change %+v, want down with the panic", c)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
