package dataplane

import (
	"context"
	"net"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// route is one IPv4 route out of an interface: destination prefix and
// gateway (zero when the destination is on link).
type route struct {
	dst  netip.Prefix
	gw   [4]byte
	hasG bool
}

// linkView is an immutable snapshot of what the fast path needs to address
// a frame out of one interface.
type linkView struct {
	routes []route // longest prefix first
	neigh  map[[4]byte][6]byte
}

// nextHop returns the address whose link-layer address a frame to dst must
// carry, or false when no route out of this interface covers dst.
func (v *linkView) nextHop(dst [4]byte) ([4]byte, bool) {
	a := netip.AddrFrom4(dst)
	for i := range v.routes {
		r := &v.routes[i]
		if r.dst.Contains(a) {
			if r.hasG {
				return r.gw, true
			}
			return dst, true
		}
	}
	return [4]byte{}, false
}

// resolve returns the link-layer address to send a frame for dst to.
func (v *linkView) resolve(dst [4]byte) (nh [4]byte, mac [6]byte, ok bool) {
	nh, ok = v.nextHop(dst)
	if !ok {
		return nh, mac, false
	}
	mac, ok = v.neigh[nh]
	return nh, mac, ok
}

// Neighbours keeps per-interface snapshots of the kernel's IPv4 routes and
// neighbours, rebuilt from netlink whenever they change, and asks the kernel
// to resolve addresses the fast path found missing. Lookups are lock-free.
type Neighbours struct {
	log   *zap.Logger
	links map[int]*atomic.Pointer[linkView] // by ifindex; fixed after New
	miss  chan [4]byte
	dirty chan struct{}
	mu    sync.Mutex // serialises rebuilds
	// linkEvent is called (from the watcher goroutine) when an interface
	// goes up or down.
	linkEvent func(name string, up bool)
}

// NewNeighbours builds the first snapshots for the given interfaces.
func NewNeighbours(log *zap.Logger, ifindexes ...int) (*Neighbours, error) {
	n := &Neighbours{
		log:   log,
		links: make(map[int]*atomic.Pointer[linkView], len(ifindexes)),
		miss:  make(chan [4]byte, 256),
		dirty: make(chan struct{}, 1),
	}
	for _, i := range ifindexes {
		n.links[i] = new(atomic.Pointer[linkView])
	}
	if err := n.rebuild(); err != nil {
		return nil, err
	}
	return n, nil
}

// view returns the current snapshot for an interface.
func (n *Neighbours) view(ifindex int) *linkView { return n.links[ifindex].Load() }

// Miss tells the resolver that the fast path had no link-layer address for
// addr. It never blocks.
func (n *Neighbours) Miss(addr [4]byte) {
	select {
	case n.miss <- addr:
	default:
	}
}

// rebuild reads routes and neighbours of every watched interface.
func (n *Neighbours) rebuild() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	for ifindex, p := range n.links {
		v := &linkView{neigh: map[[4]byte][6]byte{}}
		rs, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{LinkIndex: ifindex, Table: unix.RT_TABLE_MAIN},
			netlink.RT_FILTER_OIF|netlink.RT_FILTER_TABLE)
		if err != nil {
			return err
		}
		for _, r := range rs {
			var pfx netip.Prefix
			if r.Dst == nil {
				pfx = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
			} else if a, ok := netip.AddrFromSlice(r.Dst.IP.To4()); ok {
				ones, _ := r.Dst.Mask.Size()
				pfx = netip.PrefixFrom(a, ones)
			} else {
				continue
			}
			rt := route{dst: pfx.Masked()}
			if gw := r.Gw.To4(); gw != nil {
				rt.gw, rt.hasG = [4]byte(gw), true
			}
			v.routes = append(v.routes, rt)
		}
		sort.SliceStable(v.routes, func(i, j int) bool { return v.routes[i].dst.Bits() > v.routes[j].dst.Bits() })
		ns, err := netlink.NeighList(ifindex, netlink.FAMILY_V4)
		if err != nil {
			return err
		}
		for _, e := range ns {
			ip := e.IP.To4()
			if ip == nil || len(e.HardwareAddr) != 6 || e.State&(netlink.NUD_INCOMPLETE|netlink.NUD_FAILED) != 0 {
				continue
			}
			v.neigh[[4]byte(ip)] = [6]byte(e.HardwareAddr)
		}
		p.Store(v)
	}
	return nil
}

