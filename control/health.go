package control

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/xvs-project/xvs/healthcheck"
	"github.com/xvs-project/xvs/nat"
	"github.com/xvs-project/xvs/scheduler"
	"go.uber.org/zap"
)

// This file is the health side of the control plane: keepalived's checker
// blocks (config.Check) become healthcheck.CheckSpecs, each virtual server
// a healthcheck.ServiceSpec, and a Health manager runs them and turns every
// change of a pool into new scheduler snapshots for the dataplane.
//
// Here: the Health manager, its configuration, Set and Run, ha_suspend
// and the checks' status. The specs are built in health_build.go, the
// snapshots in health_pool.go, and the pools' hooks (logs, scripts, mail)
// are in health_hooks.go.

// scriptGrace is how long Health.Run waits at its end for notify and
// quorum scripts (omega's included) before they are terminated.
const scriptGrace = 5 * time.Second

// HealthConfig configures a Health manager.
type HealthConfig struct {
	// Apply installs a complete list of virtual services, e.g.
	// Dataplane.SetServices, which swaps the snapshot the workers read
	// without pausing them. Health calls it with its own lock held, so
	// lists arrive in the order they were made; Apply must not call back
	// into the Health.
	Apply func([]*nat.Service) error
	// Log receives the changes of checks, servers, quorums and pools;
	// nil discards them.
	Log *zap.Logger
	// Clock schedules the checks; nil means real time.
	Clock healthcheck.Clock
	// NewChecker builds the checker of one check; nil means
	// spec.Config.NewChecker(server). Tests put fake checkers here.
	NewChecker func(id healthcheck.CheckID, spec healthcheck.CheckSpec, server netip.AddrPort) (healthcheck.Checker, error)
}

// Health runs the health checks of a director's virtual services and keeps
// the pools the dataplane schedules over in line with their results, as
// keepalived's checker process keeps IPVS's:
//
//   - A real server whose checks fail leaves its pool (new connections go
//     to the others), or stays at weight 0 under inhibit_on_failure; it is
//     back with its weight once they pass. Each pool change is a new
//     nat.Service snapshot (same scheduler.Counts per real server, so the
//     connection counts carry on) handed to Apply.
//   - Established TCP connections to a failed server run on until they
//     end; UDP flows move to a live server at their next datagram (the
//     server's Counts.SetDown), unless xvs { udp_reschedule off }.
//   - Quorum, hysteresis and sorry_server: while the live weight is below
//     the quorum the sorry server alone takes new connections.
//   - notify_up, notify_down, quorum_up and quorum_down run as the global
//     script_user, in the background: nothing waits for them.
//
// Services without any checker are handed to Apply as they are.
//
// Set gives it the configuration (again at every reload), Run runs the
// checks. All methods are safe for concurrent use.
type Health struct {
	cfg    HealthConfig
	log    *zap.Logger
	runner *healthcheck.Runner
	alerts *alerter // mail alerts (alerts.go); nil: none

	scriptCtx    context.Context
	scriptCancel context.CancelFunc
	scripts      sync.WaitGroup

	mu       sync.Mutex
	services []*healthService          // in the order of the last Set
	byName   map[string]*healthService // services with checks, by ServiceSpec.Name
	jobs     map[healthcheck.CheckID]jobKey
	sorry    map[countsKey]*scheduler.Counts // sorry servers' counts, kept across Sets
	locality map[countsKey]*scheduler.Locality
	keepDead bool
	seeding  bool // a Set is replaying kept results: no scripts, no logs
	stopped  bool

	susMu     sync.Mutex // guards the two below; never held with mu taken after it
	suspended map[netip.Addr]bool
	haSuspend map[netip.Addr][]string // VIP → names of its ha_suspend services
}

// jobKey is what a check was built from: a check whose key is unchanged
// by a reload keeps running with its state.
type jobKey struct {
	spec   healthcheck.CheckSpec
	server netip.AddrPort
}

