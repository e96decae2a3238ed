//go:build linux

package lab

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/xvs-project/xvs/internal/ethtool"
	"golang.org/x/sys/unix"
)

// Defaults of a lab. Every address is inside 198.18.0.0/15.
const (
	// DefaultPrefix prefixes every namespace name of the default lab.
	DefaultPrefix = "xvs"
	// DefaultServers is the number of real servers.
	DefaultServers = 3
	// DefaultQueues is the number of TX and RX queues of every veth.
	DefaultQueues = 2
	// MaxServers is the largest Config.Servers (198.18.1.11 .. .254).
	MaxServers = 244
	// MaxQueues is the largest Config.Queues accepted.
	MaxQueues = 64
	// MTU of every lab interface.
	MTU = 1500
)

// Fixed lab addresses.
var (
	// ClientAddr is the client's address on its eth0.
	ClientAddr = netip.MustParseAddr("198.18.0.2")
	// WANAddr is the director's address on wan0, the client's gateway.
	WANAddr = netip.MustParseAddr("198.18.0.1")
	// VIP is the virtual service address, a /32 on the director's wan0.
	VIP = netip.MustParseAddr("198.18.0.100")
	// LANAddr is the director's address on lan0, the servers' gateway.
	LANAddr = netip.MustParseAddr("198.18.1.1")
	// WAN2Addr, LAN1Addr and LAN2Addr are the directors' own addresses in
	// a Pair lab.
	WAN2Addr = netip.MustParseAddr("198.18.0.3")
	LAN1Addr = netip.MustParseAddr("198.18.1.2")
	LAN2Addr = netip.MustParseAddr("198.18.1.3")
	// FirstServerAddr is the address of rs1; rsN has FirstServerAddr+N-1.
	FirstServerAddr = netip.MustParseAddr("198.18.1.11")
)

// Interface names inside the lab namespaces.
const (
	// WANIf is the director's client-facing interface.
	WANIf = "wan0"
	// LANIf is the director's server-facing interface.
	LANIf = "lan0"
	// HostIf is the interface of the client and of every real server.
	HostIf = "eth0"
	// BridgeIf is the bridge in the switch namespace.
	BridgeIf = "br0"
	// switchLBPort is the switch port facing the director's lan0.
	switchLBPort = "lb"
	// SwitchDirectorPort is the name of the switch namespace's port that
	// faces the director's lan0 (the peer of lan0).
	SwitchDirectorPort = switchLBPort
	// Pair labs: the WAN bridge and its ports, and the second director's
	// LAN port.
	wanBridgeIf      = "br1"
	switchClientPort = "client"
	switchWANPort    = "wlb"
	switchWAN2Port   = "wlb2"
	switchLB2Port    = "lb2"
)

// ErrAlreadyUp matches (errors.Is) Up's error when namespaces of the lab
// exist already.
var ErrAlreadyUp = errors.New("lab is already up")

// ErrNotUp matches (errors.Is) Open's error when the lab does not exist.
var ErrNotUp = errors.New("lab is not up")

// labError is an error about a whole lab that matches a sentinel.
type labError struct {
	msg      string
	sentinel error
}

func (e *labError) Error() string        { return e.msg }
func (e *labError) Is(target error) bool { return target == e.sentinel }

// alreadyUp returns the error for a lab that exists already.
func alreadyUp(prefix string) error {
	return &labError{fmt.Sprintf("lab %s is already up; run xvs lab down", prefix), ErrAlreadyUp}
}

