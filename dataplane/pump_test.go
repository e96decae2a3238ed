package dataplane

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math/rand"
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/xvs-project/xvs/dataplane/xsk"
	"github.com/xvs-project/xvs/internal/header"
	"github.com/xvs-project/xvs/nat"
)

// rig is a worker with one WAN and one LAN port over fake rings: one fake
// UMEM for both (frames move as descriptors), or one each (frames are
// copied).
type rig struct {
	w        *worker
	wan, lan *port
	wr, lr   *fakeRing
}

// newRig makes a rig whose UMEMs have frames of wanFrame and lanFrame bytes
// (one UMEM when shared) and transmit rings of 64 entries. The worker has
// the service and neighbours of testWorker, a control queue and a sync
// queue.
func newRig(tb testing.TB, shared bool, wanFrame, lanFrame int) *rig {
	tb.Helper()
	w, _, _ := testWorker(tb, map[[4]byte][6]byte{client: cliMAC})
	w.ctl = newControlQueue()
	w.syncq = nat.NewSyncQueue(SyncQueueLen)
	wu := newFakeUMEM(256, wanFrame)
	lu := wu
	if !shared {
		lu = newFakeUMEM(256, lanFrame)
	}
	r := &rig{w: w, wr: newFakeRing(wu, 64), lr: newFakeRing(lu, 64)}
	r.wan = &port{ring: r.wr, role: RoleWAN, ifindex: w.wanIf, counts: new(QueueStats)}
	r.lan = &port{ring: r.lr, role: RoleLAN, ifindex: w.lanIf, counts: new(QueueStats)}
	w.wanPorts, w.lanPorts = []*port{r.wan}, []*port{r.lan}
	w.wanTx, w.lanTx = r.wan, r.lan
	return r
}

// inbound pumps one batch from WAN to LAN, outbound from LAN to WAN; each
// then checks that every frame of the batch was transmitted or freed,
// exactly once.
func (r *rig) inbound(tb testing.TB) int {
	tb.Helper()
	n := r.w.pump(r.wan, r.lan, true, 0)
	r.check(tb)
	return n
}

func (r *rig) outbound(tb testing.TB) int {
	tb.Helper()
	n := r.w.pump(r.lan, r.wan, false, 0)
	r.check(tb)
	return n
}

func (r *rig) check(tb testing.TB) {
	tb.Helper()
	if err := r.wr.u.check(); err != nil {
		tb.Fatalf("WAN UMEM: %v", err)
	}
	if r.lr.u != r.wr.u {
		if err := r.lr.u.check(); err != nil {
			tb.Fatalf("LAN UMEM: %v", err)
		}
	}
	if r.w.ntx != 0 {
		tb.Fatalf("%d frames still staged after pump", r.w.ntx)
	}
}

// wantCounters compares the worker's local counters with want (the
// counters not in want must be 0).
func wantCounters(tb testing.TB, w *worker, want map[int]uint64) {
	tb.Helper()
	for i := range w.local {
		if w.local[i] != want[i] {
			tb.Errorf("counter %s = %d, want %d", CounterName(i), w.local[i], want[i])
		}
	}
}

// ipFrame serialises an Ethernet frame with IPv4 and the given layers.
func ipFrame(tb testing.TB, srcMAC, dstMAC [6]byte, ip *layers.IPv4, l ...gopacket.SerializableLayer) []byte {
	tb.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr(srcMAC[:]), DstMAC: net.HardwareAddr(dstMAC[:]), EthernetType: layers.EthernetTypeIPv4}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, append([]gopacket.SerializableLayer{eth, ip}, l...)...); err != nil {
		tb.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// udpFrameSized is udpFrame with a TTL and a payload of its own.
func udpFrameSized(tb testing.TB, src, dst [4]byte, sport, dport uint16, srcMAC, dstMAC [6]byte, ttl uint8, payload int) []byte {
	tb.Helper()
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: ttl, Protocol: layers.IPProtocolUDP, SrcIP: net.IP(src[:]), DstIP: net.IP(dst[:])}
	udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	udp.SetNetworkLayerForChecksum(ip)
	return ipFrame(tb, srcMAC, dstMAC, ip, udp, gopacket.Payload(make([]byte, payload)))
}

