package healthcheck

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

var (
	ok  = Result{Healthy: true}
	bad = Result{Err: errors.New("down")}
)

func weighted(w int) Result { return Result{Healthy: true, Weight: w, HasWeight: true} }

func TestPolicyStep(t *testing.T) {
	type step struct {
		r     Result
		up    bool
		delay time.Duration
	}
	const loop, retry = 10 * time.Second, 2 * time.Second
	tests := []struct {
		desc   string
		policy Policy
		steps  []step
	}{
		{
			"retry 2: down at the third consecutive failure",
			Policy{DelayLoop: loop, Retry: 2, DelayBeforeRetry: retry},
			[]step{
				{bad, true, retry},
				{bad, true, retry},
				{bad, false, loop},
				{bad, false, loop}, // down: no retries
				{ok, true, loop},   // one success brings it up
			},
		},
		{
			"a success in between resets the retries",
			Policy{DelayLoop: loop, Retry: 1, DelayBeforeRetry: retry},
			[]step{
				{bad, true, retry},
				{ok, true, loop},
				{bad, true, retry},
				{bad, false, loop},
			},
		},
		{
			"retry 0: down at the first failure",
			Policy{DelayLoop: loop},
			[]step{{ok, true, loop}, {bad, false, loop}, {ok, true, loop}},
		},
		{
			"alpha: starts down, first failure changes nothing",
			Policy{DelayLoop: loop, Retry: 3, DelayBeforeRetry: retry, Alpha: true},
			[]step{{bad, false, loop}, {bad, false, loop}, {ok, true, loop}, {bad, true, retry}},
		},
		{
			"defaults: delay_loop 60s, delay_before_retry 1s",
			Policy{Retry: 1},
			[]step{{bad, true, DefaultDelayBeforeRetry}, {bad, false, DefaultDelayLoop}},
		},
		{
			"negative delay_before_retry means delay_loop",
			Policy{DelayLoop: loop, Retry: 1, DelayBeforeRetry: -1},
			[]step{{bad, true, loop}, {bad, false, loop}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			s := tt.policy.Initial()
			if s.Up == tt.policy.Alpha || s.Ran {
				t.Fatalf("initial state %+v", s)
			}
			for i, st := range tt.steps {
				var d time.Duration
				s, d = tt.policy.Step(s, st.r)
				if s.Up != st.up || d != st.delay || !s.Ran {
					t.Fatalf("step %d (%v): state %+v, delay %v; want up %v, delay %v", i, st.r.Healthy, s, d, st.up, st.delay)
				}
			}
		})
	}
}

func TestPolicyDynamicWeight(t *testing.T) {
	p := Policy{DelayLoop: time.Second}
	s := p.Initial()
	for i, tt := range []struct {
		r         Result
		weight    int
		hasWeight bool
	}{
		{ok, 0, false},
		{weighted(10), 10, true},
		{ok, 10, true}, // exit 0: weight unchanged
		{weighted(0), 0, true},
		{bad, 0, true}, // a failure keeps the last weight
		{weighted(7), 7, true},
	} {
		s, _ = p.Step(s, tt.r)
		if s.Weight != tt.weight || s.HasWeight != tt.hasWeight {
			t.Fatalf("step %d: %+v, want weight %d (set %v)", i, s, tt.weight, tt.hasWeight)
		}
	}
}

func TestDefaultPolicy(t *testing.T) {
	tests := []struct {
		kind        Kind
		retry       int
		beforeRetry time.Duration
	}{
		{KindTCP, 1, time.Second},
		{KindHTTP, 1, 3 * time.Second},
		{KindSSL, 1, 3 * time.Second},
		{KindUDP, 1, time.Second},
		{KindPing, 1, time.Second},
		{KindDNS, 3, DefaultDelayLoop},
		{KindMisc, 0, time.Second},
	}
	for _, tt := range tests {
		p := DefaultPolicy(tt.kind)
		if p.Retry != tt.retry || p.delayBeforeRetry() != tt.beforeRetry || p.delayLoop() != DefaultDelayLoop || p.Alpha {
			t.Errorf("DefaultPolicy(%s) = %+v", tt.kind, p)
		}
		// DNS's delay_before_retry follows its delay_loop.
		p.DelayLoop = 5 * time.Second
		if tt.kind == KindDNS && p.delayBeforeRetry() != 5*time.Second {
			t.Errorf("DNS delay_before_retry %v with delay_loop 5s", p.delayBeforeRetry())
		}
	}
	if err := (Policy{Retry: -1}).Validate(); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("Validate(retry -1) = %v", err)
	}
	if err := (Policy{DelayLoop: -1}).Validate(); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("Validate(delay_loop -1) = %v", err)
	}
}

// TestFirstDelay checks that first checks are spread over the warmup
// window, deterministically.
func TestFirstDelay(t *testing.T) {
	const n = 200
	for _, tt := range []struct {
		desc   string
		p      Policy
		window time.Duration
	}{
		{"default window is delay_loop", Policy{DelayLoop: 10 * time.Second}, 10 * time.Second},
		{"warmup", Policy{DelayLoop: 10 * time.Second, Warmup: 2 * time.Second}, 2 * time.Second},
	} {
		t.Run(tt.desc, func(t *testing.T) {
			buckets := make([]int, 4)
			for i := range n {
				id := CheckID{"TCP 198.18.0.100:80", fmt.Sprintf("198.18.1.%d:80", i), 0}
				d := tt.p.FirstDelay(id)
				if d < 0 || d >= tt.window {
					t.Fatalf("FirstDelay(%v) = %v, outside [0, %v)", id, d, tt.window)
				}
				if d != tt.p.FirstDelay(id) {
					t.Fatal("FirstDelay is not deterministic")
				}
				buckets[int(d*4/tt.window)]++
			}
			for i, b := range buckets { // roughly even: no herd
				if b < n/8 {
					t.Errorf("quarter %d of the window has %d of %d first checks: %v", i, b, n, buckets)
				}
			}
		})
	}
	if d := (Policy{Warmup: -1}).FirstDelay(CheckID{"a", "b", 0}); d != 0 {
		t.Errorf("FirstDelay without warmup = %v", d)
	}
}
