// Package dataplane moves frames for xvs: it loads the XDP classifier onto
// the WAN and LAN interfaces, opens an AF_XDP socket per interface queue, and
// runs one worker goroutine per queue, pinned to a CPU, that receives batches,
// has package nat rewrite them, addresses them to the next hop from the
// kernel's neighbour table, and transmits them on the other side.
//
// It is not for deciding what to serve (package control builds the services
// from the configuration) nor for rewriting rules (package nat).
package dataplane

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/xvs-project/xvs/dataplane/xsk"
	"github.com/xvs-project/xvs/nat"
	"github.com/xvs-project/xvs/scheduler"
	"go.uber.org/zap"
)

// Config says which interfaces and how many queues the dataplane serves.
type Config struct {
	WAN, LAN string // interface names
	// Queues is the number of queues served on each interface; 0 means
	// every receive queue both interfaces have.
	Queues int
	// Frames is the number of receive (and transmit) frames per socket;
	// 0 means xsk.DefaultFrames.
	Frames int
	Log    *zap.Logger
}

// Dataplane is a running set of workers over a WAN and a LAN interface.
type Dataplane struct {
	cfg      Config
	log      *zap.Logger
	eng      *nat.Engine
	prog     *Program
	neigh    *Neighbours
	ctl      *controlQueue
	workers  []*worker
	sockets  []*xsk.Socket
	wan, lan netlink.Link
	stop     atomic.Bool
	wg       sync.WaitGroup
	// mu guards prog, sockets, current and draining against Close and
	// each other while the control plane (metrics, reload) uses them.
	mu sync.Mutex
	// current are the services installed; draining are real servers no
	// longer configured whose connections still live: the classifier
	// keeps sending their replies to the workers until the last ends.
	current  []*nat.Service
	draining map[ServiceKey]*scheduler.Counts
}

// New loads and attaches the XDP program, opens the sockets and prepares the
// workers; Run starts them. On error everything made so far is undone.
func New(cfg Config, eng *nat.Engine) (_ *Dataplane, err error) {
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	d := &Dataplane{cfg: cfg, log: cfg.Log, eng: eng, ctl: newControlQueue()}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	if d.wan, err = netlink.LinkByName(cfg.WAN); err != nil {
		return nil, fmt.Errorf("finding WAN interface %q: %w", cfg.WAN, err)
	}
	if d.lan, err = netlink.LinkByName(cfg.LAN); err != nil {
		return nil, fmt.Errorf("finding LAN interface %q: %w", cfg.LAN, err)
	}
	if d.wan.Attrs().Index == d.lan.Attrs().Index {
		return nil, fmt.Errorf("WAN and LAN are the same interface %q: one-armed NAT is not supported yet", cfg.WAN)
	}
	q := min(d.wan.Attrs().NumRxQueues, d.lan.Attrs().NumRxQueues)
	if q < 1 {
		q = 1
	}
	if cfg.Queues > 0 {
		if cfg.Queues > q {
			return nil, fmt.Errorf("queues %d: %s and %s have only %d receive queues", cfg.Queues, cfg.WAN, cfg.LAN, q)
		}
		q = cfg.Queues
	}
	d.cfg.Queues = q
	if d.neigh, err = NewNeighbours(d.log, d.wan.Attrs().Index, d.lan.Attrs().Index); err != nil {
		return nil, fmt.Errorf("reading routes and neighbours: %w", err)
	}
	d.neigh.linkEvent = func(name string, up bool) {
		d.log.Info("link changed", zap.String("interface", name), zap.Bool("up", up))
	}
	if d.prog, err = LoadProgram(); err != nil {
		return nil, err
	}
	ncpu := runtime.NumCPU()
	for i := 0; i < q; i++ {
		w := &worker{
			queue: i, cpu: i % ncpu,
			wanIf: d.wan.Attrs().Index, lanIf: d.lan.Attrs().Index,
			wanMAC: [6]byte(d.wan.Attrs().HardwareAddr), lanMAC: [6]byte(d.lan.Attrs().HardwareAddr),
			eng: eng, neigh: d.neigh, ctl: d.ctl,
		}
		if w.wan, err = d.open(d.wan, RoleWAN, i); err != nil {
			return nil, err
		}
		if w.lan, err = d.open(d.lan, RoleLAN, i); err != nil {
			return nil, err
		}
		d.workers = append(d.workers, w)
	}
	// Attach last: before this point no frame is diverted from the kernel.
	if err = d.prog.Attach(d.wan.Attrs().Index, RoleWAN); err != nil {
		return nil, err
	}
	if err = d.prog.Attach(d.lan.Attrs().Index, RoleLAN); err != nil {
		return nil, err
	}
	return d, nil
}

func (d *Dataplane) open(l netlink.Link, role Role, queue int) (*xsk.Socket, error) {
	s, err := xsk.Open(l.Attrs().Index, queue, xsk.Options{Frames: d.cfg.Frames, Copy: true})
	if err != nil {
		return nil, fmt.Errorf("%s queue %d: %w", l.Attrs().Name, queue, err)
	}
	d.sockets = append(d.sockets, s)
	if err := d.prog.RegisterSocket(role, queue, s.FD()); err != nil {
		return nil, err
	}
	return s, nil
}

// Queues returns the number of queues served on each interface.
func (d *Dataplane) Queues() int { return d.cfg.Queues }

