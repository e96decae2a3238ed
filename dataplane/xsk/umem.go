package xsk

import (
	"errors"
	"fmt"
	"math/bits"
	"os"

	"golang.org/x/sys/unix"
)

// Owner tags of UMEM frames (UMEM.owner); a socket's tag is tagSocket0 plus
// its slot in UMEM.sockets.
const (
	tagFree    uint16 = iota // on the free stack
	tagUser                  // the caller's
	tagRetired               // held by a closed zero-copy socket until UMEM.Close
	tagSocket0
)

// UMEM is a frame area that several sockets can share (XDP_SHARED_UMEM):
// anonymous memory cut into equal frames, with a stack of free frames. It
// and all sockets on it are owned by ONE goroutine: no locks. Where each
// frame may be, and which calls move it, is in the package documentation
// ("Frame ownership").
type UMEM struct {
	mem       []byte
	frameSize uint64
	shift     uint // log2(frameSize)
	// free is the stack of free frame addresses; its capacity is every
	// frame, so pushing never allocates.
	free []uint64
	// owner holds one tag per frame: where it is.
	owner []uint16
	// sockets are the open sockets by slot; nil where one was closed.
	sockets []*Socket
	nopen   int
	// badFrees counts Free calls for frames the caller did not own; they
	// were ignored.
	badFrees uint64
	// private: made by Open for its one socket, closed with it.
	private bool
}

// NewUMEM maps a UMEM of frames frames of frameSize bytes (0: DefaultFrameSize)
// in anonymous memory (MAP_PRIVATE|MAP_ANONYMOUS|MAP_POPULATE, kept out of
// child processes with MADV_DONTFORK) and puts every frame on its free
// stack. frames must be a power of two and frameSize a power of two from
// 2048 to the page size. Sockets register it when the first of them opens.
func NewUMEM(frames, frameSize int) (*UMEM, error) {
	if frameSize == 0 {
		frameSize = DefaultFrameSize
	}
	if frames <= 0 || frames&(frames-1) != 0 {
		return nil, fmt.Errorf("xsk: frames %d is not a power of two", frames)
	}
	if page := os.Getpagesize(); frameSize < 2048 || frameSize > page || frameSize&(frameSize-1) != 0 {
		return nil, fmt.Errorf("xsk: frame size %d is not a power of two from 2048 to the page size %d", frameSize, page)
	}
	mem, err := unix.Mmap(-1, 0, frames*frameSize, unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("xsk: mapping a UMEM of %d frames of %d bytes: %w", frames, frameSize, err)
	}
	// Best effort: a forked child sharing the pages copy-on-write could
	// leave the process writing to a copy the kernel does not see.
	_ = unix.Madvise(mem, unix.MADV_DONTFORK)
	return newUMEM(mem, frameSize), nil
}

// newUMEM sets up the bookkeeping of a UMEM over mem.
func newUMEM(mem []byte, frameSize int) *UMEM {
	frames := len(mem) / frameSize
	u := &UMEM{
		mem:       mem,
		frameSize: uint64(frameSize),
		shift:     uint(bits.TrailingZeros(uint(frameSize))),
		free:      make([]uint64, frames),
		owner:     make([]uint16, frames),
	}
	// Frame 0 on top: Alloc and Fill hand out frames in address order.
	for i := range u.free {
		u.free[i] = uint64(frames-1-i) * u.frameSize
	}
	return u
}

// Frames returns the number of frames of the UMEM.
func (u *UMEM) Frames() int { return len(u.owner) }

// FrameSize returns the size of one frame in bytes.
func (u *UMEM) FrameSize() int { return int(u.frameSize) }

// Frame returns the bytes of the frame a descriptor names: its length, and
// a capacity up to the end of its UMEM frame. The slice aliases the UMEM.
func (u *UMEM) Frame(d Desc) []byte {
	return u.mem[d.Addr : d.Addr+uint64(d.Len) : d.Addr&^(u.frameSize-1)+u.frameSize]
}

// Alloc pops a free frame for the caller; ok is false when none is free.
func (u *UMEM) Alloc() (addr uint64, ok bool) {
	n := len(u.free)
	if n == 0 {
		return 0, false
	}
	addr = u.free[n-1]
	u.free = u.free[:n-1]
	u.owner[addr>>u.shift] = tagUser
	return addr, true
}

// Free pushes a frame the caller owns back on the free stack; an offset
// inside the frame is stripped. Freeing a frame the caller does not own (a
// double free, one still in a ring, an address outside the UMEM) is
// ignored and counted, so that the stack never holds a frame twice; Check
// reports it.
func (u *UMEM) Free(addr uint64) {
	i := addr >> u.shift
	if i >= uint64(len(u.owner)) || u.owner[i] != tagUser {
		u.badFrees++
		return
	}
	u.owner[i] = tagFree
	u.free = append(u.free, i<<u.shift)
}

// FreeFrames returns how many frames are on the free stack.
func (u *UMEM) FreeFrames() int { return len(u.free) }

