package dataplane

import (
	"runtime"
	"sync/atomic"

	"github.com/xvs-project/xvs/dataplane/xsk"
	"github.com/xvs-project/xvs/internal/header"
	"github.com/xvs-project/xvs/nat"
	"golang.org/x/sys/unix"
)

// Counter indices of a worker; the first nat.NumDrops are nat's drop
// reasons (index 0, nat.DropNone, counts forwarded frames).
const (
	CounterRxWAN          = int(nat.NumDrops) + iota // frames received on WAN
	CounterRxLAN                                     // frames received on LAN
	CounterTxWAN                                     // frames queued for transmit on WAN
	CounterTxLAN                                     // frames queued for transmit on LAN
	CounterKickErrors                                // transmit kicks that failed (link down, ...)
	CounterControl                                   // control frames (VRRP) handed to the control plane
	CounterControlDropped                            // control frames dropped: the control queue was full
	CounterAnswers                                   // ARP and echo answers for owned VIPs sent back out
	CounterBatchWAN                                  // receive batches (non-empty) taken from WAN
	CounterBatchLAN                                  // receive batches (non-empty) taken from LAN
	CounterSyncQueued                                // sync records queued for the sync sender
	CounterSyncQueueFull                             // sync records lost: the worker's sync queue was full
	NumCounters
)

// CounterName returns the metric name of a counter index.
func CounterName(i int) string {
	if i < int(nat.NumDrops) {
		return nat.Drop(i).String()
	}
	return [...]string{"rx_wan", "rx_lan", "tx_wan", "tx_lan", "kick_errors", "control", "control_queue_full", "answers", "batches_wan", "batches_lan", "sync_queued", "sync_queue_full"}[i-int(nat.NumDrops)]
}

// Counters is a snapshot of counters, summed over workers.
type Counters [NumCounters]uint64

// batchSize is the number of descriptors taken from a receive ring at once.
const batchSize = 64

// port is one receive queue of one side that a worker owns: its AF_XDP
// socket and the queue's own counters.
type port struct {
	// ring is the queue's AF_XDP socket over its UMEM (an *xskRing): the
	// worker's shared UMEM, or the socket's own when the kernel would not
	// share.
	ring    ring
	mode    string // how the socket is bound (xsk.Mode.String)
	role    Role
	queue   int
	ifindex int
	// rx and batches are counted since the last publish; the published
	// totals live in counts, which outlives a re-layout of the workers.
	rx, batches uint64
	counts      *QueueStats
}

// QueueStats are the published counters of one receive queue of one side.
type QueueStats struct {
	Frames, Batches atomic.Uint64
}

// worker serves some receive queues of the WAN and of the LAN interface
// (see Place). All its fields are owned by its goroutine, except
// published, which others read atomically.
type worker struct {
	index          int
	cpu            int // -1: not pinned
	wanPorts       []*port
	lanPorts       []*port
	wanTx, lanTx   *port // the ports it transmits on: its first of each side
	fds            []unix.PollFd
	wanIf, lanIf   int
	wanMAC, lanMAC [6]byte
	eng            *nat.Engine
	neigh          *Neighbours
	ctl            *controlQueue
	// syncq holds the sync records of the frames the worker forwarded
	// while the engine has sync on; the sync sender drains it
	// (Dataplane.DrainSync). It outlives re-layouts with the worker.
	syncq *nat.SyncQueue

	// descs, frames and hints are the batch pump took, its frames'
	// bytes and their lookups' prefetch hints.
	descs  [batchSize]xsk.Desc
	frames [batchSize][]byte
	hints  [batchSize]nat.Hint
	// txDescs are the frames forward staged for the transmit ring, ntx
	// of them, and txDests their real servers; flush queues them.
	txDescs   [batchSize]xsk.Desc
	txDests   [batchSize]uint32
	ntx       int
	lastDest  uint32    // the real server of the frame rewrite last passed (nat.Result.Dest)
	dests     destStats // traffic per real server
	local     Counters  // counted since the last publish
	published [NumCounters]atomic.Uint64
}

