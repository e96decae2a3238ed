package control

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/xvs-project/xvs/config"
	"github.com/xvs-project/xvs/dataplane"
	"github.com/xvs-project/xvs/healthcheck"
	"github.com/xvs-project/xvs/internal/header"
	"github.com/xvs-project/xvs/nat"
	"github.com/xvs-project/xvs/scheduler"
	"go.uber.org/zap"
)

// This file is the health side of the control plane: keepalived's checker
// blocks (config.Check) become healthcheck.CheckSpecs, each virtual server
// a healthcheck.ServiceSpec, and a Health manager runs them and turns every
// change of a pool into new scheduler snapshots for the dataplane.

// scriptGrace is how long Health.Run waits at its end for notify and
// quorum scripts (omega's included) before they are terminated.
const scriptGrace = 5 * time.Second

// HealthCheckSpec converts a checker block of keepalived.conf into the
// healthcheck package's terms, applying keepalived's defaults for the
// checker type (healthcheck.DefaultPolicy) where the block leaves a value
// unset. Inheritance (delay_loop, alpha, virtualhost) is package config's
// work and is taken as done. A MISC_CHECK without a user runs as the
// global script_user. Errors name the keyword at fault.
func HealthCheckSpec(c config.Check, g config.Global) (healthcheck.CheckSpec, error) {
	kind := healthcheck.Kind(c.Kind)
	p := healthcheck.DefaultPolicy(kind)
	if c.DelayLoop > 0 {
		p.DelayLoop = c.DelayLoop
	}
	if c.Retry >= 0 {
		p.Retry = c.Retry
	}
	if c.DelayBeforeRetry > 0 {
		p.DelayBeforeRetry = c.DelayBeforeRetry
	}
	switch {
	case c.Warmup == 0:
		p.Warmup = -1 // keepalived's "warmup 0": check at once
	case c.Warmup > 0:
		p.Warmup = c.Warmup
	}
	p.Alpha = c.Alpha
	p.LogAllFailures = c.LogAllFailures
	conn := healthcheck.Conn{ConnectIP: c.ConnectIP, ConnectPort: c.ConnectPort, BindTo: c.BindTo, BindPort: c.BindPort,
		ConnectTimeout: c.ConnectTimeout}
	var cfg healthcheck.Config
	switch kind {
	case healthcheck.KindTCP:
		cfg = healthcheck.TCPConfig{Conn: conn}
	case healthcheck.KindHTTP, healthcheck.KindSSL:
		h := healthcheck.HTTPConfig{Conn: conn, TLS: kind == healthcheck.KindSSL, EnableSNI: c.EnableSNI, ServerName: c.SNIName,
			VirtualHost: c.VirtualHost}
		switch c.HTTPProtocol {
		case "", "1.0K":
			// 1.0K (keep-alive) changes nothing for one request per
			// connection; healthcheck sends plain 1.0 for it.
			h.Protocol = healthcheck.HTTP10
		default:
			h.Protocol = healthcheck.HTTPProtocol(c.HTTPProtocol)
		}
		for _, u := range c.URLs {
			url := healthcheck.URL{Path: u.Path, Digest: u.Digest, VirtualHost: u.VirtualHost}
			if u.StatusCode != "" {
				codes, err := healthcheck.ParseStatusCodes(strings.Fields(u.StatusCode)...)
				if err != nil {
					return healthcheck.CheckSpec{}, fmt.Errorf("%s: status_code: %w", u.Pos, err)
				}
				url.StatusCodes = codes
			}
			h.URLs = append(h.URLs, url)
		}
		cfg = h
	case healthcheck.KindMisc:
		m := healthcheck.MiscConfig{Path: joinArgv(c.MiscPath.Argv), Timeout: c.MiscTimeout, Dynamic: c.MiscDynamic,
			User: c.User, Group: c.Group}
		if m.Timeout == 0 {
			m.Timeout = p.DelayLoop // keepalived: misc_timeout defaults to the delay_loop
		}
		if m.User == "" {
			m.User, m.Group = g.ScriptUser, g.ScriptGroup
		}
		cfg = m
	case healthcheck.KindUDP:
		u := healthcheck.UDPConfig{Conn: conn, Payload: c.Payload, RequireReply: c.RequireReply,
			MinReplyLength: c.MinReplyLength, MaxReplyLength: c.MaxReplyLength}
		if c.Reply != "" {
			data, mask, err := healthcheck.ParseHex(c.Reply)
			if err != nil {
				return healthcheck.CheckSpec{}, fmt.Errorf("%s: require_reply: %w", c.Pos, err)
			}
			u.Reply, u.ReplyMask = data, mask
		}
		cfg = u
	case healthcheck.KindPing:
		cfg = healthcheck.PingConfig{Conn: conn}
	case healthcheck.KindDNS:
		cfg = healthcheck.DNSConfig{Conn: conn, Type: c.DNSType, Name: c.DNSName}
	case healthcheck.KindSMTP:
		// Every host must pass too; a host without its own
		// connect_timeout takes the checker's.
		m := healthcheck.SMTPConfig{Conn: conn, HeloName: c.HeloName}
		for _, h := range c.SMTPHosts {
			hc := healthcheck.Conn{ConnectIP: h.ConnectIP, ConnectPort: h.ConnectPort, BindTo: h.BindTo, BindPort: h.BindPort,
				ConnectTimeout: h.ConnectTimeout}
			if hc.ConnectTimeout == 0 {
				hc.ConnectTimeout = c.ConnectTimeout
			}
			m.Hosts = append(m.Hosts, hc)
		}
		cfg = m
	default:
		return healthcheck.CheckSpec{}, fmt.Errorf("%s: unknown checker %q", c.Pos, c.Kind)
	}
	return healthcheck.CheckSpec{Config: cfg, Policy: p}, nil
}

