package xsk

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"github.com/asavie/xdp"
	"github.com/vishvananda/netlink"
	"github.com/xvs-project/xvs/lab"
)

// onVeth runs fn with the index of a veth inside a fresh lab's director
// namespace, on a thread in that namespace.
func onVeth(b testing.TB, fn func(ifindex int)) {
	if os.Geteuid() != 0 {
		b.Skip("needs root: creates network namespaces and binds AF_XDP sockets")
	}
	var rb [3]byte
	rand.Read(rb[:])
	l, err := lab.Up(lab.Config{Prefix: "xk" + hex.EncodeToString(rb[:]), Servers: 1, Queues: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Down()
	err = lab.Do(l.LBNS, func() error {
		link, err := netlink.LinkByName(l.WANIf)
		if err != nil {
			return err
		}
		fn(link.Attrs().Index)
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkFreeFrames compares the two ways back to free frames, 64 at a
// time, with half of a 4096-frame UMEM in the fill ring: asavie/xdp's
// GetDescs, which scans its per-frame free flags from the start, and this
// package's free stack. The result is in docs/architecture.md.
func BenchmarkFreeFrames(b *testing.B) {
	b.Run("asavie-GetDescs", func(b *testing.B) {
		onVeth(b, func(ifindex int) {
			s, err := xdp.NewSocket(ifindex, 0, &xdp.SocketOptions{NumFrames: 4096, FrameSize: 2048,
				FillRingNumDescs: 2048, CompletionRingNumDescs: 2048, RxRingNumDescs: 2048, TxRingNumDescs: 2048})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			s.Fill(s.GetDescs(2048))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if len(s.GetDescs(64)) != 64 {
					b.Fatal("short")
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/64, "ns/frame")
		})
	})
	b.Run("xsk-free-stack", func(b *testing.B) {
		onVeth(b, func(ifindex int) {
			s, err := Open(ifindex, 0, Options{Frames: 2048, Copy: true})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			var addrs [64]uint64
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for j := range addrs {
					a, _, ok := s.TxFrame()
					if !ok {
						b.Fatal("no frame")
					}
					addrs[j] = a
				}
				for _, a := range addrs {
					s.Abandon(a)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/64, "ns/frame")
		})
	})
}

// TestReopenSameQueue closes a socket and binds a new one to the same
// queue straight away: Close must release the queue (asavie/xdp alone
// leaves the ring mappings, which keep the binding, and the second bind
// fails with EBUSY).
func TestReopenSameQueue(t *testing.T) {
	onVeth(t, func(ifindex int) {
		for i := 0; i < 3; i++ {
			s, err := Open(ifindex, 0, Options{Frames: 64, Copy: true})
			if err != nil {
				t.Fatalf("open %d: %v", i, err)
			}
			if i == 0 {
				t.Logf("transmit budget per kick: %d frames", s.txBudget)
			}
			if err := s.Close(); err != nil {
				t.Fatalf("close %d: %v", i, err)
			}
		}
	})
}