// healthService is one virtual service as Health follows it.
type healthService struct {
	name   string
	vip    netip.Addr
	plan   *ServicePlan        // the plan's description: all real servers at their configured weights
	counts []*scheduler.Counts // of plan.Reals, the plan's
	pool   *healthcheck.Pool
	opts   scheduler.Options
	reals  map[string]int // server name → index in plan.Reals
	sorry  *member        // nil without sorry_server; its weight unused
	// sorryShared: the sorry server is one of the real servers, whose
	// health drives its down flag.
	sorryShared bool
	haSuspend   bool
	up          map[string]bool // server name → up, as the pool's hooks report
	desired     healthcheck.Desired
	snap        *nat.Service // the snapshot handed to Apply last

	notifyUp, notifyDown map[string]*healthcheck.Script
	quorumUp, quorumDown *healthcheck.Script
}

// NewHealth returns a Health manager with no services.
func NewHealth(cfg HealthConfig) *Health {
	h := &Health{cfg: cfg, log: cfg.Log, byName: map[string]*healthService{}, jobs: map[healthcheck.CheckID]jobKey{},
		sorry: map[countsKey]*scheduler.Counts{}, locality: map[countsKey]*scheduler.Locality{},
		suspended: map[netip.Addr]bool{}, haSuspend: map[netip.Addr][]string{}}
	if h.log == nil {
		h.log = zap.NewNop()
	}
	h.scriptCtx, h.scriptCancel = context.WithCancel(context.Background())
	h.runner = healthcheck.NewRunner(healthcheck.RunnerConfig{Clock: cfg.Clock, OnChange: h.onChange,
		Logger: newSlog(h.log.With(zap.String("component", "healthcheck")))})
	return h
}

