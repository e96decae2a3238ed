package nat

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/xvs-project/xvs/internal/header"
)

// flowFrame writes flow i of scaleConn into frame as a client→VIP (inbound)
// or real→client (outbound) IPv4/UDP frame, only the fields Prefetch reads.
func flowFrame(frame []byte, i int, inbound bool) {
	c := scaleConn(i)
	frame[12], frame[13] = 0x08, 0x00
	ip := frame[header.EthernetSize:]
	ip[0], ip[9] = 0x45, c.Proto
	l4 := ip[header.IPv4MinimumSize:]
	src, dst, sp, dp := c.Client, c.VIP, c.CPort, c.VPort
	if !inbound {
		src, dst, sp, dp = c.Real, c.Client, c.RPort, c.CPort
	}
	copy(ip[12:16], src[:])
	copy(ip[16:20], dst[:])
	l4[0], l4[1], l4[2], l4[3] = byte(sp>>8), byte(sp), byte(dp>>8), byte(dp)
}

// TestPrefetchFindsTheFlow: the hint of a frame names its flow's shard and
// the home cell of its key in the index of its direction, from which the
// probe finds the entry; frames Prefetch cannot read give the zero hint.
func TestPrefetchFindsTheFlow(t *testing.T) {
	const n = 5000
	tb := fill(t, n)
	e := NewEngine(tb)
	frame := make([]byte, 64)
	for i := 0; i < n; i += 7 {
		for _, inbound := range []bool{true, false} {
			flowFrame(frame, i, inbound)
			h := e.Prefetch(frame, inbound)
			c := scaleConn(i)
			dir := dirInput
			if !inbound {
				dir = dirOutput
			}
			if h.s != tb.shardFor(c.Client, c.CPort, c.Proto) {
				t.Fatalf("flow %d inbound %v: wrong shard", i, inbound)
			}
			k := keyOf(&c, dir)
			x := &h.s.idx[dir]
			if h.cell != hashKey(&k)&x.mask {
				t.Fatalf("flow %d inbound %v: cell %d, want the key's home %d", i, inbound, h.cell, hashKey(&k)&x.mask)
			}
			found := false
			for j := h.cell; x.cells[j].v != 0; j = (j + 1) & x.mask {
				if keyOf(&h.s.conns[x.cells[j].v-1], dir) == k {
					found = true
					break
				}
			}
			if !found {
				t.Fatalf("flow %d inbound %v: not found probing from the hint", i, inbound)
			}
			e.PrefetchEntry(h)
		}
	}
	for _, bad := range [][]byte{nil, make([]byte, 20), make([]byte, 64)} {
		if h := e.Prefetch(bad, true); h != (Hint{}) {
			t.Errorf("frame %x: hint %+v, want none", bad, h)
		}
		e.PrefetchEntry(Hint{})
	}
	if a := testing.AllocsPerRun(100, func() { e.PrefetchEntry(e.Prefetch(frame, true)) }); a != 0 {
		t.Errorf("Prefetch allocates %v per frame", a)
	}
}

// BenchmarkLookupBatch looks up random existing flows at 10k, 1M and 10M
// entries the way a worker does with a batch of 64 frames: Prefetch for
// each, PrefetchEntry for each, then each lookup under its shard's lock.
// Compare with BenchmarkTableLookup (one lookup after another) and the
// ratio of 10M to 10k entries.
func BenchmarkLookupBatch(b *testing.B) {
	const batch = 64
	for _, n := range scaleSizes {
		if testing.Short() && n > 1_000_000 {
			continue
		}
		tb := fill(b, n)
		e := NewEngine(tb)
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			var frames [batch][64]byte
			var flows [batch]int
			var hints [batch]Hint
			x := uint32(1)
			for done := 0; done < b.N; done += batch {
				for j := range frames {
					x ^= x << 13
					x ^= x >> 17
					x ^= x << 5
					flows[j] = int(x % uint32(n))
					flowFrame(frames[j][:], flows[j], true)
					hints[j] = e.Prefetch(frames[j][:], true)
				}
				for j := range hints {
					e.PrefetchEntry(hints[j])
				}
				for j := range flows {
					if !tb.lookup(flows[j]) {
						b.Fatal("flow not found")
					}
				}
			}
		})
		runtime.KeepAlive(tb)
	}
}