// run is the worker's loop: receive a batch from each of its queues,
// rewrite and queue each frame on the other side, kick transmission,
// recycle frames, and sleep in poll only when nothing arrived. It pins its
// thread to its CPU and never unlocks it: when run returns, the thread
// ends with the goroutine instead of going back to the runtime pinned.
func (w *worker) run(stop *atomic.Bool) {
	runtime.LockOSThread()
	if w.cpu >= 0 {
		var set unix.CPUSet
		set.Set(w.cpu)
		_ = unix.SchedSetaffinity(0, &set) // best effort: an unpinned worker still works
	}
	for !stop.Load() {
		now := nat.Monotonic()
		n := 0
		for _, p := range w.wanPorts {
			n += w.pump(p, w.lanTx, true, now)
		}
		for _, p := range w.lanPorts {
			n += w.pump(p, w.wanTx, false, now)
		}
		pending := 0
		for _, p := range w.wanPorts {
			pending += w.kick(p)
		}
		for _, p := range w.lanPorts {
			pending += w.kick(p)
		}
		w.publish()
		if n == 0 {
			timeout := 100
			if pending > 0 {
				timeout = 1
			}
			_, _ = unix.Poll(w.fds, timeout)
		}
	}
}

// kick starts transmission of what p's socket has queued, or collects
// what it sent, tops its fill ring up from the free frames, and returns how
// many frames it still has to send.
func (w *worker) kick(p *port) int {
	s := p.ring
	pending := 0
	if s.Pending() > 0 {
		if err := s.Kick(); err != nil {
			w.local[CounterKickErrors]++
		}
		pending = s.Pending()
	} else {
		s.Complete()
	}
	s.Fill(batchSize * 4)
	if s.NeedsFillWakeup() {
		// need_wakeup: the driver takes new fill frames only when asked.
		_, _, _ = unix.Syscall6(unix.SYS_RECVFROM, uintptr(s.FD()), 0, 0, unix.MSG_DONTWAIT, 0, 0)
	}
	return pending
}

// pump moves one batch from the port's socket to the other side's port tx
// and returns how many frames it took. A frame forwarded between sockets
// of one UMEM is rewritten in place and its descriptor moved to tx's
// transmit ring; every other frame the batch took is freed. Its calls of
// the rings are per batch (Receive, Frames, SharesUMEM, then flush's
// TransmitBatch); only control frames, answers, drops and the copy path
// make calls per frame.
func (w *worker) pump(p *port, tx *port, inbound bool, now int64) int {
	rx := p.ring
	n := rx.Receive(w.descs[:])
	if n == 0 {
		return 0
	}
	descs, frames := w.descs[:n], w.frames[:n]
	rx.Frames(descs, frames)
	p.rx += uint64(n)
	p.batches++
	var view *linkView
	var srcMAC [6]byte
	if inbound {
		w.local[CounterRxWAN] += uint64(n)
		w.local[CounterBatchWAN]++
		view, srcMAC = w.neigh.view(w.lanIf), w.lanMAC
	} else {
		w.local[CounterRxLAN] += uint64(n)
		w.local[CounterBatchLAN]++
		view, srcMAC = w.neigh.view(w.wanIf), w.wanMAC
	}
	// Control frames (VRRP) first, so that a full batch of data never
	// delays an advertisement; they are rare, so the pass is a cheap scan.
	// A frame dealt with here is marked done with a nil frames[i] (a
	// received frame, even empty, is never nil).
	for i := range frames {
		switch kindOf(frames[i]) {
		case frameData:
			continue
		case frameControl:
			if w.ctl != nil && w.ctl.put(frames[i], p.ifindex) {
				w.local[CounterControl]++
			} else {
				w.local[CounterControlDropped]++
			}
			rx.Free(descs[i].Addr)
		case frameAnswer:
			// Made in place by the classifier: back out where it came.
			if rx.TransmitBatch(descs[i:i+1]) == 1 {
				w.local[CounterAnswers]++
			} else {
				rx.Free(descs[i].Addr)
				w.local[nat.DropTxFull]++
			}
		}
		frames[i] = nil
	}
	// A frame's lookup misses the cache twice (its index cell, then its
	// entry) in a large table, and in a small one too once the kernel's
	// own packet work has gone through the caches: start all of the
	// batch's loads before the first lookup, so that the misses overlap.
	for i, f := range frames {
		if f != nil {
			w.hints[i] = w.eng.Prefetch(f, inbound)
		} else {
			w.hints[i] = nat.Hint{}
		}
	}
	for i := range n {
		w.eng.PrefetchEntry(w.hints[i])
	}
	move := rx.SharesUMEM(tx.ring)
	for i, f := range frames {
		if f != nil {
			if drop := w.forward(descs[i], f, p, tx, move, view, srcMAC, inbound, now); drop != nat.DropNone {
				w.local[drop]++
			}
		}
	}
	w.flush(tx, inbound)
	return n
}

