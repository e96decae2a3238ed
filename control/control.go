// Package control turns a configuration Spec into a running director: it
// finds the WAN and LAN interfaces the way a keepalived.conf implies them,
// builds the virtual services and their schedulers, and runs the dataplane.
//
// It is not for parsing (package config) nor for moving frames (package
// dataplane).
package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/xvs-project/xvs/config"
	"github.com/xvs-project/xvs/connsync"
	"github.com/xvs-project/xvs/dataplane"
	"github.com/xvs-project/xvs/nat"
	"github.com/xvs-project/xvs/scheduler"
	"github.com/xvs-project/xvs/vrrp"
	"go.uber.org/zap"
)

// Plan is what a Spec means on this machine: the interfaces and the
// services. Making a Plan reads the kernel's addresses and routes but changes
// nothing.
type Plan struct {
	WAN, LAN string
	Queues   int // caps the workers; 0: no cap
	// CPUs the workers run on; nil: every CPU the process may use.
	CPUs []int
	// MaxConns bounds the connection table; 0: nat.DefaultMaxConns().
	MaxConns int
	// Timeouts are the connection timeouts: IPVS's defaults with
	// lvs_timeouts applied.
	Timeouts nat.Timeouts
	// Services describe the virtual services, one per virtual_server in
	// the order of the Spec.
	Services []ServicePlan
	// UDPKeepDeadDest is xvs { udp_reschedule off }: UDP flows stay on a
	// real server the health checks took out (nat.Service.KeepDeadDest).
	UDPKeepDeadDest bool
	// Spec is the configuration the plan was made from. Only what is
	// not planned yet reads it: the VRRP runner, mail alerts, the
	// reload's test of a VRRP change, and EditReal, which edits it and
	// reloads.
	Spec *config.Spec `json:"-"`
	// counts are the connection counts of every real server of every
	// virtual service this plan or one before it had; they are never
	// dropped, since connections may still refer to them.
	counts map[countsKey]*scheduler.Counts
	// Notes are things worth telling the operator, e.g. a scheduler that is
	// not implemented yet and what is used instead.
	Notes []string
	// Sync is the connection sync (lvs_sync_daemon); nil without it.
	Sync *SyncPlan
	// SyncPolicy is when connections are synced (xvs { sync_threshold }),
	// IPVS's default 3 50 unless set.
	SyncPolicy nat.SyncPolicy
	// SloppyTCP is xvs { sloppy_tcp }: TCP segments other than SYNs may
	// start connections (nat.Engine.SetSloppyTCP).
	SloppyTCP bool
}

// NewPlan resolves a Spec against the machine's interfaces.
func NewPlan(spec *config.Spec) (*Plan, error) { return newPlan(spec, nil) }

// CheckSpec refuses what NewPlan would refuse in a Spec before it looks at
// the machine's interfaces and routes: features xvs does not have yet
// (IPv6 services, DR and TUN), scheduler options, cpus outside the allowed
// set, unsafe scripts under enable_script_security, sync_threshold. It is
// the code NewPlan runs, so xvs check refuses what xvs run refuses; on
// the director itself check also calls NewPlan.
func CheckSpec(spec *config.Spec) error {
	_, err := planSpec(spec, nil)
	return err
}

// CheckCPUs refuses an xvs block's cpus that this process may not run
// on (taskset, systemd's CPUAffinity=, a cpuset cgroup), naming the
// list's file:line:col. xvs check and xvs run both call it.
func CheckCPUs(spec *config.Spec) error {
	if len(spec.XVS.CPUs) == 0 {
		return nil
	}
	allowed, err := dataplane.AllowedCPUs()
	if err != nil {
		return err
	}
	if err := dataplane.CheckCPUs(spec.XVS.CPUs, allowed); err != nil {
		return fmt.Errorf("%s: cpus %s: %w", spec.XVS.CPUsPos, dataplane.FormatCPUs(spec.XVS.CPUs), err)
	}
	return nil
}

// countsKey names a real server of a virtual service across plans.
type countsKey struct {
	vip   [4]byte
	port  uint16
	proto uint8
	real  netip.AddrPort
}

// newPlan is NewPlan; a real server that prev (or any plan before it) had
// keeps its connection counts, so that a reload leaves the schedulers' view
// of the established connections right, and a server removed and added
// again has the same counts as the connections it still has from before.
func newPlan(spec *config.Spec, prev *Plan) (*Plan, error) {
	p, err := planSpec(spec, prev)
	if err != nil {
		return nil, err
	}
	if p.WAN == "" {
		wan, err := findWAN(spec)
		if err != nil {
			return nil, err
		}
		p.WAN = wan
	}
	if p.LAN == "" {
		lan, err := findLAN(spec)
		if err != nil {
			return nil, err
		}
		p.LAN = lan
	}
	if err := syncPlan(spec, p, true); err != nil {
		return nil, err
	}
	return p, nil
}

