package dataplane

import (
	"errors"
	"fmt"
	"math/bits"
	"testing"

	"github.com/xvs-project/xvs/dataplane/xsk"
)

// Where a frame of a fakeUMEM is.
type frameWhere uint8

const (
	atFree   frameWhere = iota // on the free stack
	atKernel                   // arrived: in a receive ring, not yet received
	atWorker                   // the worker's: received, or taken with TxFrame
	atTx                       // queued on a transmit ring
)

func (w frameWhere) String() string {
	return [...]string{"free", "kernel", "worker", "tx"}[w]
}

// fakeUMEM is an in-memory UMEM: frames of frameSize bytes, a free stack,
// and where each frame is, so that a test can check that every frame given
// to the worker went exactly one way (transmitted or freed, once).
type fakeUMEM struct {
	mem       []byte
	frameSize uint64 // a power of two
	shift     uint   // log2(frameSize)
	where     []frameWhere
	free      []uint64
	// bad records ownership violations: frees or transmits of frames the
	// worker did not hold.
	bad []string
}

func newFakeUMEM(frames, frameSize int) *fakeUMEM {
	u := &fakeUMEM{mem: make([]byte, frames*frameSize), frameSize: uint64(frameSize), shift: uint(bits.TrailingZeros(uint(frameSize))),
		where: make([]frameWhere, frames), free: make([]uint64, 0, frames)}
	for i := frames - 1; i >= 0; i-- {
		u.free = append(u.free, uint64(i)*u.frameSize)
	}
	return u
}

// index returns the frame an address is in (any offset inside it).
func (u *fakeUMEM) index(addr uint64) int {
	i := addr >> u.shift
	if i >= uint64(len(u.where)) {
		panic(fmt.Sprintf("address %#x outside a UMEM of %d frames", addr, len(u.where)))
	}
	return int(i)
}

// alloc pops a free frame, now at to.
func (u *fakeUMEM) alloc(to frameWhere) (uint64, bool) {
	n := len(u.free)
	if n == 0 {
		return 0, false
	}
	addr := u.free[n-1]
	u.free = u.free[:n-1]
	u.where[u.index(addr)] = to
	return addr, true
}

// release puts a frame back on the free stack, whatever held it.
func (u *fakeUMEM) release(addr uint64) {
	i := u.index(addr)
	u.where[i] = atFree
	u.free = append(u.free, uint64(i)<<u.shift)
}

// count returns how many frames are at w.
func (u *fakeUMEM) count(w frameWhere) int {
	n := 0
	for _, x := range u.where {
		if x == w {
			n++
		}
	}
	return n
}

// check reports ownership violations, frames the worker still holds after
// a pump (each is a leak), and an inconsistent free stack.
func (u *fakeUMEM) check() error {
	var errs []error
	for _, b := range u.bad {
		errs = append(errs, errors.New(b))
	}
	if n := u.count(atWorker); n != 0 {
		errs = append(errs, fmt.Errorf("%d frames neither transmitted nor freed", n))
	}
	seen := make([]bool, len(u.where))
	for _, addr := range u.free {
		i := u.index(addr)
		if seen[i] || u.where[i] != atFree {
			errs = append(errs, fmt.Errorf("free stack holds frame %#x twice or while %v", addr, u.where[i]))
		}
		seen[i] = true
	}
	if n := u.count(atFree); n != len(u.free) {
		errs = append(errs, fmt.Errorf("%d frames free, %d on the free stack", n, len(u.free)))
	}
	return errors.Join(errs...)
}

// ringCalls counts a fakeRing's calls by method.
type ringCalls struct {
	Receive, Frames, TransmitBatch, TxFrame, Free, SharesUMEM int
	Pending, Kick, Complete, Fill, NeedsFillWakeup, FD        int
}

// fakeRing is an in-memory ring over a fakeUMEM: frames arrive on its
// receive ring (arrive), and what the worker transmits stays on its
// transmit ring, of txSize entries, until the test takes it (sent) or a
// Kick sends it.
type fakeRing struct {
	u *fakeUMEM
	// headroom is the offset of an arrived frame in its UMEM frame, as
	// the kernel's XDP headroom.
	headroom uint64
	rx       []xsk.Desc
	tx       []xsk.Desc
	txSize   int
	// sentFrames are the bytes of frames a Kick sent.
	sentFrames [][]byte
	kickErr    error
	needWakeup bool
	lastFill   int
	calls      ringCalls
}

var _ ring = (*fakeRing)(nil)

func newFakeRing(u *fakeUMEM, txSize int) *fakeRing {
	return &fakeRing{u: u, headroom: 256, txSize: txSize,
		rx: make([]xsk.Desc, 0, len(u.where)), tx: make([]xsk.Desc, 0, txSize)}
}

