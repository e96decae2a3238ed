//go:build linux

package bench

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/xvs-project/xvs/dataplane/xsk"
	"github.com/xvs-project/xvs/lab"
	"golang.org/x/sys/unix"
)

// fwdObjs is the ceiling's classifier and its maps.
type fwdObjs struct {
	Prog *ebpf.Program `ebpf:"xvsb_fwd"`
	Cfg  *ebpf.Map     `ebpf:"sink_cfg"`
	Xsks *ebpf.Map     `ebpf:"xsks"`
}

// ceilingWorker is one worker's placement: its CPU and the queues it
// serves (the same index on wan0 for receiving and, the first of them, on
// lan0 for transmitting).
type ceilingWorker struct {
	CPU    int
	Queues []int
}

// placeCeiling lays workers out as xvs's dataplane does (dataplane.Place):
// as many workers as the fewer of queues and CPUs, worker i on cpus[i]
// serving every queue q with q mod workers == i.
func placeCeiling(queues int, cpus []int) []ceilingWorker {
	n := min(queues, len(cpus))
	ws := make([]ceilingWorker, n)
	for i := range ws {
		ws[i].CPU = cpus[i]
	}
	for q := 0; q < queues && n > 0; q++ {
		ws[q%n].Queues = append(ws[q%n].Queues, q)
	}
	return ws
}

// ceilingBatch is the number of descriptors a ceiling worker takes from its
// receive ring at once, as xvs's workers do.
const ceilingBatch = 64

// CeilingForwarder is a bare AF_XDP forwarder in the director namespace: benchmark
// frames arriving on wan0 are copied into a lan0 frame with only the MAC
// addresses rewritten (source lan0, destination a real server, round
// robin) and sent. No parsing, no table, no checksum: what AF_XDP on these
// veths allows at best.
type CeilingForwarder struct {
	objs    fwdObjs
	link    link.Link
	wan     []*xsk.Socket
	lan     []*xsk.Socket
	lanMAC  net.HardwareAddr
	dstMACs []net.HardwareAddr

	// workers is the placement: worker i runs on CPU workers[i].CPU.
	workers []ceilingWorker
	tids    []atomic.Int64

	stop atomic.Bool
	wg   sync.WaitGroup
	mu   sync.Mutex
	errs []error
	// Forwarded and TxFull are summed over workers once they stop.
	forwarded, txFull atomic.Uint64
	// stats sums the kernel's counters of the wan sockets, read by Stop.
	stats unix.XDPStatistics
}

