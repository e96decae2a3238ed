package dataplane

import (
	"testing"

	"github.com/xvs-project/xvs/dataplane/xsk"
)

// TestXSKRingUMEM: the production ring tells a shared UMEM by identity
// (not a fake's, not another UMEM) and frees into its own UMEM. Its socket
// methods need a kernel socket; cmd/xvs's forwarding tests drive them.
func TestXSKRingUMEM(t *testing.T) {
	u1, err := xsk.NewUMEM(16, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer u1.Close()
	u2, err := xsk.NewUMEM(16, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer u2.Close()
	a, b, c := &xskRing{umem: u1}, &xskRing{umem: u1}, &xskRing{umem: u2}
	if !a.SharesUMEM(b) || !b.SharesUMEM(a) || a.SharesUMEM(c) || a.SharesUMEM(newFakeRing(newFakeUMEM(4, 2048), 1)) {
		t.Fatal("SharesUMEM does not go by the UMEM")
	}
	addr, ok := u1.Alloc()
	if !ok {
		t.Fatal("no frame")
	}
	a.Free(addr + 256) // an offset inside the frame, as a received descriptor has
	if u1.FreeFrames() != 16 || u1.Check() != nil {
		t.Fatalf("after Free: %d free frames, check %v", u1.FreeFrames(), u1.Check())
	}
}
