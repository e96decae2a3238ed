package dataplane

import (
	"errors"

	"github.com/xvs-project/xvs/internal/header"
)

// controlQueueLen is the number of control frames that can wait for the
// control goroutine. VRRP sends one advert per instance and interval, so
// this is seconds of backlog even at advert_int 0.01 with many instances.
const controlQueueLen = 256

// controlFrameMax is the largest control frame kept; longer ones are cut
// (a VRRP advert with 255 addresses is 1,054 bytes of IP).
const controlFrameMax = 2048

// ControlFrame is a frame for the control plane (VRRP) taken off the data
// path by a worker. Data is valid until the frame is given back with
// Dataplane.Release.
type ControlFrame struct {
	Data []byte
	// Ifindex is the interface it arrived on.
	Ifindex int
	buf     [controlFrameMax]byte
}

// controlQueue hands control frames from the workers to one consumer
// without allocating: frames cycle between free and full, each of which
// can hold all of them, so neither send ever blocks.
type controlQueue struct {
	free, full chan *ControlFrame
}

func newControlQueue() *controlQueue {
	q := &controlQueue{free: make(chan *ControlFrame, controlQueueLen), full: make(chan *ControlFrame, controlQueueLen)}
	for i := 0; i < controlQueueLen; i++ {
		q.free <- new(ControlFrame)
	}
	return q
}

// put copies frame into a free control frame and queues it; it reports
// false when every control frame is taken (the consumer is behind).
func (q *controlQueue) put(frame []byte, ifindex int) bool {
	select {
	case f := <-q.free:
		f.Data = f.buf[:copy(f.buf[:], frame)]
		f.Ifindex = ifindex
		q.full <- f
		return true
	default:
		return false
	}
}

// Kinds of frames the classifier sends to the sockets.
const (
	frameData    = iota // to or from a virtual service: for nat
	frameControl        // VRRP: for the control queue
	frameAnswer         // an ARP or ICMP echo answer for an owned VIP, made by the classifier
)

// kindOf tells the kinds apart: VRRP is IPv4 protocol 112; the classifier
// sends ARP only as answers it made, and ICMP echo replies likewise (it
// passes every other echo reply to the kernel).
func kindOf(frame []byte) int {
	if len(frame) < header.EthernetSize+20 {
		return frameData
	}
	switch {
	case frame[12] == 0x08 && frame[13] == 0x06:
		return frameAnswer
	case frame[12] != 0x08 || frame[13] != 0x00:
		return frameData
	}
	switch frame[header.EthernetSize+9] {
	case header.ProtocolVRRP:
		return frameControl
	case header.ProtocolICMP:
		ihl := int(frame[header.EthernetSize]&0xf) * 4
		if len(frame) > header.EthernetSize+ihl && frame[header.EthernetSize+ihl] == 0 {
			return frameAnswer
		}
	}
	return frameData
}

// ControlFrames returns the queue of control frames (VRRP adverts) the
// workers took off the data path. There is one queue, for one consumer,
// which must give every frame back with Release.
func (d *Dataplane) ControlFrames() <-chan *ControlFrame { return d.ctl.full }

// Release gives a control frame back for reuse.
func (d *Dataplane) Release(f *ControlFrame) {
	f.Data = nil
	d.ctl.free <- f
}

// SetOwned sets the VIPs this director answers ARP and ICMP echo for (see
// Program.SetOwned).
func (d *Dataplane) SetOwned(list []Owned) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.prog == nil {
		return errors.New("dataplane closed")
	}
	return d.prog.SetOwned(list)
}
