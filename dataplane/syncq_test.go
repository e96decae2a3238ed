package dataplane

import (
	"testing"

	"github.com/xvs-project/xvs/nat"
)

// TestRewriteQueuesSyncRecords checks that with sync on a worker queues the
// record IPVS's policy asks for (a UDP flow at its third datagram, then
// every 50th) and nothing while sync is off, and that a full queue loses
// records with a count instead of waiting.
func TestRewriteQueuesSyncRecords(t *testing.T) {
	w, _, lan := testWorker(t, map[[4]byte][6]byte{client: cliMAC})
	w.syncq = nat.NewSyncQueue(2)
	send := func(n int, sport uint16) {
		for i := 0; i < n; i++ {
			if d := w.rewrite(udpFrame(t, client, vip, sport, 53, cliMAC, wanMAC), lan, lanMAC, true, 0); d != nat.DropNone {
				t.Fatalf("inbound: %v", d)
			}
		}
	}
	send(5, 4000)
	if w.syncq.Len() != 0 || w.local[CounterSyncQueued] != 0 {
		t.Fatalf("sync off: %d records queued", w.syncq.Len())
	}
	w.eng.SetSync(true)
	send(2, 4001) // datagrams 1 and 2: nothing yet
	if w.syncq.Len() != 0 {
		t.Fatalf("%d records before the third datagram", w.syncq.Len())
	}
	send(1, 4001)
	var got [4]nat.SyncRecord
	if n := w.syncq.Drain(got[:]); n != 1 || got[0].CPort != 4001 || got[0].Real != real1 || got[0].VPort != 53 {
		t.Fatalf("after the third datagram: %d records %+v", n, got[:n])
	}
	// Three flows reach their third datagram against a queue of two.
	for _, p := range []uint16{5001, 5002, 5003} {
		send(3, p)
	}
	if w.local[CounterSyncQueued] != 3 || w.local[CounterSyncQueueFull] != 1 || w.syncq.Len() != 2 {
		t.Fatalf("queued %d, lost %d, queue %d; want 3, 1, 2",
			w.local[CounterSyncQueued], w.local[CounterSyncQueueFull], w.syncq.Len())
	}
}

// TestRewriteWithSyncAllocatesNothing: queueing records costs no
// allocation either.
func TestRewriteWithSyncAllocatesNothing(t *testing.T) {
	w, wan, lan := testWorker(t, map[[4]byte][6]byte{client: cliMAC})
	w.syncq = nat.NewSyncQueue(16)
	w.eng.SetSync(true)
	if err := w.eng.SetSyncPolicy(nat.SyncPolicy{Threshold: 0, Period: 1}); err != nil {
		t.Fatal(err)
	}
	in := udpFrame(t, client, vip, 4000, 53, cliMAC, wanMAC)
	out := udpFrame(t, real1, client, 53, 4000, rsMAC, lanMAC)
	a, b := make([]byte, len(in)), make([]byte, len(out))
	var drained [16]nat.SyncRecord
	allocs := testing.AllocsPerRun(1000, func() {
		copy(a, in)
		copy(b, out)
		if w.rewrite(a, lan, lanMAC, true, 0) != nat.DropNone || w.rewrite(b, wan, wanMAC, false, 0) != nat.DropNone {
			panic("dropped")
		}
		w.syncq.Drain(drained[:])
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per frame pair with sync on", allocs)
	}
	if w.local[CounterSyncQueued] < 1000 {
		t.Fatalf("only %d records queued with a record per frame", w.local[CounterSyncQueued])
	}
}

// BenchmarkRewriteSync is the fast-path cost of connection sync: the same
// frames as BenchmarkRewrite (10 000 UDP flows, inbound and outbound
// alternating) with sync off and on (IPVS's policy 3 50: a record at a
// flow's third datagram and every 50th after), the queue drained every
// 1024 frames as the sender would. Compare the two in one run.
func BenchmarkRewriteSync(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "off"
		if on {
			name = "on"
		}
		b.Run(name, func(b *testing.B) {
			w, wan, lan := testWorker(b, map[[4]byte][6]byte{client: cliMAC})
			w.syncq = nat.NewSyncQueue(SyncQueueLen)
			w.eng.SetSync(on)
			const flows = 10000
			ins := make([][]byte, flows)
			outs := make([][]byte, flows)
			for i := range ins {
				ins[i] = udpFrame(b, client, vip, uint16(10000+i), 53, cliMAC, wanMAC)
				outs[i] = udpFrame(b, real1, client, 53, uint16(10000+i), rsMAC, lanMAC)
			}
			buf := make([]byte, len(ins[0]))
			drained := make([]nat.SyncRecord, 1024)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				j := (i >> 1) % flows
				if i&1 == 0 {
					copy(buf, ins[j])
					w.rewrite(buf, lan, lanMAC, true, 0)
				} else {
					copy(buf, outs[j])
					w.rewrite(buf, wan, wanMAC, false, 0)
				}
				if i&1023 == 0 {
					w.syncq.Drain(drained)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(w.local[CounterSyncQueued])/float64(b.N), "records/frame")
		})
	}
}