// Run watches netlink for route, neighbour and link changes and resolves
// missed addresses until ctx is done.
func (n *Neighbours) Run(ctx context.Context) {
	done := make(chan struct{})
	defer close(done)
	neighCh := make(chan netlink.NeighUpdate, 64)
	routeCh := make(chan netlink.RouteUpdate, 64)
	linkCh := make(chan netlink.LinkUpdate, 16)
	if err := netlink.NeighSubscribe(neighCh, done); err != nil {
		n.log.Error("subscribing to neighbour updates", zap.Error(err))
	}
	if err := netlink.RouteSubscribe(routeCh, done); err != nil {
		n.log.Error("subscribing to route updates", zap.Error(err))
	}
	if err := netlink.LinkSubscribe(linkCh, done); err != nil {
		n.log.Error("subscribing to link updates", zap.Error(err))
	}
	up := map[int]bool{}
	for i := range n.links {
		if l, err := netlink.LinkByIndex(i); err == nil {
			up[i] = l.Attrs().OperState == netlink.OperUp || l.Attrs().Flags&net.FlagUp != 0
		}
	}
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	var pending bool
	debounce := time.NewTimer(time.Hour)
	defer debounce.Stop()
	lastPoke := map[[4]byte]time.Time{}
	mark := func() {
		if !pending {
			pending = true
			debounce.Reset(20 * time.Millisecond)
		}
	}
	// Changes between New and the subscriptions above were missed.
	mark()
	for {
		select {
		case <-ctx.Done():
			return
		case u := <-neighCh:
			if _, ok := n.links[u.LinkIndex]; ok {
				mark()
			}
		case u := <-routeCh:
			if _, ok := n.links[u.LinkIndex]; ok {
				mark()
			}
		case u := <-linkCh:
			i := int(u.Index)
			if _, ok := n.links[i]; !ok {
				continue
			}
			isUp := u.Attrs().Flags&net.FlagUp != 0 && u.Attrs().OperState != netlink.OperDown
			if isUp != up[i] {
				up[i] = isUp
				if n.linkEvent != nil {
					n.linkEvent(u.Attrs().Name, isUp)
				}
			}
			mark()
		case <-debounce.C:
			pending = false
			if err := n.rebuild(); err != nil {
				n.log.Warn("reading routes and neighbours", zap.Error(err))
			}
		case <-tick.C:
			// Netlink multicast can drop messages under load: resync.
			mark()
		case a := <-n.miss:
			now := time.Now()
			if now.Sub(lastPoke[a]) < time.Second {
				continue
			}
			lastPoke[a] = now
			n.poke(a)
		}
	}
}

// poke makes the kernel resolve the link-layer address of a (or of its
// gateway) by sending it an empty UDP datagram to the discard port through
// the kernel's own stack; the resulting neighbour entry arrives through the
// subscription.
func (n *Neighbours) poke(a [4]byte) {
	c, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IP(a[:]), Port: 9})
	if err != nil {
		n.log.Debug("resolving neighbour", zap.Stringer("addr", netip.AddrFrom4(a)), zap.Error(err))
		return
	}
	_, _ = c.Write(nil)
	c.Close()
}

// unknown returns those of addrs that no watched interface can address
// yet.
func (n *Neighbours) unknown(addrs [][4]byte) [][4]byte {
	var out [][4]byte
	for _, a := range addrs {
		known := false
		for _, p := range n.links {
			if _, _, ok := p.Load().resolve(a); ok {
				known = true
				break
			}
		}
		if !known {
			out = append(out, a)
		}
	}
	return out
}

// Request makes the kernel resolve those of the given addresses that no
// watched interface can address yet, without waiting for the answers.
func (n *Neighbours) Request(addrs ...[4]byte) {
	for _, a := range n.unknown(addrs) {
		n.poke(a)
	}
}

// Resolve makes the kernel resolve those of the given addresses that no
// watched interface can address yet (e.g. the real servers when services
// are installed) and waits until they are known or the timeout passes. It
// returns the addresses still unknown.
func (n *Neighbours) Resolve(timeout time.Duration, addrs ...[4]byte) [][4]byte {
	unknown := func() [][4]byte { return n.unknown(addrs) }
	missing := unknown()
	for _, a := range missing {
		n.poke(a)
	}
	deadline := time.Now().Add(timeout)
	for len(missing) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		if err := n.rebuild(); err != nil {
			n.log.Warn("reading routes and neighbours", zap.Error(err))
		}
		missing = unknown()
	}
	return missing
}
