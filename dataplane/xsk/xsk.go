// Package xsk is the AF_XDP socket layer of the xvs dataplane: UMEMs (frame
// areas) and the sockets bound to interface queues over them, with the four
// rings of each socket driven without locks, allocations or system calls
// beyond the transmit kick and poll.
//
// Sockets are made natively with golang.org/x/sys/unix: socket(AF_XDP),
// XDP_UMEM_REG, the four ring sizes, XDP_MMAP_OFFSETS, mmap of the rings and
// bind. Two ways to get one:
//   - Open: a socket with a private UMEM of 2*Frames frames, the first half
//     in the fill ring for receiving, the second half on the free stack for
//     TxFrame. This is the layout the dataplane has always used.
//   - NewUMEM and OpenShared: several sockets over one UMEM, the later ones
//     bound with XDP_SHARED_UMEM (each with its own fill and completion
//     rings), so that a frame received on one interface is transmitted on
//     another by moving its descriptor (Transmit), not its bytes.
//
// github.com/asavie/xdp v0.3.3, which made the sockets before, can neither
// bind a socket with XDP_SHARED_UMEM nor ask for need_wakeup; see
// docs/architecture.md ("AF_XDP sockets: shared UMEM and modes").
//
// # Frame ownership
//
// Every frame of a UMEM is at any moment in exactly one of these places:
//
//   - the UMEM's free stack (Alloc takes from it, Free, Abandon and Complete
//     put back, Fill moves from it to a fill ring);
//   - the caller's hands: received (Receive) or allocated (Alloc, TxFrame)
//     and not yet given to a ring or freed;
//   - one socket: its fill ring, the kernel between fill and receive ring,
//     its receive ring not yet read, its transmit ring, the kernel between
//     transmit and completion ring, its completion ring not yet reaped.
//
// A frame moves only by these calls: Receive (socket → caller); Refill
// (caller → socket's fill ring, or the free stack when that ring is full);
// Transmit (caller → socket's transmit ring, or nowhere when it is full:
// false, the caller keeps it); Send (the same, but a full ring frees it);
// Complete and Kick (socket → free stack); Fill (free stack → socket);
// Alloc and TxFrame (free stack → caller); Free and Abandon (caller → free
// stack); Socket.Close (socket → free stack in copy mode; in zero-copy mode
// the driver may still write them, so they stay retired until UMEM.Close).
// The UMEM keeps one owner tag per frame to make Close exact and UMEM.Check
// possible; Socket.InFlight counts one socket's frames from its ring indices.
//
// It is not for classification or rewriting of frames: see package dataplane.
//
// Concurrency: a UMEM and every socket on it are owned by one goroutine (its
// worker). No method may be called concurrently with another, except FD and
// Stats.
package xsk

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Options size a socket made by Open. Zero values take the defaults.
type Options struct {
	// Frames is the number of receive frames; as many transmit frames are
	// added. A power of two; default 2048.
	Frames int
	// FrameSize is the size of one UMEM frame in bytes; 2048 or 4096,
	// default 2048.
	FrameSize int
	// Copy forces copy mode (XDP_COPY); veth supports nothing else.
	// Without it the kernel binds zero-copy where the driver can and copy
	// mode otherwise.
	Copy bool
}

// DefaultFrames is the number of receive (and of transmit) frames of a
// socket when Options.Frames is zero, and the ring size of a shared socket
// when SocketOptions leaves it zero.
const DefaultFrames = 2048

// DefaultFrameSize is the UMEM frame size when Options.FrameSize (or the
// frameSize of NewUMEM) is zero.
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
	flags    *uint32
	mask     uint32
	size     uint32
	// cachedProd/cachedCons: for a ring we produce to, cachedProd is our
	// unpublished producer and cachedCons the kernel's consumer last seen;
	// for a ring we consume from, the other way round.
	cachedProd uint32
	cachedCons uint32
}

// room returns how many entries a ring we produce to can take, reading the
// kernel's consumer again when fewer than want seem free.
func (r *ring) room(want uint32) uint32 {
	n := r.size - (r.cachedProd - r.cachedCons)
	if n < want {
		r.cachedCons = atomic.LoadUint32(r.consumer)
		n = r.size - (r.cachedProd - r.cachedCons)
	}
	return n
}