// HealthServiceSpec converts a virtual server into the health-checking
// spec of its pool: its real servers with their checks (HealthCheckSpec),
// quorum, hysteresis, sorry_server, ha_suspend and omega. Service names
// are "PROTO VIP:PORT", server names "ADDR:PORT", the sorry server's
// "sorry_server ADDR:PORT".
func HealthServiceSpec(vs config.VirtualServer, g config.Global) (healthcheck.ServiceSpec, error) {
	s := healthcheck.ServiceSpec{Name: healthServiceName(vs), Quorum: vs.Quorum, Hysteresis: vs.Hysteresis,
		HASuspend: vs.HASuspend, Omega: vs.Omega}
	for _, r := range vs.Reals {
		srv := healthcheck.ServerSpec{Name: netip.AddrPortFrom(r.Addr, r.Port).String(), Addr: netip.AddrPortFrom(r.Addr, r.Port),
			Weight: r.Weight, InhibitOnFailure: r.InhibitOnFailure}
		for _, c := range r.Checks {
			cs, err := HealthCheckSpec(c, g)
			if err != nil {
				return healthcheck.ServiceSpec{}, err
			}
			srv.Checks = append(srv.Checks, cs)
		}
		s.Servers = append(s.Servers, srv)
	}
	if vs.Sorry != nil {
		s.Sorry = &healthcheck.SorryServer{Name: sorryName(vs.Sorry), Weight: 1, Inhibit: vs.Sorry.Inhibit}
	}
	if err := s.Validate(); err != nil {
		return healthcheck.ServiceSpec{}, fmt.Errorf("%s: %w", vs.Pos, err)
	}
	return s, nil
}

func healthServiceName(vs config.VirtualServer) string {
	proto := vs.Protocol
	if proto == "" {
		proto = "TCP"
	}
	return proto + " " + netip.AddrPortFrom(vs.Addr, vs.Port).String()
}

