// Package xsk is the AF_XDP socket layer of the xvs dataplane: one socket per
// (interface, queue), its UMEM split into receive and transmit frames, and
// the four rings driven without locks, allocations or system calls beyond the
// transmit kick and poll.
//
// Sockets are created, bound and closed by github.com/asavie/xdp v0.3.3. Its
// ring methods are not used on the fast path, for three measured or read
// reasons written down in docs/architecture.md: Transmit panics on any errno
// it does not expect (ENETDOWN when a link goes down, ENOBUFS, ENXIO), Complete
// and Receive throw away the frame addresses so the only way back to a free
// frame is GetDescs, which scans every frame of the UMEM, and the library
// kicks transmit at most once per call while copy mode sends at most 32 frames
// per kick. This package reads the ring mappings that asavie/xdp made (by
// field name, through reflect, once at Open) and drives them itself.
//
// It is not for classification or rewriting of frames: see package dataplane.
//
// Concurrency: a Socket is owned by one goroutine (its worker). No method may
// be called concurrently with another, except FD and Stats.
package xsk

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/asavie/xdp"
	"golang.org/x/sys/unix"
)

// Options size a socket. Zero values take the defaults.
type Options struct {
	// Frames is the number of receive frames; as many transmit frames are
	// added. A power of two; default 2048.
	Frames int
	// FrameSize is the size of one UMEM frame in bytes; 2048 or 4096,
	// default 2048.
	FrameSize int
	// Copy forces copy mode (XDP_COPY); veth supports nothing else.
	Copy bool
}

// DefaultFrames is the number of receive (and of transmit) frames of a
// socket when Options.Frames is zero.
const DefaultFrames = 2048

// DefaultFrameSize is the UMEM frame size when Options.FrameSize is zero.
const DefaultFrameSize = 2048

// Desc is one receive or transmit descriptor: a frame's offset in the UMEM
// and its length.
type Desc = unix.XDPDesc

// ring holds the shared producer and consumer indices of one AF_XDP ring and
// a cached copy of each, so that the shared cache lines are touched once per
// batch.
type ring struct {
	producer *uint32
	consumer *uint32
	mask     uint32
	size     uint32
	// cachedProd/cachedCons: for a ring we produce to, cachedProd is our
	// unpublished producer and cachedCons the kernel's consumer last seen;
	// for a ring we consume from, the other way round.
	cachedProd uint32
	cachedCons uint32
}

// Socket is one AF_XDP socket bound to an interface queue.
type Socket struct {
	xs        *xdp.Socket
	fd        int
	umem      []byte
	frameSize uint64

	fill, comp ring
	fillDescs  []uint64
	compDescs  []uint64
	rx, tx     ring
	rxDescs    []Desc
	txDescs    []Desc

	// free is a stack of transmit frame addresses not in the TX ring and
	// not waiting for completion.
	free []uint64

	// ringMaps are the four ring mappings asavie/xdp made and does not
	// unmap on Close; each keeps the socket, and so its queue binding,
	// alive until unmapped.
	ringMaps [4][]byte

	stats    Stats
	txBudget int // frames the kernel sends per sendto in copy mode
}

// Stats are the socket's own counters, kept by its owner goroutine.
type Stats struct {
	// Kicks is the number of sendto calls made to start transmission.
	Kicks uint64
	// KickErrors counts sendto calls that failed with an error other than
	// EAGAIN, EBUSY or ENOBUFS (the link is down, the device is gone...).
	KickErrors uint64
	// LastKickErr is the last such errno, 0 if none.
	LastKickErr unix.Errno
}

// ErrLayout is returned by Open when the pinned asavie/xdp no longer has the
// fields this package reads; it means the dependency changed.
var ErrLayout = errors.New("xsk: asavie/xdp socket layout is not the one this package was written for")