// planSpec is the part of newPlan that reads only the Spec.
func planSpec(spec *config.Spec, prev *Plan) (*Plan, error) {
	counts := map[countsKey]*scheduler.Counts{}
	if prev != nil {
		maps.Copy(counts, prev.counts)
	}
	p := &Plan{counts: counts, Spec: spec, WAN: spec.XVS.WANInterface, LAN: spec.XVS.LANInterface, Queues: spec.XVS.Queues, MaxConns: spec.XVS.MaxConnections,
		Timeouts: nat.DefaultTimeouts}
	if lt := spec.Global.LVSTimeouts; lt.TCP > 0 {
		p.Timeouts[nat.StateEstablished] = lt.TCP
	}
	if lt := spec.Global.LVSTimeouts; lt.TCPFin > 0 {
		p.Timeouts[nat.StateFinWait] = lt.TCPFin
	}
	if lt := spec.Global.LVSTimeouts; lt.UDP > 0 {
		p.Timeouts[nat.StateUDP] = lt.UDP
	}
	if len(spec.VirtualServers) == 0 {
		return nil, fmt.Errorf("the configuration has no virtual_server: there is nothing to serve")
	}
	if err := checkScriptSecurity(spec); err != nil {
		return nil, err
	}
	if err := CheckCPUs(spec); err != nil {
		return nil, err
	}
	p.CPUs = spec.XVS.CPUs
	p.UDPKeepDeadDest = spec.XVS.UDPKeepDeadDest
	for _, vs := range spec.VirtualServers {
		sp, err := planService(vs, spec.Global)
		if err != nil {
			return nil, err
		}
		for _, r := range sp.Reals {
			key := sp.key()
			key.real = r.Addr
			cnt := counts[key]
			if cnt == nil {
				cnt = new(scheduler.Counts)
				counts[key] = cnt
			}
			cnt.SetThresholds(r.UThreshold, r.LThreshold)
		}
		// The scheduler must take the servers (an mh table too small for
		// them, say).
		if _, err := natService(&sp, configured(&sp, p.realCounts(&sp)), sp.Options, false); err != nil {
			return nil, fmt.Errorf("%s: %w", vs.Pos, err)
		}
		p.Services = append(p.Services, sp)
	}
	if err := syncPlan(spec, p, false); err != nil {
		return nil, err
	}
	// The checkers last, as the health checks took them after everything
	// else before the plan had them.
	for i, vs := range spec.VirtualServers {
		if err := planChecks(&p.Services[i], vs, spec.Global); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// findWAN returns the interface that holds the VIPs, or the interface of
// the vrrp_instance whose virtual_ipaddress has them.
func findWAN(spec *config.Spec) (string, error) {
	owner := map[netip.Addr]string{}
	links, err := netlink.LinkList()
	if err != nil {
		return "", fmt.Errorf("listing interfaces: %w", err)
	}
	for _, l := range links {
		addrs, err := netlink.AddrList(l, netlink.FAMILY_V4)
		if err != nil {
			return "", fmt.Errorf("listing addresses of %s: %w", l.Attrs().Name, err)
		}
		for _, a := range addrs {
			if ip, ok := netip.AddrFromSlice(a.IP.To4()); ok {
				owner[ip] = l.Attrs().Name
			}
		}
	}
	for _, in := range spec.VRRPInstances {
		for _, v := range in.VirtualIPs {
			dev := v.Dev
			if dev == "" {
				dev = in.Interface
			}
			if _, held := owner[v.Prefix.Addr()]; !held && dev != "" {
				owner[v.Prefix.Addr()] = dev
			}
		}
	}
	return agree("WAN", "wan_interface", spec, func(vs config.VirtualServer) []addrPos {
		return []addrPos{{vs.Addr, vs.Pos}}
	}, func(a netip.Addr) (string, error) {
		if dev, ok := owner[a]; ok {
			return dev, nil
		}
		return "", fmt.Errorf("VIP %s is on no interface and in no vrrp_instance's virtual_ipaddress", a)
	})
}

// findLAN returns the interface the kernel routes the real servers through.
func findLAN(spec *config.Spec) (string, error) {
	return agree("LAN", "lan_interface", spec, func(vs config.VirtualServer) []addrPos {
		var out []addrPos
		for _, r := range vs.Reals {
			out = append(out, addrPos{r.Addr, r.Pos})
		}
		return out
	}, func(a netip.Addr) (string, error) {
		rs, err := netlink.RouteGet(net.IP(a.AsSlice()))
		if err != nil || len(rs) == 0 {
			return "", fmt.Errorf("no route to real server %s", a)
		}
		l, err := netlink.LinkByIndex(rs[0].LinkIndex)
		if err != nil {
			return "", fmt.Errorf("route to real server %s: %w", a, err)
		}
		return l.Attrs().Name, nil
	})
}

type addrPos struct {
	addr netip.Addr
	pos  config.Pos
}

// agree finds the interface of every address and requires them to be one.
func agree(side, keyword string, spec *config.Spec, addrs func(config.VirtualServer) []addrPos, find func(netip.Addr) (string, error)) (string, error) {
	var name string
	var first addrPos
	for _, vs := range spec.VirtualServers {
		for _, ap := range addrs(vs) {
			n, err := find(ap.addr)
			if err != nil {
				return "", fmt.Errorf("%s: cannot tell the %s interface: %w; name it with xvs { %s IF }", ap.pos, side, err, keyword)
			}
			if name == "" {
				name, first = n, ap
			} else if n != name {
				return "", fmt.Errorf("%s: %s is reached through %s but %s (%s) through %s: xvs serves one %s interface; name it with xvs { %s IF }",
					ap.pos, ap.addr, n, first.addr, first.pos, name, side, keyword)
			}
		}
	}
	if name == "" {
		return "", fmt.Errorf("cannot tell the %s interface; name it with xvs { %s IF }", side, keyword)
	}
	return name, nil
}

// Describe returns a one-line summary of the plan's services.
func (p *Plan) Describe() string {
	var b strings.Builder
	for i, s := range p.Services {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s → %d real servers", s.Name, len(s.Reals))
	}
	return b.String()
}

// Director is a running xvs: a plan applied to a dataplane.
type Director struct {
	Plan      *Plan
	Engine    *nat.Engine
	Dataplane *dataplane.Dataplane
	log       *zap.Logger
	vrrp      *vrrpRunner // nil without vrrp_instances
	sync      *connSync   // nil without lvs_sync_daemon
	health    *Health     // health checks; hands setServices the pools (health.go)
	alerts    *alerter    // mail alerts (alerts.go)

	// mu guards the services offered (wanted) and the VIPs owned through
	// VRRP, from which publish computes what the dataplane serves.
	rates    rates      // per real server and service, for xvs list --rate (stats.go)
	reloadMu sync.Mutex // one Reload or EditReal at a time
	mu       sync.Mutex
	wanted   []*nat.Service
	owned    map[[4]byte]bool
	vrrpVIPs map[[4]byte]bool
}

// Start applies a plan: it makes the connection table and the dataplane and
// installs the services. Run then forwards until its context ends.
//
// The VIPs of vrrp_instances are never put on the kernel's interfaces: the
// XDP classifier answers ARP and ICMP echo for them while this director is
// MASTER, and their virtual services are served only then. Such a VIP
// found on an interface at start (left by keepalived, say) is taken off,
// since the kernel would keep answering for it after xvs stopped.
func Start(p *Plan, log *zap.Logger) (*Director, error) {
	eng := nat.NewEngine(nat.NewTable(p.MaxConns, p.Timeouts))
	eng.SetSloppyTCP(p.SloppyTCP)
	if err := eng.SetSyncPolicy(p.SyncPolicy); err != nil {
		return nil, err
	}
	dp, err := dataplane.New(dataplane.Config{WAN: p.WAN, LAN: p.LAN, Queues: p.Queues, CPUs: p.CPUs, Log: log}, eng)
	if err != nil {
		return nil, err
	}
	d := &Director{Plan: p, Engine: eng, Dataplane: dp, log: log, owned: map[[4]byte]bool{}, vrrpVIPs: map[[4]byte]bool{}}
	d.alerts = newAlerter(p.Spec, log)
	if p.Spec != nil && len(p.Spec.VRRPInstances) > 0 {
		if d.vrrp, err = newVRRPRunner(p.Spec, p, dp, log); err != nil {
			dp.Close()
			return nil, err
		}
		for a := range d.vrrp.VIPs() {
			d.vrrpVIPs[a.As4()] = true
		}
		d.vrrp.onOwned = d.setOwned
		d.vrrp.alerts = d.alerts
		d.removeKernelVIPs()
		if p.Sync != nil {
			if d.sync, err = newConnSync(p, eng, dp, log); err != nil {
				dp.Close()
				return nil, err
			}
			d.vrrp.onState = func(inst string, to vrrp.State) {
				if inst == p.Sync.Instance {
					d.sync.vrrpState(to)
				}
			}
		}
	}
	if err := d.offer(p); err != nil { // through the health checks (health.go)
		dp.Close()
		return nil, err
	}
	d.suspendChecks() // no VRRP VIP is owned yet
	return d, nil
}

// removeKernelVIPs takes VRRP VIPs off the kernel's interfaces.
func (d *Director) removeKernelVIPs() {
	links, err := netlink.LinkList()
	if err != nil {
		d.log.Warn("listing interfaces", zap.Error(err))
		return
	}
	for _, l := range links {
		addrs, err := netlink.AddrList(l, netlink.FAMILY_V4)
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ip, ok := netip.AddrFromSlice(a.IP.To4())
			if !ok || !d.vrrpVIPs[ip.As4()] {
				continue
			}
			if err := netlink.AddrDel(l, &a); err != nil {
				d.log.Warn("removing a VRRP VIP from the kernel", zap.String("vip", a.IPNet.String()), zap.String("interface", l.Attrs().Name), zap.Error(err))
				continue
			}
			d.log.Warn("removed a VRRP VIP from the kernel: xvs answers for it while MASTER", zap.String("vip", a.IPNet.String()), zap.String("interface", l.Attrs().Name))
		}
	}
}

// setServices makes list the services offered; those of VRRP VIPs are
// served only while the VIP is owned.
func (d *Director) setServices(list []*nat.Service) error {
	d.mu.Lock()
	prev := d.wanted
	d.wanted = list
	if err := d.publish(); err != nil {
		d.wanted = prev
		d.mu.Unlock()
		return err
	}
	d.mu.Unlock()
	// Wait for the real servers' link-layer addresses outside d.mu, which
	// the VRRP runner takes (setOwned never waits for them).
	d.Dataplane.AwaitNeighbours(time.Second)
	return nil
}

// setOwned is called by the VRRP runner when the owned VIPs change.
func (d *Director) setOwned(list []dataplane.Owned) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.owned = make(map[[4]byte]bool, len(list))
	for _, o := range list {
		d.owned[o.Addr] = true
	}
	d.suspendChecks()
	// Serve first, then answer ARP; on release the other way round is
	// not needed: nobody is sent here once the ARP answers stop.
	if err := d.publish(); err != nil {
		d.log.Error("updating the services for VRRP", zap.Error(err))
	}
	if err := d.Dataplane.SetOwned(list); err != nil {
		d.log.Error("updating the VIPs answered for", zap.Error(err))
	}
}

