package xsk

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"github.com/xvs-project/xvs/lab"
	"golang.org/x/sys/unix"
)

// testEtherType marks the test's frames (IEEE 802 local experimental); the
// test's XDP program redirects only those, so the kernel's own frames
// (IPv6 router solicitations...) never reach the sockets.
const testEtherType = 0x88b5

// newNetns creates a network namespace for one test and returns a path
// lab.Do accepts. It has no name: it lives while the returned file is open
// (closed in t.Cleanup, after the cleanups registered later) and anything in
// it (the veths) goes with it, even if the test process is killed.
func newNetns(t testing.TB) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates a network namespace and binds AF_XDP sockets")
	}
	type result struct {
		fd  int
		err error
	}
	ch := make(chan result)
	go func() {
		// Never unlocked: the thread, now in the new namespace, ends with
		// the goroutine instead of going back to the scheduler.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			ch <- result{-1, err}
			return
		}
		fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		ch <- result{fd, err}
	}()
	r := <-ch
	if r.err != nil {
		t.Fatalf("creating a network namespace: %v", r.err)
	}
	t.Cleanup(func() { unix.Close(r.fd) })
	return fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), r.fd)
}

// end is one end of the test's veth pair.
type end struct {
	name  string
	index int
	mac   net.HardwareAddr
}

// vethPair creates the veth pair xska/xskb, one queue on each side, in the
// namespace ns, and brings it up.
func vethPair(t testing.TB, ns string) (a, b end) {
	t.Helper()
	err := lab.Do(ns, func() error {
		v := &netlink.Veth{
			LinkAttrs: netlink.LinkAttrs{Name: "xska", NumTxQueues: 1, NumRxQueues: 1},
			PeerName:  "xskb", PeerNumTxQueues: 1, PeerNumRxQueues: 1,
		}
		if err := netlink.LinkAdd(v); err != nil {
			return fmt.Errorf("adding veth: %w", err)
		}
		a.name, b.name = "xska", "xskb"
		for _, e := range []*end{&a, &b} {
			l, err := netlink.LinkByName(e.name)
			if err != nil {
				return err
			}
			if err := netlink.LinkSetUp(l); err != nil {
				return err
			}
			e.index, e.mac = l.Attrs().Index, l.Attrs().HardwareAddr
		}
		for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			la, err1 := netlink.LinkByIndex(a.index)
			lb, err2 := netlink.LinkByIndex(b.index)
			if err1 == nil && err2 == nil && la.Attrs().OperState == netlink.OperUp && lb.Attrs().OperState == netlink.OperUp {
				return nil
			}
			if time.Now().After(deadline) {
				return errors.New("veth pair not up after 3 s")
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return a, b
}

// redirect attaches to the interface a native XDP program that redirects
// frames of testEtherType to the socket of their receive queue (an XSKMAP
// with one slot, queue 0) and passes everything else; it returns the map.
// Both are closed in t.Cleanup.
func redirect(t testing.TB, ns string, ifindex int) *ebpf.Map {
	t.Helper()
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.XSKMap, KeySize: 4, ValueSize: 4, MaxEntries: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:    ebpf.XDP,
		License: "GPL",
		Instructions: asm.Instructions{
			asm.LoadMem(asm.R2, asm.R1, 0, asm.Word), // data
			asm.LoadMem(asm.R3, asm.R1, 4, asm.Word), // data_end
			asm.Mov.Reg(asm.R4, asm.R2),
			asm.Add.Imm(asm.R4, 14),
			asm.JGT.Reg(asm.R4, asm.R3, "pass"),
			asm.LoadMem(asm.R4, asm.R2, 12, asm.Half), // EtherType, as it lies in memory
			asm.JNE.Imm(asm.R4, int32(binary.NativeEndian.Uint16([]byte{testEtherType >> 8, testEtherType & 0xff})), "pass"),
			asm.LoadMem(asm.R2, asm.R1, 16, asm.Word), // rx_queue_index
			asm.LoadMapPtr(asm.R1, m.FD()),
			asm.Mov.Imm(asm.R3, 1), // XDP_DROP if the slot is empty
			asm.FnRedirectMap.Call(),
			asm.Return(),
			asm.Mov.Imm(asm.R0, 2).WithSymbol("pass"), // XDP_PASS
			asm.Return(),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prog.Close() })
	err = lab.Do(ns, func() error {
		l, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifindex, Flags: link.XDPDriverMode})
		if err != nil {
			return fmt.Errorf("attaching XDP to ifindex %d: %w", ifindex, err)
		}
		t.Cleanup(func() { l.Close() })
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// register puts s into the XSKMAP at queue 0.
func register(t testing.TB, m *ebpf.Map, s *Socket) {
	t.Helper()
	if err := m.Put(uint32(0), uint32(s.FD())); err != nil {
		t.Fatal(err)
	}
}

// testFrame writes a minimal frame from src to dst: the test EtherType, a
// sequence number and a hop count.
func testFrame(b []byte, dst, src net.HardwareAddr, seq uint32, hop byte) []byte {
	b = b[:60]
	clear(b)
	copy(b[0:6], dst)
	copy(b[6:12], src)
	binary.BigEndian.PutUint16(b[12:14], testEtherType)
	binary.BigEndian.PutUint32(b[14:18], seq)
	b[18] = hop
	return b
}

// receive collects n frames from s, polling, for up to 3 s.
func receive(t testing.TB, s *Socket, n int) []Desc {
	t.Helper()
	var got []Desc
	var buf [64]Desc
	pfd := []unix.PollFd{{Fd: int32(s.FD()), Events: unix.POLLIN}}
	for deadline := time.Now().Add(3 * time.Second); len(got) < n && time.Now().Before(deadline); {
		k := s.Receive(buf[:])
		if k == 0 {
			unix.Poll(pfd, 20)
			continue
		}
		got = append(got, buf[:k]...)
	}
	if len(got) != n {
		st, _ := s.KernelStats()
		t.Fatalf("received %d frames, want %d (kernel stats %+v)", len(got), n, st)
	}
	return got
}

// drain kicks and reaps s until its transmit ring and the kernel hold none
// of its frames, for up to 3 s.
func drain(t testing.TB, s *Socket) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if err := s.Kick(); err != nil {
			t.Fatalf("kick: %v", err)
		}
		if o := s.Occupancy(); o.Tx == 0 && o.Completion == 0 && s.Pending() == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("transmit not drained: %+v", s.Occupancy())
		}
	}
}

