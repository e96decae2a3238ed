// Package control turns a configuration Spec into a running director: it
// finds the WAN and LAN interfaces the way a keepalived.conf implies them,
// builds the virtual services and their schedulers, and runs the dataplane.
//
// It is not for parsing (package config) nor for moving frames (package
// dataplane).
package control

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/xvs-project/xvs/config"
	"github.com/xvs-project/xvs/dataplane"
	"github.com/xvs-project/xvs/internal/header"
	"github.com/xvs-project/xvs/nat"
	"github.com/xvs-project/xvs/scheduler"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// Plan is what a Spec means on this machine: the interfaces and the
// services. Making a Plan reads the kernel's addresses and routes but changes
// nothing.
type Plan struct {
	WAN, LAN string
	Queues   int // 0: as many as the interfaces have
	// MaxConns bounds the connection table; 0: nat.DefaultMaxConns().
	MaxConns int
	// Timeouts are the connection timeouts: IPVS's defaults with
	// lvs_timeouts applied.
	Timeouts nat.Timeouts
	Services []*nat.Service
	// VIPs are the virtual addresses of vrrp_instances in state MASTER,
	// which the director puts on their interfaces while it runs (VRRP
	// itself is not implemented yet: such an instance acts as MASTER).
	VIPs []VIP
	// Notes are things worth telling the operator, e.g. a scheduler that is
	// not implemented yet and what is used instead.
	Notes []string
}

// VIP is a virtual address a vrrp_instance puts on an interface.
type VIP struct {
	Instance string
	Prefix   netip.Prefix
	Dev      string
	Label    string
}

// NewPlan resolves a Spec against the machine's interfaces.
func NewPlan(spec *config.Spec) (*Plan, error) { return newPlan(spec, nil) }

// countsKey names a real server of a virtual service across plans.
type countsKey struct {
	vip   [4]byte
	port  uint16
	proto uint8
	real  netip.AddrPort
}

// newPlan is NewPlan; a real server that prev has too keeps its connection
// counts, so that a reload leaves the schedulers' view of the established
// connections right.
func newPlan(spec *config.Spec, prev *Plan) (*Plan, error) {
	old := map[countsKey]*scheduler.Counts{}
	if prev != nil {
		for _, s := range prev.Services {
			for _, r := range s.Reals {
				old[countsKey{s.VIP, s.Port, s.Proto, netip.AddrPortFrom(netip.AddrFrom4(r.Addr), r.Port)}] = r.Counts
			}
		}
	}
	p := &Plan{WAN: spec.XVS.WANInterface, LAN: spec.XVS.LANInterface, Queues: spec.XVS.Queues, MaxConns: spec.XVS.MaxConnections,
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
	for _, vs := range spec.VirtualServers {
		if !vs.Addr.Is4() {
			return nil, fmt.Errorf("%s: virtual_server %s: IPv6 services are not supported yet", vs.Pos, vs.Addr)
		}
		if vs.Kind != "NAT" {
			return nil, fmt.Errorf("%s: virtual_server %s %d: lb_kind %s is not supported yet; xvs forwards with NAT", vs.Pos, vs.Addr, vs.Port, vs.Kind)
		}
		proto := uint8(header.ProtocolTCP)
		if vs.Protocol == "UDP" {
			proto = header.ProtocolUDP
		}
		opts, err := scheduler.KeepalivedOptions(vs.Scheduler, vs.SchedulerFlags...)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", vs.Pos, err)
		}
		svc := &nat.Service{VIP: vs.Addr.As4(), Port: vs.Port, Proto: proto,
			Persistence: vs.PersistenceTimeout, PersistBits: uint8(min(vs.PersistenceGranularity, 32))}
		servers := make([]scheduler.Server, 0, len(vs.Reals))
		for _, r := range vs.Reals {
			cnt := old[countsKey{vs.Addr.As4(), vs.Port, proto, netip.AddrPortFrom(r.Addr, r.Port)}]
			if cnt == nil {
				cnt = new(scheduler.Counts)
			}
			cnt.SetThresholds(r.UThreshold, r.LThreshold)
			svc.Reals = append(svc.Reals, nat.Real{Addr: r.Addr.As4(), Port: r.Port, Weight: r.Weight, Counts: cnt})
			servers = append(servers, scheduler.Server{Weight: r.Weight, Key: netip.AddrPortFrom(r.Addr, r.Port).String(), Counts: cnt})
		}
		s, err := scheduler.NewWithOptions(vs.Scheduler, servers, opts)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", vs.Pos, err)
		}
		svc.Sched = s
		p.Services = append(p.Services, svc)
	}
	for _, in := range spec.VRRPInstances {
		if in.State != "MASTER" {
			p.Notes = append(p.Notes, fmt.Sprintf("%s: vrrp_instance %s is BACKUP and VRRP is not implemented yet: its addresses are left alone", in.Pos, in.Name))
			continue
		}
		for _, v := range in.VirtualIPs {
			dev := v.Dev
			if dev == "" {
				dev = in.Interface
			}
			if dev == "" {
				return nil, fmt.Errorf("%s: virtual_ipaddress %s has no interface: set interface in vrrp_instance %s or dev on the address", v.Pos, v.Prefix, in.Name)
			}
			p.VIPs = append(p.VIPs, VIP{Instance: in.Name, Prefix: v.Prefix, Dev: dev, Label: v.Label})
		}
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
		proto := "TCP"
		if s.Proto == header.ProtocolUDP {
			proto = "UDP"
		}
		fmt.Fprintf(&b, "%s %s:%d → %d real servers", proto, netip.AddrFrom4(s.VIP), s.Port, len(s.Reals))
	}
	return b.String()
}