// suspendChecks applies ha_suspend: the checks of a VRRP VIP's services
// run only while the VIP is owned. d.owned must not change meanwhile.
func (d *Director) suspendChecks() {
	if d.health == nil {
		return
	}
	for vip := range d.vrrpVIPs {
		d.health.SuspendVIP(netip.AddrFrom4(vip), !d.owned[vip])
	}
}

// publish installs the wanted services that may be served now. d.mu held.
func (d *Director) publish() error {
	var serve []*nat.Service
	for _, s := range d.wanted {
		if !d.vrrpVIPs[s.VIP] || d.owned[s.VIP] {
			serve = append(serve, s)
		}
	}
	return d.Dataplane.SetServices(serve)
}

// VRRP returns the states of the vrrp_instances; nil without any.
func (d *Director) VRRP() []VRRPStatus {
	if d.vrrp == nil {
		return nil
	}
	return d.vrrp.Status()
}

// Reload applies a new configuration to the running director as a
// difference: services, real servers and weights change for new
// connections, established connections keep their real servers (a removed
// real server's connections run on until they end), and the fast path
// never pauses. A configuration that cannot be applied, or that changes
// what only a restart can (the interfaces, queues, max_connections,
// lvs_timeouts), is refused with the reason and the running one stays.
// Reloads and runtime edits (EditReal) are applied one at a time.
func (d *Director) Reload(spec *config.Spec) error {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	return d.reload(spec)
}