// arrive puts a copy of frame on the receive ring, in a free frame of the
// UMEM, as the kernel would.
func (r *fakeRing) arrive(tb testing.TB, frame []byte) xsk.Desc {
	addr, ok := r.u.alloc(atKernel)
	if !ok {
		tb.Fatal("fake UMEM: no free frame for an arriving frame")
	}
	if uint64(len(frame)) > r.u.frameSize-r.headroom {
		tb.Fatalf("fake UMEM: a frame of %d bytes does not fit", len(frame))
	}
	d := xsk.Desc{Addr: addr + r.headroom, Len: uint32(len(frame))}
	copy(r.u.mem[d.Addr:], frame)
	r.rx = append(r.rx, d)
	return d
}

// bytes returns a copy of the frame d names.
func (r *fakeRing) bytes(d xsk.Desc) []byte {
	return append([]byte(nil), r.u.mem[d.Addr:d.Addr+uint64(d.Len)]...)
}

// sent takes what the transmit ring holds, as the kernel would, and
// returns copies of the frames; they go back to the free stack.
func (r *fakeRing) sent() [][]byte {
	var out [][]byte
	for _, d := range r.tx {
		out = append(out, r.bytes(d))
		r.u.release(d.Addr)
	}
	r.tx = r.tx[:0]
	return out
}

// drain is sent without the copies, for benchmarks.
func (r *fakeRing) drain() {
	for _, d := range r.tx {
		r.u.release(d.Addr)
	}
	r.tx = r.tx[:0]
}

func (r *fakeRing) Receive(descs []xsk.Desc) int {
	r.calls.Receive++
	n := copy(descs, r.rx)
	for _, d := range descs[:n] {
		i := r.u.index(d.Addr)
		if r.u.where[i] != atKernel {
			r.u.bad = append(r.u.bad, fmt.Sprintf("received frame %#x while %v", d.Addr, r.u.where[i]))
		}
		r.u.where[i] = atWorker
	}
	r.rx = r.rx[:copy(r.rx, r.rx[n:])]
	return n
}

func (r *fakeRing) Frames(descs []xsk.Desc, frames [][]byte) {
	r.calls.Frames++
	for i, d := range descs {
		end := uint64(r.u.index(d.Addr)+1) << r.u.shift
		frames[i] = r.u.mem[d.Addr : d.Addr+uint64(d.Len) : end]
	}
}

func (r *fakeRing) TransmitBatch(descs []xsk.Desc) int {
	r.calls.TransmitBatch++
	for i, d := range descs {
		if len(r.tx) == r.txSize {
			return i
		}
		j := r.u.index(d.Addr)
		if r.u.where[j] != atWorker {
			r.u.bad = append(r.u.bad, fmt.Sprintf("transmitted frame %#x while %v", d.Addr, r.u.where[j]))
		}
		r.u.where[j] = atTx
		r.tx = append(r.tx, d)
	}
	return len(descs)
}

func (r *fakeRing) TxFrame() (uint64, []byte, bool) {
	r.calls.TxFrame++
	addr, ok := r.u.alloc(atWorker)
	if !ok {
		return 0, nil, false
	}
	return addr, r.u.mem[addr : addr+r.u.frameSize : addr+r.u.frameSize], true
}

func (r *fakeRing) Free(addr uint64) {
	r.calls.Free++
	i := r.u.index(addr)
	if r.u.where[i] != atWorker {
		r.u.bad = append(r.u.bad, fmt.Sprintf("freed frame %#x while %v", addr, r.u.where[i]))
		return
	}
	r.u.release(addr)
}

func (r *fakeRing) SharesUMEM(other ring) bool {
	r.calls.SharesUMEM++
	o, ok := other.(*fakeRing)
	return ok && o.u == r.u
}

func (r *fakeRing) Pending() int { r.calls.Pending++; return len(r.tx) }

// Kick sends the whole transmit ring unless kickErr is set.
func (r *fakeRing) Kick() error {
	r.calls.Kick++
	if r.kickErr != nil {
		return r.kickErr
	}
	r.sentFrames = append(r.sentFrames, r.sent()...)
	return nil
}

func (r *fakeRing) Complete() int { r.calls.Complete++; return 0 }

func (r *fakeRing) Fill(max int) int { r.calls.Fill++; r.lastFill = max; return 0 }

func (r *fakeRing) NeedsFillWakeup() bool { r.calls.NeedsFillWakeup++; return r.needWakeup }

func (r *fakeRing) FD() int { r.calls.FD++; return -1 }