// Set makes the services of plan p the ones followed, and hands Apply
// their pools as the checks' current results allow; a nil plan has no
// services. It reads the plan's descriptions (Plan.Services) and
// connection counts and changes neither. A check that the previous Set
// had too, unchanged (same service, server, position and keywords), keeps
// running with its state, so a reload does not forget which servers are
// down; other checks start afresh (up, or down under alpha). A plan whose
// checks cannot run (a checker that cannot be made, a script user that
// does not exist, …) is refused and nothing changes; an error from Apply
// is returned once the new checks are in place.
func (h *Health) Set(p *Plan) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		return fmt.Errorf("health checks: %w", healthcheck.ErrRunnerStopped)
	}
	var services []ServicePlan
	keepDead := false
	if p != nil {
		services, keepDead = p.Services, p.UDPKeepDeadDest
	}

	// Build everything first: a bad plan leaves the running state alone.
	var list []*healthService
	byName := map[string]*healthService{}
	jobs := map[healthcheck.CheckID]jobKey{}
	var specs []healthcheck.ServiceSpec
	sorry := map[countsKey]*scheduler.Counts{}
	locality := map[countsKey]*scheduler.Locality{}
	for i := range services {
		sp := &services[i]
		key := sp.key()
		hs := &healthService{vip: sp.Addr, plan: sp, counts: p.realCounts(sp)}
		list = append(list, hs)
		if !sp.Checked {
			// Served as configured.
			snap, err := natService(sp, configured(sp, hs.counts), sp.Options, false)
			if err != nil {
				return fmt.Errorf("%s: %w", sp.Pos, err)
			}
			hs.snap = snap
			continue
		}
		ss := sp.healthSpec()
		hs.name, hs.haSuspend = ss.Name, sp.HASuspend
		hs.opts = sp.Options
		if hs.opts.Locality = h.locality[key]; hs.opts.Locality == nil {
			hs.opts.Locality = scheduler.NewLocality(0)
		}
		locality[key] = hs.opts.Locality
		hs.reals = map[string]int{}
		hs.up = map[string]bool{}
		hs.notifyUp, hs.notifyDown = map[string]*healthcheck.Script{}, map[string]*healthcheck.Script{}
		for i, r := range sp.Reals {
			hs.reals[r.Addr.String()] = i
		}
		var err error
		for i, srv := range ss.Servers {
			up := true
			for j, c := range srv.Checks {
				up = up && c.Policy.Initial().Up
				jobs[healthcheck.CheckID{Service: ss.Name, Server: srv.Name, Index: j}] = jobKey{spec: c, server: srv.Addr}
			}
			hs.up[srv.Name] = up
			r := sp.Reals[i]
			if hs.notifyUp[srv.Name], err = r.NotifyUp.script(); err != nil {
				return fmt.Errorf("%s: notify_up: %w", r.NotifyUp.Pos, err)
			}
			if hs.notifyDown[srv.Name], err = r.NotifyDown.script(); err != nil {
				return fmt.Errorf("%s: notify_down: %w", r.NotifyDown.Pos, err)
			}
		}
		if hs.quorumUp, err = sp.QuorumUp.script(); err != nil {
			return fmt.Errorf("%s: quorum_up: %w", sp.QuorumUp.Pos, err)
		}
		if hs.quorumDown, err = sp.QuorumDown.script(); err != nil {
			return fmt.Errorf("%s: quorum_down: %w", sp.QuorumDown.Pos, err)
		}
		if s := sp.Sorry; s != nil {
			m := member{addr: s.Addr}
			if i, shared := hs.reals[s.Addr.String()]; shared {
				m.counts, hs.sorryShared = hs.counts[i], true
			} else {
				sk := key
				sk.real = s.Addr
				if m.counts = h.sorry[sk]; m.counts == nil {
					m.counts = new(scheduler.Counts)
				}
				sorry[sk] = m.counts
			}
			hs.sorry = &m
		}
		hs.pool, err = healthcheck.NewPool(ss, h.hooks(hs))
		if err != nil {
			return fmt.Errorf("%s: %w", sp.Pos, err)
		}
		// A first build checks that the scheduler takes the pool; the
		// snapshot is made again from the pool with the kept results.
		if _, err = hs.build(hs.pool.Desired(), keepDead); err != nil {
			return fmt.Errorf("%s: %w", sp.Pos, err)
		}
		hs.snap = nil
		byName[ss.Name] = hs
		specs = append(specs, ss)
	}
	// The new checkers, for the checks that are new or changed.
	var add []healthcheck.Job
	for _, ss := range specs {
		for _, srv := range ss.Servers {
			for j, c := range srv.Checks {
				id := healthcheck.CheckID{Service: ss.Name, Server: srv.Name, Index: j}
				if old, ok := h.jobs[id]; ok && reflect.DeepEqual(old, jobs[id]) {
					continue
				}
				ch, err := h.newChecker(id, c, srv.Addr)
				if err != nil {
					return fmt.Errorf("check %s (%s): %w", id, c.Config.Kind(), err)
				}
				add = append(add, healthcheck.Job{ID: id, Checker: ch, Policy: c.Policy})
			}
		}
	}

	// Commit.
	for id, old := range h.jobs {
		if cur, ok := jobs[id]; !ok || !reflect.DeepEqual(old, cur) {
			h.runner.Remove(id)
		}
	}
	for _, j := range add {
		if err := h.runner.Add(j); err != nil {
			h.log.Error("adding a health check", zap.String("check", j.ID.String()), zap.Error(err))
		}
	}
	kept := 0
	h.seeding = true
	for id := range jobs {
		if st, ok := h.runner.Status(id); ok && st.Ran {
			byName[id.Service].pool.Set(id, st)
			kept++
		}
	}
	h.seeding = false
	h.services, h.byName, h.jobs, h.sorry, h.locality = list, byName, jobs, sorry, locality
	h.keepDead = keepDead
	h.setSuspendable()
	if len(jobs) > 0 {
		h.log.Info("health checks", zap.Int("services", len(byName)), zap.Int("checks", len(jobs)),
			zap.Int("started", len(add)), zap.Int("kept", kept))
	}
	return h.publishLocked(true)
}

func (h *Health) newChecker(id healthcheck.CheckID, c healthcheck.CheckSpec, server netip.AddrPort) (healthcheck.Checker, error) {
	if h.cfg.NewChecker != nil {
		return h.cfg.NewChecker(id, c, server)
	}
	return c.Config.NewChecker(server)
}

// Desired returns the pool the health checks give the named service
// ("TCP 198.18.0.100:80"), and false for a service without checks.
func (h *Health) Desired(service string) (healthcheck.Desired, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	hs := h.byName[service]
	if hs == nil {
		return healthcheck.Desired{}, false
	}
	return hs.pool.Desired(), true
}

