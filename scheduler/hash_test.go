package scheduler

import (
	"slices"
	"testing"
)

// TestSHDHFallbackStable: with some servers unavailable (quiesced with
// their last weight kept, or overloaded), a flow whose server is
// available keeps it; a flow whose server is not goes to an available
// one with the fallback and is refused without it.
func TestSHDHFallbackStable(t *testing.T) {
	r := newRand(t)
	for trial := range 100 {
		n := 2 + r.IntN(20)
		pool := keyedPool(r, n)
		for i := range pool {
			pool[i].Weight = 1 + r.IntN(4)
		}
		down := slices.Clone(pool)
		unavailable := map[int]bool{}
		for range 1 + r.IntN(n-1) {
			v := r.IntN(n)
			if unavailable[v] {
				continue
			}
			unavailable[v] = true
			if r.IntN(2) == 0 {
				down[v].LastWeight, down[v].Weight = down[v].Weight, 0
			} else {
				down[v].Counts = new(Counts)
				down[v].Counts.overload.Store(true)
			}
		}
		for _, name := range []string{"sh", "dh"} {
			for _, fallback := range []bool{false, true} {
				opts := Options{Fallback: fallback, Port: r.IntN(2) == 0}
				up := mustNewOpts(t, name, pool, opts)
				dn := mustNewOpts(t, name, down, opts)
				for range 3000 {
					h := randomHint(r)
					was, now := up.Pick(h), dn.Pick(h)
					switch {
					case was < 0:
						t.Fatalf("trial %d %s: no server with all available", trial, name)
					case !unavailable[was] && now != was:
						t.Fatalf("trial %d %s fallback=%v: a flow of available server %d moved to %d", trial, name, fallback, was, now)
					case unavailable[was] && fallback && (now < 0 || unavailable[now]):
						t.Fatalf("trial %d %s with fallback: a flow of unavailable server %d went to %d", trial, name, was, now)
					case unavailable[was] && !fallback && now != -1:
						t.Fatalf("trial %d %s without fallback: a flow of unavailable server %d went to %d", trial, name, was, now)
					}
				}
			}
		}
	}
}

// TestSHBuckets checks ip_vs_sh_reassign's weighted fill: in key order,
// each server takes weight buckets in a row (one if quiesced), over again.
func TestSHBuckets(t *testing.T) {
	pool := []Server{
		{Weight: 2, Key: "b"},
		{Weight: 3, Key: "a"},
		{Weight: 0, Key: "c"},
		{Weight: 0, LastWeight: 2, Key: "d"},
	}
	s := mustNewOpts(t, "sh", pool, Options{}).(*sh)
	// a a a b b c d d, repeated: 256 = 32·8.
	want := []int32{1, 1, 1, 0, 0, 2, 3, 3}
	for b, i := range s.tab {
		if i != want[b%8] {
			t.Fatalf("bucket %d: server %d, want %d", b, i, want[b%8])
		}
	}
	// A weight of 256 or more takes every bucket.
	big := mustNewOpts(t, "sh", []Server{{Weight: 300, Key: "x"}, {Weight: 1, Key: "y"}}, Options{}).(*sh)
	for b, i := range big.tab {
		if i != 0 {
			t.Fatalf("bucket %d: server %d", b, i)
		}
	}
	// dh deals one bucket each, whatever the weights.
	d := mustNewOpts(t, "dh", pool, Options{}).(*dh)
	for b, i := range d.tab {
		if want := []int32{1, 0, 2, 3}[b%4]; i != want {
			t.Fatalf("dh bucket %d: server %d, want %d", b, i, want)
		}
	}
}

// TestSHKernelHash pins the bucket function to the kernel's: hash_32 of
// port+address, multiplying by GOLDEN_RATIO_32 and keeping the top 8 bits.
func TestSHKernelHash(t *testing.T) {
	for _, tc := range []struct {
		addr, port, want uint32
	}{
		{0, 0, 0},
		{1, 0, 0x61C88647 >> 24},
		{0xC0A80001, 0, (0xC0A80001 * 0x61C88647 & 0xffffffff) >> 24},
		{0xC0A80001, 8080, ((0xC0A80001 + 8080) * 0x61C88647 & 0xffffffff) >> 24},
	} {
		if got := shBucket(tc.addr, tc.port, 0); got != tc.want {
			t.Errorf("shBucket(%#x, %d) = %d, want %d", tc.addr, tc.port, got, tc.want)
		}
	}
	if got, want := dhBucket(0xC0A80001), uint32(0xC0A80001*2654435761&0xffffffff)&255; got != want {
		t.Errorf("dhBucket = %d, want %d", got, want)
	}
	// IPv6 folds to the XOR of the four words.
	a := [16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}
	if got := fold(&a, true); got != 0x20010db8^1 {
		t.Errorf("fold = %#x", got)
	}
	// IPv4 ignores the twelve other bytes.
	b := [16]byte{192, 0, 2, 1, 9, 9, 9}
	if got := fold(&b, false); got != 0xC0000201 {
		t.Errorf("fold = %#x", got)
	}
}

// TestSHPort: sh hashes the client port only with sh-port.
func TestSHPort(t *testing.T) {
	pool := keyedPool(newRand(t), 10)
	plain := mustNewOpts(t, "sh", pool, Options{})
	port := mustNewOpts(t, "sh", pool, Options{Port: true})
	var h Hint
	h.Src = [16]byte{198, 51, 100, 7}
	first := plain.Pick(h)
	seen := map[int]bool{}
	for p := range 200 {
		h.SrcPort = uint16(p)
		if plain.Pick(h) != first {
			t.Fatal("without sh-port the port changed the server")
		}
		seen[port.Pick(h)] = true
	}
	if len(seen) < 8 {
		t.Errorf("with sh-port 200 ports reached %d of 10 servers", len(seen))
	}
}