// vrrpFrame is a VRRP advertisement from a peer router on the WAN.
func vrrpFrame(tb testing.TB) []byte {
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 255, Protocol: layers.IPProtocolVRRP,
		SrcIP: net.IP{198, 18, 0, 3}, DstIP: net.IP{224, 0, 0, 18}}
	return ipFrame(tb, [6]byte{0, 0, 0x5e, 0, 1, 7}, [6]byte{1, 0, 0x5e, 0, 0, 0x12}, ip,
		gopacket.Payload([]byte{0x21, 7, 100, 1, 0, 1, 0, 0, 198, 18, 0, 100}))
}

// arpAnswer is an ARP reply for the VIP as the classifier makes it in place.
func arpAnswer(tb testing.TB) []byte {
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr(wanMAC[:]), DstMAC: net.HardwareAddr(cliMAC[:]), EthernetType: layers.EthernetTypeARP}
	arp := &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: layers.ARPReply, SourceHwAddress: wanMAC[:], SourceProtAddress: vip[:],
		DstHwAddress: cliMAC[:], DstProtAddress: client[:]}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{}, eth, arp); err != nil {
		tb.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// Golden frames of the flow client:4000 → VIP:53 through the director:
// the client's datagram as the LAN transmits it (DNAT to the real server,
// TTL 63, both checksums updated, the real server's MAC from the LAN's
// neighbours), and the reply as the WAN transmits it (SNAT back to the
// VIP, TTL 63, the client's MAC). Computed independently of package nat
// (gopacket serialised them with full checksums); the test checks that
// too.
const (
	goldenInbound  = "02000000010b02000000010108004500002e000000003f11ee8dc6120002c612010b0fa00035001a62b3000000000000000000000000000000000000"
	goldenOutbound = "02000000000202000000000108004500002e000000003f11ef34c6120064c612000200350fa0001a635a000000000000000000000000000000000000"
)

// TestPumpForwardsBothWays: a batch of a client's datagrams crosses from
// WAN to LAN rewritten to the golden bytes, the real server's replies cross
// back, each frame's descriptor moves (one UMEM) and everything is counted.
func TestPumpForwardsBothWays(t *testing.T) {
	r := newRig(t, true, 2048, 2048)
	in := udpFrame(t, client, vip, 4000, 53, cliMAC, wanMAC)
	var rxd []xsk.Desc
	for range 3 {
		rxd = append(rxd, r.wr.arrive(t, in))
	}
	if n := r.inbound(t); n != 3 {
		t.Fatalf("pump took %d frames, want 3", n)
	}
	for i, d := range r.lr.tx {
		if d != rxd[i] {
			t.Errorf("LAN transmits %+v, want the received descriptor %+v moved", d, rxd[i])
		}
	}
	want := udpFrameSized(t, client, real1, 4000, 53, lanMAC, rsMAC, 63, 18)
	if hex.EncodeToString(want) != goldenInbound {
		t.Fatalf("golden inbound frame disagrees with gopacket's:\n%x", want)
	}
	got := r.lr.sent()
	if len(got) != 3 {
		t.Fatalf("LAN transmitted %d frames, want 3", len(got))
	}
	for _, f := range got {
		if hex.EncodeToString(f) != goldenInbound {
			t.Fatalf("LAN transmitted\n%x\nwant\n%s", f, goldenInbound)
		}
	}

	out := udpFrame(t, real1, client, 53, 4000, rsMAC, lanMAC)
	r.lr.arrive(t, out)
	r.lr.arrive(t, out)
	if n := r.outbound(t); n != 2 {
		t.Fatalf("pump took %d frames, want 2", n)
	}
	want = udpFrameSized(t, vip, client, 53, 4000, wanMAC, cliMAC, 63, 18)
	if hex.EncodeToString(want) != goldenOutbound {
		t.Fatalf("golden outbound frame disagrees with gopacket's:\n%x", want)
	}
	got = r.wr.sent()
	if len(got) != 2 || hex.EncodeToString(got[0]) != goldenOutbound || hex.EncodeToString(got[1]) != goldenOutbound {
		t.Fatalf("WAN transmitted %x, want 2 of\n%s", got, goldenOutbound)
	}
	wantCounters(t, r.w, map[int]uint64{
		int(nat.DropNone): 5,
		CounterRxWAN:      3, CounterBatchWAN: 1, CounterTxLAN: 3,
		CounterRxLAN: 2, CounterBatchLAN: 1, CounterTxWAN: 2,
	})
	if r.wan.rx != 3 || r.wan.batches != 1 || r.lan.rx != 2 || r.lan.batches != 1 {
		t.Errorf("port counts WAN %d/%d LAN %d/%d, want 3/1 and 2/1", r.wan.rx, r.wan.batches, r.lan.rx, r.lan.batches)
	}
	ip := uint64(len(in) - header.EthernetSize)
	if s := r.w.dests.local[0]; s != (DestStats{InPkts: 3, InBytes: 3 * ip, OutPkts: 2, OutBytes: 2 * ip}) {
		t.Errorf("real server's traffic %+v", s)
	}
	// Publishing moves the counts to the atomics.
	r.w.publish()
	if r.w.published[CounterTxLAN].Load() != 3 || r.w.local[CounterTxLAN] != 0 ||
		r.wan.counts.Frames.Load() != 3 || r.wan.counts.Batches.Load() != 1 || r.lan.counts.Frames.Load() != 2 {
		t.Errorf("published tx_lan %d, WAN queue %d/%d, LAN queue %d",
			r.w.published[CounterTxLAN].Load(), r.wan.counts.Frames.Load(), r.wan.counts.Batches.Load(), r.lan.counts.Frames.Load())
	}
	// Nothing arrived: nothing is taken or counted.
	if n := r.inbound(t); n != 0 || r.w.local[CounterBatchWAN] != 0 {
		t.Fatalf("empty ring: pump took %d, batches %d", n, r.w.local[CounterBatchWAN])
	}
}

// TestPumpCallsRingsPerBatch: forwarding a full batch over one UMEM makes
// no ring call per frame.
func TestPumpCallsRingsPerBatch(t *testing.T) {
	r := newRig(t, true, 2048, 2048)
	for i := range batchSize {
		r.wr.arrive(t, udpFrame(t, client, vip, uint16(5000+i), 53, cliMAC, wanMAC))
	}
	r.inbound(t)
	if len(r.lr.tx) != batchSize {
		t.Fatalf("LAN transmits %d, want %d", len(r.lr.tx), batchSize)
	}
	calls := ringCalls{Receive: 1, Frames: 1, SharesUMEM: 1}
	if r.wr.calls != calls || r.lr.calls != (ringCalls{TransmitBatch: 1}) {
		t.Fatalf("calls for a batch: WAN %+v LAN %+v, want %+v and one TransmitBatch", r.wr.calls, r.lr.calls, calls)
	}
}

// TestPumpControlFrame: a VRRP advertisement goes to the control queue
// with its interface, its UMEM frame is freed, and data in the same batch
// is forwarded; with the queue full or absent it is dropped and counted.
func TestPumpControlFrame(t *testing.T) {
	r := newRig(t, true, 2048, 2048)
	adv := vrrpFrame(t)
	r.wr.arrive(t, udpFrame(t, client, vip, 4000, 53, cliMAC, wanMAC))
	r.wr.arrive(t, adv)
	r.inbound(t)
	select {
	case f := <-r.w.ctl.full:
		if !bytes.Equal(f.Data, adv) || f.Ifindex != r.w.wanIf {
			t.Fatalf("control frame %x from ifindex %d, want the advertisement from %d", f.Data, f.Ifindex, r.w.wanIf)
		}
		r.w.ctl.free <- f
	default:
		t.Fatal("no control frame queued")
	}
	if len(r.lr.tx) != 1 || len(r.wr.tx) != 0 {
		t.Fatalf("transmitted LAN %d WAN %d, want the data frame only", len(r.lr.tx), len(r.wr.tx))
	}
	wantCounters(t, r.w, map[int]uint64{int(nat.DropNone): 1, CounterRxWAN: 2, CounterBatchWAN: 1, CounterTxLAN: 1, CounterControl: 1})

	// Every control frame taken: the consumer is behind.
	r.lr.sent()
	r.w.local = Counters{}
	for range controlQueueLen {
		<-r.w.ctl.free
	}
	r.wr.arrive(t, adv)
	r.inbound(t)
	// No control queue at all.
	r.w.ctl = nil
	r.wr.arrive(t, adv)
	r.inbound(t)
	wantCounters(t, r.w, map[int]uint64{CounterRxWAN: 2, CounterBatchWAN: 2, CounterControlDropped: 2})
}

// TestPumpAnswer: an ARP answer the classifier made goes back out of the
// port it came in on, unchanged; with that transmit ring full it is
// dropped as tx_full and freed.
func TestPumpAnswer(t *testing.T) {
	r := newRig(t, true, 2048, 2048)
	ans := arpAnswer(t)
	if kindOf(ans) != frameAnswer {
		t.Fatal("the ARP reply is not classified as an answer")
	}
	d := r.wr.arrive(t, ans)
	r.inbound(t)
	if len(r.wr.tx) != 1 || r.wr.tx[0] != d || !bytes.Equal(r.wr.bytes(r.wr.tx[0]), ans) {
		t.Fatalf("WAN transmits %+v, want the answer's descriptor %+v", r.wr.tx, d)
	}
	if len(r.lr.tx) != 0 {
		t.Fatalf("the answer crossed to the LAN")
	}
	wantCounters(t, r.w, map[int]uint64{CounterRxWAN: 1, CounterBatchWAN: 1, CounterAnswers: 1})

	r.w.local = Counters{}
	r.wr.txSize = 1 // the first answer still fills it
	r.wr.arrive(t, ans)
	r.inbound(t)
	wantCounters(t, r.w, map[int]uint64{CounterRxWAN: 1, CounterBatchWAN: 1, int(nat.DropTxFull): 1})
}

// TestPumpTxFull: frames beyond the room of the transmit ring are dropped
// as tx_full and freed; those it took are forwarded and counted, in the
// real server's traffic too.
func TestPumpTxFull(t *testing.T) {
	r := newRig(t, true, 2048, 2048)
	r.lr.txSize = 2
	in := udpFrame(t, client, vip, 4000, 53, cliMAC, wanMAC)
	for range 5 {
		r.wr.arrive(t, in)
	}
	r.inbound(t)
	if len(r.lr.tx) != 2 {
		t.Fatalf("LAN transmits %d, want 2", len(r.lr.tx))
	}
	wantCounters(t, r.w, map[int]uint64{int(nat.DropNone): 2, int(nat.DropTxFull): 3, CounterRxWAN: 5, CounterBatchWAN: 1, CounterTxLAN: 2})
	if s := r.w.dests.local[0]; s.InPkts != 2 {
		t.Errorf("real server counted %d frames in, want the 2 sent", s.InPkts)
	}
	if free := r.wr.u.count(atFree); free != 256-2 {
		t.Errorf("%d frames free, want all but the 2 on the ring", free)
	}
}

// TestPumpCopiesBetweenUMEMs: between sockets of two UMEMs a frame is
// copied into a frame of the transmitting side's and the received one
// freed; one too big for the other side's frames is dropped as too_big,
// and when that side has no free frame as tx_full, both frames freed.
func TestPumpCopiesBetweenUMEMs(t *testing.T) {
	r := newRig(t, false, 4096, 2048)
	in := udpFrame(t, client, vip, 4000, 53, cliMAC, wanMAC)
	r.wr.arrive(t, in)
	big := udpFrameSized(t, client, vip, 4001, 53, cliMAC, wanMAC, 64, 3000)
	r.wr.arrive(t, big)
	r.wr.arrive(t, in)
	r.inbound(t)
	got := r.lr.sent()
	if len(got) != 2 || hex.EncodeToString(got[0]) != goldenInbound || hex.EncodeToString(got[1]) != goldenInbound {
		t.Fatalf("LAN transmitted %x, want 2 golden frames", got)
	}
	if r.wr.u.count(atFree) != 256 || r.lr.u.count(atFree) != 256 {
		t.Fatalf("free frames WAN %d LAN %d, want all", r.wr.u.count(atFree), r.lr.u.count(atFree))
	}
	if r.lr.calls.TxFrame != 3 || r.lr.calls.TransmitBatch != 1 {
		t.Errorf("LAN calls %+v, want a TxFrame per frame and one TransmitBatch", r.lr.calls)
	}
	wantCounters(t, r.w, map[int]uint64{int(nat.DropNone): 2, int(nat.DropTooBig): 1, CounterRxWAN: 3, CounterBatchWAN: 1, CounterTxLAN: 2})

	// Replies are copied back into the WAN's (larger) frames.
	r.w.local = Counters{}
	r.lr.arrive(t, udpFrame(t, real1, client, 53, 4000, rsMAC, lanMAC))
	r.outbound(t)
	if got := r.wr.sent(); len(got) != 1 || hex.EncodeToString(got[0]) != goldenOutbound {
		t.Fatalf("WAN transmitted %x, want the golden reply", got)
	}
	wantCounters(t, r.w, map[int]uint64{int(nat.DropNone): 1, CounterRxLAN: 1, CounterBatchLAN: 1, CounterTxWAN: 1})

	// The LAN has one free frame left: the second frame finds none; and
	// a full transmit ring frees the copy in the LAN's UMEM.
	r.w.local = Counters{}
	for len(r.lr.u.free) > 1 {
		r.lr.u.alloc(atKernel)
	}
	r.wr.arrive(t, in)
	r.wr.arrive(t, in)
	r.inbound(t)
	if len(r.lr.tx) != 1 {
		t.Fatalf("LAN transmits %d, want 1", len(r.lr.tx))
	}
	r.lr.sent()
	r.lr.txSize = 0
	r.wr.arrive(t, in)
	r.inbound(t)
	wantCounters(t, r.w, map[int]uint64{int(nat.DropNone): 1, int(nat.DropTxFull): 2, CounterRxWAN: 3, CounterBatchWAN: 2, CounterTxLAN: 1})
	if r.lr.u.count(atFree) != 1 || r.wr.u.count(atFree) != 256 {
		t.Fatalf("free frames LAN %d (want 1) WAN %d (want 256)", r.lr.u.count(atFree), r.wr.u.count(atFree))
	}
}

// TestPumpDrops: frames nat refuses (no service, empty, a real server
// without a known MAC) are freed and counted by reason among forwarded
// ones.
func TestPumpDrops(t *testing.T) {
	r := newRig(t, true, 2048, 2048)
	in := udpFrame(t, client, vip, 4000, 53, cliMAC, wanMAC)
	r.wr.arrive(t, udpFrame(t, client, vip, 4000, 54, cliMAC, wanMAC)) // no service on port 54
	r.wr.arrive(t, in)
	r.wr.arrive(t, nil) // an empty frame: freed, never lost
	r.wr.arrive(t, udpFrame(t, client, [4]byte{198, 18, 0, 101}, 4000, 53, cliMAC, wanMAC))
	r.wr.arrive(t, in)
	r.inbound(t)
	if len(r.lr.tx) != 2 {
		t.Fatalf("LAN transmits %d, want 2", len(r.lr.tx))
	}
	r.lr.sent()
	wantCounters(t, r.w, map[int]uint64{int(nat.DropNone): 2, int(nat.DropNoService): 2, int(nat.DropTruncated): 1,
		CounterRxWAN: 5, CounterBatchWAN: 1, CounterTxLAN: 2})

	// The real server's MAC unknown: dropped, and the resolver asked.
	r.w.local = Counters{}
	r.w.neigh.view(r.w.lanIf).neigh = map[[4]byte][6]byte{}
	r.wr.arrive(t, udpFrame(t, client, vip, 4001, 53, cliMAC, wanMAC))
	r.inbound(t)
	wantCounters(t, r.w, map[int]uint64{int(nat.DropNoNeighbour): 1, CounterRxWAN: 1, CounterBatchWAN: 1})
	if a := <-r.w.neigh.miss; a != real1 {
		t.Fatalf("resolver asked for %v", a)
	}
}

// TestPumpSyncRecords: with sync on, each forwarded frame's record is
// queued and counted, and a full sync queue counts the records it lost.
func TestPumpSyncRecords(t *testing.T) {
	r := newRig(t, true, 2048, 2048)
	r.w.syncq = nat.NewSyncQueue(4)
	r.w.eng.SetSync(true)
	if err := r.w.eng.SetSyncPolicy(nat.SyncPolicy{Threshold: 0, Period: 1}); err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		r.wr.arrive(t, udpFrame(t, client, vip, uint16(6000+i), 53, cliMAC, wanMAC))
	}
	r.inbound(t)
	r.lr.sent()
	wantCounters(t, r.w, map[int]uint64{int(nat.DropNone): 6, CounterRxWAN: 6, CounterBatchWAN: 1, CounterTxLAN: 6,
		CounterSyncQueued: 4, CounterSyncQueueFull: 2})
	var recs [8]nat.SyncRecord
	if n := r.w.syncq.Drain(recs[:]); n != 4 || recs[0].CPort != 6000 || recs[0].Real != real1 {
		t.Fatalf("drained %d records, first %+v", n, recs[0])
	}
}