// Director is a running xvs: a plan applied to a dataplane.
type Director struct {
	Plan      *Plan
	Engine    *nat.Engine
	Dataplane *dataplane.Dataplane
	log       *zap.Logger
	added     []netlink.Addr // VIPs this director put on interfaces
	addedTo   []netlink.Link
}

// Start applies a plan: it makes the connection table and the dataplane and
// installs the services. Run then forwards until its context ends.
func Start(p *Plan, log *zap.Logger) (*Director, error) {
	eng := nat.NewEngine(nat.NewTable(p.MaxConns, p.Timeouts))
	dp, err := dataplane.New(dataplane.Config{WAN: p.WAN, LAN: p.LAN, Queues: p.Queues, Log: log}, eng)
	if err != nil {
		return nil, err
	}
	d := &Director{Plan: p, Engine: eng, Dataplane: dp, log: log}
	if err := d.addVIPs(); err != nil {
		d.removeVIPs()
		dp.Close()
		return nil, err
	}
	if err := dp.SetServices(p.Services); err != nil {
		d.removeVIPs()
		dp.Close()
		return nil, err
	}
	return d, nil
}

// addVIPs puts the MASTER instances' addresses that are not there yet on
// their interfaces, as keepalived does for a MASTER.
func (d *Director) addVIPs() error {
	for _, v := range d.Plan.VIPs {
		l, err := netlink.LinkByName(v.Dev)
		if err != nil {
			return fmt.Errorf("vrrp_instance %s: interface %q: %w", v.Instance, v.Dev, err)
		}
		a := &netlink.Addr{IPNet: &net.IPNet{IP: v.Prefix.Addr().AsSlice(), Mask: net.CIDRMask(v.Prefix.Bits(), v.Prefix.Addr().BitLen())}, Label: v.Label}
		if d.owns(a) {
			continue
		}
		if err := netlink.AddrAdd(l, a); err != nil {
			if errors.Is(err, unix.EEXIST) {
				continue // already there: not ours to remove
			}
			return fmt.Errorf("vrrp_instance %s: adding %s to %s: %w", v.Instance, v.Prefix, v.Dev, err)
		}
		d.added = append(d.added, *a)
		d.addedTo = append(d.addedTo, l)
		d.log.Warn("VRRP is not implemented yet: acting as MASTER", zap.String("instance", v.Instance),
			zap.String("vip", v.Prefix.String()), zap.String("interface", v.Dev))
	}
	return nil
}

// owns reports whether the director already added the address a.
func (d *Director) owns(a *netlink.Addr) bool {
	for _, b := range d.added {
		if b.IPNet.String() == a.IPNet.String() {
			return true
		}
	}
	return false
}

// removeVIPs takes away the addresses addVIPs added.
func (d *Director) removeVIPs() {
	for i := range d.added {
		if err := netlink.AddrDel(d.addedTo[i], &d.added[i]); err != nil {
			d.log.Warn("removing a VIP", zap.String("vip", d.added[i].IPNet.String()), zap.Error(err))
		}
	}
	d.added, d.addedTo = nil, nil
}

// Reload applies a new configuration to the running director as a
// difference: services, real servers and weights change for new
// connections, established connections keep their real servers (a removed
// real server's connections run on until they end), and the fast path
// never pauses. A configuration that cannot be applied, or that changes
// what only a restart can (the interfaces, queues, max_connections,
// lvs_timeouts), is refused with the reason and the running one stays.
// Reload must not be called concurrently with itself.
func (d *Director) Reload(spec *config.Spec) error {
	p, err := newPlan(spec, d.Plan)
	if err != nil {
		return err
	}
	switch {
	case p.WAN != d.Plan.WAN || p.LAN != d.Plan.LAN:
		return fmt.Errorf("the interfaces change (WAN %s → %s, LAN %s → %s): that needs a restart", d.Plan.WAN, p.WAN, d.Plan.LAN, p.LAN)
	case p.Queues != d.Plan.Queues:
		return fmt.Errorf("queues changes from %d to %d: that needs a restart", d.Plan.Queues, p.Queues)
	case p.MaxConns != d.Plan.MaxConns:
		return fmt.Errorf("max_connections changes from %d to %d: that needs a restart", d.Plan.MaxConns, p.MaxConns)
	case p.Timeouts != d.Plan.Timeouts:
		return fmt.Errorf("lvs_timeouts change: that needs a restart")
	}
	prev := d.Plan
	d.Plan = p
	// VIPs: drop those no longer wanted, add the new ones.
	keep := map[netip.Prefix]bool{}
	for _, v := range p.VIPs {
		keep[v.Prefix] = true
	}
	var added []netlink.Addr
	var addedTo []netlink.Link
	for i, a := range d.added {
		pfx, _ := netip.AddrFromSlice(a.IP.To4())
		ones, _ := a.Mask.Size()
		if keep[netip.PrefixFrom(pfx, ones)] {
			added, addedTo = append(added, a), append(addedTo, d.addedTo[i])
			continue
		}
		if err := netlink.AddrDel(d.addedTo[i], &d.added[i]); err != nil {
			d.log.Warn("removing a VIP", zap.String("vip", a.IPNet.String()), zap.Error(err))
		}
	}
	d.added, d.addedTo = added, addedTo
	if err := d.addVIPs(); err != nil {
		d.Plan = prev
		return err
	}
	if err := d.Dataplane.SetServices(p.Services); err != nil {
		d.Plan = prev
		return err
	}
	return nil
}

// Run forwards until ctx is done, then detaches and closes everything and
// takes away the VIPs it added.
func (d *Director) Run(ctx context.Context) error {
	defer d.removeVIPs()
	return d.Dataplane.Run(ctx)
}