// TestSharedUMEM opens two sockets over one UMEM on the two ends of a veth
// pair (the second bound with XDP_SHARED_UMEM), sends frames into one end
// with a packet socket, receives them on socket A, rewrites them in place
// and transmits the same descriptors on socket B, receives them on A again,
// sends those back through A to B, and checks after draining that every
// frame of the UMEM is on the free stack or held by a socket, and that no
// frame was copied between UMEM frames on the way.
func TestSharedUMEM(t *testing.T) {
	ns := newNetns(t)
	a, b := vethPair(t, ns)
	mapA, mapB := redirect(t, ns, a.index), redirect(t, ns, b.index)
	u := newTestUMEM(t, 256)
	var sa, sb *Socket
	var pkt int
	err := lab.Do(ns, func() error {
		var err error
		// Zero-copy asked for: veth refuses it, so this also runs the
		// fallback to copy mode.
		if sa, err = OpenShared(u, a.index, 0, SocketOptions{RxSize: 64, TxSize: 64, ZeroCopy: true, NeedWakeup: true}); err != nil {
			return err
		}
		t.Cleanup(func() { sa.Close() })
		if sb, err = OpenShared(u, b.index, 0, SocketOptions{RxSize: 64, TxSize: 64}); err != nil {
			return err
		}
		t.Cleanup(func() { sb.Close() })
		pkt, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pkt)
	t.Logf("socket A: %v (tx budget %d); socket B: %v", sa.Mode(), sa.txBudget, sb.Mode())
	if sa.Mode() != (Mode{NeedWakeup: true}) || sb.Mode() != (Mode{NeedWakeup: true, Shared: true}) {
		t.Fatalf("modes %+v and %+v, want copy with need_wakeup, the second shared", sa.Mode(), sb.Mode())
	}
	register(t, mapA, sa)
	register(t, mapB, sb)
	if n := sa.Fill(64); n != 64 {
		t.Fatalf("filled %d", n)
	}
	if n := sb.Fill(64); n != 64 {
		t.Fatalf("filled %d", n)
	}
	check(t, u, 0)
	t.Logf("fill ring needs wakeup: A %v, B %v", sa.NeedsFillWakeup(), sb.NeedsFillWakeup())

	// Into A: frames sent on xskb arrive on xska.
	const n = 32
	buf := make([]byte, 2048)
	for i := range n {
		f := testFrame(buf, a.mac, b.mac, uint32(i), 0)
		if err := unix.Sendto(pkt, f, 0, &unix.SockaddrLinklayer{Ifindex: b.index, Halen: 6}); err != nil {
			t.Fatal(err)
		}
	}
	first := receive(t, sa, n)
	check(t, u, n)
	sent := make(map[uint64]bool)
	for i, d := range first {
		f := sa.Frame(d)
		if len(f) != 60 || binary.BigEndian.Uint32(f[14:]) != uint32(i) || f[18] != 0 {
			t.Fatalf("frame %d: %x", i, f)
		}
		// Rewrite in place and transmit the same descriptor on B: out of
		// xskb, so it arrives on xska, at A, again.
		f[18] = 1
		if !sb.Transmit(d) {
			t.Fatalf("transmit %d refused", i)
		}
		if u.owner[d.Addr>>u.shift] != sb.tag {
			t.Fatal("transmitted frame not owned by B")
		}
		sent[d.Addr&^2047] = true
	}
	check(t, u, 0)
	if err := sb.Kick(); err != nil {
		t.Fatal(err)
	}
	second := receive(t, sa, n)
	drain(t, sb)
	for i, d := range second {
		f := sa.Frame(d)
		if binary.BigEndian.Uint32(f[14:]) != uint32(i) || f[18] != 1 {
			t.Fatalf("second pass, frame %d: %x", i, f)
		}
		if sent[d.Addr&^2047] {
			t.Fatalf("frame %#x received while B was sending it", d.Addr)
		}
	}
	// B completed exactly the descriptors it was given: they are free.
	for addr := range sent {
		if u.owner[addr>>u.shift] != tagFree {
			t.Fatalf("sent frame %#x not free after completion (tag %d)", addr, u.owner[addr>>u.shift])
		}
	}
	check(t, u, n)

	// Back the other way: out of xska through A, into B.
	for i, d := range second {
		f := sa.Frame(d)
		copy(f[0:6], b.mac)
		copy(f[6:12], a.mac)
		f[18] = 2
		if !sa.Transmit(d) {
			t.Fatalf("transmit %d on A refused", i)
		}
	}
	if err := sa.Kick(); err != nil {
		t.Fatal(err)
	}
	third := receive(t, sb, n)
	drain(t, sa)
	for i, d := range third {
		f := sb.Frame(d)
		if binary.BigEndian.Uint32(f[14:]) != uint32(i) || f[18] != 2 || string(f[0:6]) != string(b.mac) {
			t.Fatalf("third pass, frame %d: %x", i, f)
		}
		if i%2 == 0 {
			sb.Refill(d.Addr)
		} else {
			u.Free(d.Addr)
		}
	}
	sb.Flush()
	check(t, u, 0)

	// After draining, every frame is on the free stack or in a fill ring
	// (or taken from one by the kernel, not yet used). A received 64 of its
	// 64 fill frames and got none back; B received 32 of 64 and got 16 back.
	drain(t, sa)
	drain(t, sb)
	oa, ob := sa.Occupancy(), sb.Occupancy()
	t.Logf("after draining: free %d, A %d in flight %+v, B %d in flight %+v", u.FreeFrames(), sa.InFlight(), oa, sb.InFlight(), ob)
	if u.FreeFrames()+sa.InFlight()+sb.InFlight() != u.Frames() {
		t.Fatalf("free %d + A %d + B %d != %d", u.FreeFrames(), sa.InFlight(), sb.InFlight(), u.Frames())
	}
	if sa.InFlight() != 0 || sb.InFlight() != 48 {
		t.Fatalf("in flight: A %d, B %d; want 0 and 48", sa.InFlight(), sb.InFlight())
	}
	for i, o := range []Occupancy{oa, ob} {
		if o.Rx != 0 || o.Tx != 0 || o.Completion != 0 || o.Fill+o.Kernel != []int{0, 48}[i] {
			t.Fatalf("occupancy %+v: want every frame between fill ring and kernel, none elsewhere", o)
		}
	}
	check(t, u, 0)
	// Refilled, A takes frames from the free stack again.
	if got := sa.Fill(64); got != 64 {
		t.Fatalf("refill of A moved %d", got)
	}
	if u.FreeFrames()+sa.InFlight()+sb.InFlight() != u.Frames() || u.FreeFrames() != u.Frames()-112 {
		t.Fatalf("free %d + A %d + B %d != %d", u.FreeFrames(), sa.InFlight(), sb.InFlight(), u.Frames())
	}
	check(t, u, 0)
	for _, s := range []*Socket{sa, sb} {
		st, err := s.KernelStats()
		if err != nil {
			t.Fatal(err)
		}
		if st.Rx_dropped != 0 || st.Rx_invalid_descs != 0 || st.Tx_invalid_descs != 0 {
			t.Fatalf("kernel stats %+v", st)
		}
	}

	// Closing A gives its 64 frames back; B's 48 stay with B.
	if err := sa.Close(); err != nil {
		t.Fatal(err)
	}
	if u.FreeFrames() != u.Frames()-sb.InFlight() {
		t.Fatalf("after closing A: free %d, B %d", u.FreeFrames(), sb.InFlight())
	}
	check(t, u, 0)
}

// mappings returns the start addresses of the process's memory mappings.
func mappings(t testing.TB) map[uintptr]bool {
	t.Helper()
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := make(map[uintptr]bool)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		start, _, _ := strings.Cut(sc.Text(), "-")
		v, err := strconv.ParseUint(start, 16, 64)
		if err != nil {
			t.Fatal(err)
		}
		m[uintptr(v)] = true
	}
	return m
}