// Config chooses the shape of a lab. Zero values mean the defaults.
type Config struct {
	// Prefix of every namespace name ("xvs" gives xvs-client, xvs-lb, ...).
	Prefix string
	// Servers is the number of real servers, 1..MaxServers (default 3).
	Servers int
	// Queues is the number of TX and RX queues on both ends of every veth,
	// 1..MaxQueues (default 2).
	Queues int
	// WANChannels and LANChannels, when above 0, set how many of the
	// director's wan0 and lan0 queues are active (ethtool -L rx N tx N),
	// 1..Queues: a NIC that allocates more queues than it runs.
	WANChannels, LANChannels int
	// Forwarding turns on IPv4 forwarding in the director namespace, so the
	// kernel routes between wan0 and lan0 (a kernel baseline, or for
	// plumbing tests without a director). Off by default.
	Forwarding bool
	// Pair builds two directors for VRRP: PREFIX-lb and PREFIX-lb2, whose
	// wan0 share a WAN bridge (br1 in the switch namespace) with the
	// client and whose lan0 share the LAN bridge with the servers. The VIP
	// is then on no interface (VRRP owns it), the directors' own
	// addresses are WANAddr/WAN2Addr and LAN1Addr/LAN2Addr, and LANAddr,
	// the servers' gateway, is a second VIP for a vrrp_instance on lan0.
	Pair bool
}

// Default returns the default configuration.
func Default() Config {
	return Config{Prefix: DefaultPrefix, Servers: DefaultServers, Queues: DefaultQueues}
}

// withDefaults fills zero fields and validates the rest.
func (c Config) withDefaults() (Config, error) {
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.Servers == 0 {
		c.Servers = DefaultServers
	}
	if c.Queues == 0 {
		c.Queues = DefaultQueues
	}
	if err := validPrefix(c.Prefix); err != nil {
		return c, err
	}
	if c.Servers < 1 || c.Servers > MaxServers {
		return c, fmt.Errorf("lab: servers must be 1..%d, not %d", MaxServers, c.Servers)
	}
	if c.Queues < 1 || c.Queues > MaxQueues {
		return c, fmt.Errorf("lab: queues must be 1..%d, not %d", MaxQueues, c.Queues)
	}
	for _, ch := range []int{c.WANChannels, c.LANChannels} {
		if ch < 0 || ch > c.Queues {
			return c, fmt.Errorf("lab: channels must be 0 (all) to queues %d, not %d", c.Queues, ch)
		}
	}
	return c, nil
}

// validPrefix accepts names made of letters, digits, '_', '.' and '-' that
// leave room for the longest suffix in a file name.
func validPrefix(p string) error {
	if p == "" || len(p) > 200 || p[0] == '.' || p[0] == '-' {
		return fmt.Errorf("lab: invalid prefix %q", p)
	}
	for _, r := range p {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-'
		if !ok {
			return fmt.Errorf("lab: invalid prefix %q: only letters, digits, '_', '.' and '-'", p)
		}
	}
	return nil
}

// Lab describes a running lab. Fields are read-only.
type Lab struct {
	// Prefix of the namespace names.
	Prefix string
	// ClientNS, LBNS and SwitchNS are namespace names (under /run/netns).
	ClientNS, LBNS, SwitchNS string
	// ServerNS holds the namespace of each real server, in order.
	ServerNS []string
	// ServerNames holds "rs1".."rsN", the names servers answer with.
	ServerNames []string
	// ServerAddrs holds each real server's address on its eth0.
	ServerAddrs []netip.Addr
	// ClientAddr, VIP, WANAddr and LANAddr are the fixed lab addresses.
	ClientAddr, VIP, WANAddr, LANAddr netip.Addr
	// WANIf and LANIf are the director's interfaces, "wan0" and "lan0".
	WANIf, LANIf string
	// LB2NS is the second director's namespace in a Pair lab, else "".
	LB2NS string
	// WAN2Addr, LAN1Addr and LAN2Addr are the directors' own addresses in
	// a Pair lab (the first director's WAN address is WANAddr).
	WAN2Addr, LAN1Addr, LAN2Addr netip.Addr
}

// nsNames returns the namespace names of a lab with prefix p and n servers.
func nsNames(p string, n int) (client, lb, sw string, rs []string) {
	for i := 1; i <= n; i++ {
		rs = append(rs, fmt.Sprintf("%s-rs%d", p, i))
	}
	return p + "-client", p + "-lb", p + "-sw", rs
}