// Open creates an AF_XDP socket on the queue of the interface with the given
// index, registers its UMEM, fills the fill ring with all receive frames and
// binds it. The caller must put the socket into the XSKMAP of the XDP program
// (key of its choosing, value FD()).
func Open(ifindex, queue int, o Options) (*Socket, error) {
	if o.Frames == 0 {
		o.Frames = DefaultFrames
	}
	if o.FrameSize == 0 {
		o.FrameSize = DefaultFrameSize
	}
	if o.Frames&(o.Frames-1) != 0 {
		return nil, fmt.Errorf("xsk: frames %d is not a power of two", o.Frames)
	}
	xdp.DefaultSocketFlags = 0
	if o.Copy {
		xdp.DefaultSocketFlags = unix.XDP_COPY
	}
	opts := &xdp.SocketOptions{
		NumFrames:              2 * o.Frames,
		FrameSize:              o.FrameSize,
		FillRingNumDescs:       o.Frames,
		CompletionRingNumDescs: o.Frames,
		RxRingNumDescs:         o.Frames,
		TxRingNumDescs:         o.Frames,
	}
	xs, err := xdp.NewSocket(ifindex, queue, opts)
	// A socket closed on this queue a moment ago is released by the
	// kernel after an RCU grace period: until then bind says EBUSY.
	for deadline := time.Now().Add(3 * time.Second); err != nil && strings.Contains(err.Error(), "device or resource busy") && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		xs, err = xdp.NewSocket(ifindex, queue, opts)
	}
	if err != nil {
		return nil, fmt.Errorf("opening AF_XDP socket on ifindex %d queue %d: %w", ifindex, queue, err)
	}
	s := &Socket{xs: xs, fd: xs.FD(), frameSize: uint64(o.FrameSize)}
	// Copy mode sends at most 32 frames per sendto unless told more
	// (XDP_MAX_TX_SKB_BUDGET, Linux 6.17+); a larger budget lets one kick
	// drain a batch. Older kernels say ENOPROTOOPT: keep 32.
	s.txBudget = 32
	for _, b := range []int{o.Frames, 256} {
		if unix.SetsockoptInt(s.fd, unix.SOL_XDP, unix.XDP_MAX_TX_SKB_BUDGET, b) == nil {
			s.txBudget = b
			break
		}
	}
	if err := s.mapRings(o.Frames); err != nil {
		xs.Close()
		return nil, err
	}
	if err := s.findRingMaps(o.Frames); err != nil {
		s.Close()
		return nil, err
	}
	// Receive frames are 0..Frames-1, all handed to the kernel now;
	// transmit frames are Frames..2*Frames-1, all free.
	for i := 0; i < o.Frames; i++ {
		s.fillDescs[s.fill.cachedProd&s.fill.mask] = uint64(i) * s.frameSize
		s.fill.cachedProd++
	}
	atomic.StoreUint32(s.fill.producer, s.fill.cachedProd)
	s.free = make([]uint64, 0, o.Frames)
	for i := 2*o.Frames - 1; i >= o.Frames; i-- {
		s.free = append(s.free, uint64(i)*s.frameSize)
	}
	return s, nil
}

// mapRings finds the ring mappings and the UMEM inside the asavie/xdp socket.
func (s *Socket) mapRings(n int) error {
	v := reflect.ValueOf(s.xs).Elem()
	umem := v.FieldByName("umem")
	if !umem.IsValid() || umem.Kind() != reflect.Slice {
		return ErrLayout
	}
	s.umem = unsafe.Slice((*byte)(unsafe.Pointer(umem.Pointer())), umem.Len())
	get := func(name string) (prod, cons *uint32, descs unsafe.Pointer, length int, err error) {
		r := v.FieldByName(name)
		if !r.IsValid() || r.Kind() != reflect.Struct {
			return nil, nil, nil, 0, ErrLayout
		}
		p, c, d := r.FieldByName("Producer"), r.FieldByName("Consumer"), r.FieldByName("Descs")
		if !p.IsValid() || !c.IsValid() || !d.IsValid() || p.Kind() != reflect.Pointer || d.Kind() != reflect.Slice {
			return nil, nil, nil, 0, ErrLayout
		}
		return (*uint32)(unsafe.Pointer(p.Pointer())), (*uint32)(unsafe.Pointer(c.Pointer())), unsafe.Pointer(d.Pointer()), d.Len(), nil
	}
	var err error
	var p unsafe.Pointer
	var l int
	mk := func(r *ring, prod, cons *uint32) {
		*r = ring{producer: prod, consumer: cons, mask: uint32(n - 1), size: uint32(n)}
		r.cachedProd = atomic.LoadUint32(prod)
		r.cachedCons = atomic.LoadUint32(cons)
	}
	var prod, cons *uint32
	if prod, cons, p, l, err = get("fillRing"); err != nil || l != n {
		return ErrLayout
	}
	mk(&s.fill, prod, cons)
	s.fillDescs = unsafe.Slice((*uint64)(p), n)
	if prod, cons, p, l, err = get("completionRing"); err != nil || l != n {
		return ErrLayout
	}
	mk(&s.comp, prod, cons)
	s.compDescs = unsafe.Slice((*uint64)(p), n)
	if prod, cons, p, l, err = get("rxRing"); err != nil || l != n {
		return ErrLayout
	}
	mk(&s.rx, prod, cons)
	s.rxDescs = unsafe.Slice((*Desc)(p), n)
	if prod, cons, p, l, err = get("txRing"); err != nil || l != n {
		return ErrLayout
	}
	mk(&s.tx, prod, cons)
	s.txDescs = unsafe.Slice((*Desc)(p), n)
	return nil
}