// TestForwardStagesUntilFlush: forward only stages a frame; flush queues
// the batch on the transmit ring in one call and counts it.
func TestForwardStagesUntilFlush(t *testing.T) {
	r := newRig(t, true, 2048, 2048)
	view := r.w.neigh.view(r.w.lanIf)
	var descs [2]xsk.Desc
	for i := range descs {
		r.wr.arrive(t, udpFrame(t, client, vip, uint16(7000+i), 53, cliMAC, wanMAC))
	}
	r.wr.Receive(descs[:])
	var frames [2][]byte
	r.wr.Frames(descs[:], frames[:])
	for i, d := range descs {
		if drop := r.w.forward(d, frames[i], r.wan, r.lan, true, view, lanMAC, true, 0); drop != nat.DropNone {
			t.Fatalf("forward: %v", drop)
		}
	}
	if len(r.lr.tx) != 0 || r.w.ntx != 2 || r.w.local[CounterTxLAN] != 0 {
		t.Fatalf("before flush: %d on the ring, %d staged, tx_lan %d", len(r.lr.tx), r.w.ntx, r.w.local[CounterTxLAN])
	}
	r.w.flush(r.lan, true)
	if len(r.lr.tx) != 2 || r.lr.calls.TransmitBatch != 1 || r.w.local[CounterTxLAN] != 2 || r.w.local[nat.DropNone] != 2 {
		t.Fatalf("after flush: %d on the ring in %d calls, tx_lan %d", len(r.lr.tx), r.lr.calls.TransmitBatch, r.w.local[CounterTxLAN])
	}
	r.check(t)
}