// Mode is how the kernel bound a socket.
type Mode struct {
	// ZeroCopy: the driver reads and writes the UMEM itself
	// (XDP_OPTIONS_ZEROCOPY); otherwise the kernel copies (XDP_COPY).
	ZeroCopy bool
	// NeedWakeup: the rings carry XDP_RING_NEED_WAKEUP flags
	// (XDP_USE_NEED_WAKEUP).
	NeedWakeup bool
	// Shared: the socket was bound with XDP_SHARED_UMEM to a UMEM another
	// socket registered; ZeroCopy and NeedWakeup were inherited from it.
	Shared bool
	// BusyPoll: the socket prefers busy polling (SocketOptions.BusyPoll).
	BusyPoll bool
}

// String names the mode as logs and metrics show it: "copy", "zero-copy",
// then ", need_wakeup" and ", shared UMEM" where they apply.
func (m Mode) String() string {
	s := "copy"
	if m.ZeroCopy {
		s = "zero-copy"
	}
	if m.NeedWakeup {
		s += ", need_wakeup"
	}
	if m.Shared {
		s += ", shared UMEM"
	}
	if m.BusyPoll {
		s += ", busy poll"
	}
	return s
}

// Socket is one AF_XDP socket bound to an interface queue.
type Socket struct {
	fd        int
	ifindex   int
	queue     int
	umem      *UMEM
	mem       []byte   // umem.mem
	owner     []uint16 // umem.owner
	shift     uint     // log2 of the frame size
	frameSize uint64
	tag       uint16 // this socket's owner tag in umem.owner
	mode      Mode

	fill, comp ring
	fillDescs  []uint64
	compDescs  []uint64
	rx, tx     ring
	rxDescs    []Desc
	txDescs    []Desc

	// ringMaps are the four ring mappings (fill, completion, rx, tx); each
	// keeps the socket, and so its queue binding, alive until unmapped.
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
	// TxRingFull counts frames Send could not queue because the transmit
	// ring was full (only possible on a shared UMEM); they were freed.
	TxRingFull uint64
}

// ErrLayout was returned by Open when the pinned asavie/xdp no longer had
// the fields this package read.
//
// Deprecated: sockets are made natively now; nothing returns it.
var ErrLayout = errors.New("xsk: asavie/xdp socket layout is not the one this package was written for")

// ErrShared wraps the error of a socket that could not be bound to a UMEM
// another socket registered (XDP_SHARED_UMEM): an older kernel (before
// 5.10, no fill ring of its own), a driver that refuses, or a second socket
// on the first one's interface queue. The caller can fall back to a
// separate UMEM.
var ErrShared = errors.New("xsk: cannot share the UMEM")

// Open creates an AF_XDP socket on the queue of the interface with the given
// index over a private UMEM of 2*Frames frames, fills the fill ring with the
// first Frames of them (the receive frames; the others are the transmit
// frames, on the free stack) and binds it. The caller must put the socket
// into the XSKMAP of the XDP program (key of its choosing, value FD()).
// Close closes the UMEM too.
func Open(ifindex, queue int, o Options) (*Socket, error) {
	if o.Frames == 0 {
		o.Frames = DefaultFrames
	}
	if o.Frames < 0 || o.Frames&(o.Frames-1) != 0 {
		return nil, fmt.Errorf("xsk: frames %d is not a power of two", o.Frames)
	}
	u, err := NewUMEM(2*o.Frames, o.FrameSize)
	if err != nil {
		return nil, err
	}
	u.private = true
	var flags uint16 // the kernel tries zero-copy, then copy
	if o.Copy {
		flags = unix.XDP_COPY
	}
	sz := ringSizes{fill: o.Frames, comp: o.Frames, rx: o.Frames, tx: o.Frames}
	s, err := u.open(ifindex, queue, sz, flags, nil)
	if err != nil {
		u.Close()
		return nil, err
	}
	// Receive frames are 0..Frames-1 (the free stack pops them first),
	// all handed to the kernel now; transmit frames Frames..2*Frames-1
	// stay on the free stack.
	s.Fill(o.Frames)
	return s, nil
}

