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
	"math/bits"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/xvs-project/xvs/dataplane/xsk"
	"github.com/xvs-project/xvs/nat"
	"github.com/xvs-project/xvs/scheduler"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// Config says which interfaces the dataplane serves and where it runs.
type Config struct {
	WAN, LAN string // interface names
	// Queues caps the number of workers (the xvs block's queues keyword);
	// 0: no cap. Every active receive queue of both interfaces is served
	// whatever it says.
	Queues int
	// CPUs are the CPUs the workers run on, worker i on CPUs[i]; nil:
	// every CPU the process was allowed when it started (AllowedCPUs).
	// Each must be in that set.
	CPUs []int
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
	cpus     []int
	wan, lan netlink.Link
	wg       sync.WaitGroup
	// mu guards prog, sockets, current and draining against Close and
	// each other while the control plane (metrics, reload) uses them.
	mu       sync.Mutex
	sockets  []*xsk.Socket
	umems    []*xsk.UMEM
	current  []*nat.Service
	draining map[ServiceKey]*scheduler.Counts

	// wmu guards workers, plan, channels and queues, which a re-layout
	// (channels changed while running) replaces; readers of counters
	// take it shared.
	wmu sync.RWMutex
	// workers are every worker made, the first len(plan) serving now;
	// the others are kept for their counters after a re-layout had
	// fewer.
	workers  []*worker
	plan     []WorkerPlan
	channels [2]Channels // WAN, LAN
	xdpMode  [2]string   // WAN, LAN
	queues   map[queueKey]*QueueStats
	// stopWorkers stops the current generation of workers; workersWG
	// waits for them.
	stopWorkers *atomic.Bool
	workersWG   sync.WaitGroup
	// relayouts counts re-layouts that followed a change of channels;
	// layoutErrors those that failed (the queues stay unserved, and the
	// classifier counts their frames as drop_no_socket, until one works).
	relayouts, layoutErrors atomic.Uint64
	// syncMu makes DrainSync the only consumer of the workers' sync
	// queues at a time; syncNext, under it, is the worker it starts at.
	syncMu   sync.Mutex
	syncNext int
}

// SyncQueueLen is the number of sync records each worker's queue holds.
// The sync sender drains the queues every few milliseconds, so 8192
// records (384 KiB) absorb well over a million new connections per second
// per worker; records beyond are lost and counted (sync_queue_full).
const SyncQueueLen = 8192

// DrainSync moves the sync records the workers queued into dst, worker by
// worker, and returns how many it moved (connsync.Source). It never waits
// for a worker; calls are serialised, so any goroutine may call it.
func (d *Dataplane) DrainSync(dst []nat.SyncRecord) int {
	d.syncMu.Lock()
	defer d.syncMu.Unlock()
	d.wmu.RLock()
	defer d.wmu.RUnlock()
	n, k := 0, len(d.workers)
	// Start one worker further each call, so that a dst too small for
	// all the queues does not favour the first workers.
	for i := 0; i < k && n < len(dst); i++ {
		n += d.workers[(d.syncNext+i)%k].syncq.Drain(dst[n:])
	}
	if k > 0 {
		d.syncNext = (d.syncNext + 1) % k
	}
	return n
}

// queueKey names a receive queue of one side.
type queueKey struct {
	role  Role
	queue int
}

