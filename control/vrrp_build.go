package control

import (
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/xvs-project/xvs/config"
	"github.com/xvs-project/xvs/dataplane"
	"github.com/xvs-project/xvs/healthcheck"
	"github.com/xvs-project/xvs/vrrp"
	"go.uber.org/zap"
)

// Building the VRRP runner from the config: its instances and sync groups
// as vrrp machines and groups, their interfaces, addresses, scripts and
// GARP timing.

// newVRRPRunner builds the instances of spec on the director's interfaces.
// It finds each instance's interface, primary address and MAC; it sends
// nothing until run.
func newVRRPRunner(spec *config.Spec, p *Plan, dp *dataplane.Dataplane, log *zap.Logger) (*vrrpRunner, error) {
	r := &vrrpRunner{log: log, dp: dp, byVRID: map[ifVRID]*vrrpInstance{}, socks: map[int]*vrrpSocket{},
		track: make(chan trackEvent, 64), notify: make(chan struct{}, 8), drops: make([]atomic.Uint64, len(vrrpDropReasons))}
	g := spec.Global
	scripts := map[string]*vrrpScript{}
	for _, s := range spec.VRRPScripts {
		user, group := s.User, s.Group
		if user == "" {
			user, group = g.ScriptUser, g.ScriptGroup
		}
		sc, err := healthcheck.NewScriptArgs(s.Script.Argv, user, group)
		if err != nil {
			return nil, fmt.Errorf("%s: vrrp_script %s: %w", s.Pos, s.Name, err)
		}
		vs := &vrrpScript{spec: s, s: sc, ok: true}
		scripts[s.Name] = vs
		r.scripts = append(r.scripts, vs)
	}
	mkNotify := func(n config.Command) (*healthcheck.Script, error) {
		if len(n.Argv) == 0 {
			return nil, nil
		}
		s, err := healthcheck.NewScriptArgs(n.Argv, g.ScriptUser, g.ScriptGroup)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n.Pos, err)
		}
		return s, nil
	}
	mkNotifies := func(master, backup, fault, stop, any config.Command) (notifyScripts, error) {
		var n notifyScripts
		var err error
		for _, x := range []struct {
			dst **healthcheck.Script
			c   config.Command
		}{{&n.master, master}, {&n.backup, backup}, {&n.fault, fault}, {&n.stop, stop}, {&n.any, any}} {
			if *x.dst, err = mkNotify(x.c); err != nil {
				return n, err
			}
		}
		return n, nil
	}
	inGroup := map[string]string{}
	for _, sg := range spec.VRRPSyncGroups {
		for _, name := range sg.Group {
			inGroup[name] = sg.Name
		}
	}
	byName := map[string]*vrrpInstance{}
	vmacs := VMACNames(spec.VRRPInstances)
	for _, in := range spec.VRRPInstances {
		inst, err := r.newInstance(spec, p, in, scripts)
		if err != nil {
			return nil, err
		}
		if name := vmacs[in.Name]; name != "" {
			if name == p.WAN || name == p.LAN {
				return nil, fmt.Errorf("%s: vrrp_instance %s: use_vmac %s is xvs's WAN or LAN interface; the VMAC interface needs a name of its own", in.Pos, in.Name, name)
			}
			inst.setVMAC(name)
		}
		if inst.notify, err = mkNotifies(in.NotifyMaster, in.NotifyBackup, in.NotifyFault, in.NotifyStop, in.Notify); err != nil {
			return nil, fmt.Errorf("vrrp_instance %s: %w", in.Name, err)
		}
		inst.idx = len(r.insts)
		r.insts = append(r.insts, inst)
		byName[in.Name] = inst
		key := ifVRID{inst.link.Attrs().Index, uint8(in.VirtualRouterID)}
		if other, dup := r.byVRID[key]; dup {
			return nil, fmt.Errorf("%s: vrrp_instance %s has virtual_router_id %d on %s, as vrrp_instance %s does", in.Pos, in.Name, in.VirtualRouterID, inst.link.Attrs().Name, other.spec.Name)
		}
		r.byVRID[key] = inst
		if inGroup[in.Name] == "" {
			grp, err := vrrp.NewGroup(inst.m)
			if err != nil {
				return nil, err
			}
			inst.g = &vrrpGroup{g: grp, members: []*vrrpInstance{inst}}
			r.groups = append(r.groups, inst.g)
		}
	}
	for _, sg := range spec.VRRPSyncGroups {
		var ms []*vrrp.Machine
		gr := &vrrpGroup{name: sg.Name}
		for i, name := range sg.Group {
			inst := byName[name]
			if inst == nil {
				return nil, fmt.Errorf("%s: vrrp_sync_group %s: no vrrp_instance %s", sg.Pos, sg.Name, name)
			}
			inst.g, inst.member = gr, i
			gr.members = append(gr.members, inst)
			ms = append(ms, inst.m)
		}
		grp, err := vrrp.NewGroup(ms...)
		if err != nil {
			return nil, fmt.Errorf("%s: vrrp_sync_group %s: %w", sg.Pos, sg.Name, err)
		}
		gr.g = grp
		if gr.notify, err = mkNotifies(sg.NotifyMaster, sg.NotifyBackup, sg.NotifyFault, sg.NotifyStop, sg.Notify); err != nil {
			return nil, fmt.Errorf("vrrp_sync_group %s: %w", sg.Name, err)
		}
		for _, inst := range gr.members {
			inst.spec.TrackScripts = append(inst.spec.TrackScripts, sg.TrackScripts...)
		}
		r.groups = append(r.groups, gr)
	}
	for _, inst := range r.insts {
		for _, t := range inst.spec.TrackScripts {
			if scripts[t.Name] == nil {
				return nil, fmt.Errorf("%s: track_script %s: no vrrp_script of that name", t.Pos, t.Name)
			}
		}
	}
	r.status = make([]VRRPStatus, len(r.insts))
	for i, inst := range r.insts {
		st := &r.status[i]
		st.Name, st.Interface, st.VRID = inst.spec.Name, inst.link.Attrs().Name, inst.spec.VirtualRouterID
		st.Version, st.State, st.Base, st.Priority = inst.m.Config().Version, inst.m.State().String(), inst.base, inst.base
		st.Group = inst.g.name
		st.VMAC = inst.vmacStatus()
		for _, v := range inst.spec.VirtualIPs {
			st.VIPs = append(st.VIPs, v.Prefix.String())
		}
	}
	return r, nil
}