// SocketOptions size and configure a socket made by OpenShared. Zero sizes
// take DefaultFrames.
type SocketOptions struct {
	// RxSize is the size of the receive ring and of the fill ring; a power
	// of two.
	RxSize int
	// TxSize is the size of the transmit ring and of the completion ring;
	// a power of two.
	TxSize int
	// ZeroCopy asks for XDP_ZEROCOPY first and falls back to XDP_COPY when
	// the bind fails with EOPNOTSUPP or EINVAL. Without it the socket is
	// bound with XDP_COPY. Ignored by a socket that shares a UMEM another
	// socket registered: it inherits that socket's mode.
	ZeroCopy bool
	// NeedWakeup asks for XDP_USE_NEED_WAKEUP: the kernel then says through
	// ring flags when it needs a sendto (TX) or a poll (fill ring). Ignored,
	// and inherited, like ZeroCopy.
	NeedWakeup bool
	// BusyPoll, when above 0, asks for busy polling (SO_PREFER_BUSY_POLL,
	// SO_BUSY_POLL of that many microseconds, SO_BUSY_POLL_BUDGET of
	// BusyPollBudget frames, default 64): a poll or sendto on the socket
	// then runs the receive queue's NAPI in the caller's context, instead
	// of waking another thread for it. Best effort: a kernel that refuses
	// leaves the socket as it was, and Mode().BusyPoll says so.
	BusyPoll       int
	BusyPollBudget int
}

// OpenShared opens a socket on ifindex/queue over u. The first socket of a
// UMEM registers it (XDP_UMEM_REG) and binds normally, with the mode
// SocketOptions ask for; each later one binds with XDP_SHARED_UMEM to an
// open socket of u, with its own fill and completion rings (the kernel
// requires them when interface or queue differ; Linux 5.10 and later),
// and inherits that socket's mode: the kernel refuses XDP_COPY,
// XDP_ZEROCOPY and XDP_USE_NEED_WAKEUP in the bind flags of a shared
// socket. If that fails, the error wraps ErrShared. When every socket of u
// is closed, the next one registers u again.
//
// The socket's fill ring starts empty: give it frames with Fill. The caller
// must put the socket into the XSKMAP of the XDP program.
func OpenShared(u *UMEM, ifindex, queue int, o SocketOptions) (*Socket, error) {
	if u == nil || u.mem == nil {
		return nil, errors.New("xsk: opening a socket on a closed UMEM")
	}
	if u.private {
		return nil, errors.New("xsk: the UMEM of a socket made by Open is not shared")
	}
	if o.RxSize == 0 {
		o.RxSize = DefaultFrames
	}
	if o.TxSize == 0 {
		o.TxSize = DefaultFrames
	}
	for _, n := range []int{o.RxSize, o.TxSize} {
		if n <= 0 || n&(n-1) != 0 {
			return nil, fmt.Errorf("xsk: ring size %d is not a power of two", n)
		}
	}
	sz := ringSizes{fill: o.RxSize, comp: o.TxSize, rx: o.RxSize, tx: o.TxSize}
	s, err := openShared(u, ifindex, queue, sz, o)
	if err == nil && o.BusyPoll > 0 {
		s.busyPoll(o.BusyPoll, o.BusyPollBudget)
	}
	return s, err
}

// busyPoll asks for busy polling on the socket and records whether the
// kernel took it.
func (s *Socket) busyPoll(usec, budget int) {
	if budget <= 0 {
		budget = 64
	}
	for _, o := range [][2]int{{unix.SO_PREFER_BUSY_POLL, 1}, {unix.SO_BUSY_POLL, usec}, {unix.SO_BUSY_POLL_BUDGET, budget}} {
		if unix.SetsockoptInt(s.fd, unix.SOL_SOCKET, o[0], o[1]) != nil {
			return
		}
	}
	s.mode.BusyPoll = true
}

// openShared is OpenShared after its arguments were checked.
func openShared(u *UMEM, ifindex, queue int, sz ringSizes, o SocketOptions) (*Socket, error) {
	if peer := u.anySocket(); peer != nil {
		s, err := u.open(ifindex, queue, sz, unix.XDP_SHARED_UMEM, peer)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrShared, err)
		}
		return s, nil
	}
	var wake uint16
	if o.NeedWakeup {
		wake = unix.XDP_USE_NEED_WAKEUP
	}
	if o.ZeroCopy {
		s, err := u.open(ifindex, queue, sz, unix.XDP_ZEROCOPY|wake, nil)
		if err == nil || !(errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL)) {
			return s, err
		}
	}
	return u.open(ifindex, queue, sz, unix.XDP_COPY|wake, nil)
}

// ringSizes are the entries of a socket's four rings.
type ringSizes struct{ fill, comp, rx, tx int }