func sorryName(s *config.SorryServer) string {
	return "sorry_server " + netip.AddrPortFrom(s.Addr, s.Port).String()
}

// joinArgv turns an argument vector back into a command line that
// healthcheck.SplitCommand splits into the same vector: plain words as
// they are, others in single quotes with \ and ' escaped.
func joinArgv(argv []string) string {
	var b strings.Builder
	for i, a := range argv {
		if i > 0 {
			b.WriteByte(' ')
		}
		if a != "" && strings.IndexFunc(a, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_-./:=,+@%", r))
		}) < 0 {
			b.WriteString(a)
			continue
		}
		b.WriteByte('\'')
		for j := 0; j < len(a); j++ {
			if a[j] == '\\' || a[j] == '\'' {
				b.WriteByte('\\')
			}
			b.WriteByte(a[j])
		}
		b.WriteByte('\'')
	}
	return b.String()
}

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
	name  string
	vip   netip.Addr
	base  *nat.Service // the plan's: all real servers at their configured weights
	pool  *healthcheck.Pool
	sched string
	opts  scheduler.Options
	reals map[string]int // server name → index in base.Reals
	sorry *nat.Real      // nil without sorry_server
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

// Set makes the services of a plan the ones followed, and hands Apply
// their pools as the checks' current results allow. services are the
// plan's (Plan.Services, one per spec.VirtualServers entry), which it
// does not change. A check that the previous Set had too, unchanged
// (same service, server, position and keywords), keeps running with its
// state, so a reload does not forget which servers are down; other checks
// start afresh (up, or down under alpha). A spec whose checks cannot run
// (an unknown checker, a bad status_code, a script user that does not
// exist, …) is refused and nothing changes; an error from Apply is
// returned once the new checks are in place.
func (h *Health) Set(spec *config.Spec, services []*nat.Service) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		return fmt.Errorf("health checks: %w", healthcheck.ErrRunnerStopped)
	}
	var g config.Global
	var vss []config.VirtualServer
	keepDead := false
	if spec != nil {
		g, vss, keepDead = spec.Global, spec.VirtualServers, spec.XVS.UDPKeepDeadDest
	}
	byKey := map[countsKey]config.VirtualServer{}
	for _, vs := range vss {
		proto := uint8(header.ProtocolTCP)
		if vs.Protocol == "UDP" {
			proto = header.ProtocolUDP
		}
		if vs.Addr.Is4() {
			byKey[countsKey{vip: vs.Addr.As4(), port: vs.Port, proto: proto}] = vs
		}
	}

	// Build everything first: a bad spec leaves the running state alone.
	var list []*healthService
	byName := map[string]*healthService{}
	jobs := map[healthcheck.CheckID]jobKey{}
	var specs []healthcheck.ServiceSpec
	sorry := map[countsKey]*scheduler.Counts{}
	locality := map[countsKey]*scheduler.Locality{}
	for _, svc := range services {
		key := countsKey{vip: svc.VIP, port: svc.Port, proto: svc.Proto}
		hs := &healthService{vip: netip.AddrFrom4(svc.VIP), base: svc, snap: svc}
		list = append(list, hs)
		vs, ok := byKey[key]
		if !ok || !hasChecks(vs) {
			continue // served as configured
		}
		ss, err := HealthServiceSpec(vs, g)
		if err != nil {
			return err
		}
		hs.name, hs.sched, hs.haSuspend = ss.Name, vs.Scheduler, vs.HASuspend
		if hs.opts, err = scheduler.KeepalivedOptions(vs.Scheduler, vs.SchedulerFlags...); err != nil {
			return fmt.Errorf("%s: %w", vs.Pos, err)
		}
		if hs.opts.Locality = h.locality[key]; hs.opts.Locality == nil {
			hs.opts.Locality = scheduler.NewLocality(0)
		}
		locality[key] = hs.opts.Locality
		hs.reals = map[string]int{}
		hs.up = map[string]bool{}
		hs.notifyUp, hs.notifyDown = map[string]*healthcheck.Script{}, map[string]*healthcheck.Script{}
		for i, r := range svc.Reals {
			hs.reals[netip.AddrPortFrom(netip.AddrFrom4(r.Addr), r.Port).String()] = i
		}
		for i, srv := range ss.Servers {
			if _, ok := hs.reals[srv.Name]; !ok {
				return fmt.Errorf("%s: real server %s is not in the plan", vs.Reals[i].Pos, srv.Name)
			}
			up := true
			for j, c := range srv.Checks {
				up = up && c.Policy.Initial().Up
				jobs[healthcheck.CheckID{Service: ss.Name, Server: srv.Name, Index: j}] = jobKey{spec: c, server: srv.Addr}
			}
			hs.up[srv.Name] = up
			r := vs.Reals[i]
			if hs.notifyUp[srv.Name], err = commandScript(r.NotifyUp, g); err != nil {
				return fmt.Errorf("%s: notify_up: %w", r.NotifyUp.Pos, err)
			}
			if hs.notifyDown[srv.Name], err = commandScript(r.NotifyDown, g); err != nil {
				return fmt.Errorf("%s: notify_down: %w", r.NotifyDown.Pos, err)
			}
		}
		if hs.quorumUp, err = commandScript(vs.QuorumUp, g); err != nil {
			return fmt.Errorf("%s: quorum_up: %w", vs.QuorumUp.Pos, err)
		}
		if hs.quorumDown, err = commandScript(vs.QuorumDown, g); err != nil {
			return fmt.Errorf("%s: quorum_down: %w", vs.QuorumDown.Pos, err)
		}
		if s := vs.Sorry; s != nil {
			ap := netip.AddrPortFrom(s.Addr, s.Port)
			r := nat.Real{Addr: s.Addr.As4(), Port: s.Port}
			if i, shared := hs.reals[ap.String()]; shared {
				r.Counts, hs.sorryShared = svc.Reals[i].Counts, true
			} else {
				sk := countsKey{vip: svc.VIP, port: svc.Port, proto: svc.Proto, real: ap}
				if r.Counts = h.sorry[sk]; r.Counts == nil {
					r.Counts = new(scheduler.Counts)
				}
				sorry[sk] = r.Counts
			}
			hs.sorry = &r
		}
		hs.pool, err = healthcheck.NewPool(ss, h.hooks(hs))
		if err != nil {
			return fmt.Errorf("%s: %w", vs.Pos, err)
		}
		// A first build checks that the scheduler takes the pool; the
		// snapshot is made again from the pool with the kept results.
		if _, err = hs.build(hs.pool.Desired(), keepDead); err != nil {
			return fmt.Errorf("%s: %w", vs.Pos, err)
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

// hasChecks reports whether any real server of vs has a checker.
func hasChecks(vs config.VirtualServer) bool {
	for _, r := range vs.Reals {
		if len(r.Checks) > 0 {
			return true
		}
	}
	return false
}

// commandScript builds the script of a notify or quorum command; nil when
// the command is not set.
func commandScript(c config.Command, g config.Global) (*healthcheck.Script, error) {
	if len(c.Argv) == 0 {
		return nil, nil
	}
	return healthcheck.NewScript(joinArgv(c.Argv), g.ScriptUser, g.ScriptGroup)
}

func (h *Health) newChecker(id healthcheck.CheckID, c healthcheck.CheckSpec, server netip.AddrPort) (healthcheck.Checker, error) {
	if h.cfg.NewChecker != nil {
		return h.cfg.NewChecker(id, c, server)
	}
	return c.Config.NewChecker(server)
}

// hooks returns the pool hooks of hs. They run with h.mu held (inside
// Pool.Apply, Set and Shutdown).
func (h *Health) hooks(hs *healthService) healthcheck.Hooks {
	server := func(name string, up bool) {
		hs.up[name] = up
		if h.seeding {
			return
		}
		h.mailServerStop(hs, name, up) // omega at the end (alerts.go)
		f := []zap.Field{zap.String("service", hs.name), zap.String("server", name)}
		if up {
			h.log.Info("real server up", f...)
			h.runScript(hs.notifyUp[name], "notify_up", f)
		} else {
			h.log.Warn("real server down", f...)
			h.runScript(hs.notifyDown[name], "notify_down", f)
		}
	}
	quorum := func(up bool) {
		if h.seeding {
			return
		}
		h.mailQuorum(hs, up) // alerts.go
		f := []zap.Field{zap.String("service", hs.name)}
		if up {
			h.log.Info("quorum up", f...)
			h.runScript(hs.quorumUp, "quorum_up", f)
		} else {
			h.log.Warn("quorum down", f...)
			h.runScript(hs.quorumDown, "quorum_down", f)
		}
	}
	return healthcheck.Hooks{
		ServerUp:   func(name string) { server(name, true) },
		ServerDown: func(name string) { server(name, false) },
		QuorumUp:   func() { quorum(true) },
		QuorumDown: func() { quorum(false) },
	}
}

// runScript starts s in the background (nil: nothing to run).
func (h *Health) runScript(s *healthcheck.Script, what string, f []zap.Field) {
	if s == nil {
		return
	}
	f = append(f, zap.String("script", what), zap.Stringer("command", s))
	h.scripts.Go(func() {
		code, err := s.Run(h.scriptCtx, 0)
		switch {
		case err != nil:
			h.log.Warn("script failed", append(f, zap.Error(err))...)
		case code != 0:
			h.log.Warn("script failed", append(f, zap.Int("status", code))...)
		default:
			h.log.Debug("script done", f...)
		}
	})
}

// onChange is the Runner's OnChange: one check changed state.
func (h *Health) onChange(c healthcheck.Change) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f := []zap.Field{zap.String("check", c.ID.String())}
	switch {
	case c.Prev.Up != c.State.Up && c.State.Up:
		h.log.Info("health check up", f...)
	case c.Prev.Up != c.State.Up:
		h.log.Warn("health check down", append(f, zap.Error(c.Err))...)
	case c.State.HasWeight:
		h.log.Info("health check weight", append(f, zap.Int("weight", c.State.Weight))...)
	}
	hs := h.byName[c.ID.Service]
	if hs == nil || h.stopped {
		return
	}
	// The Runner's current state, not the change's: a change of a check
	// that a reload replaced may still be on its way.
	// A server may go down or up without its pool changing (while the
	// sorry server serves), so the down flags are brought up to date
	// after every change; publishLocked tells whether the pool changed.
	st, ok := h.runner.Status(c.ID)
	if !ok {
		return
	}
	wasUp := hs.up[c.ID.Server]
	hs.pool.Set(c.ID, st)
	h.mailCheck(hs, c, wasUp) // alerts.go
	if err := h.publishLocked(false); err != nil && !errors.Is(err, dataplane.ErrClosed) {
		h.log.Error("installing the new pools", zap.Error(err))
	}
}

// publishLocked rebuilds the snapshots of the pools that changed and, if
// any did or apply is set, hands the whole list to Apply. Servers coming
// back lose their down flag before Apply, so the pool that has them never
// moves their flows away; servers leaving get it after, once no new flow
// can be scheduled to them. Call it with h.mu held.
func (h *Health) publishLocked(apply bool) error {
	if h.stopped {
		return nil
	}
	list := make([]*nat.Service, 0, len(h.services))
	var up, down []*scheduler.Counts
	var changes [][]zap.Field
	flag := func(c *scheduler.Counts, want bool) {
		switch {
		case c == nil || c.Down() == want:
		case want:
			down = append(down, c)
		default:
			up = append(up, c)
		}
	}
	for _, hs := range h.services {
		if hs.pool == nil {
			list = append(list, hs.snap)
			continue
		}
		// The members alone make the snapshot: a change of the live
		// weight that moves no member (a server of a pool the sorry
		// server replaces) leaves the scheduler as it is.
		d := hs.pool.Desired()
		if hs.snap == nil || !slices.Equal(d.Members, hs.desired.Members) {
			snap, err := hs.build(d, h.keepDead)
			if err != nil {
				return fmt.Errorf("service %s: %w", hs.name, err)
			}
			if hs.snap != nil {
				changes = append(changes, []zap.Field{zap.String("service", hs.name), zap.String("pool", describePool(d)),
					zap.Bool("quorum", d.QuorumUp), zap.Bool("sorry_server", d.SorryActive)})
			}
			hs.snap, hs.desired = snap, d
			apply = true
		}
		list = append(list, hs.snap)
		for name, i := range hs.reals {
			flag(hs.base.Reals[i].Counts, !hs.up[name])
		}
		if hs.sorry != nil && !hs.sorryShared {
			flag(hs.sorry.Counts, !hs.desired.SorryActive)
		}
	}
	for _, c := range up {
		c.SetDown(false)
	}
	var err error
	if apply {
		err = h.cfg.Apply(list)
	}
	for _, c := range down {
		c.SetDown(true)
	}
	if err == nil {
		// Logged once installed, so that a reader of the log knows the
		// pool is what new connections get.
		for _, f := range changes {
			h.log.Info("pool changed", f...)
		}
	}
	return err
}

// describePool returns "name/weight …" of a Desired pool.
func describePool(d healthcheck.Desired) string {
	var b strings.Builder
	for i, m := range d.Members {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s/%d", m.Name, m.Weight)
	}
	if b.Len() == 0 {
		return "(empty)"
	}
	return b.String()
}

// build returns the snapshot of hs for a Desired pool: its members with
// their weights (0 for inhibited ones, which keep their configured weight
// as LastWeight so that sh and mh move no other flow), over the real
// servers' own Counts, and a new scheduler.
func (hs *healthService) build(d healthcheck.Desired, keepDead bool) (*nat.Service, error) {
	b := hs.base
	svc := &nat.Service{VIP: b.VIP, Port: b.Port, Proto: b.Proto, Persistence: b.Persistence, PersistBits: b.PersistBits,
		KeepDeadDest: keepDead}
	servers := make([]scheduler.Server, 0, len(d.Members))
	at := map[netip.AddrPort]int{}
	for _, m := range d.Members {
		var r nat.Real
		last := m.Weight
		if m.Sorry {
			r = nat.Real{Addr: hs.sorry.Addr, Port: hs.sorry.Port, Counts: hs.sorry.Counts}
		} else {
			br := b.Reals[hs.reals[m.Name]]
			r = nat.Real{Addr: br.Addr, Port: br.Port, Counts: br.Counts}
			last = br.Weight
		}
		r.Weight = m.Weight
		ap := netip.AddrPortFrom(netip.AddrFrom4(r.Addr), r.Port)
		if j, dup := at[ap]; dup {
			// The sorry server is also a real server: one entry, at
			// the higher weight.
			if r.Weight > svc.Reals[j].Weight {
				svc.Reals[j].Weight, servers[j].Weight = r.Weight, r.Weight
			}
			continue
		}
		at[ap] = len(svc.Reals)
		svc.Reals = append(svc.Reals, r)
		servers = append(servers, scheduler.Server{Weight: r.Weight, LastWeight: last, Key: ap.String(), Counts: r.Counts})
	}
	s, err := scheduler.NewWithOptions(hs.sched, servers, hs.opts)
	if err != nil {
		return nil, err
	}
	svc.Sched = s
	return svc, nil
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
	return d.health.Set(p.Spec, p.Services)
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