// New loads and attaches the XDP program, opens a socket on every active
// receive queue of both interfaces and lays the workers out over them and
// the CPUs (see Place); Run starts them. On error everything made so far is
// undone.
func New(cfg Config, eng *nat.Engine) (_ *Dataplane, err error) {
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	d := &Dataplane{cfg: cfg, log: cfg.Log, eng: eng, ctl: newControlQueue(), queues: map[queueKey]*QueueStats{}}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	allowed, err := AllowedCPUs()
	if err != nil {
		return nil, err
	}
	d.cpus = allowed
	if len(cfg.CPUs) > 0 {
		if err := CheckCPUs(cfg.CPUs, allowed); err != nil {
			return nil, fmt.Errorf("cpus %s: %w", FormatCPUs(cfg.CPUs), err)
		}
		d.cpus = cfg.CPUs
	}
	if d.wan, err = netlink.LinkByName(cfg.WAN); err != nil {
		return nil, fmt.Errorf("finding WAN interface %q: %w", cfg.WAN, err)
	}
	if d.lan, err = netlink.LinkByName(cfg.LAN); err != nil {
		return nil, fmt.Errorf("finding LAN interface %q: %w", cfg.LAN, err)
	}
	if d.wan.Attrs().Index == d.lan.Attrs().Index {
		return nil, fmt.Errorf("WAN and LAN are the same interface %q: one-armed NAT is not supported yet", cfg.WAN)
	}
	if d.neigh, err = NewNeighbours(d.log, d.wan.Attrs().Index, d.lan.Attrs().Index); err != nil {
		return nil, fmt.Errorf("reading routes and neighbours: %w", err)
	}
	d.neigh.linkEvent = func(name string, up bool) {
		d.log.Info("link changed", zap.String("interface", name), zap.Bool("up", up))
	}
	if d.prog, err = LoadProgram(); err != nil {
		return nil, err
	}
	if err := d.layout(); err != nil {
		return nil, err
	}
	// Attach last: before this point no frame is diverted from the kernel.
	for i, l := range []netlink.Link{d.wan, d.lan} {
		mode, why, err := d.prog.Attach(l.Attrs().Index, [2]Role{RoleWAN, RoleLAN}[i])
		if err != nil {
			return nil, err
		}
		if why != nil {
			d.log.Warn("XDP attached in generic mode: the driver refused native mode", zap.String("interface", l.Attrs().Name), zap.Error(why))
		}
		d.xdpMode[i] = mode
	}
	d.logLayout()
	return d, nil
}

// layout reads both interfaces' active channels, places the workers and
// opens their sockets. It is called with no worker running.
func (d *Dataplane) layout() error {
	wch, err := ActiveChannels(d.wan.Attrs().Name)
	if err != nil {
		return err
	}
	lch, err := ActiveChannels(d.lan.Attrs().Name)
	if err != nil {
		return err
	}
	plan := Place(wch.Rx, lch.Rx, d.cpus, d.cfg.Queues)
	frames := d.cfg.Frames
	if frames == 0 {
		frames = xsk.DefaultFrames
	}
	d.wmu.Lock()
	defer d.wmu.Unlock()
	d.channels = [2]Channels{wch, lch}
	d.plan = plan
	for i, wp := range plan {
		if i == len(d.workers) {
			d.workers = append(d.workers, &worker{index: i,
				wanIf: d.wan.Attrs().Index, lanIf: d.lan.Attrs().Index,
				wanMAC: [6]byte(d.wan.Attrs().HardwareAddr), lanMAC: [6]byte(d.lan.Attrs().HardwareAddr),
				eng: d.eng, neigh: d.neigh, ctl: d.ctl, syncq: nat.NewSyncQueue(SyncQueueLen)})
		}
		w := d.workers[i]
		w.cpu = wp.CPU
		w.wanPorts, w.lanPorts, w.fds = nil, nil, nil
		// One UMEM for all of the worker's sockets, so that a frame
		// crosses from WAN to LAN as a descriptor, not a copy. Each
		// socket may hold a full fill ring and a full transmit ring.
		umem, err := xsk.NewUMEM(int(nextPow2(uint(2*frames*(len(wp.WANQueues)+len(wp.LANQueues))))), 0)
		if err != nil {
			return fmt.Errorf("worker %d: %w", i, err)
		}
		d.addUMEM(umem)
		for _, q := range wp.WANQueues {
			p, err := d.open(d.wan, RoleWAN, q, umem, frames)
			if err != nil {
				return err
			}
			w.wanPorts = append(w.wanPorts, p)
		}
		for _, q := range wp.LANQueues {
			p, err := d.open(d.lan, RoleLAN, q, umem, frames)
			if err != nil {
				return err
			}
			w.lanPorts = append(w.lanPorts, p)
		}
		w.wanTx, w.lanTx = w.wanPorts[0], w.lanPorts[0]
		for _, p := range append(w.wanPorts[:len(w.wanPorts):len(w.wanPorts)], w.lanPorts...) {
			w.fds = append(w.fds, unix.PollFd{Fd: int32(p.ring.FD()), Events: unix.POLLIN})
		}
	}
	for _, w := range d.workers[len(plan):] {
		w.wanPorts, w.lanPorts, w.fds, w.wanTx, w.lanTx = nil, nil, nil, nil, nil
	}
	return nil
}