// open makes a socket over u, binding it with flags (to peer's UMEM when
// peer is not nil), and registers it with u. A socket closed on the same
// queue a moment ago still holds it until the kernel has freed it after an
// RCU grace period and a deferred work item (12-16 ms measured on veth);
// until then bind says EBUSY, so open tries again for up to 3 s.
func (u *UMEM) open(ifindex, queue int, sz ringSizes, flags uint16, peer *Socket) (*Socket, error) {
	s := &Socket{fd: -1, ifindex: ifindex, queue: queue}
	err := s.setup(u, ifindex, queue, sz, flags, peer)
	for deadline := time.Now().Add(3 * time.Second); errors.Is(err, unix.EBUSY) && time.Now().Before(deadline); {
		time.Sleep(2 * time.Millisecond)
		err = s.setup(u, ifindex, queue, sz, flags, peer)
	}
	if err != nil {
		return nil, fmt.Errorf("opening AF_XDP socket on ifindex %d queue %d: %w", ifindex, queue, err)
	}
	if peer != nil {
		s.mode.NeedWakeup = peer.mode.NeedWakeup
		s.mode.Shared = true
	} else {
		s.mode.NeedWakeup = flags&unix.XDP_USE_NEED_WAKEUP != 0
	}
	if !s.mode.ZeroCopy {
		// Copy mode sends at most 32 frames per sendto unless told more
		// (XDP_MAX_TX_SKB_BUDGET, Linux 6.17+); a larger budget lets one
		// kick drain a batch. Older kernels say ENOPROTOOPT: keep 32.
		s.txBudget = 32
		for _, b := range []int{sz.tx, 256} {
			if unix.SetsockoptInt(s.fd, unix.SOL_XDP, unix.XDP_MAX_TX_SKB_BUDGET, b) == nil {
				s.txBudget = b
				break
			}
		}
	}
	if err := u.attach(s); err != nil {
		s.release()
		return nil, err
	}
	return s, nil
}

// setup creates, sizes, maps and binds the socket; on failure it leaves
// nothing open.
func (s *Socket) setup(u *UMEM, ifindex, queue int, sz ringSizes, flags uint16, peer *Socket) (err error) {
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("creating socket: %w", err)
	}
	s.fd = fd
	defer func() {
		if err != nil {
			s.release()
		}
	}()
	if peer == nil {
		reg := unix.XDPUmemReg{
			Addr: uint64(uintptr(unsafe.Pointer(&u.mem[0]))),
			Len:  uint64(len(u.mem)),
			Size: uint32(u.frameSize),
		}
		if err := setsockopt(fd, unix.XDP_UMEM_REG, unsafe.Pointer(&reg), unsafe.Sizeof(reg)); err != nil {
			return fmt.Errorf("registering the UMEM: %w", err)
		}
	}
	for _, r := range []struct {
		opt, n int
		name   string
	}{
		{unix.XDP_UMEM_FILL_RING, sz.fill, "fill"},
		{unix.XDP_UMEM_COMPLETION_RING, sz.comp, "completion"},
		{unix.XDP_RX_RING, sz.rx, "receive"},
		{unix.XDP_TX_RING, sz.tx, "transmit"},
	} {
		if err := unix.SetsockoptInt(fd, unix.SOL_XDP, r.opt, r.n); err != nil {
			return fmt.Errorf("sizing the %s ring to %d: %w", r.name, r.n, err)
		}
	}
	var off unix.XDPMmapOffsets
	size := uint32(unsafe.Sizeof(off))
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_XDP, unix.XDP_MMAP_OFFSETS,
		uintptr(unsafe.Pointer(&off)), uintptr(unsafe.Pointer(&size)), 0)
	if errno != 0 {
		return fmt.Errorf("reading ring offsets: %w", errno)
	}
	if size != uint32(unsafe.Sizeof(off)) {
		return fmt.Errorf("reading ring offsets: %d bytes, want %d (kernel older than 5.4)", size, unsafe.Sizeof(off))
	}
	for i, r := range []struct {
		pgoff int64
		o     unix.XDPRingOffset
		n     int
		elem  uintptr
		ring  *ring
	}{
		{unix.XDP_UMEM_PGOFF_FILL_RING, off.Fr, sz.fill, 8, &s.fill},
		{unix.XDP_UMEM_PGOFF_COMPLETION_RING, off.Cr, sz.comp, 8, &s.comp},
		{unix.XDP_PGOFF_RX_RING, off.Rx, sz.rx, unsafe.Sizeof(Desc{}), &s.rx},
		{unix.XDP_PGOFF_TX_RING, off.Tx, sz.tx, unsafe.Sizeof(Desc{}), &s.tx},
	} {
		m, err := unix.Mmap(fd, r.pgoff, int(r.o.Desc)+r.n*int(r.elem), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
		if err != nil {
			return fmt.Errorf("mapping ring %d: %w", i, err)
		}
		s.ringMaps[i] = m
		*r.ring = ring{
			producer: (*uint32)(unsafe.Pointer(&m[r.o.Producer])),
			consumer: (*uint32)(unsafe.Pointer(&m[r.o.Consumer])),
			flags:    (*uint32)(unsafe.Pointer(&m[r.o.Flags])),
			mask:     uint32(r.n - 1),
			size:     uint32(r.n),
		}
		r.ring.cachedProd = atomic.LoadUint32(r.ring.producer)
		r.ring.cachedCons = atomic.LoadUint32(r.ring.consumer)
		d := unsafe.Pointer(&m[r.o.Desc])
		switch i {
		case 0:
			s.fillDescs = unsafe.Slice((*uint64)(d), r.n)
		case 1:
			s.compDescs = unsafe.Slice((*uint64)(d), r.n)
		case 2:
			s.rxDescs = unsafe.Slice((*Desc)(d), r.n)
		case 3:
			s.txDescs = unsafe.Slice((*Desc)(d), r.n)
		}
	}
	sa := &unix.SockaddrXDP{Flags: flags, Ifindex: uint32(ifindex), QueueID: uint32(queue)}
	if peer != nil {
		sa.SharedUmemFD = uint32(peer.fd)
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fmt.Errorf("binding (flags %#x): %w", flags, err)
	}
	opts, err := unix.GetsockoptInt(fd, unix.SOL_XDP, unix.XDP_OPTIONS)
	if err != nil {
		return fmt.Errorf("reading socket options: %w", err)
	}
	s.mode = Mode{ZeroCopy: opts&unix.XDP_OPTIONS_ZEROCOPY != 0}
	return nil
}

