package connsync

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"golang.org/x/sys/unix"

	"github.com/xvs-project/xvs/nat"
)

// testNet is two network namespaces joined by a veth pair: ifA
// (198.18.200.1/24) in nsA, ifB (198.18.200.2/24) in nsB. Multicast a
// namespace sends is not delivered back to it (the kernel drops received
// multicast whose source is one of its own addresses), so a master and its
// backups live in different namespaces.
type testNet struct {
	nsA, nsB string
	ifA, ifB string
}

const (
	testAddrA = "198.18.200.1"
	testAddrB = "198.18.200.2"
)

// netSeq numbers the namespaces of one test process.
var netSeq atomic.Uint32

// newTestNet creates a testNet that t's cleanup removes, failed or not. It
// skips the test when not run as root.
func newTestNet(t testing.TB) *testNet {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces")
	}
	id := fmt.Sprintf("%d-%d", os.Getpid(), netSeq.Add(1))
	n := &testNet{nsA: "xvs-csa-" + id, nsB: "xvs-csb-" + id, ifA: "cs0", ifB: "cs1"}
	t.Cleanup(func() {
		for _, ns := range []string{n.nsA, n.nsB} {
			if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil &&
				!strings.Contains(string(out), "No such file") {
				t.Errorf("ip netns del %s: %v: %s", ns, err, out)
			}
		}
	})
	for _, args := range [][]string{
		{"netns", "add", n.nsA},
		{"netns", "add", n.nsB},
		{"-n", n.nsA, "link", "add", n.ifA, "type", "veth", "peer", "name", n.ifB, "netns", n.nsB},
		{"-n", n.nsA, "addr", "add", testAddrA + "/24", "dev", n.ifA},
		{"-n", n.nsB, "addr", "add", testAddrB + "/24", "dev", n.ifB},
		{"-n", n.nsA, "link", "set", n.ifA, "up"},
		{"-n", n.nsB, "link", "set", n.ifB, "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	return n
}

// do runs fn on a thread of its own in namespace ns and returns its error.
// The thread is locked and never unlocked, so it ends with fn's goroutine
// and no other goroutine ever runs in ns.
func (n *testNet) do(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open("/run/netns/" + ns)
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// setRole calls d.SetRole(r) in namespace ns, failing t on error.
func (n *testNet) setRole(t testing.TB, ns string, d *Daemon, r Role) {
	t.Helper()
	if err := n.do(ns, func() error { return d.SetRole(r) }); err != nil {
		t.Fatalf("SetRole(%v) in %s: %v", r, ns, err)
	}
}

// waitFor polls cond until it holds, failing t after 10 seconds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// newDaemon returns a daemon closed at t's cleanup.
func newDaemon(t testing.TB, cfg Config, src Source, sink Sink) *Daemon {
	t.Helper()
	d, err := New(cfg, src, sink, nil, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

// noDrops returns Stats.Dropped with every count 0.
func noDrops() map[string]uint64 {
	m := map[string]uint64{}
	for _, l := range DropReasons() {
		m[l] = 0
	}
	return m
}

// TestDaemonSync: a master's records all reach a backup over multicast,
// in order, in as many messages as the maximum length calls for, the last,
// partly filled one after the flush delay.
func TestDaemonSync(t *testing.T) {
	for _, c := range []struct {
		name   string
		maxLen int // configured
		per    int // entries per message
	}{
		{"mtu", 0, (MaxLen(1500) - HeaderLen) / EntryV4Len}, // 40
		{"maxlen 300", 300, (300 - HeaderLen) / EntryV4Len}, // 8
		{"maxlen above the mtu", 9000, (MaxLen(1500) - HeaderLen) / EntryV4Len},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := newTestNet(t)
			const flush = 400 * time.Millisecond
			src, sink := &fakeSource{}, &fakeSink{}
			backup := newDaemon(t, Config{Interface: n.ifB, SyncID: 9, Flush: flush}, nil, sink)
			master := newDaemon(t, Config{Interface: n.ifA, SyncID: 9, MaxLen: c.maxLen, Flush: flush}, src, nil)
			n.setRole(t, n.nsB, backup, RoleBackup)
			n.setRole(t, n.nsA, master, RoleMaster)
			if master.Role() != RoleMaster || backup.Role() != RoleBackup {
				t.Fatalf("roles %v, %v", master.Role(), backup.Role())
			}
			time.Sleep(10 * time.Millisecond) // let the master idle a little
			recs := testRecords(1007)
			src.add(recs...)
			nmsg := (len(recs) + c.per - 1) / c.per
			waitFor(t, "the records", func() bool {
				return sink.count() >= len(recs) && master.Stats().SentMessages >= uint64(nmsg)
			})

			got, at := sink.got()
			if len(got) != len(recs) {
				t.Fatalf("%d records installed, want %d", len(got), len(recs))
			}
			for i := range recs {
				if got[i] != wire(recs[i]) {
					t.Fatalf("record %d: %+v, want %+v", i, got[i], wire(recs[i]))
				}
			}
			// The full messages went at once, the partly filled last
			// one when its oldest record was flush old: measured from
			// the drain before the one that returned it.
			last, before, all := src.drained()
			if !all {
				t.Fatal("records left in the source")
			}
			full := len(recs) / c.per * c.per
			for i := range full {
				if d := at[i].Sub(last); d >= flush {
					t.Fatalf("record %d of a full message came %v after the drain", i, d)
				}
			}
			for i := full; i < len(recs); i++ {
				if d := at[i].Sub(before); d < flush-10*time.Millisecond || d > flush+3*time.Second {
					t.Fatalf("record %d of the last message came %v after the drain, flush is %v", i, d, flush)
				}
			}

			ms, bs := master.Stats(), backup.Stats()
			wantBytes := uint64((nmsg-1)*(HeaderLen+c.per*EntryV4Len) + HeaderLen + (len(recs)-full)*EntryV4Len)
			if ms.SentMessages != uint64(nmsg) || ms.SentEntries != uint64(len(recs)) ||
				ms.SentBytes != wantBytes || ms.SendErrors != 0 || ms.Role != RoleMaster {
				t.Errorf("master %+v: want %d messages, %d entries, %d bytes", ms, nmsg, len(recs), wantBytes)
			}
			if ms.SendDelay < flush || ms.SendDelay > flush+3*time.Second {
				t.Errorf("SendDelay %v, flush %v", ms.SendDelay, flush)
			}
			if bs.ReceivedMessages != uint64(nmsg) || bs.ReceivedEntries != uint64(len(recs)) ||
				bs.ReceivedBytes != wantBytes || bs.Installed != uint64(len(recs)) ||
				!maps.Equal(bs.Dropped, noDrops()) || bs.Role != RoleBackup {
				t.Errorf("backup %+v: want %d messages, %d entries, %d bytes", bs, nmsg, len(recs), wantBytes)
			}
			if time.Since(bs.LastReceived) > time.Minute {
				t.Errorf("LastReceived %v", bs.LastReceived)
			}
			// Neither side did the other's work.
			if ms.ReceivedMessages != 0 || bs.SentMessages != 0 {
				t.Errorf("master received %d, backup sent %d", ms.ReceivedMessages, bs.SentMessages)
			}
		})
	}
}

// TestDaemonDrops sends a backup with syncid 7 and one with syncid 0
// malformed datagrams, foreign syncids and entries nat refuses, through a
// plain UDP socket.
func TestDaemonDrops(t *testing.T) {
	n := newTestNet(t)
	sink7, refused := refusing()
	sink0, _ := refusing()
	b7 := newDaemon(t, Config{Interface: n.ifB, SyncID: 7}, nil, sink7)
	b0 := newDaemon(t, Config{Interface: n.ifB}, nil, sink0)
	n.setRole(t, n.nsB, b7, RoleBackup)
	n.setRole(t, n.nsB, b0, RoleBackup) // SO_REUSEADDR: both get every datagram

	var conn net.PacketConn
	if err := n.do(n.nsA, func() (err error) {
		conn, err = net.ListenPacket("udp4", testAddrA+":0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	group := net.UDPAddrFromAddrPort(netip.AddrPortFrom(DefaultGroup(), DefaultPort))
	var sent, sentBytes uint64
	send := func(b []byte) {
		t.Helper()
		if _, err := conn.WriteTo(b, group); err != nil {
			t.Fatal(err)
		}
		sent++
		sentBytes += uint64(len(b))
	}

	want7, want0 := noDrops(), noDrops()
	for label, bs := range malformed(t) {
		for _, b := range bs {
			send(b)
			want7[label]++
			want0[label]++
		}
	}
	recs := testRecords(6)
	v6 := goldenIPv6Entries[0]
	fw := entryOf(recs[5])
	fw.FwMark = 3
	send(message(t, 8, entryOf(recs[0])))
	want7["syncid"]++
	send(message(t, 7, entryOf(recs[1]), v6, entryOf(recs[2]), fw, entryOf(recs[3])))
	send(message(t, 7, entryOf(refused[0]), entryOf(refused[1]), entryOf(refused[2])))
	for _, w := range []map[string]uint64{want7, want0} {
		w["ipv6"]++
		w["fwmark"]++
		w["table_full"]++
		w["unsupported"]++
		w["other"]++
	}
	marker := recs[4]
	marker.CPort = 999
	send(message(t, 7, entryOf(marker)))
	waitFor(t, "the marker", func() bool { return sink7.has(999) && sink0.has(999) })

	for _, c := range []struct {
		d     *Daemon
		sink  *fakeSink
		drops map[string]uint64
		want  []nat.SyncRecord
	}{
		{b7, sink7, want7, []nat.SyncRecord{wire(recs[1]), wire(recs[2]), wire(recs[3]), wire(marker)}},
		{b0, sink0, want0, []nat.SyncRecord{wire(recs[0]), wire(recs[1]), wire(recs[2]), wire(recs[3]), wire(marker)}},
	} {
		st := c.d.Stats()
		id := c.d.cfg.SyncID
		if !maps.Equal(st.Dropped, c.drops) {
			t.Errorf("syncid %d: dropped\n%v\nwant\n%v", id, st.Dropped, c.drops)
		}
		if got, _ := c.sink.got(); fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("syncid %d: installed\n%+v\nwant\n%+v", id, got, c.want)
		}
		wantEntries := uint64(len(c.want)) + 5
		if st.ReceivedMessages != sent || st.ReceivedBytes != sentBytes ||
			st.Installed != uint64(len(c.want)) || st.ReceivedEntries != wantEntries {
			t.Errorf("syncid %d: %+v: want %d messages, %d bytes, %d entries", id, st, sent, sentBytes, wantEntries)
		}
	}
}

// TestDaemonSetRole switches two daemons through their roles, checks that
// a stopping master sends what it holds, and that Close leaves no
// goroutine behind.
func TestDaemonSetRole(t *testing.T) {
	n := newTestNet(t)
	base := runtime.NumGoroutine()
	srcA, sinkA := &fakeSource{}, &fakeSink{}
	srcB, sinkB := &fakeSource{}, &fakeSink{}
	// A never flushes on its own: what B gets from it, it got when A's
	// master stopped.
	a := newDaemon(t, Config{Interface: n.ifA, SyncID: 1, Flush: time.Hour}, srcA, sinkA)
	b := newDaemon(t, Config{Interface: n.ifB, SyncID: 1, Flush: 20 * time.Millisecond}, srcB, sinkB)
	recs := testRecords(30)

	n.setRole(t, n.nsB, b, RoleBackup)
	n.setRole(t, n.nsA, a, RoleMaster)
	n.setRole(t, n.nsA, a, RoleMaster) // no-op
	srcA.add(recs[:10]...)
	waitFor(t, "A's drain", func() bool { _, _, all := srcA.drained(); return all })
	time.Sleep(20 * time.Millisecond)
	if sinkB.count() != 0 {
		t.Fatal("A sent before its flush delay")
	}
	n.setRole(t, n.nsA, a, RoleBackup) // A's master sends the 10 as it stops
	if a.Role() != RoleBackup {
		t.Fatalf("A is %v", a.Role())
	}
	waitFor(t, "A's records at B", func() bool { return sinkB.count() == 10 })

	n.setRole(t, n.nsB, b, RoleMaster)
	srcB.add(recs[10:20]...)
	waitFor(t, "B's records at A", func() bool { return sinkA.count() == 10 })

	n.setRole(t, n.nsA, a, RoleNone)
	if st := a.Stats(); st.Role != RoleNone || st.Installed != 10 || st.SentEntries != 10 {
		t.Fatalf("A: %+v", st)
	}
	n.setRole(t, n.nsB, b, RoleBackup)
	n.setRole(t, n.nsA, a, RoleMaster)
	srcA.add(recs[20:]...)
	n.setRole(t, n.nsA, a, RoleNone)
	waitFor(t, "A's second records at B", func() bool { return sinkB.count() == 20 })

	gotA, _ := sinkA.got()
	gotB, _ := sinkB.got()
	for i, r := range append(gotB[:10:10], append(gotA, gotB[10:]...)...) {
		if r != wire(recs[i]) {
			t.Fatalf("record %d: %+v, want %+v", i, r, wire(recs[i]))
		}
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if a.Role() != RoleNone || b.Role() != RoleNone {
		t.Fatalf("roles after Close: %v, %v", a.Role(), b.Role())
	}
	if err := n.do(n.nsA, func() error { return a.SetRole(RoleMaster) }); !errors.Is(err, ErrClosed) {
		t.Fatalf("SetRole after Close: %v", err)
	}
	checkGoroutines(t, base)
}

// checkGoroutines waits for the number of goroutines to fall back to base.
func checkGoroutines(t testing.TB, base int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// netMaster returns a master sending to the group from namespace nsA of
// a new testNet, with a Source that gives the same drainBatch records on
// every drain.
func netMaster(tb testing.TB) (*Daemon, *master) {
	tb.Helper()
	n := newTestNet(tb)
	d := newDaemon(tb, Config{Interface: n.ifA}, &loopSource{recs: testRecords(drainBatch)}, nil)
	var conn *net.UDPConn
	var maxLen int
	if err := n.do(n.nsA, func() error {
		ifc, err := net.InterfaceByName(n.ifA)
		if err != nil {
			return err
		}
		maxLen = MaxLen(ifc.MTU)
		conn, err = openSender(ifc, &d.cfg)
		return err
	}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = conn.Close() })
	dst := netip.AddrPortFrom(d.cfg.Group, d.cfg.Port)
	return d, newMaster(d, maxLen, func(msg []byte) error {
		_, err := conn.WriteToUDPAddrPort(msg, dst)
		return err
	})
}

// BenchmarkMasterSend is the master's per-record cost with a real socket:
// drain from an in-memory Source, convert, pack, and send every full
// message to the group (over a veth, to a namespace with no listener).
func BenchmarkMasterSend(b *testing.B) {
	d, m := netMaster(b)
	src := m.src.(*loopSource)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += drainBatch {
		src.recs = src.recs[:min(drainBatch, b.N-i)]
		m.pump()
	}
	b.StopTimer()
	if st := d.Stats(); st.SendErrors != 0 {
		b.Fatalf("%d send errors", st.SendErrors)
	}
}

// TestMasterSendAllocs: draining, encoding and sending allocate nothing.
func TestMasterSendAllocs(t *testing.T) {
	d, m := netMaster(t)
	if n := testing.AllocsPerRun(20, func() {
		if m.pump() != drainBatch {
			t.Fatal("short drain")
		}
	}); n != 0 {
		t.Fatalf("%v allocations per %d records", n, drainBatch)
	}
	if st := d.Stats(); st.SendErrors != 0 || st.SentEntries < 20*drainBatch-40 {
		t.Fatalf("%+v", st)
	}
}