// regions returns the start addresses of the UMEM's and the sockets' ring
// mappings.
func regions(u *UMEM, socks ...*Socket) []uintptr {
	r := []uintptr{uintptr(unsafe.Pointer(&u.mem[0]))}
	for _, s := range socks {
		for _, m := range s.ringMaps {
			r = append(r, uintptr(unsafe.Pointer(&m[0])))
		}
	}
	return r
}

// openFDs counts the process's open file descriptors.
func openFDs(t testing.TB) int {
	t.Helper()
	e, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(e)
}

// TestSharedReopen closes and reopens sockets of a shared UMEM on the same
// queues, the registering one included: Close must unmap the rings and
// release the queue at once, give the socket's frames back, and a later
// socket must share the UMEM through any socket still open. A failed shared
// bind must wrap ErrShared and leave nothing open. At the end, closing
// everything unmaps everything and the queue takes a socket of its own.
func TestSharedReopen(t *testing.T) {
	ns := newNetns(t)
	a, b := vethPair(t, ns)
	var u *UMEM
	open := func(e end, o SocketOptions) (s *Socket, took time.Duration, err error) {
		start := time.Now()
		err = lab.Do(ns, func() error {
			var err error
			s, err = OpenShared(u, e.index, 0, o)
			return err
		})
		return s, time.Since(start), err
	}
	mustOpen := func(e end, o SocketOptions) *Socket {
		t.Helper()
		s, took, err := open(e, o)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("opened %s: %v in %v", e.name, s.Mode(), took.Round(time.Microsecond))
		if s.Fill(32) != 32 {
			t.Fatal("fill")
		}
		check(t, u, 0)
		return s
	}
	var err error
	if u, err = NewUMEM(128, 2048); err != nil {
		t.Fatal(err)
	}
	fds := openFDs(t)
	sa := mustOpen(a, SocketOptions{RxSize: 32, TxSize: 32, NeedWakeup: true})
	sb := mustOpen(b, SocketOptions{RxSize: 32, TxSize: 32})
	if !sb.Mode().Shared || !sb.Mode().NeedWakeup {
		t.Fatalf("B: %+v", sb.Mode())
	}

	// A second socket on A's own queue cannot share with its own fill
	// ring: the kernel refuses, the error says ErrShared, nothing leaks.
	before := openFDs(t)
	if s, _, err := open(a, SocketOptions{RxSize: 32, TxSize: 32}); !errors.Is(err, ErrShared) {
		if s != nil {
			s.Close()
		}
		t.Fatalf("second socket on A's queue: %v, want ErrShared", err)
	} else {
		t.Logf("second socket on A's queue: %v", err)
	}
	if openFDs(t) != before {
		t.Fatalf("failed open leaked %d descriptors", openFDs(t)-before)
	}
	check(t, u, 0)

	for i := 0; i < 3; i++ {
		maps := regions(u, sb)[1:]
		if err := sb.Close(); err != nil {
			t.Fatal(err)
		}
		now := mappings(t)
		for _, r := range maps {
			if now[r] {
				t.Fatalf("ring at %#x still mapped after Close", r)
			}
		}
		if u.FreeFrames() != 128-32 {
			t.Fatalf("after closing B: %d free", u.FreeFrames())
		}
		check(t, u, 0)
		sb = mustOpen(b, SocketOptions{RxSize: 32, TxSize: 32})
	}

	// Close the socket that registered the UMEM; B keeps it alive, and a
	// new A shares it through B, inheriting need_wakeup.
	if err := sa.Close(); err != nil {
		t.Fatal(err)
	}
	check(t, u, 0)
	sa = mustOpen(a, SocketOptions{RxSize: 32, TxSize: 32})
	if sa.Mode() != (Mode{NeedWakeup: true, Shared: true}) {
		t.Fatalf("A reopened: %+v", sa.Mode())
	}

	maps := regions(u, sa, sb)
	for _, s := range []*Socket{sa, sb} {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if u.FreeFrames() != 128 {
		t.Fatalf("%d free after closing all", u.FreeFrames())
	}
	check(t, u, 0)
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	now := mappings(t)
	for _, r := range maps {
		if now[r] {
			t.Fatalf("mapping at %#x still there after closing everything", r)
		}
	}
	if openFDs(t) != fds {
		t.Fatalf("%d descriptors more than before", openFDs(t)-fds)
	}

	// The queue is free at once for a socket of its own.
	for _, e := range []end{a, b} {
		start := time.Now()
		err := lab.Do(ns, func() error {
			s, err := Open(e.index, 0, Options{Frames: 64, Copy: true})
			if err != nil {
				return err
			}
			return s.Close()
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("private socket on %s opened and closed in %v", e.name, time.Since(start).Round(time.Microsecond))
	}
}

// TestModeFallback checks the lab fact the fallback is for (veth refuses a
// zero-copy bind with EOPNOTSUPP) and that both ways of opening end in copy
// mode there: OpenShared asked for zero-copy, and Open without Copy (the
// kernel's own choice).
func TestModeFallback(t *testing.T) {
	ns := newNetns(t)
	a, b := vethPair(t, ns)
	u := newTestUMEM(t, 64)
	err := lab.Do(ns, func() error {
		_, err := u.open(a.index, 0, ringSizes{32, 32, 32, 32}, unix.XDP_ZEROCOPY, nil)
		if !errors.Is(err, unix.EOPNOTSUPP) {
			return fmt.Errorf("zero-copy bind on veth: %v, want EOPNOTSUPP", err)
		}
		s, err := OpenShared(u, a.index, 0, SocketOptions{RxSize: 32, TxSize: 32, ZeroCopy: true})
		if err != nil {
			return err
		}
		defer s.Close()
		if s.Mode() != (Mode{}) || s.Mode().String() != "copy" {
			return fmt.Errorf("OpenShared with ZeroCopy on veth: %+v", s.Mode())
		}
		p, err := Open(b.index, 0, Options{Frames: 64})
		if err != nil {
			return err
		}
		defer p.Close()
		if p.Mode() != (Mode{}) {
			return fmt.Errorf("Open without Copy on veth: %+v", p.Mode())
		}
		if p.FreeTx() != 64 || p.InFlight() != 64 {
			return fmt.Errorf("Open: %d free transmit frames, %d in the fill ring, want 64 and 64", p.FreeTx(), p.InFlight())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	check(t, u, 0)
}

// BenchmarkForward moves frames in a loop over a veth pair: socket B (on
// xskb) transmits, they arrive on xska at socket A, and go back on B's
// transmit ring. One op is one frame, the kernel's work in copy mode
// included (sendto on B, veth, XDP redirect, the copy into A's frame).
//   - shared-umem: A and B share a UMEM; A's descriptor goes on B's
//     transmit ring as it is (Receive → Transmit → Kick/Complete → Fill).
//   - separate-umem: each has its own (Open), as the dataplane does today;
//     the frame is copied into a transmit frame of B (Receive → TxFrame,
//     copy, Send → Refill, Flush → Kick/Complete).
func BenchmarkForward(b *testing.B) {
	for _, shared := range []bool{true, false} {
		name := map[bool]string{true: "shared-umem", false: "separate-umem"}[shared]
		b.Run(name, func(b *testing.B) { benchForward(b, shared) })
	}
}

func benchForward(b *testing.B, shared bool) {
	ns := newNetns(b)
	ea, eb := vethPair(b, ns)
	mapA := redirect(b, ns, ea.index)
	var u *UMEM
	var sa, sb *Socket
	err := lab.Do(ns, func() error {
		var err error
		if !shared {
			if sa, err = Open(ea.index, 0, Options{Frames: 256, Copy: true}); err != nil {
				return err
			}
			sb, err = Open(eb.index, 0, Options{Frames: 256, Copy: true})
			return err
		}
		if u, err = NewUMEM(1024, 2048); err != nil {
			return err
		}
		if sa, err = OpenShared(u, ea.index, 0, SocketOptions{RxSize: 256, TxSize: 256}); err != nil {
			return err
		}
		sa.Fill(256)
		sb, err = OpenShared(u, eb.index, 0, SocketOptions{RxSize: 256, TxSize: 256})
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		sb.Close()
		sa.Close()
		if u != nil {
			u.Close()
		}
	})
	register(b, mapA, sa)
	for i := range 128 {
		addr, buf, ok := sb.TxFrame()
		if !ok {
			b.Fatal("no frame")
		}
		f := testFrame(buf, ea.mac, eb.mac, uint32(i), 0)
		sb.Send(addr, len(f))
	}
	var descs [64]Desc
	pfd := []unix.PollFd{{Fd: int32(sa.FD()), Events: unix.POLLIN}}
	idle := 0
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		if err := sb.Kick(); err != nil {
			b.Fatal(err)
		}
		n := sa.Receive(descs[:])
		if n == 0 {
			if idle++; idle > 100 {
				b.Fatalf("no frames (after %d): kernel stats of A %+v", done, must(sa.KernelStats()))
			}
			unix.Poll(pfd, 10)
			continue
		}
		idle = 0
		for _, d := range descs[:n] {
			f := sa.Frame(d)
			f[18]++ // the rewrite in place
			if shared {
				if !sb.Transmit(d) {
					u.Free(d.Addr)
				}
				continue
			}
			if addr, buf, ok := sb.TxFrame(); ok {
				copy(buf, f)
				sb.Send(addr, len(f))
			}
			sa.Refill(d.Addr)
		}
		if shared {
			sa.Fill(n)
		} else {
			sa.Flush()
		}
		done += n
	}
	b.StopTimer()
	drain(b, sb)
	if shared {
		check(b, u, 0)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