// setsockopt sets an SOL_XDP option from a structure.
func setsockopt(fd, opt int, p unsafe.Pointer, n uintptr) error {
	_, _, errno := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_XDP, uintptr(opt), uintptr(p), n, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// release unmaps the rings and closes the socket; the kernel then unbinds
// it from its queue. It does not touch the UMEM.
func (s *Socket) release() error {
	var err error
	for i, m := range s.ringMaps {
		if m != nil {
			if e := unix.Munmap(m); e != nil {
				err = errors.Join(err, fmt.Errorf("unmapping ring %d: %w", i, e))
			}
			s.ringMaps[i] = nil
		}
	}
	s.fillDescs, s.compDescs, s.rxDescs, s.txDescs = nil, nil, nil, nil
	if s.fd >= 0 {
		if e := unix.Close(s.fd); e != nil {
			err = errors.Join(err, fmt.Errorf("closing: %w", e))
		}
		s.fd = -1
	}
	return err
}

// FD returns the socket's file descriptor, for the XSKMAP and for poll.
func (s *Socket) FD() int { return s.fd }

// Mode returns how the kernel bound the socket.
func (s *Socket) Mode() Mode { return s.mode }

// Close closes the socket and unmaps its rings, which frees its interface
// queue at once for another socket. The frames in its rings go back to the
// UMEM's free stack (in zero-copy mode they are retired until UMEM.Close,
// since the driver may still write them); frames the caller received from
// it stay the caller's. A socket made by Open closes its UMEM too: frames
// obtained from it must not be used afterwards.
func (s *Socket) Close() error {
	if s.umem == nil {
		return nil
	}
	err := s.release()
	u := s.umem
	u.detach(s)
	s.umem, s.mem, s.owner = nil, nil, nil
	if u.private {
		err = errors.Join(err, u.Close())
	}
	if err != nil {
		return fmt.Errorf("closing AF_XDP socket: %w", err)
	}
	return nil
}

// Receive moves up to len(descs) received descriptors into descs and returns
// how many. Each received frame belongs to the caller until it hands it on
// with Refill, Transmit or Free.
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
		d := s.rxDescs[(r.cachedCons+i)&r.mask]
		s.owner[d.Addr>>s.shift] = tagUser
		descs[i] = d
	}
	r.cachedCons += n
	if n > 0 {
		atomic.StoreUint32(r.consumer, r.cachedCons)
	}
	return int(n)
}

