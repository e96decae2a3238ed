package healthcheck

import (
	"fmt"
	"net/netip"
)

// ServiceSpec is the health-checking side of one virtual service: its real
// servers with their checkers, and the pool keywords. It is plain data,
// filled by the configuration layer; Jobs builds the checkers and NewPool
// the pool.
type ServiceSpec struct {
	// Name identifies the virtual service; it is CheckID.Service of its
	// checks and what Runner.Suspend takes.
	Name string
	// Servers are the real servers, in configuration order, which is the
	// order of Desired.Members.
	Servers []ServerSpec
	// Quorum is quorum: the live weight the pool needs. Zero means 1,
	// keepalived's default.
	Quorum int
	// Hysteresis is hysteresis: quorum is gained at Quorum+Hysteresis
	// and lost below Quorum-Hysteresis.
	Hysteresis int
	// Sorry is sorry_server; nil when there is none.
	Sorry *SorryServer
	// HASuspend is ha_suspend. The Pool does not act on it: whoever
	// tracks the virtual address calls Runner.Suspend.
	HASuspend bool
	// Omega is omega: Pool.Shutdown runs the down hooks.
	Omega bool
}

// ServerSpec is one real server.
type ServerSpec struct {
	// Name identifies the server within the service, e.g. "10.0.0.1:80".
	Name string
	// Addr is the server's address and port: where checks connect
	// unless their connect_ip and connect_port say otherwise.
	Addr netip.AddrPort
	// Weight is weight (keepalived's default is 1; the configuration
	// layer fills it in).
	Weight int
	// InhibitOnFailure is inhibit_on_failure: a failed server stays in
	// the pool with weight 0 instead of being removed.
	InhibitOnFailure bool
	// Checks are the server's checkers. The server is up when all of
	// them are up; a server without checkers is always up.
	Checks []CheckSpec
}

// CheckSpec is one checker block of a real server.
type CheckSpec struct {
	// Config is the checker's own keywords: TCPConfig, HTTPConfig, ….
	Config Config
	// Policy is the scheduling keywords; start from DefaultPolicy.
	Policy Policy
}

// SorryServer is sorry_server: the server that takes all traffic while
// the pool has lost quorum.
type SorryServer struct {
	// Name identifies it in Desired.Members.
	Name string
	// Weight is its weight while it serves; zero means 1.
	Weight int
	// Inhibit is sorry_server_inhibit: while not serving it stays in the
	// pool with weight 0.
	Inhibit bool
}

// Validate checks the spec's own fields (not its checkers': Jobs does).
// Errors wrap ErrInvalidConfig.
func (s ServiceSpec) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("service %q: %w: %s", s.Name, ErrInvalidConfig, fmt.Sprintf(format, a...))
	}
	if s.Quorum < 0 || s.Hysteresis < 0 {
		return bad("negative quorum or hysteresis")
	}
	seen := make(map[string]bool, len(s.Servers))
	for _, srv := range s.Servers {
		switch {
		case srv.Name == "":
			return bad("real server without a name")
		case seen[srv.Name]:
			return bad("real server %q appears twice", srv.Name)
		case srv.Weight < 0:
			return bad("real server %q has negative weight %d", srv.Name, srv.Weight)
		}
		seen[srv.Name] = true
		for i, c := range srv.Checks {
			if c.Config == nil {
				return bad("real server %q check %d has no configuration", srv.Name, i)
			}
			if err := c.Policy.Validate(); err != nil {
				return fmt.Errorf("service %q server %q check %d: %w", s.Name, srv.Name, i, err)
			}
		}
	}
	if s.Sorry != nil && (s.Sorry.Name == "" || s.Sorry.Weight < 0) {
		return bad("sorry server needs a name and a non-negative weight")
	}
	return nil
}

// Jobs validates the spec and builds one Job per checker, in order, with
// IDs {s.Name, server name, index among the server's checks}.
func (s ServiceSpec) Jobs() ([]Job, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	var jobs []Job
	for _, srv := range s.Servers {
		for i, c := range srv.Checks {
			id := CheckID{Service: s.Name, Server: srv.Name, Index: i}
			ch, err := c.Config.NewChecker(srv.Addr)
			if err != nil {
				return nil, fmt.Errorf("check %s (%s): %w", id, c.Config.Kind(), err)
			}
			jobs = append(jobs, Job{ID: id, Checker: ch, Policy: c.Policy})
		}
	}
	return jobs, nil
}