// TestKick: a port with frames queued is kicked (a failed kick counted)
// and reports what is still pending; an idle one reaps completions; both
// top their fill ring up.
func TestKick(t *testing.T) {
	r := newRig(t, true, 2048, 2048)
	r.wr.arrive(t, udpFrame(t, client, vip, 4000, 53, cliMAC, wanMAC))
	r.inbound(t)
	r.lr.kickErr = errors.New("link down")
	if p := r.w.kick(r.lan); p != 1 || r.lr.calls.Kick != 1 || r.w.local[CounterKickErrors] != 1 {
		t.Fatalf("failed kick: pending %d, kicks %d, kick_errors %d", p, r.lr.calls.Kick, r.w.local[CounterKickErrors])
	}
	r.lr.kickErr = nil
	r.lr.needWakeup = true // recvfrom on the fake's fd -1 fails harmlessly
	if p := r.w.kick(r.lan); p != 0 || len(r.lr.sentFrames) != 1 || hex.EncodeToString(r.lr.sentFrames[0]) != goldenInbound {
		t.Fatalf("kick: pending %d, sent %x", p, r.lr.sentFrames)
	}
	if r.lr.calls.Fill != 2 || r.lr.lastFill != batchSize*4 || r.lr.calls.FD != 1 {
		t.Fatalf("LAN calls %+v, last fill %d", r.lr.calls, r.lr.lastFill)
	}
	if p := r.w.kick(r.wan); p != 0 || r.wr.calls.Complete != 1 || r.wr.calls.Kick != 0 {
		t.Fatalf("idle kick: pending %d, calls %+v", p, r.wr.calls)
	}
	r.check(t)
}

