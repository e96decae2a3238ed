package nat

import (
	"flag"
	"math/rand/v2"
	"testing"
)

var seedFlag = flag.Uint64("seed", 20261126, "seed of the randomised tests")

// TestShardIndexAgainstMap runs random inserts, lookups from both
// directions and removals on one shard and on Go maps, over a small key
// space so that probe runs collide, wrap, grow and shift back.
func TestShardIndexAgainstMap(t *testing.T) {
	t.Logf("seed %d (replay with -seed)", *seedFlag)
	rng := rand.New(rand.NewPCG(*seedFlag, 7))
	tb := NewTable(numShards*100000, DefaultTimeouts)
	s := &tb.shards[0]
	ref := map[key]uint32{} // forward key → entry
	randConn := func() Conn {
		return Conn{Client: [4]byte{198, 18, 0, byte(rng.IntN(4))}, VIP: [4]byte{198, 18, 0, 100},
			Real: [4]byte{198, 18, 1, byte(rng.IntN(3))}, CPort: uint16(rng.IntN(500)), VPort: 80, RPort: 80, Proto: 6}
	}
	for i := 0; i < 300000; i++ {
		c := randConn()
		fk, rk := keyOf(&c, dirInput), keyOf(&c, dirOutput)
		switch rng.IntN(3) {
		case 0:
			if _, ok := ref[fk]; ok {
				continue
			}
			// The reverse key must be unique too, as real connections are.
			dup := false
			for k := range ref {
				if v := ref[k]; keyOf(&s.conns[v], dirOutput) == rk {
					dup = true
					break
				}
			}
			if dup {
				continue
			}
			v, ok := tb.insert(s, c)
			if !ok {
				t.Fatalf("op %d: insert refused", i)
			}
			ref[fk] = v
		case 1:
			got, ok := s.get(dirInput, &fk)
			want, wok := ref[fk]
			if ok != wok || (ok && got != want) {
				t.Fatalf("op %d: forward get = %d %v, want %d %v", i, got, ok, want, wok)
			}
			if ok {
				rk := keyOf(&s.conns[got], dirOutput)
				back, bok := s.get(dirOutput, &rk)
				if !bok || back != got {
					t.Fatalf("op %d: reverse get = %d %v, want %d", i, back, bok, got)
				}
			}
		case 2:
			if v, ok := ref[fk]; ok {
				tb.remove(s, v, 0)
				delete(ref, fk)
				if _, ok := s.get(dirInput, &fk); ok {
					t.Fatalf("op %d: found after removal", i)
				}
			}
		}
		if s.n != len(ref) || s.idx[0].n != len(ref) || s.idx[1].n != len(ref) {
			t.Fatalf("op %d: counts %d %d %d, want %d", i, s.n, s.idx[0].n, s.idx[1].n, len(ref))
		}
	}
}
