package xsk

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// fakeKernel plays the kernel's side of a socket whose rings live in Go
// memory: it takes frames from the fill ring, delivers them to the receive
// ring, takes frames from the transmit ring and completes them, each step
// on demand, so that frames can be caught in every place.
type fakeKernel struct {
	s          *Socket
	held       fifo // taken from the fill ring, not yet received
	sent       fifo // taken from the transmit ring, not yet completed
	idx        [4][3]uint32
	fill, comp []uint64
	rx, tx     []Desc
}

// newFake makes a socket over u with rings of the given sizes and a fake
// kernel behind it. It needs no privileges and makes no system call.
func newFake(t testing.TB, u *UMEM, rxSize, txSize int, zeroCopy bool) (*Socket, *fakeKernel) {
	t.Helper()
	k := &fakeKernel{
		held: fifo{buf: make([]uint64, u.Frames())}, sent: fifo{buf: make([]uint64, u.Frames())},
		fill: make([]uint64, rxSize), comp: make([]uint64, txSize),
		rx: make([]Desc, rxSize), tx: make([]Desc, txSize),
	}
	s := &Socket{fd: -1, mode: Mode{ZeroCopy: zeroCopy, Shared: u.anySocket() != nil}}
	for i, r := range []*ring{&s.fill, &s.comp, &s.rx, &s.tx} {
		n := []int{rxSize, txSize, rxSize, txSize}[i]
		*r = ring{producer: &k.idx[i][0], consumer: &k.idx[i][1], flags: &k.idx[i][2], mask: uint32(n - 1), size: uint32(n)}
	}
	s.fillDescs, s.compDescs, s.rxDescs, s.txDescs = k.fill, k.comp, k.rx, k.tx
	if err := u.attach(s); err != nil {
		t.Fatal(err)
	}
	k.s = s
	return s, k
}

// fifo is a queue of frame addresses that never allocates.
type fifo struct {
	buf     []uint64
	head, n int
}

func (f *fifo) push(v uint64) { f.buf[(f.head+f.n)%len(f.buf)] = v; f.n++ }

func (f *fifo) pop() uint64 {
	v := f.buf[f.head]
	f.head = (f.head + 1) % len(f.buf)
	f.n--
	return v
}

// take moves up to n published fill frames into the kernel's hands.
func (k *fakeKernel) take(n int) int {
	p, c := &k.idx[0][0], &k.idx[0][1]
	i := 0
	for ; i < n && *c != *p; i++ {
		k.held.push(k.fill[*c&k.s.fill.mask])
		*c++
	}
	return i
}

// deliver puts up to n held frames on the receive ring, at the offset copy
// mode uses (XDP_PACKET_HEADROOM), with a marker in their first bytes.
func (k *fakeKernel) deliver(n int, mark byte) int {
	p, c := &k.idx[2][0], &k.idx[2][1]
	i := 0
	for ; i < n && k.held.n > 0 && *p-*c < uint32(len(k.rx)); i++ {
		addr := k.held.pop() + 256
		k.s.mem[addr] = mark
		k.rx[*p&k.s.rx.mask] = Desc{Addr: addr, Len: 60}
		*p++
	}
	return i
}

// send takes up to n published transmit descriptors (Kick publishes; the
// tests call publishTx instead, since a fake socket has no descriptor), and complete puts up
// to n of them on the completion ring.
func (k *fakeKernel) send(n int) int {
	p, c := &k.idx[3][0], &k.idx[3][1]
	i := 0
	for ; i < n && *c != *p; i++ {
		k.sent.push(k.tx[*c&k.s.tx.mask].Addr)
		*c++
	}
	return i
}

func (k *fakeKernel) complete(n int) int {
	p, c := &k.idx[1][0], &k.idx[1][1]
	i := 0
	for ; i < n && k.sent.n > 0 && *p-*c < uint32(len(k.comp)); i++ {
		k.comp[*p&k.s.comp.mask] = k.sent.pop()
		*p++
	}
	return i
}