// reload is Reload with d.reloadMu held.
func (d *Director) reload(spec *config.Spec) error {
	p, err := newPlan(spec, d.Plan)
	if err != nil {
		return err
	}
	switch {
	case p.WAN != d.Plan.WAN || p.LAN != d.Plan.LAN:
		return fmt.Errorf("the interfaces change (WAN %s → %s, LAN %s → %s): that needs a restart", d.Plan.WAN, p.WAN, d.Plan.LAN, p.LAN)
	case p.Queues != d.Plan.Queues:
		return fmt.Errorf("queues changes from %d to %d: that needs a restart", d.Plan.Queues, p.Queues)
	case !slices.Equal(p.CPUs, d.Plan.CPUs):
		return fmt.Errorf("cpus changes from %q to %q: that needs a restart", dataplane.FormatCPUs(d.Plan.CPUs), dataplane.FormatCPUs(p.CPUs))
	case p.MaxConns != d.Plan.MaxConns:
		return fmt.Errorf("max_connections changes from %d to %d: that needs a restart", d.Plan.MaxConns, p.MaxConns)
	case p.Timeouts != d.Plan.Timeouts:
		return fmt.Errorf("lvs_timeouts change: that needs a restart")
	}
	if !sameSync(p.Sync, d.Plan.Sync) {
		return fmt.Errorf("lvs_sync_daemon changes: that needs a restart")
	}
	if vrrpSignature(spec) != vrrpSignature(d.Plan.Spec) {
		return fmt.Errorf("the VRRP configuration (vrrp_instance, vrrp_script, vrrp_sync_group or global vrrp settings) changes: that needs a restart")
	}
	prev := d.Plan
	d.Plan = p
	if err := d.offer(p); err != nil { // through the health checks (health.go)
		d.Plan = prev
		return err
	}
	// Validated by newPlan, so it cannot fail here.
	_ = d.Engine.SetSyncPolicy(p.SyncPolicy)
	d.Engine.SetSloppyTCP(p.SloppyTCP)
	d.alerts.set(spec)
	if d.sync != nil {
		d.sync.setServices(p.natServices())
	}
	return nil
}

