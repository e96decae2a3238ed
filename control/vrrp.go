package control

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/xvs-project/xvs/config"
	"github.com/xvs-project/xvs/dataplane"
	"github.com/xvs-project/xvs/healthcheck"
	"github.com/xvs-project/xvs/vrrp"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// VRRPStatus is the state of one vrrp_instance, for `xvs vrrp` and metrics.
type VRRPStatus struct {
	Name      string    `json:"name"`
	Group     string    `json:"sync_group,omitempty"`
	Interface string    `json:"interface"`
	VRID      int       `json:"virtual_router_id"`
	Version   int       `json:"version"`
	State     string    `json:"state"`
	Priority  int       `json:"priority"` // effective priority
	Base      int       `json:"base_priority"`
	Master    string    `json:"master,omitempty"` // the master's address, when known
	VIPs      []string  `json:"virtual_ipaddress"`
	Since     time.Time `json:"since"`
	// Transitions counts state changes since start.
	Transitions uint64 `json:"transitions"`
	// VMAC is use_vmac's address and interface, "00:00:5e:00:01:33 on
	// vrrp.51"; empty without use_vmac.
	VMAC string `json:"vmac,omitempty"`
}

// vrrpDropReasons are the reasons a received advertisement is not used;
// they are counted, never logged per packet.
var vrrpDropReasons = []struct {
	err  error
	name string
}{
	{vrrp.ErrTruncated, "truncated"}, {vrrp.ErrNotIPv4, "not_ipv4"}, {vrrp.ErrIPHeader, "ip_header"},
	{vrrp.ErrIPChecksum, "ip_checksum"}, {vrrp.ErrFragment, "fragment"}, {vrrp.ErrProtocol, "protocol"},
	{vrrp.ErrTTL, "ttl"}, {vrrp.ErrVersion, "version"}, {vrrp.ErrType, "type"}, {vrrp.ErrVRID, "vrid_zero"},
	{vrrp.ErrAddrCount, "address_count"}, {vrrp.ErrLength, "length"}, {vrrp.ErrInterval, "interval_zero"},
	{vrrp.ErrChecksum, "checksum"}, {vrrp.ErrVersionMismatch, "version_mismatch"},
	{vrrp.ErrVRIDMismatch, "vrid_mismatch"}, {vrrp.ErrOwnAddress, "own_address"},
	{vrrp.ErrAddressOwner, "address_owner"}, {vrrp.ErrAuthType, "auth_type"}, {vrrp.ErrAuthFailed, "auth_failed"},
	{vrrp.ErrIntervalMismatch, "interval_mismatch"}, {vrrp.ErrAddrMismatch, "address_mismatch"},
	{errUnknownVRID, "unknown_vrid"}, {errNotPeer, "not_a_peer"}, {errOther, "other"},
}

var (
	errUnknownVRID = errors.New("no vrrp_instance for this interface and VRID")
	errNotPeer     = errors.New("advert from an address that is not a unicast_peer")
	errOther       = errors.New("other")
)

// vrrpRunner runs the vrrp_instances of a configuration: one goroutine
// owns every state machine and is fed the adverts the dataplane's workers
// take off the data path (the control queue), timer expiries, and tracked
// interface and script changes. It sends adverts through a raw IP socket
// per interface and gratuitous ARPs through a packet socket, and tells the
// director which VIPs it owns; the XDP classifier answers ARP and echo for
// those, and their virtual services are served only while owned.
type vrrpRunner struct {
	log    *zap.Logger
	dp     *dataplane.Dataplane
	groups []*vrrpGroup
	insts  []*vrrpInstance
	byVRID map[ifVRID]*vrrpInstance
	socks  map[int]*vrrpSocket
	track  chan trackEvent
	// onOwned is called from the runner's goroutine with the VIPs owned
	// after every change.
	onOwned func([]dataplane.Owned)
	// onState, if set, is called from the runner's goroutine after an
	// instance changed state; it must not block.
	onState func(instance string, to vrrp.State)
	// alerts mails state changes (alerts.go); nil: none.
	alerts  *alerter
	scripts []*vrrpScript
	notify  chan struct{} // bounds notify scripts running at once
	garpBuf []byte

	mu     sync.Mutex // guards status
	status []VRRPStatus
	drops  []atomic.Uint64 // by vrrpDropReasons index
	// Adverts counts adverts sent and received (accepted).
	sent, received atomic.Uint64
}