func (r *vrrpRunner) newInstance(spec *config.Spec, p *Plan, in config.VRRPInstance, scripts map[string]*vrrpScript) (*vrrpInstance, error) {
	g := spec.Global
	if in.Interface == "" {
		return nil, fmt.Errorf("%s: vrrp_instance %s has no interface", in.Pos, in.Name)
	}
	if in.Interface != p.WAN && in.Interface != p.LAN {
		return nil, fmt.Errorf("%s: vrrp_instance %s runs on %s, but xvs receives VRRP only on its WAN (%s) and LAN (%s) interfaces", in.Pos, in.Name, in.Interface, p.WAN, p.LAN)
	}
	l, err := netlink.LinkByName(in.Interface)
	if err != nil {
		return nil, fmt.Errorf("%s: vrrp_instance %s: interface %s: %w", in.Pos, in.Name, in.Interface, err)
	}
	inst := &vrrpInstance{spec: in, link: l, base: in.Priority}
	copy(inst.mac[:], l.Attrs().HardwareAddr)
	vipSet := map[netip.Addr]bool{}
	var vips []netip.Prefix
	for _, v := range in.VirtualIPs {
		if v.Dev != "" && v.Dev != in.Interface {
			return nil, fmt.Errorf("%s: virtual_ipaddress %s dev %s: xvs owns a VIP on its instance's interface (%s) only", v.Pos, v.Prefix, v.Dev, in.Interface)
		}
		if !v.Prefix.Addr().Is4() {
			return nil, fmt.Errorf("%s: virtual_ipaddress %s: IPv6 VRRP is not supported yet", v.Pos, v.Prefix)
		}
		vipSet[v.Prefix.Addr()] = true
		vips = append(vips, v.Prefix)
	}
	// The primary address: unicast_src_ip, else the first IPv4 address of
	// the interface that is not one of the VIPs.
	inst.src = in.UnicastSrcIP
	if !inst.src.IsValid() {
		addrs, err := netlink.AddrList(l, netlink.FAMILY_V4)
		if err != nil {
			return nil, fmt.Errorf("vrrp_instance %s: addresses of %s: %w", in.Name, in.Interface, err)
		}
		for _, a := range addrs {
			ip, ok := netip.AddrFromSlice(a.IP.To4())
			if ok && !vipSet[ip] {
				inst.src = ip
				break
			}
		}
		if !inst.src.IsValid() {
			return nil, fmt.Errorf("%s: vrrp_instance %s: %s has no IPv4 address of its own to send adverts from", in.Pos, in.Name, in.Interface)
		}
	}
	if len(in.UnicastPeers) > 0 {
		inst.unicast = true
		inst.peers = map[netip.Addr]bool{}
		for _, peer := range in.UnicastPeers {
			inst.dst = append(inst.dst, peer)
			inst.peers[peer] = true
		}
	} else {
		group := vrrp.MulticastGroup
		if g.VRRPMcastGroup4.IsValid() {
			group = g.VRRPMcastGroup4
		}
		inst.dst = []netip.Addr{group}
	}
	version := in.Version
	if version == 0 {
		version = g.VRRPVersion
	}
	cfg := vrrp.Config{
		VRID: uint8(in.VirtualRouterID), Version: version, Priority: uint8(in.Priority),
		AdvertInterval: in.AdvertInterval, NoPreempt: in.NoPreempt, PreemptDelay: in.PreemptDelay,
		StateMaster: in.State == "MASTER", PrimaryAddr: inst.src, VIPs: vips,
		LowerPrioNoAdvert:    in.LowerPrioNoAdvert || g.VRRPLowerPrioNoAdvert,
		SkipCheckAdvertAddrs: in.SkipCheckAdvAddr || g.VRRPSkipCheckAdvAddr,
		GARP:                 garpConfig(g.GARP, in.GARP),
	}
	switch in.AuthType {
	case "PASS":
		cfg.AuthType, cfg.AuthPass = vrrp.AuthPass, in.AuthPass
	case "AH":
		return nil, fmt.Errorf("%s: vrrp_instance %s: auth_type AH is not supported; use PASS or none", in.Pos, in.Name)
	}
	if inst.m, err = vrrp.NewMachine(cfg); err != nil {
		return nil, fmt.Errorf("%s: vrrp_instance %s: %w", in.Pos, in.Name, err)
	}
	return inst, nil
}

