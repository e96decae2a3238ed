package healthcheck

import "slices"

// Hooks are called by a Pool when servers or the quorum change state:
// keepalived's notify_up, notify_down, quorum_up and quorum_down. They run
// synchronously inside Pool.Apply and Pool.Shutdown, in the order the
// changes happen (a server's hook before the quorum hook it causes), so
// they must not block: start scripts in goroutines. Nil hooks are
// skipped. No hook reports the initial state.
type Hooks struct {
	// ServerUp is notify_up: the named real server came up.
	ServerUp func(server string)
	// ServerDown is notify_down: the named real server went down.
	ServerDown func(server string)
	// QuorumUp is quorum_up: the live weight reached the quorum.
	QuorumUp func()
	// QuorumDown is quorum_down: the live weight fell below the quorum.
	QuorumDown func()
}

// Desired is the pool a virtual service should have.
type Desired struct {
	// Members are the servers to have in the pool, in ServiceSpec order,
	// then the sorry server.
	Members []Member
	// QuorumUp reports whether the live weight meets the quorum.
	QuorumUp bool
	// SorryActive reports whether the sorry server serves instead of
	// the real servers.
	SorryActive bool
	// LiveWeight is the sum of the weights of the servers that are up.
	LiveWeight int
}

// Member is one server in a Desired pool.
type Member struct {
	// Name is ServerSpec.Name, or SorryServer.Name.
	Name string
	// Weight is the weight to schedule it with; 0 for a server kept in
	// the pool by inhibit_on_failure (or sorry_server_inhibit), which
	// takes no new connections.
	Weight int
	// Up reports whether the server is up (or, for the sorry server,
	// serving).
	Up bool
	// Sorry marks the sorry server.
	Sorry bool
}

// Equal reports whether d and o describe the same pool.
func (d Desired) Equal(o Desired) bool {
	return d.QuorumUp == o.QuorumUp && d.SorryActive == o.SorryActive &&
		d.LiveWeight == o.LiveWeight && slices.Equal(d.Members, o.Members)
}

// Pool follows the check states of one virtual service's real servers and
// computes its Desired pool with keepalived's rules:
//
//   - A server is up when all its checks are up. Its weight is its
//     configured weight, or the dynamic weight its checks last reported
//     (from the check with the highest index, if several do).
//   - A server that is down is left out, or kept at weight 0 under
//     inhibit_on_failure.
//   - The quorum is gained when the live weight reaches
//     Quorum+Hysteresis and lost when it falls below Quorum-Hysteresis
//     or to 0. At the start it is up if the live weight is at least
//     Quorum+Hysteresis.
//   - While the quorum is lost and there is a sorry server, the sorry
//     server alone takes new connections: the servers that are up are
//     left out (inhibited failed ones stay at weight 0).
//
// Desired depends only on the spec and the sequence of states applied, so
// equal histories give equal pools.
//
// A Pool is not safe for concurrent use; feed it from Runner's OnChange,
// whose calls never overlap.
type Pool struct {
	spec     ServiceSpec
	hooks    Hooks
	index    map[string]int
	servers  []poolServer
	quorumUp bool
	sorryOn  bool
	shut     bool
}

type poolServer struct {
	checks []State
	up     bool
}

// NewPool returns the pool of spec with every check in its initial state
// (down under alpha, up otherwise). Errors come from spec.Validate.
func NewPool(spec ServiceSpec, hooks Hooks) (*Pool, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	p := &Pool{spec: spec, hooks: hooks, index: make(map[string]int, len(spec.Servers))}
	p.spec.Servers = slices.Clone(spec.Servers)
	if spec.Sorry != nil {
		s := *spec.Sorry
		p.spec.Sorry = &s
	}
	p.servers = make([]poolServer, len(spec.Servers))
	for i, srv := range spec.Servers {
		p.index[srv.Name] = i
		ps := &p.servers[i]
		ps.checks = make([]State, len(srv.Checks))
		for j, c := range srv.Checks {
			ps.checks[j] = c.Policy.Initial()
		}
		ps.up = allUp(ps.checks)
	}
	p.quorumUp = p.liveWeight() >= p.quorum()+p.spec.Hysteresis
	p.sorryOn = !p.quorumUp && p.spec.Sorry != nil
	return p, nil
}

