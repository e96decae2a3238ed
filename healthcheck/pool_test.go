package healthcheck

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"
)

const svc = "TCP 198.18.0.100:80"

// server returns a real server spec with n TCP checks.
func server(name string, weight, n int, alpha bool) ServerSpec {
	s := ServerSpec{Name: name, Addr: netip.MustParseAddrPort("127.0.0.1:80"), Weight: weight}
	for range n {
		s.Checks = append(s.Checks, CheckSpec{Config: TCPConfig{}, Policy: Policy{Alpha: alpha}})
	}
	return s
}

// hookLog records hook calls.
type hookLog struct{ calls []string }

func (h *hookLog) hooks() Hooks {
	return Hooks{
		ServerUp:   func(s string) { h.calls = append(h.calls, "up "+s) },
		ServerDown: func(s string) { h.calls = append(h.calls, "down "+s) },
		QuorumUp:   func() { h.calls = append(h.calls, "quorum up") },
		QuorumDown: func() { h.calls = append(h.calls, "quorum down") },
	}
}

func (h *hookLog) take() string {
	s := strings.Join(h.calls, ", ")
	h.calls = nil
	return s
}

// describe renders a Desired pool compactly: "a:1 b:0- [sorry:1]" where
// "-" marks a member that is not up and brackets the sorry server.
func describe(d Desired) string {
	var parts []string
	for _, m := range d.Members {
		s := fmt.Sprintf("%s:%d", m.Name, m.Weight)
		if !m.Up {
			s += "-"
		}
		if m.Sorry {
			s = "[" + s + "]"
		}
		parts = append(parts, s)
	}
	q := "quorum"
	if !d.QuorumUp {
		q = "no quorum"
	}
	return fmt.Sprintf("%s (%s, live %d)", strings.Join(parts, " "), q, d.LiveWeight)
}

