//go:build linux

package bench

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/xvs-project/xvs/lab"
	"golang.org/x/sys/unix"
)

// Sizing of one BPF_PROG_RUN call of the generator: each call sets up a page
// pool, so calls are made long (callTarget), but not so long that stopping
// waits for them.
const (
	callTarget = 200 * time.Millisecond
	minRepeat  = 1 << 12
	maxRepeat  = 1 << 22
	// firstRepeat is small so that a slow path cannot make the first call
	// long; later calls are sized from the rate the previous one reached.
	firstRepeat = 1 << 14
)

// genObjs is the generator program and its maps.
type genObjs struct {
	Prog  *ebpf.Program `ebpf:"xvsb_gen"`
	Cfg   *ebpf.Map     `ebpf:"gen_cfg"`
	Count *ebpf.Map     `ebpf:"gen_count"`
}

// xdpMd is struct xdp_md, the context BPF_PROG_RUN takes for XDP.
type xdpMd struct {
	Data, DataEnd, DataMeta, IngressIfindex, RxQueueIndex, EgressIfindex uint32
}

// GeneratorConfig sets up a Generator.
type GeneratorConfig struct {
	// NS and Ifname name the interface frames leave from (XDP_TX).
	NS, Ifname string
	// Frame is what every frame looks like but for its UDP source port.
	Frame FrameSpec
	// SportBase and Flows: source ports are SportBase..SportBase+Flows-1,
	// split evenly over CPUs 0 up to the highest generating CPU, so each
	// flow always comes from the same CPU and so reaches the same queue of
	// the peer veth (a CPU that does not generate leaves its share unused).
	SportBase, Flows int
	// CPUs is the number of generating threads, pinned to CPUs
	// 0..CPUs-1, unless OnCPUs is given.
	CPUs int
	// OnCPUs lists the CPUs with one generating thread each, pinned
	// there; it overrides CPUs.
	OnCPUs []int
	// Queues is the number of receive queues of the interface; the thread
	// on CPU c claims queue c mod Queues in the run context.
	Queues int
	// Idle runs the generating threads under SCHED_IDLE, so they take only
	// CPU time nothing else wants.
	Idle bool
}

// Generator makes 64-byte UDP frames with BPF_PROG_RUN in live-frames mode.
type Generator struct {
	cfg     GeneratorConfig
	objs    genObjs
	ifindex int
	frame   [FrameLen]byte

	stop atomic.Bool
	wg   sync.WaitGroup
	mu   sync.Mutex
	errs []error
	tids []atomic.Int64
}

// NewGenerator loads and configures the generator program.
func NewGenerator(cfg GeneratorConfig) (_ *Generator, err error) {
	if len(cfg.OnCPUs) == 0 {
		for c := 0; c < cfg.CPUs; c++ {
			cfg.OnCPUs = append(cfg.OnCPUs, c)
		}
	}
	ncpu := 0
	for _, c := range cfg.OnCPUs {
		if c < 0 || c >= 1024 {
			return nil, fmt.Errorf("bench: generator CPU %d", c)
		}
		ncpu = max(ncpu, c+1)
	}
	if ncpu == 0 || cfg.Queues < 1 || cfg.Flows < ncpu || cfg.SportBase < 1 || cfg.SportBase+cfg.Flows > 65536 {
		return nil, fmt.Errorf("bench: bad generator config %+v", cfg)
	}
	g := &Generator{cfg: cfg, tids: make([]atomic.Int64, len(cfg.OnCPUs))}
	if g.frame, err = cfg.Frame.Template(); err != nil {
		return nil, err
	}
	if g.ifindex, _, err = ifaceIn(cfg.NS, cfg.Ifname); err != nil {
		return nil, err
	}
	spec, err := loadSpec()
	if err != nil {
		return nil, err
	}
	if err := loadInto(spec, &g.objs); err != nil {
		return nil, err
	}
	var c benchGenConf
	copy(c.Frame[:], g.frame[:])
	c.SportBase = uint32(cfg.SportBase)
	c.FlowsPerCpu = uint32(cfg.Flows / ncpu)
	c.Ncpu = uint32(ncpu)
	if err := g.objs.Cfg.Put(uint32(0), c); err != nil {
		g.Close()
		return nil, fmt.Errorf("configuring the generator: %w", err)
	}
	return g, nil
}