type ifVRID struct {
	ifindex int
	vrid    uint8
}

type vrrpGroup struct {
	name    string
	g       *vrrp.Group
	members []*vrrpInstance
	notify  notifyScripts
	acts    []vrrp.MemberAction
}

type notifyScripts struct {
	master, backup, fault, stop, any *healthcheck.Script
}

type vrrpInstance struct {
	spec    config.VRRPInstance
	idx     int // in runner.insts and status
	g       *vrrpGroup
	member  int
	m       *vrrp.Machine
	link    netlink.Link
	mac     [6]byte
	src     netip.Addr
	dst     []netip.Addr // 224.0.0.18 (or vrrp_mcast_group4) or the unicast peers
	peers   map[netip.Addr]bool
	unicast bool
	owned   bool
	base    int
	notify  notifyScripts
	ipID    uint16
	// use_vmac (vmac.go): the VMAC and its interface's name ("" without
	// use_vmac), and the interface while it exists.
	vmac     [6]byte
	vmacName string
	vmacLink netlink.Link
}

// trackEvent says that something tracked changed: a link (script nil),
// whose state applyTracking reads again, or a vrrp_script's result.
type trackEvent struct {
	script *vrrpScript
	ok     bool
}

// vrrpScript is a vrrp_script; ok is owned by the runner's goroutine.
type vrrpScript struct {
	spec config.VRRPScript
	s    *healthcheck.Script
	ok   bool
}

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

// VIPs returns every address the runner's instances may own.
func (r *vrrpRunner) VIPs() map[netip.Addr]bool {
	m := map[netip.Addr]bool{}
	for _, inst := range r.insts {
		for _, v := range inst.spec.VirtualIPs {
			m[v.Prefix.Addr()] = true
		}
	}
	return m
}

// Status returns a copy of the instances' states.
func (r *vrrpRunner) Status() []VRRPStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]VRRPStatus, len(r.status))
	copy(out, r.status)
	return out
}

// Drops returns the counts of adverts not used, by reason.
func (r *vrrpRunner) Drops() map[string]uint64 {
	m := make(map[string]uint64, len(vrrpDropReasons))
	for i, d := range vrrpDropReasons {
		m[d.name] = r.drops[i].Load()
	}
	return m
}

func (r *vrrpRunner) drop(err error) {
	for i, d := range vrrpDropReasons {
		if errors.Is(err, d.err) {
			r.drops[i].Add(1)
			return
		}
	}
	r.drops[len(vrrpDropReasons)-1].Add(1)
}