// check fails the test if the ownership rule is broken anywhere in u, or if
// the places do not add up to every frame.
func check(t testing.TB, u *UMEM, user int) {
	t.Helper()
	if err := u.Check(); err != nil {
		t.Fatal(err)
	}
	a := u.Account()
	inFlight := 0
	for _, s := range u.sockets {
		if s != nil {
			inFlight += s.InFlight()
		}
	}
	if a.User != user || a.Sockets != inFlight || a.Free != u.FreeFrames() || a.Free+a.User+a.Sockets+a.Retired != a.Frames {
		t.Fatalf("account %+v: want %d user frames, %d in sockets, %d free", a, user, inFlight, u.FreeFrames())
	}
}

func newTestUMEM(t testing.TB, frames int) *UMEM {
	t.Helper()
	u, err := NewUMEM(frames, 2048)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	return u
}

func TestNewUMEMArgs(t *testing.T) {
	for _, c := range []struct{ frames, size int }{{0, 2048}, {3, 2048}, {-4, 2048}, {8, 1024}, {8, 3072}, {8, 1 << 16}} {
		if u, err := NewUMEM(c.frames, c.size); err == nil {
			u.Close()
			t.Errorf("NewUMEM(%d, %d) succeeded", c.frames, c.size)
		}
	}
	u, err := NewUMEM(8, 0)
	if err != nil {
		t.Fatal(err)
	}
	if u.Frames() != 8 || u.FrameSize() != DefaultFrameSize || u.FreeFrames() != 8 {
		t.Fatalf("frames %d size %d free %d", u.Frames(), u.FrameSize(), u.FreeFrames())
	}
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	if err := u.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

// TestUMEMAllocFree covers the free stack alone: address order, the end of
// the frames, offsets stripped, and frees of frames the caller does not own
// ignored (the stack never holds a frame twice) and reported by Check.
func TestUMEMAllocFree(t *testing.T) {
	u := newTestUMEM(t, 8)
	var got []uint64
	for {
		a, ok := u.Alloc()
		if !ok {
			break
		}
		got = append(got, a)
	}
	for i, a := range got {
		if a != uint64(i)*2048 {
			t.Fatalf("alloc %d: %#x", i, a)
		}
	}
	if len(got) != 8 || u.FreeFrames() != 0 {
		t.Fatalf("allocated %d, %d left", len(got), u.FreeFrames())
	}
	check(t, u, 8)
	f := u.Frame(Desc{Addr: 3*2048 + 256, Len: 60})
	if len(f) != 60 || cap(f) != 2048-256 {
		t.Fatalf("frame len %d cap %d, want 60 and %d (to the end of the frame)", len(f), cap(f), 2048-256)
	}
	u.Free(3*2048 + 256) // an offset inside the frame is stripped
	if u.FreeFrames() != 1 || u.free[0] != 3*2048 {
		t.Fatalf("free stack %x", u.free)
	}
	check(t, u, 7)
	u.Free(3 * 2048)  // double free
	u.Free(100 << 20) // outside the UMEM
	if u.FreeFrames() != 1 {
		t.Fatalf("bad frees reached the stack: %x", u.free)
	}
	if err := u.Check(); err == nil || !strings.Contains(err.Error(), "2 frees") {
		t.Fatalf("check after bad frees: %v", err)
	}
	u.badFrees = 0
	for _, a := range got {
		if a != 3*2048 {
			u.Free(a)
		}
	}
	check(t, u, 0)
	if a, _ := u.Alloc(); a != 7*2048 {
		t.Fatalf("last freed frame %#x is not on top", a)
	}
}

// TestSharedAccounting moves frames through two sockets sharing a UMEM with
// a fake kernel behind each, receiving on A and transmitting the same
// descriptors on B, and checks after every step that each frame is in
// exactly one place.
func TestSharedAccounting(t *testing.T) {
	u := newTestUMEM(t, 64)
	a, ka := newFake(t, u, 16, 16, false)
	b, kb := newFake(t, u, 16, 8, false)
	if b.Mode() != (Mode{Shared: true}) {
		t.Fatalf("mode %v", b.Mode())
	}
	if n := a.Fill(100); n != 16 {
		t.Fatalf("fill moved %d frames into a 16-entry ring", n)
	}
	if n := a.Fill(1); n != 0 {
		t.Fatalf("fill moved %d frames into a full ring", n)
	}
	if n := b.Fill(4); n != 4 {
		t.Fatalf("fill moved %d, want 4", n)
	}
	check(t, u, 0)
	if a.InFlight() != 16 || u.FreeFrames() != 44 {
		t.Fatalf("in flight %d, free %d", a.InFlight(), u.FreeFrames())
	}

	// The kernel takes 10 fill frames and delivers 6.
	ka.take(10)
	ka.deliver(6, 0xa)
	if o := a.Occupancy(); o != (Occupancy{Fill: 6, Rx: 6, Kernel: 4}) {
		t.Fatalf("occupancy %+v", o)
	}
	var descs [16]Desc
	n := a.Receive(descs[:])
	if n != 6 {
		t.Fatalf("received %d", n)
	}
	check(t, u, 6)
	for _, d := range descs[:n] {
		if f := a.Frame(d); f[0] != 0xa || b.Frame(d)[0] != 0xa || u.Frame(d)[0] != 0xa {
			t.Fatal("the frame is not where its descriptor says")
		}
	}

	// Transmit the same descriptors on B: 6 fit in its 8-entry ring.
	for _, d := range descs[:n] {
		if !b.Transmit(d) {
			t.Fatal("transmit refused with room in the ring")
		}
	}
	check(t, u, 0)
	// Fill B's transmit ring up with allocated frames; the ninth is refused
	// and stays the caller's.
	var extra []uint64
	for {
		addr, buf, ok := b.TxFrame()
		if !ok {
			t.Fatal("no free frame")
		}
		if len(buf) != 2048 {
			t.Fatalf("tx frame of %d bytes", len(buf))
		}
		if !b.Transmit(Desc{Addr: addr, Len: 60}) {
			extra = append(extra, addr)
			break
		}
	}
	b.publishTx()
	check(t, u, 1)
	if b.Pending() != 8 {
		t.Fatalf("pending %d", b.Pending())
	}
	// Send on a full ring frees the frame and counts it.
	b.Send(extra[0], 60)
	if b.Stats().TxRingFull != 1 {
		t.Fatalf("stats %+v", b.Stats())
	}
	check(t, u, 0)

	// The kernel sends 5 and completes 3; B reaps them.
	kb.send(5)
	kb.complete(3)
	if o := b.Occupancy(); o != (Occupancy{Fill: 4, Tx: 3, Completion: 3, Kernel: 2}) {
		t.Fatalf("occupancy %+v", o)
	}
	if got := b.Complete(); got != 3 {
		t.Fatalf("completed %d", got)
	}
	check(t, u, 0)
	for _, d := range descs[:3] {
		if u.owner[d.Addr>>u.shift] != tagFree {
			t.Fatalf("completed frame %#x is not free", d.Addr)
		}
	}

	// Refill with a full fill ring puts the frame on the free stack.
	ka.deliver(4, 0xb)
	n = a.Receive(descs[:])
	if n != 4 {
		t.Fatalf("received %d", n)
	}
	if got := a.Fill(16); got != 10 { // room for the 10 the kernel took
		t.Fatalf("fill moved %d, want 10", got)
	}
	check(t, u, 4)
	free := u.FreeFrames()
	for _, d := range descs[:n] {
		a.Refill(d.Addr)
	}
	a.Flush()
	if u.FreeFrames() != free+4 {
		t.Fatalf("refills into a full fill ring: free %d, want %d", u.FreeFrames(), free+4)
	}
	check(t, u, 0)

	// Closing a copy-mode socket takes back every frame it held: in its
	// fill ring and in the kernel.
	ka.take(3)
	inA := a.InFlight()
	free = u.FreeFrames()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if u.FreeFrames() != free+inA {
		t.Fatalf("close returned %d frames, want %d", u.FreeFrames()-free, inA)
	}
	check(t, u, 0)
	if err := u.Close(); err == nil {
		t.Fatal("UMEM closed under an open socket")
	}

	// A socket opened now takes the free slot, and its tag.
	c, _ := newFake(t, u, 8, 8, false)
	if c.tag != a.tag {
		t.Fatalf("new socket tag %d, want the freed %d", c.tag, a.tag)
	}
	c.Fill(8)
	check(t, u, 0)
	c.Close()
	kb.send(10)
	kb.complete(10)
	b.Complete()
	b.Close()
	if u.FreeFrames() != 64 {
		t.Fatalf("%d frames free after closing everything", u.FreeFrames())
	}
	check(t, u, 0)
}

// TestCloseZeroCopyRetires checks that a zero-copy socket's frames are not
// reused after Close (the driver may still write them) but counted.
func TestCloseZeroCopyRetires(t *testing.T) {
	u := newTestUMEM(t, 16)
	s, k := newFake(t, u, 8, 8, true)
	s.Fill(8)
	k.take(5)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if a := u.Account(); a.Retired != 8 || a.Free != 8 {
		t.Fatalf("account %+v", a)
	}
	check(t, u, 0)
}

// TestOwnershipRandom drives two sockets on one UMEM through random steps of
// caller and fake kernels, checking the ownership rule after each step.
func TestOwnershipRandom(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 0))
	u := newTestUMEM(t, 128)
	s := [2]*Socket{}
	k := [2]*fakeKernel{}
	s[0], k[0] = newFake(t, u, 32, 16, false)
	s[1], k[1] = newFake(t, u, 16, 32, false)
	var held []uint64 // the caller's frames
	var descs [8]Desc
	for step := 0; step < 20000; step++ {
		i := r.IntN(2)
		switch r.IntN(10) {
		case 0:
			s[i].Fill(r.IntN(20))
		case 1:
			k[i].take(r.IntN(10))
		case 2:
			k[i].deliver(r.IntN(10), 0)
		case 3:
			n := s[i].Receive(descs[:r.IntN(8)+1])
			for _, d := range descs[:n] {
				held = append(held, d.Addr)
			}
		case 4, 5:
			if len(held) > 0 {
				j := r.IntN(len(held))
				if s[i].Transmit(Desc{Addr: held[j], Len: 60}) {
					held = append(held[:j], held[j+1:]...)
				}
			}
		case 6:
			s[i].publishTx()
			k[i].send(r.IntN(10))
		case 7:
			k[i].complete(r.IntN(10))
		case 8:
			s[i].Complete()
		case 9:
			if len(held) > 0 {
				j := r.IntN(len(held))
				switch r.IntN(3) {
				case 0:
					u.Free(held[j])
				case 1:
					s[i].Refill(held[j])
					s[i].Flush()
				case 2:
					if a, ok := u.Alloc(); ok {
						held = append(held, a)
					}
					continue
				}
				held = append(held[:j], held[j+1:]...)
			}
		}
		check(t, u, len(held))
	}
}