// open opens the socket of one receive queue on the worker's UMEM (on a
// UMEM of its own when the kernel will not share, which then costs a copy
// per forwarded frame), fills its fill ring and registers it with the
// classifier. It asks for zero-copy and need_wakeup; the kernel gives what
// the driver has.
func (d *Dataplane) open(l netlink.Link, role Role, queue int, umem *xsk.UMEM, frames int) (*port, error) {
	// Busy polling: the worker's poll and sendto run the queue's NAPI
	// themselves instead of handing over to a NAPI thread or softirq on
	// the same CPU (measured in docs/architecture.md).
	o := xsk.SocketOptions{RxSize: frames, TxSize: frames, ZeroCopy: true, NeedWakeup: true, BusyPoll: busyPollUsec, BusyPollBudget: batchSize}
	s, err := xsk.OpenShared(umem, l.Attrs().Index, queue, o)
	if errors.Is(err, xsk.ErrShared) {
		d.log.Warn("AF_XDP socket cannot share its worker's UMEM; it gets its own, and forwarded frames are copied",
			zap.String("interface", l.Attrs().Name), zap.Int("queue", queue), zap.Error(err))
		if umem, err = xsk.NewUMEM(2*frames, 0); err != nil {
			return nil, fmt.Errorf("%s queue %d: %w", l.Attrs().Name, queue, err)
		}
		d.addUMEM(umem)
		s, err = xsk.OpenShared(umem, l.Attrs().Index, queue, o)
	}
	if err != nil {
		return nil, fmt.Errorf("%s queue %d: %w", l.Attrs().Name, queue, err)
	}
	s.Fill(frames)
	d.mu.Lock()
	d.sockets = append(d.sockets, s)
	d.mu.Unlock()
	if err := d.prog.RegisterSocket(role, queue, s.FD()); err != nil {
		return nil, err
	}
	k := queueKey{role, queue}
	if d.queues[k] == nil {
		d.queues[k] = new(QueueStats)
	}
	return &port{ring: &xskRing{Socket: s, umem: umem}, mode: s.Mode().String(), role: role, queue: queue, ifindex: l.Attrs().Index, counts: d.queues[k]}, nil
}

// busyPollUsec is how long a poll or sendto on a worker's socket busy-polls
// its queue's NAPI (SO_BUSY_POLL), in microseconds.
const busyPollUsec = 20

// nextPow2 returns the least power of two at least n.
func nextPow2(n uint) uint { return 1 << bits.Len(n-1) }

// addUMEM keeps a UMEM to be closed after its sockets.
func (d *Dataplane) addUMEM(u *xsk.UMEM) {
	d.mu.Lock()
	d.umems = append(d.umems, u)
	d.mu.Unlock()
}

// closeSockets closes every socket; the kernel takes each out of the
// classifier's map as it goes. Call it with no worker running.
func (d *Dataplane) closeSockets() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closeSocketsLocked()
}

// closeSocketsLocked closes every socket, then every UMEM. Call it with mu
// held.
func (d *Dataplane) closeSocketsLocked() error {
	var errs []error
	for _, s := range d.sockets {
		errs = append(errs, s.Close())
	}
	d.sockets = nil
	for _, u := range d.umems {
		errs = append(errs, u.Close())
	}
	d.umems = nil
	return errors.Join(errs...)
}

// logLayout logs the interfaces' channels and the queue → worker → CPU map.
func (d *Dataplane) logLayout() {
	l := d.Layout()
	for _, it := range l.Interfaces {
		d.log.Info("interface", zap.String("interface", it.Name), zap.String("side", it.Side),
			zap.Int("channels", it.Channels), zap.String("channels_from", it.ChannelsFrom), zap.String("xdp", it.XDPMode))
	}
	for _, w := range l.Workers {
		d.log.Info("worker", zap.Int("worker", w.Worker), zap.Int("cpu", w.CPU),
			zap.Ints("wan_queues", w.WANQueues), zap.Ints("lan_queues", w.LANQueues), zap.String("socket_mode", w.SocketMode))
	}
	d.log.Info("CPUs", zap.String("allowed", FormatCPUs(l.AllowedCPUs)), zap.String("workers_on", FormatCPUs(l.CPUs)), zap.Int("workers", len(l.Workers)))
}

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
	// Ask, never wait here: SetServices runs under the callers' locks,
	// the VRRP runner's among them (AwaitNeighbours waits).
	d.neigh.Request(addrs...)
	return nil
}