// Frame returns the bytes of the frame a descriptor names: its length, and
// a capacity up to the end of its UMEM frame. The slice aliases the UMEM.
func (s *Socket) Frame(d Desc) []byte {
	return s.mem[d.Addr : d.Addr+uint64(d.Len) : d.Addr&^(s.frameSize-1)+s.frameSize]
}

// Refill gives a frame the caller owns (received on this or another socket
// of the UMEM) to the kernel for receiving, through the fill ring; call
// Flush to publish. It never fails: if the fill ring is full (impossible
// for a socket made by Open, whose fill ring holds every receive frame) the
// frame goes to the UMEM's free stack instead.
func (s *Socket) Refill(addr uint64) {
	addr &^= s.frameSize - 1 // strip any offset the kernel added
	if s.fill.room(1) == 0 {
		s.umem.Free(addr)
		return
	}
	s.fillDescs[s.fill.cachedProd&s.fill.mask] = addr
	s.fill.cachedProd++
	s.owner[addr>>s.shift] = s.tag
}

// Flush publishes the refilled frames to the kernel.
func (s *Socket) Flush() {
	atomic.StoreUint32(s.fill.producer, s.fill.cachedProd)
}

// Fill moves up to max frames from the UMEM's free stack into this socket's
// fill ring, as many as the ring has room for, publishes the fill ring and
// returns how many it moved.
func (s *Socket) Fill(max int) int {
	u := s.umem
	n := len(u.free)
	if max < n {
		n = max
	}
	if n <= 0 {
		return 0
	}
	if room := int(s.fill.room(uint32(n))); room < n {
		n = room
	}
	top := len(u.free)
	for i := 0; i < n; i++ {
		addr := u.free[top-1-i]
		s.fillDescs[s.fill.cachedProd&s.fill.mask] = addr
		s.fill.cachedProd++
		s.owner[addr>>s.shift] = s.tag
	}
	u.free = u.free[:top-n]
	atomic.StoreUint32(s.fill.producer, s.fill.cachedProd)
	return n
}

// NeedsFillWakeup reports whether the kernel set XDP_RING_NEED_WAKEUP on
// the fill ring: it will take new fill frames only after the owner polls
// the socket (or calls recvfrom). Always false without need_wakeup.
func (s *Socket) NeedsFillWakeup() bool {
	return atomic.LoadUint32(s.fill.flags)&unix.XDP_RING_NEED_WAKEUP != 0
}

// TxFrame takes a free frame of the UMEM (its whole buffer) for the caller
// to fill and Send, or reports ok == false when none is free even after
// reaping completions.
func (s *Socket) TxFrame() (addr uint64, buf []byte, ok bool) {
	u := s.umem
	if len(u.free) == 0 {
		s.Complete()
	}
	if addr, ok = u.Alloc(); !ok {
		return 0, nil, false
	}
	return addr, s.mem[addr : addr+s.frameSize : addr+s.frameSize], true
}

// Send queues the frame at addr (from TxFrame), length n, on the transmit
// ring. For a socket made by Open the ring always has room: it is as large
// as the number of transmit frames. On a shared UMEM a full ring frees the
// frame and counts it (Stats.TxRingFull); use Transmit to learn of it.
// Call Kick to start transmission.
func (s *Socket) Send(addr uint64, n int) {
	if !s.Transmit(Desc{Addr: addr, Len: uint32(n)}) {
		s.stats.TxRingFull++
		s.umem.Free(addr)
	}
}

// Transmit queues a frame the caller owns on the transmit ring: one it got
// from TxFrame or Alloc, or one received on any socket of the same UMEM
// and rewritten in place, descriptor unchanged (no copy). It returns false
// if the ring is full; the frame is then still the caller's (to free or
// retry). Call Kick to start transmission.
func (s *Socket) Transmit(d Desc) bool {
	if s.tx.room(1) == 0 {
		return false
	}
	s.txDescs[s.tx.cachedProd&s.tx.mask] = Desc{Addr: d.Addr, Len: d.Len}
	s.tx.cachedProd++
	s.owner[d.Addr>>s.shift] = s.tag
	return true
}

// Abandon returns a frame from TxFrame that will not be sent to the free
// stack.
func (s *Socket) Abandon(addr uint64) { s.umem.Free(addr) }