// TestPumpAccountsEveryFrame sends random batches of every kind of frame
// through small rings, shared or copied, and checks after each pump that
// every frame was transmitted or freed exactly once and that the counters
// add up: every frame received is forwarded, dropped for a reason, handed
// to the control plane or answered.
func TestPumpAccountsEveryFrame(t *testing.T) {
	for _, shared := range []bool{true, false} {
		r := newRig(t, shared, 2048, 2048)
		rnd := rand.New(rand.NewSource(1))
		kinds := [][]byte{
			udpFrame(t, client, vip, 4000, 53, cliMAC, wanMAC),
			udpFrame(t, client, vip, 4000, 99, cliMAC, wanMAC),
			vrrpFrame(t),
			arpAnswer(t),
			nil,
		}
		reply := udpFrame(t, real1, client, 53, 4000, rsMAC, lanMAC)
		for round := range 200 {
			r.wr.txSize, r.lr.txSize = rnd.Intn(40), rnd.Intn(40)
			for range rnd.Intn(batchSize + 10) {
				r.wr.arrive(t, kinds[rnd.Intn(len(kinds))])
			}
			for range rnd.Intn(20) {
				r.lr.arrive(t, reply)
			}
			for r.inbound(t) > 0 {
			}
			for r.outbound(t) > 0 {
			}
			for len(r.w.ctl.full) > 0 {
				r.w.ctl.free <- <-r.w.ctl.full
			}
			var handled uint64
			for i := range int(nat.NumDrops) {
				handled += r.w.local[i]
			}
			handled += r.w.local[CounterControl] + r.w.local[CounterControlDropped] + r.w.local[CounterAnswers]
			if rx := r.w.local[CounterRxWAN] + r.w.local[CounterRxLAN]; handled != rx {
				t.Fatalf("shared %v round %d: %d frames received, %d accounted for", shared, round, rx, handled)
			}
			if tx := r.w.local[CounterTxLAN] + r.w.local[CounterTxWAN]; tx != r.w.local[nat.DropNone] {
				t.Fatalf("shared %v round %d: %d transmitted, %d forwarded", shared, round, tx, r.w.local[nat.DropNone])
			}
			r.wr.sent()
			r.lr.sent()
			if r.wr.u.count(atFree)+r.wr.u.count(atKernel) != len(r.wr.u.where) {
				t.Fatalf("shared %v round %d: WAN frames lost", shared, round)
			}
		}
		if r.w.local[nat.DropTxFull] == 0 || r.w.local[CounterAnswers] == 0 || r.w.local[CounterControl] == 0 {
			t.Fatalf("shared %v: the random rounds missed a case: %v", shared, r.w.local)
		}
	}
}