// AwaitNeighbours waits up to timeout until the link-layer addresses of
// the real servers being served are known (SetServices asked the kernel
// for them), so that their first frames are not dropped for want of one,
// and logs those still unknown. Call it without holding locks others
// need: it may take the whole timeout.
func (d *Dataplane) AwaitNeighbours(timeout time.Duration) {
	d.mu.Lock()
	var addrs [][4]byte
	for _, s := range d.current {
		for _, r := range s.Reals {
			addrs = append(addrs, r.Addr)
		}
	}
	d.mu.Unlock()
	if missing := d.neigh.Resolve(timeout, addrs...); len(missing) > 0 {
		d.log.Warn("real servers without a link-layer address yet; their first frames wait for ARP",
			zap.Int("count", len(missing)), zap.String("first", netip.AddrFrom4(missing[0]).String()))
	}
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
// Every second it also reads the interfaces' active channels: when an
// operator changed them (ethtool -L), it logs so loudly and lays the
// workers out again over the new queues.
func (d *Dataplane) Run(ctx context.Context) error {
	d.startWorkers()
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
			d.stopAllWorkers()
			d.wg.Wait()
			return d.Close()
		case <-tick.C:
			d.eng.Table().Expire(nat.Monotonic())
			d.drain()
			d.followChannels()
		}
	}
}

// startWorkers starts a goroutine for each worker of the plan.
func (d *Dataplane) startWorkers() {
	d.wmu.RLock()
	defer d.wmu.RUnlock()
	stop := new(atomic.Bool)
	d.stopWorkers = stop
	for _, w := range d.workers[:len(d.plan)] {
		d.workersWG.Add(1)
		go func() {
			defer d.workersWG.Done()
			w.run(stop)
		}()
	}
}

// stopAllWorkers stops the running workers and waits for them.
func (d *Dataplane) stopAllWorkers() {
	if d.stopWorkers != nil {
		d.stopWorkers.Store(true)
	}
	d.workersWG.Wait()
}

// followChannels compares the interfaces' active channels with those
// served and, when they differ, stops the workers, closes their sockets
// and lays them out again. Until that succeeds, frames on queues without a
// socket are dropped by the classifier and counted (drop_no_socket).
func (d *Dataplane) followChannels() {
	wch, err1 := ActiveChannels(d.wan.Attrs().Name)
	lch, err2 := ActiveChannels(d.lan.Attrs().Name)
	if err1 != nil || err2 != nil {
		return
	}
	d.wmu.RLock()
	old := d.channels
	d.wmu.RUnlock()
	if old[0].Rx == wch.Rx && old[1].Rx == lch.Rx {
		return
	}
	d.log.Warn("receive channels changed while running (ethtool -L); laying the workers out again",
		zap.String("wan", d.wan.Attrs().Name), zap.Int("wan_channels_before", old[0].Rx), zap.Int("wan_channels", wch.Rx),
		zap.String("lan", d.lan.Attrs().Name), zap.Int("lan_channels_before", old[1].Rx), zap.Int("lan_channels", lch.Rx))
	d.stopAllWorkers()
	if err := d.closeSockets(); err != nil {
		d.log.Warn("closing sockets for the new layout", zap.Error(err))
	}
	if err := d.layout(); err != nil {
		d.layoutErrors.Add(1)
		d.log.Error("laying the workers out over the new channels failed; frames on unserved queues are dropped (xvs_xdp_frames_total{verdict=\"drop_no_socket\"}) until it works", zap.Error(err))
		_ = d.closeSockets()
		d.wmu.Lock()
		d.plan = nil
		d.channels = [2]Channels{}
		d.wmu.Unlock()
		return
	}
	d.relayouts.Add(1)
	d.startWorkers()
	d.logLayout()
}

// Counters sums the workers' counters.
func (d *Dataplane) Counters() Counters {
	d.wmu.RLock()
	defer d.wmu.RUnlock()
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
	errs = append(errs, d.closeSocketsLocked())
	return errors.Join(errs...)
}