// forward rewrites frame, the bytes of d received on rx, and stages it for
// tx's transmit ring, returning nat.DropNone (staged: flush sends and
// counts it) or the reason it was dropped. With move (rx and tx share a
// UMEM) the frame moves without a copy, as its descriptor; otherwise it is
// copied into a frame of tx's. Either way rx's frame is handed on or
// freed. At most batchSize frames may be staged before a flush.
func (w *worker) forward(d xsk.Desc, frame []byte, rx, tx *port, move bool, view *linkView, srcMAC [6]byte, inbound bool, now int64) nat.Drop {
	if drop := w.rewrite(frame, view, srcMAC, inbound, now); drop != nat.DropNone {
		rx.ring.Free(d.Addr)
		return drop
	}
	if !move {
		addr, buf, ok := tx.ring.TxFrame()
		if !ok {
			rx.ring.Free(d.Addr)
			return nat.DropTxFull
		}
		if len(frame) > len(buf) {
			tx.ring.Free(addr)
			rx.ring.Free(d.Addr)
			return nat.DropTooBig
		}
		copy(buf, frame)
		rx.ring.Free(d.Addr)
		d = xsk.Desc{Addr: addr, Len: uint32(len(frame))}
	}
	w.txDescs[w.ntx] = d
	w.txDests[w.ntx] = w.lastDest
	w.ntx++
	return nat.DropNone
}

// flush queues the frames forward staged on tx's transmit ring, in one
// call, and counts them: each the ring took as forwarded and transmitted
// (and in its real server's traffic), each beyond its room as tx_full,
// freed. A staged frame is in tx's UMEM either way: moved when rx shares
// it, copied into it otherwise.
func (w *worker) flush(tx *port, inbound bool) {
	n := w.ntx
	if n == 0 {
		return
	}
	w.ntx = 0
	staged := w.txDescs[:n]
	sent := tx.ring.TransmitBatch(staged)
	for _, d := range staged[sent:] {
		tx.ring.Free(d.Addr)
	}
	w.local[nat.DropNone] += uint64(sent)
	w.local[nat.DropTxFull] += uint64(n - sent)
	if inbound {
		w.local[CounterTxLAN] += uint64(sent)
	} else {
		w.local[CounterTxWAN] += uint64(sent)
	}
	for i, d := range staged[:sent] {
		w.dests.count(w.txDests[i], inbound, int(d.Len)-header.EthernetSize) // IPVS counts IP bytes
	}
}

// rewrite is the per-frame work before transmission: nat's validation,
// connection lookup or scheduling and rewrite, then the Ethernet addresses
// of the next hop out of the other interface.
func (w *worker) rewrite(frame []byte, view *linkView, srcMAC [6]byte, inbound bool, now int64) nat.Drop {
	var r nat.Result
	if inbound {
		r = w.eng.Inbound(frame, now)
	} else {
		r = w.eng.Outbound(frame, now)
	}
	if r.Drop != nat.DropNone {
		return r.Drop
	}
	w.lastDest = r.Dest
	if r.Sync != 0 {
		w.queueSync(&r)
	}
	nh, mac, ok := view.resolve(r.NextHop)
	if !ok {
		if inbound || r.MAC == ([6]byte{}) {
			if nh == ([4]byte{}) {
				nh = r.NextHop
			}
			w.neigh.Miss(nh)
			return nat.DropNoNeighbour
		}
		mac = r.MAC
	}
	eth := header.Ethernet(frame)
	eth.SetDestination(mac)
	eth.SetSource(srcMAC)
	return nat.DropNone
}

// queueSync puts the sync records a frame produced on the worker's sync
// queue, counting the ones a full queue lost; it never waits. IPVS syncs
// in ip_vs_in, before transmission, so a record is queued even if the
// frame is then dropped for want of a neighbour. Out of line: only frames
// that produce records reach it.
//
//go:noinline
func (w *worker) queueSync(r *nat.Result) {
	if r.Sync&nat.SyncNeedConn != 0 {
		w.pushSync(r.SyncRecord)
	}
	if r.Sync&nat.SyncNeedTemplate != 0 {
		w.pushSync(r.SyncRecord.Template())
	}
}

// pushSync queues one record and counts it.
func (w *worker) pushSync(rec nat.SyncRecord) {
	if w.syncq.Push(rec) {
		w.local[CounterSyncQueued]++
	} else {
		w.local[CounterSyncQueueFull]++
	}
}

// publish adds the local counts to the published ones.
func (w *worker) publish() {
	w.dests.publish()
	for _, ports := range [2][]*port{w.wanPorts, w.lanPorts} {
		for _, p := range ports {
			if p.rx != 0 {
				p.counts.Frames.Add(p.rx)
				p.counts.Batches.Add(p.batches)
				p.rx, p.batches = 0, 0
			}
		}
	}
	for i := range w.local {
		if v := w.local[i]; v != 0 {
			w.published[i].Add(v)
			w.local[i] = 0
		}
	}
}