// TestPumpAllocatesNothing: a batch through fake rings allocates nothing
// in the worker.
func TestPumpAllocatesNothing(t *testing.T) {
	r := newRig(t, true, 2048, 2048)
	in := udpFrame(t, client, vip, 4000, 53, cliMAC, wanMAC)
	out := udpFrame(t, real1, client, 53, 4000, rsMAC, lanMAC)
	r.wr.arrive(t, in)
	r.inbound(t)
	r.lr.drain()
	allocs := testing.AllocsPerRun(100, func() {
		for range 8 {
			r.wr.arrive(t, in)
			r.lr.arrive(t, out)
		}
		r.w.pump(r.wan, r.lan, true, 0)
		r.w.pump(r.lan, r.wan, false, 0)
		r.wr.drain()
		r.lr.drain()
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per pair of batches", allocs)
	}
}

// BenchmarkPump is a worker's whole batch path over in-memory rings:
// receive, classify, prefetch, rewrite (as BenchmarkRewrite: 64-byte UDP
// frames of 10 000 established flows, inbound and outbound alternating by
// batch of 64) and transmit, with the descriptor moved (shared UMEM) or the
// frame copied (two UMEMs). One op is one frame; the fake kernel's work
// (writing each arriving frame, reaping the transmit ring) is included, as
// BenchmarkRewrite includes copying the frame in. Compare with
// BenchmarkRewrite in one run: the difference is what a frame costs beyond
// its rewrite.
func BenchmarkPump(b *testing.B) {
	for _, shared := range []bool{true, false} {
		name := "copy"
		if shared {
			name = "shared"
		}
		b.Run(name, func(b *testing.B) {
			r := newRig(b, shared, 2048, 2048)
			r.wr.headroom, r.lr.headroom = 0, 0
			const flows = 10000
			ins := make([][]byte, flows)
			outs := make([][]byte, flows)
			for i := range ins {
				ins[i] = udpFrame(b, client, vip, uint16(10000+i), 53, cliMAC, wanMAC)
				outs[i] = udpFrame(b, real1, client, 53, uint16(10000+i), rsMAC, lanMAC)
			}
			// Establish the flows.
			for i := 0; i < flows; i += batchSize {
				for j := i; j < min(i+batchSize, flows); j++ {
					r.wr.arrive(b, ins[j])
				}
				r.w.pump(r.wan, r.lan, true, 0)
				r.lr.drain()
			}
			r.w.local = Counters{}
			// Arrivals skip arrive's checks: a frame of the free stack,
			// the bytes, the descriptor.
			arrive := func(fr *fakeRing, frame []byte) {
				addr, _ := fr.u.alloc(atKernel)
				copy(fr.u.mem[addr:], frame)
				fr.rx = append(fr.rx, xsk.Desc{Addr: addr, Len: uint32(len(frame))})
			}
			b.ReportAllocs()
			b.ResetTimer()
			f := 0
			for done := 0; done < b.N; {
				n := min(batchSize, b.N-done)
				if (done/batchSize)&1 == 0 {
					for j := range n {
						arrive(r.wr, ins[(f+j)%flows])
					}
					r.w.pump(r.wan, r.lan, true, 0)
					r.lr.drain()
				} else {
					for j := range n {
						arrive(r.lr, outs[(f+j)%flows])
					}
					r.w.pump(r.lan, r.wan, false, 0)
					r.wr.drain()
					f += n
				}
				done += n
			}
			b.StopTimer()
			if r.w.local[nat.DropNone] != uint64(b.N) {
				b.Fatalf("%d of %d frames forwarded: %v", r.w.local[nat.DropNone], b.N, r.w.local)
			}
		})
	}
}