func newPool(t *testing.T, spec ServiceSpec, h *hookLog) *Pool {
	t.Helper()
	p, err := NewPool(spec, h.hooks())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func set(p *Pool, srv string, up bool) bool {
	return p.Set(CheckID{svc, srv, 0}, State{Up: up, Ran: true})
}

func TestPoolQuorumHysteresis(t *testing.T) {
	var h hookLog
	spec := ServiceSpec{
		Name:       svc,
		Servers:    []ServerSpec{server("a", 1, 1, false), server("b", 1, 1, false), server("c", 1, 1, false), server("d", 1, 1, false)},
		Quorum:     3,
		Hysteresis: 1,
		Sorry:      &SorryServer{Name: "sorry"},
	}
	p := newPool(t, spec, &h)
	steps := []struct {
		srv   string
		up    bool
		pool  string
		hooks string
	}{
		{"", false, "a:1 b:1 c:1 d:1 (quorum, live 4)", ""},
		{"a", false, "b:1 c:1 d:1 (quorum, live 3)", "down a"},
		{"b", false, "c:1 d:1 (quorum, live 2)", "down b"}, // 2 is not below 3-1
		{"c", false, "[sorry:1] (no quorum, live 1)", "down c, quorum down"},
		{"a", true, "[sorry:1] (no quorum, live 2)", "up a"},
		{"b", true, "[sorry:1] (no quorum, live 3)", "up b"}, // 3 is below 3+1
		{"c", true, "a:1 b:1 c:1 d:1 (quorum, live 4)", "up c, quorum up"},
		{"c", true, "a:1 b:1 c:1 d:1 (quorum, live 4)", ""}, // no change
	}
	for i, st := range steps {
		if st.srv != "" {
			set(p, st.srv, st.up)
		}
		if got := describe(p.Desired()); got != st.pool {
			t.Errorf("step %d: pool %s, want %s", i, got, st.pool)
		}
		if got := h.take(); got != st.hooks {
			t.Errorf("step %d: hooks %q, want %q", i, got, st.hooks)
		}
	}
}

func TestPoolAlphaStart(t *testing.T) {
	var h hookLog
	p := newPool(t, ServiceSpec{
		Name:    svc,
		Servers: []ServerSpec{server("a", 2, 1, true), server("b", 3, 1, true)},
		Sorry:   &SorryServer{Name: "sorry", Weight: 5},
	}, &h)
	if got, want := describe(p.Desired()), "[sorry:5] (no quorum, live 0)"; got != want {
		t.Errorf("start: %s, want %s", got, want)
	}
	if h.take() != "" {
		t.Error("hooks called for the initial state")
	}
	if !set(p, "b", true) {
		t.Error("Set did not report a change")
	}
	if got, want := describe(p.Desired()), "b:3 (quorum, live 3)"; got != want {
		t.Errorf("after b up: %s, want %s", got, want)
	}
	if got := h.take(); got != "up b, quorum up" {
		t.Errorf("hooks %q", got)
	}
	// Without a sorry server, losing quorum only calls the hook.
	p = newPool(t, ServiceSpec{Name: svc, Servers: []ServerSpec{server("a", 1, 1, false)}}, &h)
	set(p, "a", false)
	if got, want := describe(p.Desired()), " (no quorum, live 0)"; got != want {
		t.Errorf("no sorry server: %s, want %s", got, want)
	}
	if got := h.take(); got != "down a, quorum down" {
		t.Errorf("hooks %q", got)
	}
}

func TestPoolInhibit(t *testing.T) {
	var h hookLog
	a := server("a", 2, 1, false)
	a.InhibitOnFailure = true
	p := newPool(t, ServiceSpec{
		Name:    svc,
		Servers: []ServerSpec{a, server("b", 1, 1, false)},
		Quorum:  2,
		Sorry:   &SorryServer{Name: "sorry", Inhibit: true},
	}, &h)
	for i, st := range []struct {
		srv  string
		up   bool
		pool string
	}{
		{"", false, "a:2 b:1 [sorry:0-] (quorum, live 3)"},
		{"b", false, "a:2 [sorry:0-] (quorum, live 2)"},
		{"a", false, "a:0- [sorry:1] (no quorum, live 0)"},
		{"b", true, "a:0- [sorry:1] (no quorum, live 1)"},
		{"a", true, "a:2 b:1 [sorry:0-] (quorum, live 3)"},
	} {
		if st.srv != "" {
			set(p, st.srv, st.up)
		}
		if got := describe(p.Desired()); got != st.pool {
			t.Errorf("step %d: %s, want %s", i, got, st.pool)
		}
	}
}

func TestPoolDynamicWeight(t *testing.T) {
	var h hookLog
	s := server("a", 1, 2, false) // a TCP check and a dynamic MISC check
	p := newPool(t, ServiceSpec{Name: svc, Servers: []ServerSpec{s, server("b", 1, 1, false)}, Quorum: 5, Sorry: &SorryServer{Name: "sorry"}}, &h)
	if got, want := describe(p.Desired()), "[sorry:1] (no quorum, live 2)"; got != want {
		t.Errorf("start: %s, want %s", got, want)
	}
	p.Set(CheckID{svc, "a", 1}, State{Up: true, Weight: 10, HasWeight: true})
	if got, want := describe(p.Desired()), "a:10 b:1 (quorum, live 11)"; got != want {
		t.Errorf("weight 10: %s, want %s", got, want)
	}
	p.Set(CheckID{svc, "a", 1}, State{Up: true, Weight: 0, HasWeight: true})
	if got, want := describe(p.Desired()), "[sorry:1] (no quorum, live 1)"; got != want {
		t.Errorf("weight 0: %s, want %s", got, want)
	}
	// A weight change alone moves the quorum both ways.
	if got := h.take(); got != "quorum up, quorum down" {
		t.Errorf("hooks %q", got)
	}
}

func TestPoolMultipleChecks(t *testing.T) {
	var h hookLog
	p := newPool(t, ServiceSpec{Name: svc, Servers: []ServerSpec{server("a", 1, 2, false), server("none", 4, 0, false)}}, &h)
	if got, want := describe(p.Desired()), "a:1 none:4 (quorum, live 5)"; got != want {
		t.Errorf("start: %s, want %s", got, want)
	}
	p.Set(CheckID{svc, "a", 1}, State{Up: false})
	if got, want := describe(p.Desired()), "none:4 (quorum, live 4)"; got != want {
		t.Errorf("one of two checks down: %s, want %s", got, want)
	}
	p.Set(CheckID{svc, "a", 0}, State{Up: false})
	p.Set(CheckID{svc, "a", 1}, State{Up: true})
	if got := h.take(); got != "down a" {
		t.Errorf("hooks %q, want one down while any check is down", got)
	}
	for _, id := range []CheckID{{"other", "a", 0}, {svc, "zzz", 0}, {svc, "a", 2}, {svc, "a", -1}, {svc, "none", 0}} {
		if p.Set(id, State{Up: true}) {
			t.Errorf("Set(%v) reported a change", id)
		}
	}
	if got, want := describe(p.Desired()), "none:4 (quorum, live 4)"; got != want {
		t.Errorf("after ignored changes: %s, want %s", got, want)
	}
}

func TestPoolOmega(t *testing.T) {
	for _, omega := range []bool{false, true} {
		var h hookLog
		p := newPool(t, ServiceSpec{Name: svc, Omega: omega, Servers: []ServerSpec{server("a", 1, 1, false), server("b", 1, 1, false), server("c", 1, 1, true)}}, &h)
		p.Shutdown()
		p.Shutdown()
		want := ""
		if omega {
			want = "down a, down b, quorum down"
		}
		if got := h.take(); got != want {
			t.Errorf("omega %v: hooks %q, want %q", omega, got, want)
		}
		if set(p, "c", true) || h.take() != "" {
			t.Errorf("omega %v: change applied after Shutdown", omega)
		}
	}
}

// poolModel is a slow, obviously-right restatement of the pool rules,
// recomputing everything from the check states on each step.
type poolModel struct {
	spec     ServiceSpec
	states   map[CheckID]State
	quorumUp bool
}

func (m *poolModel) up(i int) bool {
	for j := range m.spec.Servers[i].Checks {
		if !m.states[CheckID{m.spec.Name, m.spec.Servers[i].Name, j}].Up {
			return false
		}
	}
	return true
}

func (m *poolModel) weight(i int) int {
	w := m.spec.Servers[i].Weight
	for j := range m.spec.Servers[i].Checks {
		if s := m.states[CheckID{m.spec.Name, m.spec.Servers[i].Name, j}]; s.HasWeight {
			w = s.Weight
		}
	}
	return w
}

func (m *poolModel) live() int {
	sum := 0
	for i := range m.spec.Servers {
		if m.up(i) {
			sum += m.weight(i)
		}
	}
	return sum
}

func (m *poolModel) step() Desired {
	q, h, live := max(m.spec.Quorum, 1), m.spec.Hysteresis, m.live()
	if !m.quorumUp && live >= q+h {
		m.quorumUp = true
	} else if m.quorumUp && (live == 0 || live < q-h) {
		m.quorumUp = false
	}
	sorry := !m.quorumUp && m.spec.Sorry != nil
	d := Desired{QuorumUp: m.quorumUp, SorryActive: sorry, LiveWeight: live}
	for i, s := range m.spec.Servers {
		if m.up(i) && !sorry {
			d.Members = append(d.Members, Member{s.Name, m.weight(i), true, false})
		} else if !m.up(i) && s.InhibitOnFailure {
			d.Members = append(d.Members, Member{s.Name, 0, false, false})
		}
	}
	if sorry {
		d.Members = append(d.Members, Member{"sorry", max(m.spec.Sorry.Weight, 1), true, true})
	}
	return d
}

// TestPoolRandom drives a Pool and the model with the same random changes
// and compares every Desired pool. The seed is logged to replay a failure.
func TestPoolRandom(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	for round := range 50 {
		spec := ServiceSpec{Name: svc, Quorum: rng.IntN(6), Hysteresis: rng.IntN(3)}
		if rng.IntN(2) == 0 {
			spec.Sorry = &SorryServer{Name: "sorry", Weight: rng.IntN(3)}
		}
		for i := range 1 + rng.IntN(5) {
			s := server(fmt.Sprintf("rs%d", i), rng.IntN(4), rng.IntN(3), rng.IntN(2) == 0)
			s.InhibitOnFailure = rng.IntN(2) == 0
			spec.Servers = append(spec.Servers, s)
		}
		m := &poolModel{spec: spec, states: map[CheckID]State{}}
		for _, s := range spec.Servers {
			for j, c := range s.Checks {
				m.states[CheckID{svc, s.Name, j}] = c.Policy.Initial()
			}
		}
		m.quorumUp = m.live() >= max(spec.Quorum, 1)+spec.Hysteresis
		p, err := NewPool(spec, Hooks{})
		if err != nil {
			t.Fatal(err)
		}
		for step := range 100 {
			s := spec.Servers[rng.IntN(len(spec.Servers))]
			if len(s.Checks) == 0 {
				continue
			}
			id := CheckID{svc, s.Name, rng.IntN(len(s.Checks))}
			st := State{Up: rng.IntN(3) > 0}
			if rng.IntN(4) == 0 {
				st.Weight, st.HasWeight = rng.IntN(5), true
			}
			m.states[id] = st
			before := p.Desired()
			changed := p.Set(id, st)
			got, want := p.Desired(), m.step()
			if !got.Equal(want) {
				t.Fatalf("seed %d round %d step %d: set %v to %+v\npool  %s\nmodel %s", seed, round, step, id, st, describe(got), describe(want))
			}
			if changed != !before.Equal(got) {
				t.Fatalf("seed %d round %d step %d: Set reported change %v", seed, round, step, changed)
			}
		}
	}
}

func TestServiceSpecJobs(t *testing.T) {
	spec := ServiceSpec{Name: svc, Servers: []ServerSpec{
		{Name: "a", Addr: netip.MustParseAddrPort("127.0.0.1:80"), Weight: 1, Checks: []CheckSpec{
			{Config: TCPConfig{}, Policy: DefaultPolicy(KindTCP)},
			{Config: HTTPConfig{URLs: []URL{{Path: "/"}}}, Policy: DefaultPolicy(KindHTTP)},
		}},
		{Name: "b", Addr: netip.MustParseAddrPort("127.0.0.2:53"), Checks: []CheckSpec{
			{Config: DNSConfig{}, Policy: DefaultPolicy(KindDNS)},
		}},
	}}
	jobs, err := spec.Jobs()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"TCP_CHECK 127.0.0.1:80", "HTTP_GET 127.0.0.1:80", "DNS_CHECK 127.0.0.2:53 SOA ."}
	if len(jobs) != len(want) {
		t.Fatalf("%d jobs", len(jobs))
	}
	for i, j := range jobs {
		if got := j.Checker.(fmt.Stringer).String(); got != want[i] {
			t.Errorf("job %d: %s, want %s", i, got, want[i])
		}
	}
	if jobs[1].ID != (CheckID{svc, "a", 1}) || jobs[2].ID != (CheckID{svc, "b", 0}) {
		t.Errorf("IDs %v %v", jobs[1].ID, jobs[2].ID)
	}

	for _, bad := range []ServiceSpec{
		{Name: svc, Quorum: -1},
		{Name: svc, Servers: []ServerSpec{{}}},
		{Name: svc, Servers: []ServerSpec{{Name: "a"}, {Name: "a"}}},
		{Name: svc, Servers: []ServerSpec{{Name: "a", Weight: -1}}},
		{Name: svc, Servers: []ServerSpec{{Name: "a", Checks: []CheckSpec{{}}}}},
		{Name: svc, Servers: []ServerSpec{{Name: "a", Checks: []CheckSpec{{Config: TCPConfig{}, Policy: Policy{Retry: -1}}}}}},
		{Name: svc, Servers: []ServerSpec{{Name: "a", Checks: []CheckSpec{{Config: TCPConfig{}}}}}}, // no address
		{Name: svc, Sorry: &SorryServer{}},
	} {
		if _, err := bad.Jobs(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("Jobs(%+v) = %v, want ErrInvalidConfig", bad, err)
		}
	}
	if _, err := NewPool(ServiceSpec{Quorum: -1}, Hooks{}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("NewPool with a bad spec: %v", err)
	}
}