// SuspendVIP suspends (true) or resumes the checks of the services of vip
// that have ha_suspend, for while this director does not hold the
// address (VRRP BACKUP or FAULT). Checks of a suspended service do not
// run; their states, and so the pool, stay as they were. Services start
// resumed; the suspension outlives reloads. It takes no lock that Apply
// may hold, so it may be called from anywhere.
func (h *Health) SuspendVIP(vip netip.Addr, suspended bool) {
	h.susMu.Lock()
	defer h.susMu.Unlock()
	if suspended == h.suspended[vip] {
		return
	}
	if suspended {
		h.suspended[vip] = true
	} else {
		delete(h.suspended, vip)
	}
	for _, name := range h.haSuspend[vip] {
		h.runner.Suspend(name, suspended)
	}
	if len(h.haSuspend[vip]) > 0 {
		h.log.Info("health checks suspended by ha_suspend", zap.Stringer("vip", vip), zap.Bool("suspended", suspended))
	}
}

// setSuspendable records which services ha_suspend concerns and applies
// the current suspensions to them. h.mu held.
func (h *Health) setSuspendable() {
	h.susMu.Lock()
	defer h.susMu.Unlock()
	for _, names := range h.haSuspend {
		for _, n := range names {
			h.runner.Suspend(n, false)
		}
	}
	h.haSuspend = map[netip.Addr][]string{}
	for _, hs := range h.byName {
		if hs.haSuspend {
			h.haSuspend[hs.vip] = append(h.haSuspend[hs.vip], hs.name)
			h.runner.Suspend(hs.name, h.suspended[hs.vip])
		}
	}
}

// Run runs the checks until ctx is done. Then, for the services with
// omega, it takes their servers and quorum down with their scripts, waits
// up to scriptGrace for the scripts still running and terminates the
// rest. No Apply happens after Run returns.
func (h *Health) Run(ctx context.Context) error {
	err := h.runner.Run(ctx)
	h.mu.Lock()
	h.stopped = true
	for _, hs := range h.services {
		if hs.pool != nil {
			hs.pool.Shutdown()
		}
	}
	h.mu.Unlock()
	done := make(chan struct{})
	go func() { h.scripts.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(scriptGrace):
		h.log.Warn("terminating scripts still running")
		h.scriptCancel()
		<-done
	}
	h.scriptCancel()
	return err
}

// Start runs Run in the background and returns the function that stops
// it and waits for it. A nil Health starts nothing.
func (h *Health) Start(ctx context.Context) (stop func()) {
	if h == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := h.Run(ctx); err != nil {
			h.log.Error("health checks", zap.Error(err))
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// offer installs the services of plan p: through the health manager,
// which hands d.setServices the pools the health checks allow.
func (d *Director) offer(p *Plan) error {
	if d.health == nil {
		d.health = NewHealth(HealthConfig{Apply: d.setServices, Log: d.log})
		d.health.alerts = d.alerts
	}
	return d.health.Set(p)
}

// Health returns the director's health manager, for ha_suspend
// (Health.SuspendVIP) and for reading the pools.
func (d *Director) Health() *Health { return d.health }

// CheckStatus is the state of one health check, for metrics.
type CheckStatus struct {
	// Service is "PROTO VIP:PORT"; Server the real server's name
	// (IP:PORT); Index the check's position among the server's checks.
	Service, Server string
	Index           int
	Kind            string // TCP_CHECK, HTTP_GET, ...
	Up, Ran         bool
	Retries         int
}

// Checks returns the state of every health check, ordered by service,
// server and index.
func (h *Health) Checks() []CheckStatus {
	if h == nil {
		return nil
	}
	h.mu.Lock()
	ids := make([]healthcheck.CheckID, 0, len(h.jobs))
	kinds := make(map[healthcheck.CheckID]string, len(h.jobs))
	for id, k := range h.jobs {
		ids = append(ids, id)
		if k.spec.Config != nil {
			kinds[id] = string(k.spec.Config.Kind())
		}
	}
	h.mu.Unlock()
	slices.SortFunc(ids, func(a, b healthcheck.CheckID) int {
		return cmp.Or(cmp.Compare(a.Service, b.Service), cmp.Compare(a.Server, b.Server), cmp.Compare(a.Index, b.Index))
	})
	out := make([]CheckStatus, 0, len(ids))
	for _, id := range ids {
		st, ok := h.runner.Status(id)
		if !ok {
			continue
		}
		out = append(out, CheckStatus{Service: id.Service, Server: id.Server, Index: id.Index, Kind: kinds[id],
			Up: st.Up, Ran: st.Ran, Retries: st.Retries})
	}
	return out
}