// belongsTo tells whether namespace name ns is part of the lab with prefix p.
func belongsTo(ns, p string) bool {
	rest, ok := strings.CutPrefix(ns, p+"-")
	if !ok {
		return false
	}
	switch rest {
	case "client", "lb", "lb2", "sw":
		return true
	}
	num, ok := strings.CutPrefix(rest, "rs")
	if !ok || num == "" || num[0] == '0' {
		return false
	}
	_, err := strconv.ParseUint(num, 10, 16)
	return err == nil
}

// newLab fills a Lab for a validated config.
func newLab(c Config) *Lab {
	client, lb, sw, rs := nsNames(c.Prefix, c.Servers)
	l := &Lab{
		Prefix: c.Prefix, ClientNS: client, LBNS: lb, SwitchNS: sw, ServerNS: rs,
		ClientAddr: ClientAddr, VIP: VIP, WANAddr: WANAddr, LANAddr: LANAddr,
		WANIf: WANIf, LANIf: LANIf,
	}
	if c.Pair {
		l.LB2NS = lb + "2"
		l.WAN2Addr, l.LAN1Addr, l.LAN2Addr = WAN2Addr, LAN1Addr, LAN2Addr
	}
	a := FirstServerAddr
	for i := range rs {
		l.ServerNames = append(l.ServerNames, fmt.Sprintf("rs%d", i+1))
		l.ServerAddrs = append(l.ServerAddrs, a)
		a = a.Next()
	}
	return l
}

// testHookStep, when set by tests, is called after each build step of Up;
// an error from it makes Up fail at that point.
var testHookStep func(step string) error

// Up builds a lab as described in the package documentation and returns
// it once every interface is up. It fails with "lab PREFIX is already up;
// run xvs lab down", matching ErrAlreadyUp, if any namespace of the lab
// exists already. If anything fails halfway, Up removes what it created
// before returning the error.
//
// Besides the topology, Up disables IPv6 in every lab namespace (so no
// router solicitations, DAD or MLD reach the director), turns TX checksum
// offload off on the client's and the servers' eth0, and widens the
// client's ephemeral port range to 1024-65535 for connection-per-request
// load.
func Up(cfg Config) (*Lab, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	l := newLab(c)
	all := append([]string{l.ClientNS, l.LBNS, l.SwitchNS}, l.ServerNS...)
	if c.Pair {
		all = append(all, l.LB2NS)
	}
	existing, err := listNS()
	if err != nil {
		return nil, err
	}
	for _, ns := range existing {
		if belongsTo(ns, c.Prefix) {
			return nil, alreadyUp(c.Prefix)
		}
	}
	if err := prepareNetnsDir(); err != nil {
		return nil, err
	}

	b := &builder{cfg: c, lab: l, handles: map[string]*netlink.Handle{}, fds: map[string]int{}}
	err = b.build(all)
	b.close()
	if err != nil {
		for _, ns := range b.created {
			deleteNS(ns)
		}
		if errors.Is(err, errNSExists) {
			return nil, alreadyUp(c.Prefix)
		}
		return nil, err
	}
	return l, nil
}

// Open returns the description of a lab that is up, for a process other
// than the one that built it (for example `xvs lab traffic` after
// `xvs lab up`). "" means DefaultPrefix. The servers are rs1..rsN for the
// consecutive rsN namespaces found. Open fails, matching ErrNotUp, unless
// the client, lb and sw namespaces and rs1 exist.
func Open(prefix string) (*Lab, error) {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if err := validPrefix(prefix); err != nil {
		return nil, err
	}
	n := 0
	for nsExists(fmt.Sprintf("%s-rs%d", prefix, n+1)) {
		n++
	}
	l := newLab(Config{Prefix: prefix, Servers: n})
	if n == 0 || !nsExists(l.ClientNS) || !nsExists(l.LBNS) || !nsExists(l.SwitchNS) {
		return nil, &labError{fmt.Sprintf("lab %s is not up; run xvs lab up", prefix), ErrNotUp}
	}
	return l, nil
}