// SetServices installs a new set of virtual services: the classifier's maps
// first, then the engine's snapshot. A real server that leaves while it
// still has connections keeps being classified until they end.
func (d *Dataplane) SetServices(list []*nat.Service) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.prog == nil {
		return ErrClosed
	}
	wanted := map[ServiceKey]bool{}
	var addrs [][4]byte
	for _, s := range list {
		for _, r := range s.Reals {
			wanted[ServiceKey{Addr: r.Addr, Port: r.Port, Proto: s.Proto}] = true
			addrs = append(addrs, r.Addr)
		}
	}
	if d.draining == nil {
		d.draining = map[ServiceKey]*scheduler.Counts{}
	}
	for _, s := range d.current {
		for _, r := range s.Reals {
			k := ServiceKey{Addr: r.Addr, Port: r.Port, Proto: s.Proto}
			if !wanted[k] && r.Counts != nil && r.Counts.Active.Load()+r.Counts.Inactive.Load() > 0 {
				d.draining[k] = r.Counts
			}
		}
	}
	for k := range wanted {
		delete(d.draining, k)
	}
	d.current = list
	if err := d.syncMaps(); err != nil {
		return err
	}
	if err := d.syncLocals(); err != nil {
		return err
	}
	d.eng.SetServices(list)
	if missing := d.neigh.Resolve(time.Second, addrs...); len(missing) > 0 {
		d.log.Warn("real servers without a link-layer address yet; their first frames wait for ARP",
			zap.Int("count", len(missing)), zap.String("first", netip.AddrFrom4(missing[0]).String()))
	}
	return nil
}

// syncMaps writes the current services and the configured and draining
// real servers into the classifier's maps. Call it with mu held.
func (d *Dataplane) syncMaps() error {
	var svcs, reals []ServiceKey
	for _, s := range d.current {
		svcs = append(svcs, ServiceKey{Addr: s.VIP, Port: s.Port, Proto: s.Proto})
		for _, r := range s.Reals {
			reals = append(reals, ServiceKey{Addr: r.Addr, Port: r.Port, Proto: s.Proto})
		}
	}
	for k := range d.draining {
		reals = append(reals, k)
	}
	return d.prog.SetServices(svcs, reals)
}

// syncLocals tells the classifier the director's own IPv4 addresses on
// its interfaces (VIPs included). Call it with mu held.
func (d *Dataplane) syncLocals() error {
	var addrs [][4]byte
	for _, l := range []netlink.Link{d.wan, d.lan} {
		list, err := netlink.AddrList(l, netlink.FAMILY_V4)
		if err != nil {
			return fmt.Errorf("listing addresses of %s: %w", l.Attrs().Name, err)
		}
		for _, a := range list {
			if ip4 := a.IP.To4(); ip4 != nil {
				addrs = append(addrs, [4]byte(ip4))
			}
		}
	}
	return d.prog.SetLocals(addrs)
}

// drain forgets removed real servers whose last connection has ended.
func (d *Dataplane) drain() {
	d.mu.Lock()
	defer d.mu.Unlock()
	changed := false
	for k, c := range d.draining {
		if c.Active.Load()+c.Inactive.Load() <= 0 {
			delete(d.draining, k)
			changed = true
		}
	}
	if changed && d.prog != nil {
		if err := d.syncMaps(); err != nil {
			d.log.Warn("updating the classifier's maps", zap.Error(err))
		}
	}
}

// Run starts the workers, the neighbour watcher and connection expiry, and
// blocks until ctx is done; then it stops the workers and closes everything.
func (d *Dataplane) Run(ctx context.Context) error {
	for _, w := range d.workers {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			w.run(&d.stop)
		}()
	}
	nctx, cancel := context.WithCancel(ctx)
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		d.neigh.Run(nctx)
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			cancel()
			d.stop.Store(true)
			d.wg.Wait()
			return d.Close()
		case <-tick.C:
			d.eng.Table().Expire(nat.Monotonic())
			d.drain()
		}
	}
}

// Counters sums the workers' counters.
func (d *Dataplane) Counters() Counters {
	var c Counters
	for _, w := range d.workers {
		for i := range c {
			c[i] += w.published[i].Load()
		}
	}
	return c
}

// SocketDrops are the kernel's counts of frames its AF_XDP sockets could
// not take, summed over sockets.
type SocketDrops struct {
	// RxDropped: no fill-ring frame to receive into, or other receive
	// drops; RxRingFull: the receive ring was full (the workers fell
	// behind); RxInvalid and TxInvalid: descriptors the kernel refused.
	RxDropped, RxRingFull, RxInvalid, TxInvalid uint64
}

// SocketDrops reads the kernel's drop counters of every socket.
func (d *Dataplane) SocketDrops() (SocketDrops, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out SocketDrops
	for _, s := range d.sockets {
		st, err := s.KernelStats()
		if err != nil {
			return out, err
		}
		out.RxDropped += st.Rx_dropped
		out.RxRingFull += st.Rx_ring_full
		out.RxInvalid += st.Rx_invalid_descs
		out.TxInvalid += st.Tx_invalid_descs
	}
	return out, nil
}

// ErrClosed is returned for operations on a dataplane that has stopped.
var ErrClosed = errors.New("dataplane is closed")

// XDPCounters returns the classifier's counters.
func (d *Dataplane) XDPCounters() (XDPCounters, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.prog == nil {
		return XDPCounters{}, ErrClosed
	}
	return d.prog.Counters()
}

// Close detaches the XDP program and closes the sockets. Run calls it; call
// it directly only when Run was never called.
func (d *Dataplane) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var errs []error
	if d.prog != nil {
		errs = append(errs, d.prog.Close())
		d.prog = nil
	}
	for _, s := range d.sockets {
		errs = append(errs, s.Close())
	}
	d.sockets = nil
	return errors.Join(errs...)
}
