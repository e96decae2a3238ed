package dataplane

// WorkerCounters returns the counters of each worker, indexed by worker
// number (what Counters sums). It reads the published atomics, so it is
// safe to call while the workers run; the workers publish once per round,
// so a snapshot may trail by one batch.
func (d *Dataplane) WorkerCounters() []Counters {
	d.wmu.RLock()
	defer d.wmu.RUnlock()
	out := make([]Counters, len(d.workers))
	for _, w := range d.workers {
		c := &out[w.index]
		for i := range c {
			c[i] = w.published[i].Load()
		}
	}
	return out
}

// Layout is where the dataplane runs: each interface's active channels and
// XDP mode, and each worker's CPU and queues, with every queue's counters.
// It is what `xvs list --queues` prints and the metrics export.
type Layout struct {
	// AllowedCPUs are the CPUs the process was allowed at start; CPUs
	// those the workers were given (the cpus keyword, or all allowed).
	AllowedCPUs, CPUs []int
	Interfaces        []InterfaceLayout
	Workers           []WorkerLayout
	// Relayouts counts the times the workers were laid out again after
	// the channels changed; LayoutErrors those that failed.
	Relayouts, LayoutErrors uint64
}

// InterfaceLayout describes one interface of the dataplane.
type InterfaceLayout struct {
	Name, Side string // side: "wan" or "lan"
	Channels   int    // active receive queues, all served
	// ChannelsFrom is where Channels was read: "ethtool" or "sysfs".
	ChannelsFrom string
	// XDPMode is how the classifier is attached: "native" (driver) or
	// "generic" (skb).
	XDPMode string
}

// WorkerLayout is one worker: its CPU and its queues.
type WorkerLayout struct {
	Worker, CPU          int
	WANQueues, LANQueues []int
	// SocketMode is how its first socket is bound (xsk.Mode.String:
	// "copy" or "zero-copy", with ", need_wakeup" and ", shared UMEM"
	// where the kernel gave them); each queue has its own.
	SocketMode string
	Queues     []QueueLayout
}

// QueueLayout is one receive queue of one side, served by a worker.
type QueueLayout struct {
	Side  string
	Queue int
	// Mode is how the queue's AF_XDP socket is bound (xsk.Mode.String).
	Mode            string
	Frames, Batches uint64
}

// Layout returns the current layout and per-queue counters.
func (d *Dataplane) Layout() Layout {
	d.wmu.RLock()
	defer d.wmu.RUnlock()
	allowed, _ := AllowedCPUs()
	l := Layout{AllowedCPUs: allowed, CPUs: append([]int(nil), d.cpus...),
		Relayouts: d.relayouts.Load(), LayoutErrors: d.layoutErrors.Load()}
	for i, link := range [2]string{d.cfg.WAN, d.cfg.LAN} {
		l.Interfaces = append(l.Interfaces, InterfaceLayout{Name: link, Side: [2]string{"wan", "lan"}[i],
			Channels: d.channels[i].Rx, ChannelsFrom: d.channels[i].Source, XDPMode: d.xdpMode[i]})
	}
	for i, wp := range d.plan {
		w := d.workers[i]
		wl := WorkerLayout{Worker: i, CPU: wp.CPU, WANQueues: wp.WANQueues, LANQueues: wp.LANQueues}
		for _, ports := range [2][]*port{w.wanPorts, w.lanPorts} {
			for _, p := range ports {
				wl.Queues = append(wl.Queues, QueueLayout{Side: p.role.String(), Queue: p.queue, Mode: p.mode,
					Frames: p.counts.Frames.Load(), Batches: p.counts.Batches.Load()})
			}
		}
		if len(wl.Queues) > 0 {
			wl.SocketMode = wl.Queues[0].Mode
		}
		l.Workers = append(l.Workers, wl)
	}
	return l
}

// String returns "wan" or "lan".
func (r Role) String() string {
	if r == RoleLAN {
		return "lan"
	}
	return "wan"
}