// garpConfig merges the global and the instance GARP timing.
func garpConfig(global, inst config.GARP) vrrp.GARPConfig {
	pick := func(gs, is bool, gv, iv time.Duration) time.Duration {
		switch {
		case is:
			return durOrNone(iv)
		case gs:
			return durOrNone(gv)
		}
		return 0
	}
	pickN := func(gs, is bool, gv, iv int) int {
		switch {
		case is:
			return numOrNone(iv)
		case gs:
			return numOrNone(gv)
		}
		return 0
	}
	return vrrp.GARPConfig{
		MasterDelay:         pick(global.MasterDelaySet, inst.MasterDelaySet, global.MasterDelay, inst.MasterDelay),
		MasterRepeat:        pickN(global.MasterRepeatSet, inst.MasterRepeatSet, global.MasterRepeat, inst.MasterRepeat),
		MasterRefresh:       pick(global.MasterRefreshSet, inst.MasterRefreshSet, global.MasterRefresh, inst.MasterRefresh),
		MasterRefreshRepeat: pickN(global.MasterRefreshRepeatSet, inst.MasterRefreshRepeatSet, global.MasterRefreshRepeat, inst.MasterRefreshRepeat),
		LowerPrioDelay:      pick(global.LowerPrioDelaySet, inst.LowerPrioDelaySet, global.LowerPrioDelay, inst.LowerPrioDelay),
		LowerPrioRepeat:     pickN(global.LowerPrioRepeatSet, inst.LowerPrioRepeatSet, global.LowerPrioRepeat, inst.LowerPrioRepeat),
	}
}

// durOrNone and numOrNone map a configured 0 to vrrp's "none" (negative),
// since vrrp reads 0 as "default".
func durOrNone(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

func numOrNone(n int) int {
	if n == 0 {
		return -1
	}
	return n
}
