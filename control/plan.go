package control

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/xvs-project/xvs/config"
	"github.com/xvs-project/xvs/healthcheck"
	"github.com/xvs-project/xvs/internal/header"
	"github.com/xvs-project/xvs/nat"
	"github.com/xvs-project/xvs/scheduler"
)

// The pure step: planSpec turns a Spec once into plain descriptions of the
// virtual services (ServicePlan) with every "not supported" check made
// there, and the rest of the package (health checks, listing, sync) reads
// those descriptions rather than the Spec. natService is the one place a
// description becomes a nat.Service.

// ServicePlan is one virtual service as the plan describes it, made from
// its virtual_server.
type ServicePlan struct {
	// Name is "PROTO VIP:PORT", as health checks, logs and alerts name
	// the service.
	Name string `json:"name"`
	// The key: Family is 4 (IPv4 only so far), Proto header.ProtocolTCP
	// or header.ProtocolUDP.
	Family int        `json:"family"`
	Proto  uint8      `json:"proto"`
	Addr   netip.Addr `json:"addr"`
	Port   uint16     `json:"port"`
	// Method is the forwarding method (lb_kind): NAT.
	Method string `json:"method"`
	// Scheduler is lb_algo as configured, SchedulerFlags its flags, and
	// Options what they mean to package scheduler.
	Scheduler      string            `json:"scheduler"`
	SchedulerFlags []string          `json:"scheduler_flags,omitempty"`
	Options        scheduler.Options `json:"-"`
	// Persistence is persistence_timeout, PersistBits its granularity as
	// a prefix length (0: the whole address).
	Persistence time.Duration `json:"persistence,omitempty"`
	PersistBits uint8         `json:"persist_bits,omitempty"`
	// What the pool needs: quorum, hysteresis, ha_suspend, omega,
	// sorry_server and the quorum scripts.
	Quorum     int          `json:"quorum,omitempty"`
	Hysteresis int          `json:"hysteresis,omitempty"`
	HASuspend  bool         `json:"ha_suspend,omitempty"`
	Omega      bool         `json:"omega,omitempty"`
	Sorry      *SorryPlan   `json:"sorry,omitempty"`
	QuorumUp   *CommandPlan `json:"quorum_up,omitempty"`
	QuorumDown *CommandPlan `json:"quorum_down,omitempty"`
	Reals      []RealPlan   `json:"reals"`
	// Checked: some real server has checks, so the health checks decide
	// the pool; without, the real servers are served as configured.
	Checked bool       `json:"checked,omitempty"`
	Pos     config.Pos `json:"-"`
}

// RealPlan is one real server of a ServicePlan.
type RealPlan struct {
	Addr                   netip.AddrPort `json:"addr"`
	Weight                 int            `json:"weight"`
	UThreshold, LThreshold int            `json:",omitempty"`
	Inhibit                bool           `json:"inhibit_on_failure,omitempty"`
	NotifyUp               *CommandPlan   `json:"notify_up,omitempty"`
	NotifyDown             *CommandPlan   `json:"notify_down,omitempty"`
	// Checks are its checkers in the healthcheck package's terms
	// (HealthCheckSpec), Kinds their kinds.
	Checks []healthcheck.CheckSpec `json:"checks,omitempty"`
	Kinds  []healthcheck.Kind      `json:"kinds,omitempty"`
	Pos    config.Pos              `json:"-"`
}

// SorryPlan is a service's sorry_server.
type SorryPlan struct {
	Addr    netip.AddrPort `json:"addr"`
	Inhibit bool           `json:"inhibit,omitempty"`
}

// CommandPlan is a notify or quorum script: its argument vector and the
// user and group it runs as (the global script_user).
type CommandPlan struct {
	Argv        []string   `json:"argv"`
	User, Group string     `json:",omitempty"`
	Pos         config.Pos `json:"-"`
}

// protoNumber is the protocol number of a virtual_server's protocol
// keyword: UDP, else TCP. It is the one place the keyword is read.
func protoNumber(protocol string) uint8 {
	if protocol == "UDP" {
		return header.ProtocolUDP
	}
	return header.ProtocolTCP
}