// findRingMaps works out where each ring's mapping starts and how long it
// is, from the kernel's ring offsets and the descriptor arrays found by
// mapRings, so that Close can unmap them.
func (s *Socket) findRingMaps(n int) error {
	var off unix.XDPMmapOffsets
	size := uint32(unsafe.Sizeof(off))
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(s.fd), unix.SOL_XDP, unix.XDP_MMAP_OFFSETS,
		uintptr(unsafe.Pointer(&off)), uintptr(unsafe.Pointer(&size)), 0)
	if errno != 0 {
		return fmt.Errorf("reading AF_XDP ring offsets: %w", errno)
	}
	region := func(descs unsafe.Pointer, descOff uint64, elem uintptr) []byte {
		base := unsafe.Add(descs, -int(descOff))
		return unsafe.Slice((*byte)(base), int(descOff)+n*int(elem))
	}
	s.ringMaps = [4][]byte{
		region(unsafe.Pointer(&s.fillDescs[0]), off.Fr.Desc, 8),
		region(unsafe.Pointer(&s.compDescs[0]), off.Cr.Desc, 8),
		region(unsafe.Pointer(&s.rxDescs[0]), off.Rx.Desc, unsafe.Sizeof(Desc{})),
		region(unsafe.Pointer(&s.txDescs[0]), off.Tx.Desc, unsafe.Sizeof(Desc{})),
	}
	return nil
}

// FD returns the socket's file descriptor, for the XSKMAP and for poll.
func (s *Socket) FD() int { return s.fd }

// Close closes the socket and unmaps its UMEM and its rings, which frees
// its interface queue at once for another socket. Frames obtained from the
// socket must not be used afterwards.
func (s *Socket) Close() error {
	if s.xs == nil {
		return nil
	}
	err := s.xs.Close()
	s.xs = nil
	s.umem = nil
	s.fillDescs, s.compDescs, s.rxDescs, s.txDescs = nil, nil, nil, nil
	for i, m := range s.ringMaps {
		if m != nil {
			// Raw munmap: unix.Munmap only takes mappings made by unix.Mmap.
			if _, _, errno := unix.Syscall(unix.SYS_MUNMAP, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), 0); errno != 0 {
				err = errors.Join(err, fmt.Errorf("unmapping ring %d: %w", i, errno))
			}
			s.ringMaps[i] = nil
		}
	}
	if err != nil {
		return fmt.Errorf("closing AF_XDP socket: %w", err)
	}
	return nil
}

// Receive moves up to len(descs) received descriptors into descs and returns
// how many. Each received frame belongs to the caller until it hands the
// address back with Refill.
func (s *Socket) Receive(descs []Desc) int {
	r := &s.rx
	avail := r.cachedProd - r.cachedCons
	if avail == 0 {
		r.cachedProd = atomic.LoadUint32(r.producer)
		avail = r.cachedProd - r.cachedCons
	}
	n := uint32(len(descs))
	if avail < n {
		n = avail
	}
	for i := uint32(0); i < n; i++ {
		descs[i] = s.rxDescs[(r.cachedCons+i)&r.mask]
	}
	r.cachedCons += n
	if n > 0 {
		atomic.StoreUint32(r.consumer, r.cachedCons)
	}
	return int(n)
}

// Frame returns the bytes of the frame a descriptor names. The slice aliases
// the UMEM.
func (s *Socket) Frame(d Desc) []byte {
	return s.umem[d.Addr : d.Addr+uint64(d.Len) : d.Addr+s.frameSize]
}

