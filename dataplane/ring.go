package dataplane

import "github.com/xvs-project/xvs/dataplane/xsk"

// ring is what a worker needs of one port: the four rings of its AF_XDP
// socket and the UMEM its frames belong to. In production it is an
// *xskRing; tests drive pump, forward and kick over in-memory fakes.
//
// It is shaped for batches, so that the forwarding path makes no interface
// call per frame: a batch costs Receive, Frames, SharesUMEM and
// TransmitBatch once each. Only rarer frames cost a call of their own: a
// control frame or a drop (Free), an answer (TransmitBatch of one), and
// every frame on the copy path between two UMEMs (TxFrame, Free), which
// pays a copy anyway.
//
// Frame ownership is xsk's (see its package documentation): a frame
// Receive or TxFrame gave the worker is the worker's until TransmitBatch
// took it or Free gave it back, and each such frame must go exactly one of
// those two ways.
type ring interface {
	// Receive moves up to len(descs) received descriptors into descs and
	// returns how many; their frames become the worker's.
	Receive(descs []xsk.Desc) int
	// Frames sets frames[i] to the bytes of the frame descs[i] names
	// (its length; its capacity up to the end of its UMEM frame), for
	// every i < len(descs). The slices alias the UMEM.
	Frames(descs []xsk.Desc, frames [][]byte)
	// TransmitBatch queues frames the worker owns on the transmit ring, in
	// order, as many as it has room for, and returns how many it took; the
	// rest are still the worker's. Kick starts transmission.
	TransmitBatch(descs []xsk.Desc) int
	// TxFrame takes a free frame of the UMEM (its whole buffer) to copy
	// a frame into; ok is false when none is free.
	TxFrame() (addr uint64, buf []byte, ok bool)
	// Free gives a frame the worker owns back to the UMEM's free frames;
	// an offset inside the frame is ignored.
	Free(addr uint64)
	// SharesUMEM reports whether other's frames are in the same UMEM, so
	// that a frame received on one is transmitted on the other by moving
	// its descriptor.
	SharesUMEM(other ring) bool

	// Pending, Kick, Complete, Fill, NeedsFillWakeup and FD are those of
	// xsk.Socket: once per port and round of the worker, never per frame.
	Pending() int
	Kick() error
	Complete() int
	Fill(max int) int
	NeedsFillWakeup() bool
	FD() int
}

// xskRing is the ring of a real port: an AF_XDP socket, whose methods it
// promotes (Receive, TxFrame, Pending, Kick, Complete, Fill,
// NeedsFillWakeup, FD), and the UMEM it is bound to.
type xskRing struct {
	*xsk.Socket
	umem *xsk.UMEM
}

var _ ring = (*xskRing)(nil)

// Frames implements ring: one call per batch, Socket.Frame inlined.
func (r *xskRing) Frames(descs []xsk.Desc, frames [][]byte) {
	frames = frames[:len(descs)]
	for i, d := range descs {
		frames[i] = r.Socket.Frame(d)
	}
}

// TransmitBatch implements ring with Socket.Transmit, a direct call per
// frame.
func (r *xskRing) TransmitBatch(descs []xsk.Desc) int {
	for i, d := range descs {
		if !r.Socket.Transmit(d) {
			return i
		}
	}
	return len(descs)
}

// Free implements ring.
func (r *xskRing) Free(addr uint64) { r.umem.Free(addr) }

// SharesUMEM implements ring.
func (r *xskRing) SharesUMEM(other ring) bool {
	o, ok := other.(*xskRing)
	return ok && o.umem == r.umem
}