// StartCeiling opens one AF_XDP socket per queue on l's wan0 and lan0,
// attaches the classifier to wan0 and starts its workers, placed as xvs
// places its own on the same CPUs (placeCeiling): each pinned to its CPU,
// receiving on its wan0 queues and transmitting on lan0 through the socket
// of its first queue. Frames to UDP port carrying the benchmark magic are
// forwarded; everything else passes to the kernel. On error everything made
// so far is undone.
func StartCeiling(l *lab.Lab, port uint16, queues int, cpus []int) (_ *CeilingForwarder, err error) {
	if len(cpus) == 0 || queues < 1 {
		return nil, fmt.Errorf("bench: ceiling: %d queues on CPUs %v", queues, cpus)
	}
	spec, err := loadSpec()
	if err != nil {
		return nil, err
	}
	c := &CeilingForwarder{}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	if err := loadInto(spec, &c.objs); err != nil {
		return nil, err
	}
	if err := c.objs.Cfg.Put(uint32(0), sinkConf(make(net.HardwareAddr, 6), port)); err != nil {
		return nil, fmt.Errorf("configuring the ceiling's classifier: %w", err)
	}
	for _, ns := range l.ServerNS {
		_, mac, err := ifaceIn(ns, lab.HostIf)
		if err != nil {
			return nil, err
		}
		c.dstMACs = append(c.dstMACs, mac)
	}
	// Sockets must be created in the director namespace; their
	// descriptors then work from any thread.
	err = lab.Do(l.LBNS, func() error {
		wan, err := net.InterfaceByName(l.WANIf)
		if err != nil {
			return err
		}
		lan, err := net.InterfaceByName(l.LANIf)
		if err != nil {
			return err
		}
		c.lanMAC = lan.HardwareAddr
		for q := 0; q < queues; q++ {
			ws, err := openSocket(wan.Index, q)
			if err != nil {
				return fmt.Errorf("%s queue %d: %w", l.WANIf, q, err)
			}
			c.wan = append(c.wan, ws)
			if err := c.objs.Xsks.Put(uint32(q), uint32(ws.FD())); err != nil {
				return fmt.Errorf("registering the %s queue %d socket: %w", l.WANIf, q, err)
			}
			ls, err := openSocket(lan.Index, q)
			if err != nil {
				return fmt.Errorf("%s queue %d: %w", l.LANIf, q, err)
			}
			c.lan = append(c.lan, ls)
		}
		c.link, err = link.AttachXDP(link.XDPOptions{Program: c.objs.Prog, Interface: wan.Index})
		if err != nil {
			return fmt.Errorf("attaching XDP to %s: %w", l.WANIf, err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("bench: ceiling: %w", err)
	}
	c.workers = placeCeiling(queues, cpus)
	c.tids = make([]atomic.Int64, len(c.workers))
	for i, w := range c.workers {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			// A thread of its own, pinned, destroyed when the worker ends.
			err := runPinned([]int{w.CPU}, func() error {
				c.tids[i].Store(int64(unix.Gettid()))
				defer c.tids[i].Store(0)
				c.run(w.Queues)
				return nil
			})
			if err != nil {
				c.mu.Lock()
				c.errs = append(c.errs, fmt.Errorf("ceiling worker %d: %w", i, err))
				c.mu.Unlock()
			}
		}()
	}
	return c, nil
}

// run is one worker: receive a batch on each of its wan queues, copy each
// frame into a lan transmit frame with new MACs, kick, recycle; sleep in
// poll when idle.
func (c *CeilingForwarder) run(queues []int) {
	tx := c.lan[queues[0]]
	var descs [ceilingBatch]xsk.Desc
	var src [6]byte
	copy(src[:], c.lanMAC)
	dsts := make([][6]byte, len(c.dstMACs))
	for i, m := range c.dstMACs {
		copy(dsts[i][:], m)
	}
	var fds []unix.PollFd
	for _, q := range queues {
		fds = append(fds, unix.PollFd{Fd: int32(c.wan[q].FD()), Events: unix.POLLIN})
	}
	var next int
	var fwd, full uint64
	for !c.stop.Load() {
		got := 0
		for _, q := range queues {
			rx := c.wan[q]
			n := rx.Receive(descs[:])
			for i := 0; i < n; i++ {
				d := descs[i]
				frame := rx.Frame(d)
				addr, buf, ok := tx.TxFrame()
				if !ok || len(frame) > len(buf) || len(frame) < 14 {
					if ok {
						tx.Abandon(addr)
					}
					full++
					rx.Refill(d.Addr)
					continue
				}
				copy(buf, frame)
				copy(buf[0:6], dsts[next][:])
				copy(buf[6:12], src[:])
				if next++; next == len(dsts) {
					next = 0
				}
				tx.Send(addr, len(frame))
				rx.Refill(d.Addr)
				fwd++
			}
			if n > 0 {
				rx.Flush()
			}
			got += n
		}
		if tx.Pending() > 0 {
			_ = tx.Kick()
		} else {
			tx.Complete()
		}
		if got == 0 {
			timeout := 100
			if tx.Pending() > 0 {
				timeout = 1
			}
			_, _ = unix.Poll(fds, timeout)
		}
	}
	c.forwarded.Add(fwd)
	c.txFull.Add(full)
}

// Stop stops the workers (waiting at most a few seconds), detaches the
// classifier and closes the sockets. It is safe on a partly started
// CeilingForwarder.
func (c *CeilingForwarder) Stop() error {
	c.stop.Store(true)
	done := make(chan struct{})
	go func() { c.wg.Wait(); close(done) }()
	var errs []error
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		// Workers wake from poll within 100 ms; this would be a bug.
		// Closing sockets under a running worker is not safe, so leave
		// them to the process's exit.
		return errors.New("bench: ceiling workers did not stop within 5s")
	}
	if c.link != nil {
		errs = append(errs, c.link.Close())
		c.link = nil
	}
	for _, s := range c.wan {
		if st, err := s.KernelStats(); err == nil {
			c.stats.Rx_dropped += st.Rx_dropped
			c.stats.Rx_ring_full += st.Rx_ring_full
			c.stats.Rx_fill_ring_empty_descs += st.Rx_fill_ring_empty_descs
		}
	}
	for _, s := range append(c.wan, c.lan...) {
		errs = append(errs, s.Close())
	}
	c.wan, c.lan = nil, nil
	errs = append(errs, c.objs.Prog.Close(), c.objs.Cfg.Close(), c.objs.Xsks.Close())
	c.mu.Lock()
	errs = append(errs, c.errs...)
	c.mu.Unlock()
	return errors.Join(errs...)
}

// ThreadTimes returns the CPU time the running workers' threads used so
// far, in clock ticks, summed.
func (c *CeilingForwarder) ThreadTimes() ProcTimes { return tidTimes(c.tids) }

// Placement describes the workers: "worker 0 on CPU 1: queues 0,1".
func (c *CeilingForwarder) Placement() []string {
	var out []string
	for i, w := range c.workers {
		qs := make([]string, len(w.Queues))
		for j, q := range w.Queues {
			qs[j] = strconv.Itoa(q)
		}
		out = append(out, fmt.Sprintf("worker %d on CPU %d: queues %s", i, w.CPU, strings.Join(qs, ",")))
	}
	return out
}

// Forwarded returns the frames forwarded, those dropped for want of a
// transmit frame, and those the kernel dropped because a receive ring was
// full; valid after Stop.
func (c *CeilingForwarder) Forwarded() (forwarded, txFull, rxDropped uint64) {
	return c.forwarded.Load(), c.txFull.Load(), c.stats.Rx_dropped + c.stats.Rx_ring_full
}

// openSocket opens a copy-mode socket on the queue. xsk.Open waits out
// the moment in which the previous contender's closed sockets still hold
// the queue.
func openSocket(ifindex, queue int) (*xsk.Socket, error) {
	return xsk.Open(ifindex, queue, xsk.Options{Copy: true})
}