// sameSync reports whether two sync plans are the same.
func sameSync(a, b *SyncPlan) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// Run forwards until ctx is done, then stops VRRP (a MASTER sends
// priority 0 so that a backup takes over at once) and detaches and closes
// everything.
func (d *Director) Run(ctx context.Context) error {
	defer d.alerts.start()()          // mail alerts go out while it runs; stopped last (alerts.go)
	stopHealth := d.health.Start(ctx) // health checks run while the director does (health.go)
	defer stopHealth()
	ectx, stopRates := context.WithCancel(ctx)
	defer stopRates()
	go d.estimate(ectx) // rate estimators (stats.go)
	if d.vrrp == nil {
		return d.Dataplane.Run(ctx)
	}
	if d.sync != nil {
		// Receive from the start, as keepalived starts IPVS's backup
		// daemon; VRRP moves the role from there. Stopped after VRRP.
		syncStop := make(chan struct{})
		go d.sync.run(syncStop)
		d.sync.post(connsync.RoleBackup)
		defer func() {
			close(syncStop)
			<-d.sync.done
		}()
	}
	vctx, vstop := context.WithCancel(context.Background())
	defer vstop()
	vdone := make(chan error, 1)
	go func() { vdone <- d.vrrp.run(vctx) }()
	dctx, dstop := context.WithCancel(context.Background())
	defer dstop()
	ddone := make(chan error, 1)
	go func() { ddone <- d.Dataplane.Run(dctx) }()
	var verr error
	select {
	case <-ctx.Done():
		vstop()
		verr = <-vdone
	case verr = <-vdone:
		if verr != nil {
			verr = fmt.Errorf("VRRP: %w", verr)
		}
	}
	dstop()
	return errors.Join(verr, <-ddone)
}

// vrrpSignature is the VRRP part of a spec without positions, to tell
// whether a reload changes it.
func vrrpSignature(spec *config.Spec) string {
	if spec == nil {
		return ""
	}
	g := spec.Global
	g.Pos, g.RouterID, g.LVSTimeouts = config.Pos{}, "", struct{ TCP, TCPFin, UDP time.Duration }{}
	g.Mail = config.Mail{} // mail settings are reloaded (alerts.go)
	insts, groups := withoutAlerts(spec)
	v := struct {
		G  config.Global
		I  []config.VRRPInstance
		S  []config.VRRPScript
		SG []config.VRRPSyncGroup
	}{g, insts, spec.VRRPScripts, groups}
	b, _ := json.Marshal(v)
	return posRE.ReplaceAllString(string(b), "")
}

// posRE matches the positions in a JSON-encoded spec.
var posRE = regexp.MustCompile(`"\w*Pos":\{[^}]*\},?`)
