package control

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/xvs-project/xvs/config"
	"github.com/xvs-project/xvs/vrrp"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// use_vmac (keepalived's, RFC 5798 §7.3). An instance with use_vmac is
// answered for and announced with the virtual router MAC address
// 00:00:5e:00:01:VRID instead of its interface's own: the owned map
// carries the VMAC, so the XDP classifier's ARP and echo replies come from
// it, and gratuitous ARPs and (unless vmac_xmit_base) adverts are sent
// from it through the packet socket. Clients then keep one MAC address for
// the VIP whoever is MASTER, and a failover needs switches to learn the
// VMAC's new port (from the new MASTER's frames) but no client to change
// its ARP cache.
//
// The NIC must accept frames to the VMAC, or the classifier never sees
// them. As keepalived does, xvs creates a macvlan interface on the
// instance's interface with the VMAC (vrrp.VRID or the name use_vmac
// gives), in private mode, with no address, arp_ignore 1 and no IPv6, and
// keeps it up while it runs: opening a macvlan puts its address in the
// parent's unicast filter (or makes the parent promiscuous). The kernel's
// macvlan handler runs after the parent's XDP program, so the classifier
// still sees, and takes, every frame to the VMAC it wants; what it passes
// reaches the macvlan, which holds no address and answers nothing. The
// interface is removed when the runner stops, whether it stopped cleanly
// or on an error; after kill -9 it stays, as keepalived's does, and the
// next start replaces it.

// ipv4DevconfARPIgnore is IPV4_DEVCONF_ARP_IGNORE of linux/ip.h: the
// index of arp_ignore in IFLA_INET_CONF.
const ipv4DevconfARPIgnore = 19

// in6AddrGenModeNone is IN6_ADDR_GEN_MODE_NONE of linux/if_link.h.
const in6AddrGenModeNone = 1

// VMACNames returns the VMAC interface of each use_vmac instance of a
// configuration, by instance name: the name use_vmac gives, else keepalived's default,
// vrrp.VRID, or vrrpN.VRID (N from 1) when another instance has that name
// already (the same VRID on another interface).
func VMACNames(insts []config.VRRPInstance) map[string]string {
	names := map[string]string{}
	taken := map[string]bool{}
	for _, in := range insts {
		if in.UseVMAC && in.VMACName != "" {
			names[in.Name] = in.VMACName
			taken[in.VMACName] = true
		}
	}
	for _, in := range insts {
		if !in.UseVMAC || in.VMACName != "" {
			continue
		}
		name := fmt.Sprintf("vrrp.%d", in.VirtualRouterID)
		for n := 1; taken[name]; n++ {
			name = fmt.Sprintf("vrrp%d.%d", n, in.VirtualRouterID)
		}
		taken[name] = true
		names[in.Name] = name
	}
	return names
}

// setVMAC makes inst a use_vmac instance with VMAC interface name.
func (inst *vrrpInstance) setVMAC(name string) {
	inst.vmacName = name
	inst.vmac = vrrp.VirtualMAC(uint8(inst.spec.VirtualRouterID))
}

// vipMAC is the MAC address the instance's VIPs are answered for and
// announced with: the VMAC with use_vmac, else the interface's own.
func (inst *vrrpInstance) vipMAC() [6]byte {
	if inst.vmacName != "" {
		return inst.vmac
	}
	return inst.mac
}

// advertsFromVMAC reports whether adverts go out from the VMAC, as whole
// frames through the packet socket: with use_vmac, unless vmac_xmit_base
// or unicast peers (whose MAC addresses xvs does not resolve; the
// configuration implies vmac_xmit_base for them) say otherwise. Other
// adverts go through the raw IP socket, from the interface's own MAC.
func (inst *vrrpInstance) advertsFromVMAC() bool {
	return inst.vmacName != "" && !inst.spec.VMACXmitBase && !inst.unicast
}

// advertFrame appends the Ethernet frame of advert adv to dst to b.
func (inst *vrrpInstance) advertFrame(b []byte, adv *vrrp.Advert, dst netip.Addr) ([]byte, error) {
	src := inst.mac
	if inst.advertsFromVMAC() {
		src = inst.vmac
	}
	return vrrp.AppendAdvertFrame(b, vrrp.FrameParams{SrcMAC: src, Src: inst.src, Dst: dst, ID: inst.ipID}, adv)
}