// serviceName is the name of a service: "PROTO VIP:PORT".
func serviceName(proto uint8, addr netip.Addr, port uint16) string {
	return protoName(proto) + " " + netip.AddrPortFrom(addr, port).String()
}

// key is the service's key, as countsKey has it.
func (sp *ServicePlan) key() countsKey {
	return countsKey{vip: sp.Addr.As4(), port: sp.Port, proto: sp.Proto}
}

// planService describes a virtual server, refusing what xvs does not do
// yet. The checkers' specs are made by planChecks.
func planService(vs config.VirtualServer, g config.Global) (ServicePlan, error) {
	if !vs.Addr.Is4() {
		return ServicePlan{}, fmt.Errorf("%s: virtual_server %s: IPv6 services are not supported yet", vs.Pos, vs.Addr)
	}
	if vs.Kind != "NAT" {
		return ServicePlan{}, fmt.Errorf("%s: virtual_server %s %d: lb_kind %s is not supported yet; xvs forwards with NAT", vs.Pos, vs.Addr, vs.Port, vs.Kind)
	}
	opts, err := scheduler.KeepalivedOptions(vs.Scheduler, vs.SchedulerFlags...)
	if err != nil {
		return ServicePlan{}, fmt.Errorf("%s: %w", vs.Pos, err)
	}
	proto := protoNumber(vs.Protocol)
	sp := ServicePlan{Name: serviceName(proto, vs.Addr, vs.Port),
		Family: 4, Proto: proto, Addr: vs.Addr, Port: vs.Port, Method: vs.Kind,
		Scheduler: vs.Scheduler, SchedulerFlags: vs.SchedulerFlags, Options: opts,
		Persistence: vs.PersistenceTimeout, PersistBits: uint8(min(vs.PersistenceGranularity, 32)),
		Quorum: vs.Quorum, Hysteresis: vs.Hysteresis, HASuspend: vs.HASuspend, Omega: vs.Omega,
		QuorumUp: planCommand(vs.QuorumUp, g), QuorumDown: planCommand(vs.QuorumDown, g), Pos: vs.Pos}
	if s := vs.Sorry; s != nil {
		sp.Sorry = &SorryPlan{Addr: netip.AddrPortFrom(s.Addr, s.Port), Inhibit: s.Inhibit}
	}
	for _, r := range vs.Reals {
		sp.Reals = append(sp.Reals, RealPlan{Addr: netip.AddrPortFrom(r.Addr, r.Port), Weight: r.Weight,
			UThreshold: r.UThreshold, LThreshold: r.LThreshold, Inhibit: r.InhibitOnFailure,
			NotifyUp: planCommand(r.NotifyUp, g), NotifyDown: planCommand(r.NotifyDown, g), Pos: r.Pos})
	}
	return sp, nil
}

// planChecks adds the specs of the checkers of vs to its description sp,
// and checks the pool they make (healthcheck.ServiceSpec.Validate). A
// service without checkers is left as it is.
func planChecks(sp *ServicePlan, vs config.VirtualServer, g config.Global) error {
	if !hasChecks(vs) {
		return nil
	}
	sp.Checked = true
	for i, r := range vs.Reals {
		rp := &sp.Reals[i]
		for _, c := range r.Checks {
			cs, err := HealthCheckSpec(c, g)
			if err != nil {
				return err
			}
			rp.Checks = append(rp.Checks, cs)
			rp.Kinds = append(rp.Kinds, cs.Config.Kind())
		}
	}
	if err := sp.healthSpec().Validate(); err != nil {
		return fmt.Errorf("%s: %w", sp.Pos, err)
	}
	return nil
}

// planCommand describes a notify or quorum command; nil when not set.
func planCommand(c config.Command, g config.Global) *CommandPlan {
	if len(c.Argv) == 0 {
		return nil
	}
	return &CommandPlan{Argv: c.Argv, User: g.ScriptUser, Group: g.ScriptGroup, Pos: c.Pos}
}