// builder holds the state of one Up.
type builder struct {
	cfg     Config
	lab     *Lab
	created []string
	handles map[string]*netlink.Handle
	fds     map[string]int
}

// close releases netlink handles and namespace descriptors.
func (b *builder) close() {
	for _, h := range b.handles {
		h.Close()
	}
	for _, fd := range b.fds {
		unix.Close(fd)
	}
}

// step runs the test hook after a named build step.
func step(name string) error {
	if testHookStep != nil {
		return testHookStep(name)
	}
	return nil
}

// build creates namespaces, links, addresses and routes.
func (b *builder) build(all []string) error {
	l, q := b.lab, b.cfg.Queues
	for _, ns := range all {
		if err := createNS(ns); err != nil {
			return err
		}
		b.created = append(b.created, ns)
		fd, err := openNS(ns)
		if err != nil {
			return err
		}
		b.fds[ns] = fd
		var h *netlink.Handle
		err = doFd(fd, func() error {
			// Keep IPv6 (router solicitations, DAD, MLD) off the lab wires
			// so that the director sees only the traffic a test makes.
			for _, k := range []string{"net/ipv6/conf/all/disable_ipv6", "net/ipv6/conf/default/disable_ipv6"} {
				if err := writeSysctl(k, "1"); err != nil && !errors.Is(err, unix.ENOENT) {
					return err
				}
			}
			var err error
			h, err = netlink.NewHandle(unix.NETLINK_ROUTE)
			if err != nil {
				return fmt.Errorf("lab: netlink handle in %s: %w", ns, err)
			}
			return nil
		})
		if err != nil {
			return err
		}
		b.handles[ns] = h
	}
	if err := step("namespaces"); err != nil {
		return err
	}

	// The switch: a bridge with STP off and no forward delay.
	if err := doFd(b.fds[l.SwitchNS], func() error { return addBridge(BridgeIf) }); err != nil {
		return err
	}
	// Links. Each veth is created in the namespace of its first end with
	// the peer placed directly in the second, so no interface ever
	// appears in the root namespace and names never clash.
	if b.cfg.Pair {
		if err := doFd(b.fds[l.SwitchNS], func() error { return addBridge(wanBridgeIf) }); err != nil {
			return err
		}
		if err := b.veth(l.ClientNS, HostIf, l.SwitchNS, switchClientPort, q); err != nil {
			return err
		}
		if err := b.veth(l.LBNS, WANIf, l.SwitchNS, switchWANPort, q); err != nil {
			return err
		}
		if err := b.veth(l.LB2NS, WANIf, l.SwitchNS, switchWAN2Port, q); err != nil {
			return err
		}
		if err := b.veth(l.LB2NS, LANIf, l.SwitchNS, switchLB2Port, q); err != nil {
			return err
		}
	} else if err := b.veth(l.ClientNS, HostIf, l.LBNS, WANIf, q); err != nil {
		return err
	}
	if err := b.veth(l.LBNS, LANIf, l.SwitchNS, switchLBPort, q); err != nil {
		return err
	}
	for i, ns := range l.ServerNS {
		if err := b.veth(ns, HostIf, l.SwitchNS, l.ServerNames[i], q); err != nil {
			return err
		}
	}
	if err := step("links"); err != nil {
		return err
	}

	// Switch ports into the bridge, everything up.
	sw := b.handles[l.SwitchNS]
	br, err := sw.LinkByName(BridgeIf)
	if err != nil {
		return fmt.Errorf("lab: find %s in %s: %w", BridgeIf, l.SwitchNS, err)
	}
	ports := append([]string{switchLBPort}, l.ServerNames...)
	if b.cfg.Pair {
		ports = append(ports, switchLB2Port, switchClientPort, switchWANPort, switchWAN2Port)
	}
	for _, port := range ports {
		pl, err := sw.LinkByName(port)
		if err != nil {
			return fmt.Errorf("lab: find %s in %s: %w", port, l.SwitchNS, err)
		}
		master := br
		if port == switchClientPort || port == switchWANPort || port == switchWAN2Port {
			if master, err = sw.LinkByName(wanBridgeIf); err != nil {
				return fmt.Errorf("lab: find %s in %s: %w", wanBridgeIf, l.SwitchNS, err)
			}
			if err := sw.LinkSetUp(master); err != nil {
				return fmt.Errorf("lab: set %s up: %w", wanBridgeIf, err)
			}
		}
		if err := sw.LinkSetMaster(pl, master); err != nil {
			return fmt.Errorf("lab: add %s to %s: %w", port, BridgeIf, err)
		}
		if err := sw.LinkSetUp(pl); err != nil {
			return fmt.Errorf("lab: set %s up: %w", port, err)
		}
	}
	if err := sw.LinkSetUp(br); err != nil {
		return fmt.Errorf("lab: set %s up: %w", BridgeIf, err)
	}

	// Addresses and routes.
	if err := b.addr(l.ClientNS, HostIf, l.ClientAddr, 24); err != nil {
		return err
	}
	if err := b.addr(l.LBNS, WANIf, l.WANAddr, 24); err != nil {
		return err
	}
	if b.cfg.Pair {
		for _, a := range []struct {
			ns, ifName string
			addr       netip.Addr
		}{{l.LB2NS, WANIf, l.WAN2Addr}, {l.LBNS, LANIf, l.LAN1Addr}, {l.LB2NS, LANIf, l.LAN2Addr}} {
			if err := b.addr(a.ns, a.ifName, a.addr, 24); err != nil {
				return err
			}
		}
		for _, ifName := range []string{WANIf, LANIf} {
			if err := b.up(l.LB2NS, ifName); err != nil {
				return err
			}
		}
	} else {
		if err := b.addr(l.LBNS, WANIf, l.VIP, 32); err != nil {
			return err
		}
		if err := b.addr(l.LBNS, LANIf, l.LANAddr, 24); err != nil {
			return err
		}
	}
	for i, ns := range l.ServerNS {
		if err := b.addr(ns, HostIf, l.ServerAddrs[i], 24); err != nil {
			return err
		}
	}
	for _, ns := range all {
		if err := b.up(ns, "lo"); err != nil {
			return err
		}
	}
	for _, ns := range append([]string{l.ClientNS}, l.ServerNS...) {
		if err := b.up(ns, HostIf); err != nil {
			return err
		}
	}
	if err := b.up(l.LBNS, WANIf); err != nil {
		return err
	}
	if err := b.up(l.LBNS, LANIf); err != nil {
		return err
	}
	if err := b.defaultRoute(l.ClientNS, HostIf, l.WANAddr); err != nil {
		return err
	}
	for _, ns := range l.ServerNS {
		if err := b.defaultRoute(ns, HostIf, l.LANAddr); err != nil {
			return err
		}
	}
	if err := step("addresses"); err != nil {
		return err
	}

	// Host tweaks: no TX checksum offload on the end hosts (packets the
	// director rewrites must carry real checksums), a wide port range on
	// the client for connection-per-request load, forwarding on request.
	for _, ns := range append([]string{l.ClientNS}, l.ServerNS...) {
		err := doFd(b.fds[ns], func() error {
			if err := setTxChecksum(HostIf, false); err != nil {
				return err
			}
			if ns == l.ClientNS {
				return writeSysctl("net/ipv4/ip_local_port_range", "1024 65535")
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("lab: configure %s: %w", ns, err)
		}
	}
	for _, c := range []struct {
		ifName string
		n      int
	}{{WANIf, b.cfg.WANChannels}, {LANIf, b.cfg.LANChannels}} {
		if c.n > 0 {
			if err := doFd(b.fds[l.LBNS], func() error { return ethtool.SetChannels(c.ifName, c.n, c.n) }); err != nil {
				return fmt.Errorf("lab: channels of %s: %w", c.ifName, err)
			}
		}
	}
	fwd := "0"
	if b.cfg.Forwarding {
		fwd = "1"
	}
	if b.cfg.Pair {
		// A veth passes frames sent with XDP_TX or XDP_REDIRECT (the
		// benchmark's generator on the client, tools on the directors)
		// to its peer only when the peer has NAPI: GRO on, or an XDP
		// program.
		err := doFd(b.fds[l.SwitchNS], func() error {
			for _, port := range []string{switchLBPort, switchLB2Port, switchWANPort, switchWAN2Port, switchClientPort} {
				if err := SetGRO(port, true); err != nil {
					return fmt.Errorf("lab: GRO on %s: %w", port, err)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	for _, ns := range []string{l.LBNS, l.LB2NS} {
		if ns == "" {
			continue
		}
		if err := doFd(b.fds[ns], func() error { return writeSysctl("net/ipv4/ip_forward", fwd) }); err != nil {
			return err
		}
	}
	b.waitOperUp(2 * time.Second)
	return step("done")
}

// waitOperUp waits, at most d and without failing, until every lab
// interface reports operational state up, so a caller that inspects the
// lab right after Up sees it settled. Traffic flows even before.
func (b *builder) waitOperUp(d time.Duration) {
	l := b.lab
	type nsIf struct{ ns, ifName string }
	want := []nsIf{{l.ClientNS, HostIf}, {l.LBNS, WANIf}, {l.LBNS, LANIf}, {l.SwitchNS, BridgeIf}, {l.SwitchNS, switchLBPort}}
	for i, ns := range l.ServerNS {
		want = append(want, nsIf{ns, HostIf}, nsIf{l.SwitchNS, l.ServerNames[i]})
	}
	deadline := time.Now().Add(d)
	for _, w := range want {
		for {
			link, err := b.handles[w.ns].LinkByName(w.ifName)
			if err != nil || link.Attrs().OperState == netlink.OperUp || time.Now().After(deadline) {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// veth creates a veth pair: name in namespace ns, peer in peerNS.
func (b *builder) veth(ns, name, peerNS, peer string, queues int) error {
	la := netlink.NewLinkAttrs()
	la.Name = name
	la.MTU = MTU
	la.NumTxQueues = queues
	la.NumRxQueues = queues
	v := &netlink.Veth{
		LinkAttrs:       la,
		PeerName:        peer,
		PeerNamespace:   netlink.NsFd(b.fds[peerNS]),
		PeerTxQLen:      -1,
		PeerNumTxQueues: uint32(queues),
		PeerNumRxQueues: uint32(queues),
		PeerMTU:         MTU,
	}
	if err := b.handles[ns].LinkAdd(v); err != nil {
		return fmt.Errorf("lab: create veth %s/%s - %s/%s: %w", ns, name, peerNS, peer, err)
	}
	return nil
}

// addr adds a.bits to interface ifName in namespace ns.
func (b *builder) addr(ns, ifName string, a netip.Addr, bits int) error {
	h := b.handles[ns]
	link, err := h.LinkByName(ifName)
	if err != nil {
		return fmt.Errorf("lab: find %s in %s: %w", ifName, ns, err)
	}
	ipn := &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(bits, 32)}
	if err := h.AddrAdd(link, &netlink.Addr{IPNet: ipn}); err != nil {
		return fmt.Errorf("lab: add %s/%d to %s in %s: %w", a, bits, ifName, ns, err)
	}
	return nil
}

// up sets interface ifName in namespace ns up.
func (b *builder) up(ns, ifName string) error {
	h := b.handles[ns]
	link, err := h.LinkByName(ifName)
	if err != nil {
		return fmt.Errorf("lab: find %s in %s: %w", ifName, ns, err)
	}
	if err := h.LinkSetUp(link); err != nil {
		return fmt.Errorf("lab: set %s up in %s: %w", ifName, ns, err)
	}
	return nil
}

// defaultRoute adds a default route via gw on ifName in namespace ns.
func (b *builder) defaultRoute(ns, ifName string, gw netip.Addr) error {
	h := b.handles[ns]
	link, err := h.LinkByName(ifName)
	if err != nil {
		return fmt.Errorf("lab: find %s in %s: %w", ifName, ns, err)
	}
	r := &netlink.Route{
		LinkIndex: link.Attrs().Index,
		Dst:       &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)},
		Gw:        gw.AsSlice(),
	}
	if err := h.RouteAdd(r); err != nil {
		return fmt.Errorf("lab: add default route via %s in %s: %w", gw, ns, err)
	}
	return nil
}

// addBridge creates a bridge with STP off and forward delay 0 in the calling
// thread's namespace (call it inside Do). The netlink library has no field
// for the forward delay, so the request is built here.
func addBridge(name string) error {
	req := nl.NewNetlinkRequest(unix.RTM_NEWLINK, unix.NLM_F_CREATE|unix.NLM_F_EXCL|unix.NLM_F_ACK)
	req.AddData(nl.NewIfInfomsg(unix.AF_UNSPEC))
	req.AddData(nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(name)))
	req.AddData(nl.NewRtAttr(unix.IFLA_MTU, nl.Uint32Attr(MTU)))
	info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated("bridge"))
	data := info.AddRtAttr(nl.IFLA_INFO_DATA, nil)
	data.AddRtAttr(nl.IFLA_BR_STP_STATE, nl.Uint32Attr(0))
	data.AddRtAttr(nl.IFLA_BR_FORWARD_DELAY, nl.Uint32Attr(0))
	req.AddData(info)
	if _, err := req.Execute(unix.NETLINK_ROUTE, 0); err != nil {
		return fmt.Errorf("lab: create bridge %s: %w", name, err)
	}
	return nil
}

// Down removes the lab; it is Down(l.Prefix).
func (l *Lab) Down() error {
	return Down(l.Prefix)
}

// Down removes the lab with the given prefix ("" means DefaultPrefix):
// it stops servers this process started for it, stops the daemons started
// by StartDaemons (SIGTERM, then SIGKILL after 2s) and removes their pid
// and log files, ends any other process still living in a lab namespace
// the same way, and deletes the namespaces, which takes their veths and
// the bridge with them. Down is idempotent: with nothing there it does
// nothing and returns nil.
func Down(prefix string) error {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if err := validPrefix(prefix); err != nil {
		return err
	}
	var errs []error
	for _, s := range takeRegistered(prefix) {
		if err := s.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	names, err := listNS()
	if err != nil {
		return err
	}
	var mine []string
	for _, ns := range names {
		if belongsTo(ns, prefix) {
			mine = append(mine, ns)
		}
	}
	if err := stopDaemons(prefix, mine); err != nil {
		errs = append(errs, err)
	}
	for _, ns := range mine {
		if err := deleteNS(ns); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// registry maps a lab prefix to the in-process servers started for it, so
// Down(prefix) stops them even without the *Lab.
var registry = struct {
	sync.Mutex
	m map[string][]io.Closer
}{m: map[string][]io.Closer{}}

// register records in-process servers of a lab.
func register(prefix string, c io.Closer) {
	registry.Lock()
	registry.m[prefix] = append(registry.m[prefix], c)
	registry.Unlock()
}

// takeRegistered removes and returns the in-process servers of a lab.
func takeRegistered(prefix string) []io.Closer {
	registry.Lock()
	defer registry.Unlock()
	c := registry.m[prefix]
	delete(registry.m, prefix)
	return c
}