func TestModeString(t *testing.T) {
	for m, want := range map[Mode]string{
		{}:                                 "copy",
		{ZeroCopy: true}:                   "zero-copy",
		{Shared: true}:                     "copy, shared UMEM",
		{ZeroCopy: true, NeedWakeup: true}: "zero-copy, need_wakeup",
		{NeedWakeup: true, Shared: true}:   "copy, need_wakeup, shared UMEM",
		{Shared: true, BusyPoll: true}:     "copy, shared UMEM, busy poll",
	} {
		if got := m.String(); got != want {
			t.Errorf("%+v: %q, want %q", m, got, want)
		}
	}
}

// BenchmarkCycleFake measures this package's side of forwarding one frame
// over a shared UMEM (Receive on A, Transmit on B, Complete on B, Fill on
// A), in batches of 64, with the fake kernel's work included.
func BenchmarkCycleFake(b *testing.B) {
	u := newTestUMEM(b, 1024)
	sa, ka := newFake(b, u, 256, 256, false)
	sb, kb := newFake(b, u, 256, 256, false)
	_ = sb.Fill(0)
	sa.Fill(256)
	var descs [64]Desc
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		ka.take(64)
		ka.deliver(64, 0)
		n := sa.Receive(descs[:])
		for _, d := range descs[:n] {
			if !sb.Transmit(d) {
				u.Free(d.Addr)
			}
		}
		sb.publishTx()
		kb.send(64)
		kb.complete(64)
		sb.Complete()
		sa.Fill(n)
		done += n
	}
	b.StopTimer()
	if err := u.Check(); err != nil {
		b.Fatal(err)
	}
}