// Apply records a Change from the Runner. It ignores changes of other
// services, unknown checks, and everything after Shutdown. It reports
// whether the Desired pool changed.
func (p *Pool) Apply(c Change) bool { return p.Set(c.ID, c.State) }

// Set records the state of one check (for example from Runner.Status),
// like Apply.
func (p *Pool) Set(id CheckID, s State) bool {
	if p.shut || id.Service != p.spec.Name {
		return false
	}
	i, ok := p.index[id.Server]
	if !ok || id.Index < 0 || id.Index >= len(p.servers[i].checks) {
		return false
	}
	before := p.Desired()
	ps := &p.servers[i]
	ps.checks[id.Index] = s
	if up := allUp(ps.checks); up != ps.up {
		ps.up = up
		name := p.spec.Servers[i].Name
		if up {
			call1(p.hooks.ServerUp, name)
		} else {
			call1(p.hooks.ServerDown, name)
		}
	}
	p.updateQuorum()
	return !before.Equal(p.Desired())
}

// Shutdown ends the pool's life. Under omega it first takes every server
// that is up down, with its ServerDown hook, and then the quorum, with
// QuorumDown if it was up, as keepalived does on exit. Later calls of
// Apply and Set are ignored.
func (p *Pool) Shutdown() {
	if p.shut {
		return
	}
	p.shut = true
	if !p.spec.Omega {
		return
	}
	for i := range p.servers {
		if p.servers[i].up {
			p.servers[i].up = false
			call1(p.hooks.ServerDown, p.spec.Servers[i].Name)
		}
	}
	if p.quorumUp {
		p.quorumUp = false
		call0(p.hooks.QuorumDown)
	}
}

// Desired returns the pool the service should have now.
func (p *Pool) Desired() Desired {
	d := Desired{QuorumUp: p.quorumUp, SorryActive: p.sorryOn, LiveWeight: p.liveWeight()}
	for i, srv := range p.spec.Servers {
		ps := &p.servers[i]
		switch {
		case ps.up && !p.sorryOn:
			d.Members = append(d.Members, Member{Name: srv.Name, Weight: p.weight(i), Up: true})
		case ps.up:
			// replaced by the sorry server
		case srv.InhibitOnFailure:
			d.Members = append(d.Members, Member{Name: srv.Name})
		}
	}
	if s := p.spec.Sorry; s != nil {
		switch {
		case p.sorryOn:
			w := s.Weight
			if w == 0 {
				w = 1
			}
			d.Members = append(d.Members, Member{Name: s.Name, Weight: w, Up: true, Sorry: true})
		case s.Inhibit:
			d.Members = append(d.Members, Member{Name: s.Name, Sorry: true})
		}
	}
	return d
}

func (p *Pool) quorum() int {
	if p.spec.Quorum == 0 {
		return 1
	}
	return p.spec.Quorum
}

// weight returns server i's effective weight.
func (p *Pool) weight(i int) int {
	w := p.spec.Servers[i].Weight
	for _, s := range p.servers[i].checks {
		if s.HasWeight {
			w = s.Weight
		}
	}
	return w
}

func (p *Pool) liveWeight() int {
	sum := 0
	for i := range p.servers {
		if p.servers[i].up {
			sum += p.weight(i)
		}
	}
	return sum
}

// updateQuorum applies keepalived's quorum transitions after a change.
func (p *Pool) updateQuorum() {
	sum := p.liveWeight()
	h := p.spec.Hysteresis
	switch {
	case !p.quorumUp && sum >= p.quorum()+h:
		p.quorumUp, p.sorryOn = true, false
		call0(p.hooks.QuorumUp)
	case p.quorumUp && (sum == 0 || sum < p.quorum()-h):
		p.quorumUp = false
		p.sorryOn = p.spec.Sorry != nil
		call0(p.hooks.QuorumDown)
	}
}

func allUp(checks []State) bool {
	for _, s := range checks {
		if !s.Up {
			return false
		}
	}
	return true
}

func call0(f func()) {
	if f != nil {
		f()
	}
}

func call1(f func(string), s string) {
	if f != nil {
		f(s)
	}
}