// healthSpec is the health-checking spec of the service's pool: its real
// servers with their checks, quorum, hysteresis, sorry_server, ha_suspend
// and omega. Server names are "ADDR:PORT", the sorry server's
// "sorry_server ADDR:PORT".
func (sp *ServicePlan) healthSpec() healthcheck.ServiceSpec {
	s := healthcheck.ServiceSpec{Name: sp.Name, Quorum: sp.Quorum, Hysteresis: sp.Hysteresis,
		HASuspend: sp.HASuspend, Omega: sp.Omega}
	for _, r := range sp.Reals {
		s.Servers = append(s.Servers, healthcheck.ServerSpec{Name: r.Addr.String(), Addr: r.Addr,
			Weight: r.Weight, InhibitOnFailure: r.Inhibit, Checks: r.Checks})
	}
	if sp.Sorry != nil {
		s.Sorry = &healthcheck.SorryServer{Name: "sorry_server " + sp.Sorry.Addr.String(), Weight: 1, Inhibit: sp.Sorry.Inhibit}
	}
	return s
}

// script builds a notify or quorum script; nil for a nil command.
func (c *CommandPlan) script() (*healthcheck.Script, error) {
	if c == nil {
		return nil, nil
	}
	return healthcheck.NewScript(joinArgv(c.Argv), c.User, c.Group)
}

// member is a real server as a snapshot schedules it: its weight now, the
// weight it was configured with (scheduler.Server.LastWeight) and its
// connection counts.
type member struct {
	addr         netip.AddrPort
	weight, last int
	counts       *scheduler.Counts
}

// natService builds the nat.Service of a service description over
// members, with a new scheduler: the one place a description becomes what
// the dataplane serves. A member listed twice (a sorry server that is also
// a real server) is one entry, at the higher weight.
func natService(sp *ServicePlan, members []member, opts scheduler.Options, keepDead bool) (*nat.Service, error) {
	svc := &nat.Service{VIP: sp.Addr.As4(), Port: sp.Port, Proto: sp.Proto, Persistence: sp.Persistence, PersistBits: sp.PersistBits,
		KeepDeadDest: keepDead}
	servers := make([]scheduler.Server, 0, len(members))
	at := map[netip.AddrPort]int{}
	for _, m := range members {
		if j, dup := at[m.addr]; dup {
			if m.weight > svc.Reals[j].Weight {
				svc.Reals[j].Weight, servers[j].Weight = m.weight, m.weight
			}
			continue
		}
		at[m.addr] = len(svc.Reals)
		svc.Reals = append(svc.Reals, nat.Real{Addr: m.addr.Addr().As4(), Port: m.addr.Port(), Weight: m.weight, Counts: m.counts})
		servers = append(servers, scheduler.Server{Weight: m.weight, LastWeight: m.last, Key: m.addr.String(), Counts: m.counts})
	}
	s, err := scheduler.NewWithOptions(sp.Scheduler, servers, opts)
	if err != nil {
		return nil, err
	}
	svc.Sched = s
	return svc, nil
}

// realCounts returns the connection counts of the real servers of sp, in
// the order of sp.Reals.
func (p *Plan) realCounts(sp *ServicePlan) []*scheduler.Counts {
	out := make([]*scheduler.Counts, len(sp.Reals))
	for i, r := range sp.Reals {
		k := sp.key()
		k.real = r.Addr
		out[i] = p.counts[k]
	}
	return out
}

// configured returns the members of sp at their configured weights.
func configured(sp *ServicePlan, counts []*scheduler.Counts) []member {
	ms := make([]member, len(sp.Reals))
	for i, r := range sp.Reals {
		ms[i] = member{addr: r.Addr, weight: r.Weight, last: r.Weight, counts: counts[i]}
	}
	return ms
}

// natServices returns every service of the plan with all its real
// servers at their configured weights.
func (p *Plan) natServices() []*nat.Service {
	out := make([]*nat.Service, 0, len(p.Services))
	for i := range p.Services {
		sp := &p.Services[i]
		// planSpec built it already: it cannot fail.
		if svc, err := natService(sp, configured(sp, p.realCounts(sp)), sp.Options, false); err == nil {
			out = append(out, svc)
		}
	}
	return out
}