// Start starts one generating thread per CPU. It returns at once.
func (g *Generator) Start() {
	g.stop.Store(false)
	for i := range g.cfg.OnCPUs {
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			err := lab.Do(g.cfg.NS, func() error { return g.loop(i) })
			if err != nil {
				g.mu.Lock()
				g.errs = append(g.errs, err)
				g.mu.Unlock()
			}
		}()
	}
}

// loop runs thread i on its CPU in the generator's namespace until Stop.
func (g *Generator) loop(i int) error {
	cpu := g.cfg.OnCPUs[i]
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("bench: pinning generator thread to CPU %d: %w", cpu, err)
	}
	if g.cfg.Idle {
		attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_IDLE}
		if err := unix.SchedSetAttr(0, &attr, 0); err != nil {
			return fmt.Errorf("bench: SCHED_IDLE for the generator: %w", err)
		}
	}
	g.tids[i].Store(int64(unix.Gettid()))
	defer g.tids[i].Store(0)
	opts := ebpf.RunOptions{
		Data:  g.frame[:],
		Flags: unix.BPF_F_TEST_XDP_LIVE_FRAMES,
		Context: xdpMd{
			DataEnd:        FrameLen,
			IngressIfindex: uint32(g.ifindex),
			RxQueueIndex:   uint32(cpu % g.cfg.Queues),
		},
	}
	repeat := float64(firstRepeat)
	for !g.stop.Load() {
		opts.Repeat = uint32(repeat)
		t0 := time.Now()
		if _, err := g.objs.Prog.Run(&opts); err != nil {
			return fmt.Errorf("bench: generator on CPU %d: %w", cpu, err)
		}
		el := time.Since(t0).Seconds()
		next := repeat * 2
		if el > 0 {
			next = min(next, repeat*callTarget.Seconds()/el)
		}
		repeat = max(minRepeat, min(maxRepeat, next))
	}
	return nil
}

// Stop asks the threads to stop and waits for them, at most timeout (a
// thread finishes its current call first). It returns the threads' errors.
func (g *Generator) Stop(timeout time.Duration) error {
	g.stop.Store(true)
	done := make(chan struct{})
	go func() { g.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
		return fmt.Errorf("bench: the generator did not stop within %v", timeout)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	err := errors.Join(g.errs...)
	g.errs = nil
	return err
}

// Generated returns the number of frames generated so far.
func (g *Generator) Generated() (uint64, error) {
	var per []uint64
	if err := g.objs.Count.Lookup(uint32(0), &per); err != nil {
		return 0, fmt.Errorf("reading the generator's counter: %w", err)
	}
	var n uint64
	for _, v := range per {
		n += v
	}
	return n, nil
}

// ThreadTimes returns the CPU time the generating threads used so far, in
// clock ticks, summed (threads that are not running count nothing).
func (g *Generator) ThreadTimes() ProcTimes { return tidTimes(g.tids) }

// tidTimes sums the CPU times of this process's threads whose ids are
// in tids (0: no thread), from each task's own stat file: /proc/TID/stat
// would sum the whole process.
func tidTimes(tids []atomic.Int64) ProcTimes {
	var t ProcTimes
	for i := range tids {
		tid := tids[i].Load()
		if tid == 0 {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/stat", tid))
		if err != nil {
			continue
		}
		if pt, err := ParsePidStat(b); err == nil {
			t.UTime += pt.UTime
			t.STime += pt.STime
		}
	}
	return t
}

// Close unloads the program. Stop it first.
func (g *Generator) Close() error {
	return errors.Join(g.objs.Prog.Close(), g.objs.Cfg.Close(), g.objs.Count.Close())
}