// run runs the instances until ctx ends; then it shuts them down (a master
// sends priority 0 so a backup takes over after Skew_Time) and releases
// every VIP. The goroutine is locked to a thread with a higher scheduling
// priority than the workers', so that a saturated data path does not
// delay adverts.
func (r *vrrpRunner) run(ctx context.Context) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	_ = unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), -10) // best effort
	// use_vmac's interfaces go after the sockets close, on every return
	// (vmac.go).
	defer r.removeVMACs()
	if err := r.setupVMACs(); err != nil {
		return err
	}
	for _, inst := range r.insts {
		idx := inst.link.Attrs().Index
		if r.socks[idx] != nil {
			continue
		}
		s, err := openVRRPSocket(inst.link)
		if err != nil {
			return err
		}
		r.socks[idx] = s
	}
	defer func() {
		for _, s := range r.socks {
			s.Close()
		}
	}()
	linkCtx, stopLinks := context.WithCancel(context.Background())
	defer stopLinks()
	r.watchLinks(linkCtx)
	for _, s := range r.scripts {
		go r.runScript(linkCtx, s)
	}
	now := time.Now()
	for _, inst := range r.insts {
		r.applyTracking(inst, now)
	}
	for _, g := range r.groups {
		r.step(g, -1, vrrp.Event{Kind: vrrp.EventStartup, Now: now})
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	frames := r.dp.ControlFrames()
	for {
		next := r.nextDeadline()
		if !next.IsZero() {
			timer.Reset(time.Until(next))
		}
		select {
		case <-ctx.Done():
			now := time.Now()
			for _, g := range r.groups {
				r.step(g, -1, vrrp.Event{Kind: vrrp.EventShutdown, Now: now})
			}
			return nil
		case f := <-frames:
			r.receive(f)
			r.dp.Release(f)
		case ev := <-r.track:
			r.tracked(ev)
		case <-timer.C:
		}
		now := time.Now()
		for _, g := range r.groups {
			if d := g.g.NextDeadline(); !d.IsZero() && !now.Before(d) {
				r.step(g, -1, vrrp.Event{Kind: vrrp.EventTimer, Now: now})
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

func (r *vrrpRunner) nextDeadline() time.Time {
	var d time.Time
	for _, g := range r.groups {
		if t := g.g.NextDeadline(); !t.IsZero() && (d.IsZero() || t.Before(d)) {
			d = t
		}
	}
	return d
}

// receive hands one advert to its instance.
func (r *vrrpRunner) receive(f *dataplane.ControlFrame) {
	msg, err := vrrp.ParseFrame(f.Data, &vrrp.ParseOptions{V3ChecksumCompat: true, AnyTTL: true})
	if err != nil {
		r.drop(err)
		return
	}
	inst := r.byVRID[ifVRID{f.Ifindex, msg.Advert.VRID}]
	if inst == nil {
		r.drop(errUnknownVRID)
		return
	}
	if inst.unicast {
		if !inst.peers[msg.Src] {
			r.drop(errNotPeer)
			return
		}
	} else if msg.TTL != vrrp.TTL {
		r.drop(vrrp.ErrTTL)
		return
	}
	if err := r.step(inst.g, inst.member, vrrp.Event{Kind: vrrp.EventAdvert, Now: time.Now(), Advert: &msg.Advert, From: msg.Src}); err != nil {
		r.drop(err)
		return
	}
	r.received.Add(1)
}

// step delivers ev to a group (member -1: every member) and carries out
// the actions.
func (r *vrrpRunner) step(g *vrrpGroup, member int, ev vrrp.Event) error {
	var err error
	g.acts, err = g.g.Step(member, ev, g.acts[:0])
	ownedChanged := false
	for _, a := range g.acts {
		inst := g.members[a.Member]
		switch a.Kind {
		case vrrp.ActionSendAdvert:
			r.sendAdvert(inst, a.Priority)
		case vrrp.ActionAddVIPs:
			inst.owned, ownedChanged = true, true
		case vrrp.ActionRemoveVIPs:
			inst.owned, ownedChanged = false, true
		case vrrp.ActionSendGARP:
			if ownedChanged {
				r.publishOwned() // answer ARP before announcing
				ownedChanged = false
			}
			r.sendGARPs(inst, a.Count)
		case vrrp.ActionTransition:
			r.transition(inst, a.From, a.To, ev.Now)
		}
	}
	if ownedChanged {
		r.publishOwned()
	}
	r.updateStatus(g)
	return err
}

func (r *vrrpRunner) publishOwned() {
	var list []dataplane.Owned
	for _, inst := range r.insts {
		if !inst.owned {
			continue
		}
		for _, v := range inst.spec.VirtualIPs {
			list = append(list, dataplane.Owned{Addr: v.Prefix.Addr().As4(), Ifindex: inst.link.Attrs().Index, MAC: inst.vipMAC()})
		}
	}
	if r.onOwned != nil {
		r.onOwned(list)
	}
}

func (r *vrrpRunner) updateStatus(g *vrrpGroup) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, inst := range g.members {
		st := &r.status[inst.idx]
		st.State = inst.m.State().String()
		st.Priority = int(inst.m.Priority())
		if a, p := inst.m.MasterAddr(); a.IsValid() {
			st.Master = a.String() + " priority " + strconv.Itoa(int(p))
		}
		if inst.m.State() == vrrp.Master {
			st.Master = inst.src.String() + " (this director)"
		}
	}
}

func (r *vrrpRunner) transition(inst *vrrpInstance, from, to vrrp.State, now time.Time) {
	r.mu.Lock()
	r.status[inst.idx].Since = now
	r.status[inst.idx].Transitions++
	r.mu.Unlock()
	r.log.Info("VRRP state changed", zap.String("instance", inst.spec.Name), zap.String("from", from.String()),
		zap.String("to", to.String()), zap.Int("priority", int(inst.m.Priority())))
	if r.onState != nil {
		r.onState(inst.spec.Name, to)
	}
	r.alerts.vrrpState(inst, to) // queued, never waited for (alerts.go)
	state := ""
	var one *healthcheck.Script
	switch to {
	case vrrp.Master:
		state, one = "MASTER", inst.notify.master
	case vrrp.Backup:
		state, one = "BACKUP", inst.notify.backup
	case vrrp.Fault:
		state, one = "FAULT", inst.notify.fault
	case vrrp.Initialize:
		state, one = "STOP", inst.notify.stop
	}
	r.runNotify(one)
	if inst.notify.any != nil {
		r.runNotify(inst.notify.any.WithArgs("INSTANCE", inst.spec.Name, state, strconv.Itoa(int(inst.m.Priority()))))
	}
	// A sync group's scripts run once, when its first member moves.
	g := inst.g
	if g.name != "" && inst.member == firstMoved(g, to) {
		switch to {
		case vrrp.Master:
			one = g.notify.master
		case vrrp.Backup:
			one = g.notify.backup
		case vrrp.Fault:
			one = g.notify.fault
		case vrrp.Initialize:
			one = g.notify.stop
		}
		r.runNotify(one)
		if g.notify.any != nil {
			r.runNotify(g.notify.any.WithArgs("GROUP", g.name, state, "0"))
		}
	}
}

// firstMoved returns the first member of g in state to.
func firstMoved(g *vrrpGroup, to vrrp.State) int {
	for i, inst := range g.members {
		if inst.m.State() == to {
			return i
		}
	}
	return -1
}

// runNotify runs a notify script without waiting for it; at most
// cap(r.notify) run at once, further ones wait their turn in their own
// goroutine, so the state machine never blocks on a script.
func (r *vrrpRunner) runNotify(s *healthcheck.Script) {
	if s == nil {
		return
	}
	go func() {
		r.notify <- struct{}{}
		defer func() { <-r.notify }()
		if code, err := s.Run(context.Background(), 60*time.Second); err != nil || code != 0 {
			r.log.Warn("notify script failed", zap.String("script", s.String()), zap.Int("status", code), zap.Error(err))
		}
	}()
}

// sendAdvert sends an advertisement to the group or to each unicast peer.
func (r *vrrpRunner) sendAdvert(inst *vrrpInstance, prio uint8) {
	sock := r.socks[inst.link.Attrs().Index]
	if sock == nil {
		return
	}
	adv := inst.m.Advert(prio)
	for _, dst := range inst.dst {
		inst.ipID++
		frame, err := inst.advertFrame(sock.buf[:0], &adv, dst)
		if err != nil {
			r.log.Error("building a VRRP advert", zap.String("instance", inst.spec.Name), zap.Error(err))
			return
		}
		if inst.advertsFromVMAC() {
			err = sock.sendFrame(frame) // from the VMAC (vmac.go)
		} else {
			err = sock.sendIP(frame, dst)
		}
		if err != nil {
			r.log.Warn("sending a VRRP advert", zap.String("instance", inst.spec.Name), zap.Stringer("to", dst), zap.Error(err))
			continue
		}
		r.sent.Add(1)
	}
}

// sendGARPs sends n gratuitous ARPs for each VIP of inst.
func (r *vrrpRunner) sendGARPs(inst *vrrpInstance, n int) {
	sock := r.socks[inst.link.Attrs().Index]
	if sock == nil {
		return
	}
	for _, v := range inst.spec.VirtualIPs {
		frame, err := inst.garpFrame(r.garpBuf[:0], v.Prefix.Addr())
		if err != nil {
			continue
		}
		r.garpBuf = frame
		for i := 0; i < n; i++ {
			if err := sock.sendFrame(frame); err != nil {
				r.log.Warn("sending a gratuitous ARP", zap.String("instance", inst.spec.Name), zap.Error(err))
				break
			}
		}
	}
}

// tracked applies a tracked interface or script change.
func (r *vrrpRunner) tracked(ev trackEvent) {
	now := time.Now()
	if ev.script != nil {
		ev.script.ok = ev.ok
	}
	for _, inst := range r.insts {
		r.applyTracking(inst, now)
	}
}

// applyTracking recomputes an instance's fault and priority from its
// tracked interfaces and scripts, and steps it when they changed.
func (r *vrrpRunner) applyTracking(inst *vrrpInstance, now time.Time) {
	fault := false
	prio := inst.base
	up := func(name string) bool {
		l, err := netlink.LinkByName(name)
		return err == nil && l.Attrs().Flags&net.FlagUp != 0 && l.Attrs().OperState != netlink.OperDown
	}
	if !up(inst.spec.Interface) {
		fault = true
	}
	if inst.vmacName != "" && !r.vmacUp(inst) {
		fault = true
	}
	for _, t := range inst.spec.TrackInterfaces {
		ok := up(t.Name)
		switch {
		case !t.WeightSet && !ok:
			fault = true
		case t.WeightSet && t.Weight > 0 && ok:
			prio += t.Weight
		case t.WeightSet && t.Weight < 0 && !ok:
			prio += t.Weight
		}
	}
	for _, t := range inst.spec.TrackScripts {
		var sc *vrrpScript
		for _, s := range r.scripts {
			if s.spec.Name == t.Name {
				sc = s
			}
		}
		if sc == nil {
			continue
		}
		w, set := sc.spec.Weight, sc.spec.Weight != 0
		if t.WeightSet {
			w, set = t.Weight, true
		}
		switch {
		case !set && !sc.ok:
			fault = true
		case w > 0 && sc.ok:
			prio += w
		case w < 0 && !sc.ok:
			prio += w
		}
	}
	prio = max(1, min(prio, 254))
	if int(inst.m.Priority()) != prio && inst.base != 255 {
		r.step(inst.g, inst.member, vrrp.Event{Kind: vrrp.EventPriority, Now: now, Priority: uint8(prio)}) //nolint:errcheck
	}
	switch {
	case fault && !inst.m.Faulted():
		r.log.Warn("VRRP instance fault", zap.String("instance", inst.spec.Name))
		r.step(inst.g, inst.member, vrrp.Event{Kind: vrrp.EventFault, Now: now}) //nolint:errcheck
	case !fault && inst.m.Faulted():
		r.log.Info("VRRP instance fault cleared", zap.String("instance", inst.spec.Name))
		r.step(inst.g, inst.member, vrrp.Event{Kind: vrrp.EventFaultCleared, Now: now}) //nolint:errcheck
	}
}

// watchLinks reports link changes of the interfaces the instances use or
// track.
func (r *vrrpRunner) watchLinks(ctx context.Context) {
	names := map[string]bool{}
	for _, inst := range r.insts {
		names[inst.spec.Interface] = true
		if inst.vmacName != "" {
			names[inst.vmacName] = true
		}
		for _, t := range inst.spec.TrackInterfaces {
			names[t.Name] = true
		}
	}
	updates := make(chan netlink.LinkUpdate, 16)
	if err := netlink.LinkSubscribeWithOptions(updates, ctx.Done(), netlink.LinkSubscribeOptions{}); err != nil {
		r.log.Warn("watching links for VRRP tracking", zap.Error(err))
		return
	}
	go func() {
		state := map[string]bool{}
		for u := range updates {
			name := u.Attrs().Name
			if !names[name] {
				continue
			}
			up := u.Attrs().Flags&net.FlagUp != 0 && u.Attrs().OperState != netlink.OperDown
			if u.Header.Type == unix.RTM_DELLINK {
				delete(state, name) // gone: always worth a look
			} else if prev, seen := state[name]; seen && prev == up {
				continue
			} else {
				state[name] = up
			}
			select {
			case r.track <- trackEvent{}:
			case <-ctx.Done():
				return
			}
		}
	}()
}

// runScript runs a vrrp_script every interval and reports when its
// result changes after rise successes or fall failures.
func (r *vrrpRunner) runScript(ctx context.Context, s *vrrpScript) {
	interval := s.spec.Interval
	if interval <= 0 {
		interval = time.Second
	}
	timeout := s.spec.Timeout
	if timeout <= 0 {
		timeout = interval
	}
	rise, fall := max(1, s.spec.Rise), max(1, s.spec.Fall)
	ok, streak := true, 0
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		code, err := s.s.Run(ctx, timeout)
		if ctx.Err() != nil {
			return
		}
		good := err == nil && code == 0
		if good == ok {
			streak = 0
		} else {
			streak++
			if (good && streak >= rise) || (!good && streak >= fall) {
				ok, streak = good, 0
				r.log.Info("vrrp_script changed", zap.String("script", s.spec.Name), zap.Bool("ok", ok))
				select {
				case r.track <- trackEvent{script: s, ok: ok}:
				case <-ctx.Done():
					return
				}
			}
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

// vrrpSocket sends VRRP adverts (a raw IPv4 socket with the header
// included, bound to the interface) and gratuitous ARPs (a packet socket)
// on one interface. Adverts are received through the XDP classifier and
// the control queue, never from these sockets: the raw socket has a
// filter that takes nothing, and the packet socket listens to no protocol.
type vrrpSocket struct {
	ip, pkt int
	ifindex int
	buf     []byte
}

func openVRRPSocket(l netlink.Link) (*vrrpSocket, error) {
	s := &vrrpSocket{ip: -1, pkt: -1, ifindex: l.Attrs().Index, buf: make([]byte, 0, 2048)}
	fail := func(what string, err error) (*vrrpSocket, error) {
		s.Close()
		return nil, fmt.Errorf("VRRP socket on %s: %s: %w", l.Attrs().Name, what, err)
	}
	var err error
	if s.ip, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, vrrp.ProtocolNumber); err != nil {
		return fail("socket", err)
	}
	if err := unix.SetsockoptInt(s.ip, unix.IPPROTO_IP, unix.IP_HDRINCL, 1); err != nil {
		return fail("IP_HDRINCL", err)
	}
	if err := unix.SetsockoptString(s.ip, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, l.Attrs().Name); err != nil {
		return fail("SO_BINDTODEVICE", err)
	}
	if err := unix.SetsockoptInt(s.ip, unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, 0); err != nil {
		return fail("IP_MULTICAST_LOOP", err)
	}
	if err := unix.SetsockoptIPMreqn(s.ip, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, &unix.IPMreqn{Ifindex: int32(s.ifindex)}); err != nil {
		return fail("IP_MULTICAST_IF", err)
	}
	// Joining the group programs the NIC's multicast filter, so that
	// adverts reach the XDP classifier on hardware that filters.
	if err := unix.SetsockoptIPMreqn(s.ip, unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP,
		&unix.IPMreqn{Multiaddr: vrrp.MulticastGroup.As4(), Ifindex: int32(s.ifindex)}); err != nil {
		return fail("IP_ADD_MEMBERSHIP", err)
	}
	dropAll := []unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: 0}}
	if err := unix.SetsockoptSockFprog(s.ip, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &unix.SockFprog{Len: 1, Filter: &dropAll[0]}); err != nil {
		return fail("SO_ATTACH_FILTER", err)
	}
	if s.pkt, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0); err != nil {
		return fail("packet socket", err)
	}
	if err := unix.Bind(s.pkt, &unix.SockaddrLinklayer{Ifindex: s.ifindex}); err != nil {
		return fail("bind packet socket", err)
	}
	return s, nil
}

// sendIP sends an advert frame built by vrrp.AppendAdvertFrame: its IPv4
// datagram, without the Ethernet header and padding (the kernel sets the
// IPv4 total length from the size it is given).
func (s *vrrpSocket) sendIP(frame []byte, dst netip.Addr) error {
	ip := frame[14:]
	tl := int(ip[2])<<8 | int(ip[3])
	if tl > len(ip) {
		return fmt.Errorf("advert frame shorter than its IPv4 total length")
	}
	return unix.Sendto(s.ip, ip[:tl], 0, &unix.SockaddrInet4{Addr: dst.As4()})
}

// sendFrame sends a whole Ethernet frame.
func (s *vrrpSocket) sendFrame(frame []byte) error {
	var dst [8]byte
	copy(dst[:], frame[:6])
	return unix.Sendto(s.pkt, frame, 0, &unix.SockaddrLinklayer{Ifindex: s.ifindex, Halen: 6, Addr: dst})
}

// Close closes both sockets.
func (s *vrrpSocket) Close() {
	if s.ip >= 0 {
		unix.Close(s.ip)
	}
	if s.pkt >= 0 {
		unix.Close(s.pkt)
	}
}