// Refill gives received frames back to the kernel. It never fails: the fill
// ring has room for every receive frame. Call Flush to publish them.
func (s *Socket) Refill(addr uint64) {
	// Strip any offset the kernel added inside the frame.
	addr -= addr % s.frameSize
	s.fillDescs[s.fill.cachedProd&s.fill.mask] = addr
	s.fill.cachedProd++
}

// Flush publishes the refilled frames to the kernel.
func (s *Socket) Flush() {
	atomic.StoreUint32(s.fill.producer, s.fill.cachedProd)
}

// TxFrame returns a free transmit frame (its whole buffer) and its address,
// or ok == false when every transmit frame is in flight.
func (s *Socket) TxFrame() (addr uint64, buf []byte, ok bool) {
	if len(s.free) == 0 {
		s.Complete()
		if len(s.free) == 0 {
			return 0, nil, false
		}
	}
	addr = s.free[len(s.free)-1]
	s.free = s.free[:len(s.free)-1]
	return addr, s.umem[addr : addr+s.frameSize : addr+s.frameSize], true
}

// Send queues the frame at addr, length n, on the transmit ring. The frame
// must come from TxFrame. The ring always has room: it is as large as the
// number of transmit frames. Call Kick to start transmission.
func (s *Socket) Send(addr uint64, n int) {
	s.txDescs[s.tx.cachedProd&s.tx.mask] = Desc{Addr: addr, Len: uint32(n)}
	s.tx.cachedProd++
}

// Abandon returns a frame from TxFrame that will not be sent.
func (s *Socket) Abandon(addr uint64) { s.free = append(s.free, addr) }

// Pending reports how many frames the kernel has not yet taken from the
// transmit ring.
func (s *Socket) Pending() int {
	s.tx.cachedCons = atomic.LoadUint32(s.tx.consumer)
	return int(s.tx.cachedProd - s.tx.cachedCons)
}

// maxKicks bounds the sendto calls of one Kick; copy mode takes at most 32
// frames per call.
const maxKicks = 8

// Kick publishes queued transmit descriptors and asks the kernel to send them,
// again while the ring still holds frames (copy mode sends at most 32 per
// call), up to a bound. It never panics: an errno that means the link is down
// or gone is counted in Stats and returned; frames stay in the ring until the
// link carries them or the socket is closed.
func (s *Socket) Kick() error {
	atomic.StoreUint32(s.tx.producer, s.tx.cachedProd)
	var last error
	for i := 0; i < maxKicks && s.Pending() > 0; i++ {
		s.stats.Kicks++
		_, _, errno := unix.Syscall6(unix.SYS_SENDTO, uintptr(s.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
		switch errno {
		case 0, unix.EAGAIN, unix.EBUSY, unix.ENOBUFS, unix.EINTR:
			// Sent some or the kernel is busy: try again while pending.
		default:
			s.stats.KickErrors++
			s.stats.LastKickErr = errno
			last = errno
			i = maxKicks
		}
	}
	s.Complete()
	return last
}

// Complete moves transmitted frames from the completion ring back to the free
// stack and returns how many.
func (s *Socket) Complete() int {
	r := &s.comp
	r.cachedProd = atomic.LoadUint32(r.producer)
	n := r.cachedProd - r.cachedCons
	for i := uint32(0); i < n; i++ {
		addr := s.compDescs[(r.cachedCons+i)&r.mask]
		s.free = append(s.free, addr-addr%s.frameSize)
	}
	r.cachedCons += n
	if n > 0 {
		atomic.StoreUint32(r.consumer, r.cachedCons)
	}
	return int(n)
}

// FreeTx reports how many transmit frames are free.
func (s *Socket) FreeTx() int { return len(s.free) }

// Stats returns the socket's counters. Call it from the owner goroutine.
func (s *Socket) Stats() Stats { return s.stats }

// KernelStats reads the kernel's counters of the socket (drops for a full
// receive ring, invalid descriptors, ...).
func (s *Socket) KernelStats() (unix.XDPStatistics, error) {
	var st unix.XDPStatistics
	size := uint32(unsafe.Sizeof(st))
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(s.fd), unix.SOL_XDP, unix.XDP_STATISTICS,
		uintptr(unsafe.Pointer(&st)), uintptr(unsafe.Pointer(&size)), 0)
	if errno != 0 {
		return st, fmt.Errorf("reading XDP statistics: %w", errno)
	}
	return st, nil
}