// garpFrame appends a gratuitous ARP for vip, from vipMAC, to b.
func (inst *vrrpInstance) garpFrame(b []byte, vip netip.Addr) ([]byte, error) {
	return vrrp.AppendGARPFrame(b, inst.vipMAC(), vip)
}

// vmacStatus is VRRPStatus.VMAC: the address and its interface.
func (inst *vrrpInstance) vmacStatus() string {
	if inst.vmacName == "" {
		return ""
	}
	return net.HardwareAddr(inst.vmac[:]).String() + " on " + inst.vmacName
}

// setupVMACs creates the VMAC interface of every use_vmac instance. On
// error, those made are left for removeVMACs, which the caller defers.
func (r *vrrpRunner) setupVMACs() error {
	for _, inst := range r.insts {
		if inst.vmacName == "" {
			continue
		}
		l, err := setupVMAC(r.log, inst.spec.Name, inst.vmacName, inst.link, inst.vmac)
		if err != nil {
			return fmt.Errorf("vrrp_instance %s: %w", inst.spec.Name, err)
		}
		inst.vmacLink = l
	}
	return nil
}

// removeVMACs removes the VMAC interfaces setupVMACs (or vmacUp) made.
func (r *vrrpRunner) removeVMACs() {
	for _, inst := range r.insts {
		if inst.vmacLink == nil {
			continue
		}
		removeVMAC(r.log, inst.spec.Name, inst.vmacLink)
		inst.vmacLink = nil
	}
}

// vmacUp reports whether inst's VMAC interface is up, for tracking: an
// instance whose VMAC interface is down is in FAULT, since the NIC may
// drop the frames to the VMAC. One that was removed behind xvs's back is
// made again, as keepalived does.
func (r *vrrpRunner) vmacUp(inst *vrrpInstance) bool {
	l, err := netlink.LinkByName(inst.vmacName)
	var nf netlink.LinkNotFoundError
	if errors.As(err, &nf) && inst.vmacLink != nil {
		// Once only: a failed attempt leaves the instance in FAULT, not in
		// a loop of creations and removals.
		r.log.Warn("the VMAC interface is gone; making it again", zap.String("instance", inst.spec.Name), zap.String("interface", inst.vmacName))
		inst.vmacLink = nil
		if l, err = setupVMAC(r.log, inst.spec.Name, inst.vmacName, inst.link, inst.vmac); err != nil {
			r.log.Error("making the VMAC interface again failed; the instance stays in FAULT until xvs restarts", zap.String("instance", inst.spec.Name), zap.Error(err))
			return false
		}
		inst.vmacLink = l
	}
	if err != nil {
		return false
	}
	return l.Attrs().Flags&net.FlagUp != 0 && l.Attrs().OperState != netlink.OperDown
}