// Pending reports how many frames the kernel has not yet taken from the
// transmit ring.
func (s *Socket) Pending() int {
	s.tx.cachedCons = atomic.LoadUint32(s.tx.consumer)
	return int(s.tx.cachedProd - s.tx.cachedCons)
}

// maxKicks bounds the sendto calls of one Kick in copy mode, which takes at
// most txBudget (32 before Linux 6.17) frames per call.
const maxKicks = 8

// Kick publishes queued transmit descriptors and, where the kernel needs it,
// asks it with sendto to send them, then reaps completions. Copy mode
// always needs it, again while the ring still holds frames, up to a bound;
// zero-copy with need_wakeup only when the transmit ring's
// XDP_RING_NEED_WAKEUP flag is set. It never panics: an errno that means
// the link is down or gone is counted in Stats and returned (unwrapped);
// frames stay in the ring until the link carries them or the socket is
// closed.
func (s *Socket) Kick() error {
	s.publishTx()
	var err error
	switch {
	case s.Pending() == 0:
	case s.mode.ZeroCopy:
		if !s.mode.NeedWakeup || atomic.LoadUint32(s.tx.flags)&unix.XDP_RING_NEED_WAKEUP != 0 {
			err = s.wake()
		}
	default:
		for i := 0; i < maxKicks && s.Pending() > 0 && err == nil; i++ {
			err = s.wake()
		}
	}
	s.Complete()
	return err
}

// publishTx makes the queued transmit descriptors visible to the kernel.
func (s *Socket) publishTx() { atomic.StoreUint32(s.tx.producer, s.tx.cachedProd) }

// wake makes one sendto call; it returns only errnos that mean more than
// "busy, try again".
func (s *Socket) wake() error {
	s.stats.Kicks++
	_, _, errno := unix.Syscall6(unix.SYS_SENDTO, uintptr(s.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
	switch errno {
	case 0, unix.EAGAIN, unix.EBUSY, unix.ENOBUFS, unix.EINTR:
		// Sent some or the kernel is busy: the caller tries again.
		return nil
	}
	s.stats.KickErrors++
	s.stats.LastKickErr = errno
	return errno
}

// Complete moves transmitted frames from the completion ring to the UMEM's
// free stack and returns how many.
func (s *Socket) Complete() int {
	r := &s.comp
	r.cachedProd = atomic.LoadUint32(r.producer)
	n := r.cachedProd - r.cachedCons
	u := s.umem
	for i := uint32(0); i < n; i++ {
		addr := s.compDescs[(r.cachedCons+i)&r.mask] &^ (s.frameSize - 1)
		s.owner[addr>>s.shift] = tagFree
		u.free = append(u.free, addr)
	}
	r.cachedCons += n
	if n > 0 {
		atomic.StoreUint32(r.consumer, r.cachedCons)
	}
	return int(n)
}

// FreeTx reports how many frames of the UMEM are free (for a socket made by
// Open: its free transmit frames).
func (s *Socket) FreeTx() int { return len(s.umem.free) }

// InFlight reports how many frames of the UMEM this socket holds: given to
// its fill ring and not yet read from its receive ring, plus queued on its
// transmit ring and not yet reaped from its completion ring. Exact at any
// moment (it is computed from this side's own ring indices).
func (s *Socket) InFlight() int {
	return int(s.fill.cachedProd-s.rx.cachedCons) + int(s.tx.cachedProd-s.comp.cachedCons)
}

// Occupancy says where a socket's in-flight frames are, read from the
// shared ring indices. Kernel is the rest: frames the kernel took from the
// fill ring and has not put on the receive ring, or took from the transmit
// ring and has not completed. A snapshot: while the kernel works, a frame
// moving between two rings may be counted twice or not at all.
type Occupancy struct {
	Fill, Rx, Tx, Completion, Kernel int
}

// Occupancy returns where the socket's frames are (see Occupancy).
func (s *Socket) Occupancy() Occupancy {
	o := Occupancy{
		Fill:       int(s.fill.cachedProd - atomic.LoadUint32(s.fill.consumer)),
		Rx:         int(atomic.LoadUint32(s.rx.producer) - s.rx.cachedCons),
		Tx:         int(s.tx.cachedProd - atomic.LoadUint32(s.tx.consumer)),
		Completion: int(atomic.LoadUint32(s.comp.producer) - s.comp.cachedCons),
	}
	o.Kernel = s.InFlight() - o.Fill - o.Rx - o.Tx - o.Completion
	return o
}

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