// Close unmaps the UMEM. All its sockets must be closed first.
func (u *UMEM) Close() error {
	if u.mem == nil {
		return nil
	}
	if u.nopen > 0 {
		return fmt.Errorf("xsk: closing a UMEM with %d sockets open", u.nopen)
	}
	err := unix.Munmap(u.mem)
	u.mem, u.free, u.owner, u.sockets = nil, nil, nil, nil
	if err != nil {
		return fmt.Errorf("xsk: unmapping the UMEM: %w", err)
	}
	return nil
}

// anySocket returns an open socket of u, nil if none.
func (u *UMEM) anySocket() *Socket {
	for _, s := range u.sockets {
		if s != nil {
			return s
		}
	}
	return nil
}

// attach gives s a slot and owner tag in u and points it at u's memory.
func (u *UMEM) attach(s *Socket) error {
	slot := -1
	for i, o := range u.sockets {
		if o == nil {
			slot = i
			break
		}
	}
	if slot < 0 {
		if len(u.sockets) >= int(^uint16(0)-tagSocket0) {
			return errors.New("xsk: too many sockets on one UMEM")
		}
		slot = len(u.sockets)
		u.sockets = append(u.sockets, nil)
	}
	u.sockets[slot] = s
	u.nopen++
	s.umem, s.mem, s.owner = u, u.mem, u.owner
	s.frameSize, s.shift = u.frameSize, u.shift
	s.tag = tagSocket0 + uint16(slot)
	return nil
}

// detach takes back the frames of a closed socket: to the free stack in
// copy mode (the kernel let go of them when the socket was released), to
// the retired frames in zero-copy mode (the driver may still be writing
// them until the kernel's deferred release has run).
func (u *UMEM) detach(s *Socket) {
	u.sockets[s.tag-tagSocket0] = nil
	u.nopen--
	if u.private {
		return // the UMEM goes with it
	}
	for i, o := range u.owner {
		if o != s.tag {
			continue
		}
		if s.mode.ZeroCopy {
			u.owner[i] = tagRetired
		} else {
			u.owner[i] = tagFree
			u.free = append(u.free, uint64(i)<<u.shift)
		}
	}
}

// Check verifies the ownership rule of the package documentation and
// returns what is wrong, nil if nothing: every frame on the free stack is
// there once and tagged free, no other frame is; each open socket holds
// exactly the frames its ring indices say (Socket.InFlight); and no Free
// call was ignored. It reads every frame: for tests and diagnostics, not
// for the fast path.
func (u *UMEM) Check() error {
	if u.mem == nil {
		return errors.New("xsk: UMEM is closed")
	}
	var errs []error
	count := make(map[uint16]int)
	for _, o := range u.owner {
		count[o]++
	}
	seen := make([]bool, len(u.owner))
	for _, addr := range u.free {
		i := addr >> u.shift
		switch {
		case addr%u.frameSize != 0 || i >= uint64(len(u.owner)):
			errs = append(errs, fmt.Errorf("free stack holds address %#x, not a frame", addr))
			continue
		case seen[i]:
			errs = append(errs, fmt.Errorf("free stack holds frame %#x twice", addr))
		case u.owner[i] != tagFree:
			errs = append(errs, fmt.Errorf("free stack holds frame %#x, tagged %d", addr, u.owner[i]))
		}
		seen[i] = true
	}
	if count[tagFree] != len(u.free) {
		errs = append(errs, fmt.Errorf("%d frames tagged free, %d on the free stack", count[tagFree], len(u.free)))
	}
	for _, s := range u.sockets {
		if s != nil && count[s.tag] != s.InFlight() {
			errs = append(errs, fmt.Errorf("socket on ifindex %d queue %d: %d frames tagged, %d in flight by its rings",
				s.ifindex, s.queue, count[s.tag], s.InFlight()))
		}
	}
	for tag, n := range count {
		if tag >= tagSocket0 && (int(tag-tagSocket0) >= len(u.sockets) || u.sockets[tag-tagSocket0] == nil) {
			errs = append(errs, fmt.Errorf("%d frames tagged with closed socket slot %d", n, tag-tagSocket0))
		}
	}
	if u.badFrees != 0 {
		errs = append(errs, fmt.Errorf("%d frees of frames the caller did not own", u.badFrees))
	}
	return errors.Join(errs...)
}

// Account says where a UMEM's frames are: Free + User + Sockets + Retired
// is always Frames.
type Account struct {
	Frames  int // all frames of the UMEM
	Free    int // on the free stack
	User    int // the caller's: received or allocated, not yet handed on
	Sockets int // in the open sockets (Socket.InFlight of each)
	Retired int // held by closed zero-copy sockets until UMEM.Close
}

// Account counts where the frames are, from the owner tags (a read of every
// frame: not for the fast path).
func (u *UMEM) Account() Account {
	a := Account{Frames: len(u.owner)}
	for _, o := range u.owner {
		switch {
		case o == tagFree:
			a.Free++
		case o == tagUser:
			a.User++
		case o == tagRetired:
			a.Retired++
		default:
			a.Sockets++
		}
	}
	return a
}