// setupVMAC creates the macvlan interface name on parent with address mac
// (private mode, no address, arp_ignore 1, no IPv6) and brings it up. An
// interface of that name left behind (by an xvs or keepalived that was
// killed) is replaced if it is a macvlan on parent or with mac; any other
// interface of that name, or another macvlan on parent with mac, is an
// error: xvs removes nothing it cannot tell is a VMAC of this instance.
func setupVMAC(log *zap.Logger, instance, name string, parent netlink.Link, mac [6]byte) (netlink.Link, error) {
	hw := net.HardwareAddr(mac[:])
	pa := parent.Attrs()
	var nf netlink.LinkNotFoundError
	old, err := netlink.LinkByName(name)
	switch {
	case err == nil:
		a := old.Attrs()
		if old.Type() != "macvlan" || (a.ParentIndex != pa.Index && !bytes.Equal(a.HardwareAddr, hw)) {
			return nil, fmt.Errorf("VMAC interface %s: an interface of that name exists (%s, address %s) and is not a VMAC of this instance; xvs does not remove it: remove it or name another interface in use_vmac", name, old.Type(), a.HardwareAddr)
		}
		log.Warn("replacing a VMAC interface left behind (by an xvs or keepalived that was killed?)", zap.String("instance", instance),
			zap.String("interface", name), zap.Stringer("mac", a.HardwareAddr))
		if err := netlink.LinkDel(old); err != nil {
			return nil, fmt.Errorf("removing the VMAC interface %s left behind: %w", name, err)
		}
	case !errors.As(err, &nf):
		return nil, fmt.Errorf("VMAC interface %s: %w", name, err)
	}
	links, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("VMAC interface %s: listing interfaces: %w", name, err)
	}
	for _, l := range links {
		if a := l.Attrs(); l.Type() == "macvlan" && a.ParentIndex == pa.Index && bytes.Equal(a.HardwareAddr, hw) {
			return nil, fmt.Errorf("VMAC interface %s: macvlan %s on %s has the address %s already (left by keepalived or an earlier configuration?); remove it (ip link del %s) or name it in use_vmac",
				name, a.Name, pa.Name, hw, a.Name)
		}
	}
	mv := &netlink.Macvlan{LinkAttrs: netlink.LinkAttrs{Name: name, ParentIndex: pa.Index, HardwareAddr: hw}, Mode: netlink.MACVLAN_MODE_PRIVATE}
	if err := netlink.LinkAdd(mv); err != nil {
		return nil, fmt.Errorf("creating VMAC interface %s on %s: %w", name, pa.Name, err)
	}
	l, err := netlink.LinkByName(name)
	if err != nil {
		_ = netlink.LinkDel(mv)
		return nil, fmt.Errorf("VMAC interface %s: %w", name, err)
	}
	fail := func(err error) (netlink.Link, error) {
		if derr := netlink.LinkDel(l); derr != nil {
			log.Error("removing the VMAC interface", zap.String("instance", instance), zap.String("interface", name), zap.Error(derr))
		}
		return nil, fmt.Errorf("VMAC interface %s: %w", name, err)
	}
	// The kernel answers ARP on every interface for every local address
	// unless told not to: without arp_ignore 1 the macvlan would answer
	// for the director's own addresses with the VMAC.
	if err := setARPIgnore(l.Attrs().Index); err != nil {
		return fail(fmt.Errorf("arp_ignore: %w", err))
	}
	// No IPv6: a link-local address would send neighbour discovery from
	// the VMAC, from the BACKUP too, and switches would learn the VMAC on
	// the wrong port.
	if err := noIPv6(l); err != nil {
		return fail(err)
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return fail(fmt.Errorf("bringing it up: %w", err))
	}
	if up, err := netlink.LinkByName(name); err == nil {
		l = up // with its flags up
	}
	log.Info("VMAC interface up", zap.String("instance", instance), zap.String("interface", name), zap.String("on", pa.Name), zap.Stringer("mac", hw))
	return l, nil
}

// removeVMAC removes a VMAC interface setupVMAC made.
func removeVMAC(log *zap.Logger, instance string, l netlink.Link) {
	name := l.Attrs().Name
	err := netlink.LinkDel(l)
	var nf netlink.LinkNotFoundError
	switch {
	case err == nil:
		log.Info("VMAC interface removed", zap.String("instance", instance), zap.String("interface", name))
	case errors.As(err, &nf), errors.Is(err, unix.ENODEV):
		log.Warn("VMAC interface already gone", zap.String("instance", instance), zap.String("interface", name))
	default:
		log.Error("removing the VMAC interface", zap.String("instance", instance), zap.String("interface", name), zap.Error(err))
	}
}

// setARPIgnore sets arp_ignore to 1 on interface index through netlink
// (IFLA_AF_SPEC, AF_INET, IFLA_INET_CONF), as keepalived does, so that it
// works where /proc/sys is read-only.
func setARPIgnore(index int) error {
	req := nl.NewNetlinkRequest(unix.RTM_SETLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(index)
	req.AddData(msg)
	conf := nl.NewRtAttr(unix.IFLA_INET_CONF, nil)
	conf.AddRtAttr(ipv4DevconfARPIgnore, nl.Uint32Attr(1))
	inet := nl.NewRtAttr(unix.AF_INET, conf.Serialize())
	req.AddData(nl.NewRtAttr(unix.IFLA_AF_SPEC, inet.Serialize()))
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}

// noIPv6 keeps IPv6 off l: no address generation (netlink) and
// disable_ipv6 (/proc/sys); either is enough, and neither is needed on a
// kernel without IPv6.
func noIPv6(l netlink.Link) error {
	genErr := netlink.LinkSetIP6AddrGenMode(l, in6AddrGenModeNone)
	disErr := os.WriteFile(filepath.Join("/proc/sys/net/ipv6/conf", l.Attrs().Name, "disable_ipv6"), []byte("1"), 0o644)
	if genErr != nil && disErr != nil && !errors.Is(disErr, fs.ErrNotExist) {
		return fmt.Errorf("keeping IPv6 off: %w", errors.Join(genErr, disErr))
	}
	return nil
}
