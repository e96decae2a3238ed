//go:build linux

// Package bench is the lab benchmark of xvs (`xvs bench`): it builds the
// netns lab once and runs, in turn and interleaved over rounds, the
// contenders on the same topology:
//
//   - xvs: the director, `xvs run` on the embedded configuration, started
//     by the caller's StartDirector (cmd/xvs passes its own startDirector);
//   - kernel-nat: no xvs; nftables DNAT with conntrack in the director
//     namespace, IPv4 forwarding on;
//   - ceiling: a bare AF_XDP forwarder (Ceiling) that only rewrites MAC
//     addresses: the most AF_XDP on these veths gives.
//
// For each it measures UDP frames per second delivered at the real servers
// (generated with BPF_PROG_RUN live frames, counted and dropped by XDP at
// the servers), the CPU spent per frame, TCP connections per second through
// the VIP and the latency of a request at a fixed rate, and summarizes every
// figure as min / median / max over the rounds. Nothing imports this
// package but cmd/xvs.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/xvs-project/xvs/lab"
)

// Contender names, in the order they run within a round.
const (
	XVS     = "xvs"
	Kernel  = "kernel-nat"
	Ceiling = "ceiling"
)

// AllContenders lists every contender in run order.
var AllContenders = []string{XVS, Kernel, Ceiling}

// Ports of the virtual services of the embedded configuration, which the
// benchmark uses: UDP frames go to VIP:UDPPort (the sink drops only those
// carrying Magic), TCP connections to VIP:TCPPort.
const (
	UDPPort = 53
	TCPPort = 80
)

// Director is a running xvs director.
type Director interface {
	// Pid is the process id of the xvs process, for /proc/PID/stat.
	Pid() int
	// Metrics scrapes its Prometheus metrics.
	Metrics() (map[string]float64, error)
	// Stop ends it (SIGTERM) and waits.
	Stop() error
	// Log returns what it wrote.
	Log() string
}

// StartDirectorFunc starts `xvs run` on its embedded configuration in the
// director namespace of l, with its files in dir and args added to its
// command line, and returns once it forwards.
type StartDirectorFunc func(l *lab.Lab, dir string, args ...string) (Director, error)

// Config sets up a benchmark. Zero values take the defaults.
type Config struct {
	// Duration is the measured window of each figure, per contender and
	// round (default 5s).
	Duration time.Duration
	// Rounds is the number of interleaved rounds (default 3).
	Rounds int
	// WarmUp runs traffic before the UDP window opens (default 1s).
	WarmUp time.Duration
	// Prefix names the lab (default "xvs-bench").
	Prefix string
	// Contenders to run, a subset of AllContenders (default all), always
	// in the order of AllContenders.
	Contenders []string
	// StartDirector starts xvs; required when XVS is a contender.
	StartDirector StartDirectorFunc
	// OutDir receives the CPU profiles of the xvs runs; "" for none.
	OutDir string
	// Flows is the number of UDP flows (source ports), default 10000.
	Flows int
	// Concurrency is the number of closed-loop TCP clients (default 32).
	Concurrency int
	// LatencyRate is the request rate of the latency figure (default 500/s).
	LatencyRate float64
	// Weights of rs1..rsN in the kernel contender's DNAT maps; default
	// 3,2,1 as in xvs's embedded configuration.
	Weights []int
	// GoBench runs the Go benchmarks of the fast path in ModuleDir after
	// the lab part.
	GoBench   bool
	ModuleDir string
	// Log receives progress lines (default: discarded).
	Log io.Writer
}

// Defaults of Config.
const (
	DefaultDuration    = 5 * time.Second
	DefaultRounds      = 3
	DefaultWarmUp      = time.Second
	DefaultPrefix      = "xvs-bench"
	DefaultFlows       = 10000
	DefaultConcurrency = 32
	DefaultLatencyRate = 500
	// sportBase is the first UDP source port of the generated flows.
	sportBase = 10000
)

func (c *Config) fill() error {
	if c.Duration == 0 {
		c.Duration = DefaultDuration
	}
	if c.Rounds == 0 {
		c.Rounds = DefaultRounds
	}
	if c.WarmUp == 0 {
		c.WarmUp = DefaultWarmUp
	}
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if len(c.Contenders) == 0 {
		c.Contenders = AllContenders
	}
	if c.Flows == 0 {
		c.Flows = DefaultFlows
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.LatencyRate == 0 {
		c.LatencyRate = DefaultLatencyRate
	}
	if len(c.Weights) == 0 {
		c.Weights = []int{3, 2, 1}
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	switch {
	case c.Duration < 100*time.Millisecond || c.Duration > 10*time.Minute:
		return fmt.Errorf("bench: duration %v out of 100ms..10m", c.Duration)
	case c.Rounds < 1 || c.Rounds > 100:
		return fmt.Errorf("bench: rounds %d out of 1..100", c.Rounds)
	case c.WarmUp < 0 || c.WarmUp > time.Minute:
		return fmt.Errorf("bench: warm-up %v out of 0..1m", c.WarmUp)
	case c.Flows < 2 || c.Flows > 65536-sportBase:
		return fmt.Errorf("bench: flows %d out of 2..%d", c.Flows, 65536-sportBase)
	case c.Concurrency < 1 || c.Concurrency > lab.MaxConcurrency:
		return fmt.Errorf("bench: concurrency %d out of 1..%d", c.Concurrency, lab.MaxConcurrency)
	case c.LatencyRate < 1 || c.LatencyRate > 100000:
		return fmt.Errorf("bench: latency rate %v out of 1..100000", c.LatencyRate)
	}
	var cs []string
	for _, want := range AllContenders {
		for _, got := range c.Contenders {
			if got == want {
				cs = append(cs, want)
				break
			}
		}
	}
	for _, got := range c.Contenders {
		if !strings.Contains(" "+strings.Join(AllContenders, " ")+" ", " "+got+" ") {
			return fmt.Errorf("bench: unknown contender %q (have %s)", got, strings.Join(AllContenders, ", "))
		}
	}
	c.Contenders = cs
	for _, cn := range cs {
		if cn == XVS && c.StartDirector == nil {
			return errors.New("bench: xvs is a contender but Config.StartDirector is nil")
		}
	}
	return nil
}

// UDPResult is one UDP window.
type UDPResult struct {
	Window time.Duration
	// Delivered counts benchmark frames that reached their real server
	// during the window; Generated those the generator made.
	Delivered, Generated uint64
	PerServer            []uint64
	// Foreign counts frames flooded to a server they were not for.
	Foreign uint64
	// CPU is the sum over CPUs of /proc/stat's per-CPU deltas (ticks);
	// PerCPU holds each CPU's delta.
	CPU    CPUTimes
	PerCPU []CPUTimes
	// Generator is the generating threads' own CPU time (ticks).
	Generator ProcTimes
	// Director is the xvs process's CPU time (ticks), for xvs only.
	Director *ProcTimes `json:",omitempty"`
	// Self is this process's CPU time (ticks): the generator, the lab's
	// servers, the ceiling's workers.
	Self ProcTimes
}

// Busy is the CPU time of every state but idle and iowait, in ticks.
func (u UDPResult) Busy() uint64 {
	return u.CPU.User + u.CPU.Nice + u.CPU.System + u.CPU.IRQ + u.CPU.SoftIRQ + u.CPU.Steal
}

// Others estimates, in ticks, the CPU time of processes that are not part
// of the benchmark: busy time minus this process's and the director's. The
// kernel's packet work is charged to whichever task it interrupted, so
// this is near zero on a quiet machine.
func (u UDPResult) Others() uint64 {
	ours := u.Self.UTime + u.Self.STime
	if u.Director != nil {
		ours += u.Director.UTime + u.Director.STime
	}
	if b := u.Busy(); b > ours {
		return b - ours
	}
	return 0
}

// FPS is frames delivered per second.
func (u UDPResult) FPS() float64 { return float64(u.Delivered) / u.Window.Seconds() }

// perFrame converts ticks to nanoseconds per delivered frame.
func (u UDPResult) perFrame(ticks uint64) float64 {
	if u.Delivered == 0 {
		return math.NaN()
	}
	return float64(ticks) * TickNs / float64(u.Delivered)
}

// LatencyResult is one paced latency run.
type LatencyResult struct {
	OK, Failed int
	Errors     map[string]int `json:",omitempty"`
	// P50, P99 and Max are of the latencies, from a request's start to
	// the end of its response.
	P50, P99, Max time.Duration
	// LagP99 is the 99th percentile of how late requests started.
	LagP99  time.Duration
	Rate    float64
	Elapsed time.Duration
}

// RunResult is one contender in one round.
type RunResult struct {
	Contender string
	Round     int
	UDP       *UDPResult     `json:",omitempty"`
	ConnRate  *TCPResult     `json:",omitempty"`
	Latency   *LatencyResult `json:",omitempty"`
	// Metrics holds the director's non-zero counters after the UDP window
	// (xvs only).
	Metrics map[string]float64 `json:",omitempty"`
	// Forwarded, TxFull and RxDropped are the ceiling's own counts (over
	// the whole run, warm-up included): frames forwarded, dropped for want
	// of a transmit frame, dropped by the kernel for a full receive ring.
	Forwarded, TxFull, RxDropped uint64 `json:",omitempty"`
	Err                          string `json:",omitempty"`
}

// Run builds the lab, runs every contender in every round and returns the
// report. It removes everything it made before returning, also when ctx is
// cancelled. A run that fails is recorded in the report (its figures are
// missing) and makes Run return an error besides the report; a cancelled
// ctx ends the benchmark early with ctx's error.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("bench: must run as root (network namespaces, XDP, AF_XDP)")
	}
	started := time.Now()
	rep := newReport(cfg, started)
	logf := func(format string, a ...any) { fmt.Fprintf(cfg.Log, format+"\n", a...) }
	if la, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(la))
		if len(f) > 0 {
			if v, err := strconv.ParseFloat(f[0], 64); err == nil && v >= 0.5 {
				rep.Notes = append(rep.Notes, fmt.Sprintf("the 1-minute load average was %s when the benchmark started: something else may have been using the CPUs", f[0]))
			}
		}
	}

	profiles, err := runLab(ctx, cfg, rep, logf)
	if len(rep.Runs) == 0 && err != nil {
		return nil, err
	}
	runErr := err
	for _, r := range rep.Runs {
		if u := r.UDP; u != nil && u.Busy() > 0 && u.Others()*10 > u.Busy() {
			rep.Notes = append(rep.Notes, fmt.Sprintf("%s round %d: %.0f%% of the CPU time in the UDP window went to processes outside the benchmark; its figures are disturbed",
				r.Contender, r.Round, 100*float64(u.Others())/float64(u.Busy())))
		}
	}
	rep.Profiles = profiles
	if cfg.OutDir != "" && len(profiles) > 0 && ctx.Err() == nil {
		rep.Profile, rep.ProfileTop, err = mergeProfiles(ctx, cfg.OutDir, profiles)
		if err != nil {
			rep.Notes = append(rep.Notes, "profiles not merged: "+err.Error())
		}
	}
	if cfg.GoBench && ctx.Err() == nil {
		logf("== Go benchmarks of the fast path")
		gb := RunGoBench(ctx, cfg.ModuleDir)
		rep.GoBench = &gb
	}
	rep.finish(started)
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	return rep, runErr
}

// runLab builds the lab and its instruments, runs every contender in every
// round (appending to rep.Runs), removes everything, and returns the paths
// of the xvs CPU profiles written. Its error joins the failed runs' errors,
// or is ctx's error when cancelled, or is why the lab could not be set up
// (then rep.Runs is empty).
func runLab(ctx context.Context, cfg Config, rep *Report, logf func(string, ...any)) (profiles []string, err error) {
	lc := lab.Default()
	lc.Prefix = cfg.Prefix
	logf("== building lab %s", cfg.Prefix)
	l, err := lab.Up(lc)
	if err != nil {
		return nil, err
	}
	// Deferred calls run in reverse: generator and sinks go first, then
	// the namespaces (which takes every interface and the processes and
	// XDP links in them).
	defer func() {
		if derr := l.Down(); derr != nil {
			logf("lab down: %v", derr)
			err = errors.Join(err, fmt.Errorf("lab down: %w", derr))
		}
	}()
	if err := l.StartServers(); err != nil {
		return nil, err
	}
	sinks, err := AttachSinks(l, UDPPort)
	if err != nil {
		return nil, err
	}
	defer sinks.Close()
	_, wanMAC, err := ifaceIn(l.LBNS, l.WANIf)
	if err != nil {
		return nil, err
	}
	_, cliMAC, err := ifaceIn(l.ClientNS, lab.HostIf)
	if err != nil {
		return nil, err
	}
	// The generator runs under SCHED_IDLE: on these 2 CPUs a generator at
	// normal priority takes half of each CPU from xvs's (and the
	// ceiling's) workers and halves what they forward, while the kernel
	// forwards in softirq on the generator's own time either way.
	gen, err := NewGenerator(GeneratorConfig{
		NS: l.ClientNS, Ifname: lab.HostIf,
		Frame:     FrameSpec{SrcMAC: cliMAC, DstMAC: wanMAC, Src: l.ClientAddr, Dst: l.VIP, DstPort: UDPPort},
		SportBase: sportBase, Flows: cfg.Flows, CPUs: min(runtime.NumCPU(), lc.Queues), Queues: lc.Queues, Idle: true,
	})
	if err != nil {
		return nil, err
	}
	defer gen.Close()

	r := &runner{cfg: cfg, l: l, sinks: sinks, gen: gen, logf: logf}
	var runErrs []error
	for round := 1; round <= cfg.Rounds; round++ {
		for _, c := range cfg.Contenders {
			if err := ctx.Err(); err != nil {
				return r.profiles, err
			}
			logf("== round %d/%d: %s", round, cfg.Rounds, c)
			res := r.run(ctx, c, round)
			rep.Runs = append(rep.Runs, res)
			if err := ctx.Err(); err != nil {
				return r.profiles, err
			}
			if res.Err != "" {
				logf("   %s round %d failed: %s", c, round, res.Err)
				runErrs = append(runErrs, fmt.Errorf("%s round %d: %s", c, round, res.Err))
			} else {
				logf("   %s", res.line())
			}
		}
	}
	return r.profiles, errors.Join(runErrs...)
}

// runner holds what every run needs.
type runner struct {
	cfg      Config
	l        *lab.Lab
	sinks    *Sinks
	gen      *Generator
	logf     func(string, ...any)
	profiles []string
}

// run measures one contender once; errors go into the result.
func (r *runner) run(ctx context.Context, c string, round int) (res RunResult) {
	res = RunResult{Contender: c, Round: round}
	fail := func(err error) RunResult {
		res.Err = err.Error()
		return res
	}
	warmNeighbours(r.l)
	var (
		dir  Director
		stop func() error
	)
	switch c {
	case XVS:
		tmp, err := os.MkdirTemp("", "xvs-bench-")
		if err != nil {
			return fail(err)
		}
		defer os.RemoveAll(tmp)
		var args []string
		if r.cfg.OutDir != "" {
			p, err := filepath.Abs(filepath.Join(r.cfg.OutDir, fmt.Sprintf("xvs-round%d.pprof", round)))
			if err != nil {
				return fail(err)
			}
			args = append(args, "--cpuprofile", p)
			defer func() {
				if st, err := os.Stat(p); err == nil && st.Size() > 0 {
					r.profiles = append(r.profiles, p)
				}
			}()
		}
		// The previous contender's AF_XDP sockets may hold the queues
		// for a moment more; xsk.Open waits that out.
		d, err := r.cfg.StartDirector(r.l, tmp, args...)
		if err != nil {
			return fail(err)
		}
		dir = d
		stop = d.Stop
	case Kernel:
		svcs := []NATService{
			{Proto: "udp", Port: UDPPort, Reals: r.l.ServerAddrs, Weights: r.weights()},
			{Proto: "tcp", Port: TCPPort, Reals: r.l.ServerAddrs, Weights: r.weights()},
		}
		k, err := StartKernelNAT(ctx, r.l, svcs)
		if err != nil {
			return fail(err)
		}
		stop = k.Stop
	case Ceiling:
		cl, err := StartCeiling(r.l, UDPPort, lab.DefaultQueues)
		if err != nil {
			return fail(err)
		}
		stop = func() error {
			err := cl.Stop()
			res.Forwarded, res.TxFull, res.RxDropped = cl.Forwarded()
			return err
		}
	}
	defer func() {
		if err := stop(); err != nil && res.Err == "" {
			res.Err = "stopping: " + err.Error()
			if dir != nil {
				res.Err += "\n" + dir.Log()
			}
		}
	}()

	u, err := r.udp(ctx, dir)
	if err != nil {
		return fail(err)
	}
	res.UDP = &u
	if dir != nil {
		if m, err := dir.Metrics(); err == nil {
			res.Metrics = map[string]float64{}
			for k, v := range m {
				if v != 0 && strings.HasPrefix(k, "xvs_") {
					res.Metrics[k] = v
				}
			}
		}
	}
	if c == Ceiling {
		return res
	}
	target := netip.AddrPortFrom(r.l.VIP, TCPPort)
	cr, err := ConnRate(ctx, r.l.ClientNS, target, r.cfg.Concurrency, r.cfg.Duration)
	if err != nil {
		return fail(fmt.Errorf("TCP connection rate: %w", err))
	}
	res.ConnRate = &cr
	if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
		return fail(err)
	}
	lr, err := PacedLatency(ctx, r.l.ClientNS, target, r.cfg.LatencyRate, r.cfg.Duration, 16)
	if err != nil {
		return fail(fmt.Errorf("TCP latency: %w", err))
	}
	res.Latency = &LatencyResult{
		OK: lr.OK, Failed: lr.Failed, Errors: lr.Errors, Rate: r.cfg.LatencyRate, Elapsed: lr.Elapsed,
		P50: lr.Percentile(50), P99: lr.Percentile(99), Max: lr.Percentile(100),
		LagP99: percentile(lr.Lags, 99),
	}
	return res
}

// weights returns the configured weights fitted to the lab's servers.
func (r *runner) weights() []int {
	w := make([]int, len(r.l.ServerAddrs))
	for i := range w {
		w[i] = 1
		if i < len(r.cfg.Weights) {
			w[i] = r.cfg.Weights[i]
		}
	}
	return w
}

// udp runs the generator, opens the window after the warm-up and reads
// every counter at both ends of it.
func (r *runner) udp(ctx context.Context, dir Director) (UDPResult, error) {
	var u UDPResult
	r.gen.Start()
	stopped := false
	defer func() {
		if !stopped {
			r.gen.Stop(5 * time.Second)
		}
	}()
	if err := sleepCtx(ctx, min(r.cfg.WarmUp, r.cfg.Duration)); err != nil {
		return u, err
	}
	type snap struct {
		t    time.Time
		sink SinkCount
		gen  uint64
		stat ProcStat
		gthr ProcTimes
		dir  ProcTimes
		self ProcTimes
	}
	take := func() (s snap, err error) {
		if dir != nil {
			if s.dir, err = ReadPidStat(dir.Pid()); err != nil {
				return s, fmt.Errorf("reading the director's CPU time: %w", err)
			}
		}
		s.gthr = r.gen.ThreadTimes()
		if s.self, err = ReadPidStat(os.Getpid()); err != nil {
			return s, err
		}
		if s.stat, err = ReadProcStat(); err != nil {
			return s, err
		}
		if s.sink, err = r.sinks.Count(); err != nil {
			return s, err
		}
		if s.gen, err = r.gen.Generated(); err != nil {
			return s, err
		}
		s.t = time.Now()
		return s, nil
	}
	a, err := take()
	if err != nil {
		return u, err
	}
	if err := sleepCtx(ctx, r.cfg.Duration); err != nil {
		return u, err
	}
	b, err := take()
	if err != nil {
		return u, err
	}
	stopped = true
	if err := r.gen.Stop(5 * time.Second); err != nil {
		return u, err
	}
	u.Window = b.t.Sub(a.t)
	u.Delivered = b.sink.Delivered - a.sink.Delivered
	u.Foreign = b.sink.Foreign - a.sink.Foreign
	for i := range b.sink.PerServer {
		u.PerServer = append(u.PerServer, b.sink.PerServer[i]-a.sink.PerServer[i])
	}
	u.Generated = b.gen - a.gen
	d := b.stat.Sub(a.stat)
	u.PerCPU = d.PerCPU
	u.CPU = d.SumPerCPU()
	u.Generator = b.gthr.Sub(a.gthr)
	u.Self = b.self.Sub(a.self)
	if dir != nil {
		pt := b.dir.Sub(a.dir)
		u.Director = &pt
	}
	// Let the queues drain before the next phase.
	_ = sleepCtx(ctx, 200*time.Millisecond)
	if u.Delivered == 0 {
		return u, fmt.Errorf("no UDP frame reached the real servers (%d generated)", u.Generated)
	}
	return u, nil
}

// warmNeighbours makes the director namespace's kernel resolve every real
// server (and the servers resolve it), so ARP is done and the switch's
// bridge knows every server's MAC before a contender starts: the ceiling
// sends to MACs directly, and a bridge floods frames to unknown MACs.
func warmNeighbours(l *lab.Lab) {
	_ = lab.Do(l.LBNS, func() error {
		c, err := net.ListenPacket("udp4", ":0")
		if err != nil {
			return err
		}
		defer c.Close()
		for _, a := range l.ServerAddrs {
			c.WriteTo([]byte("xvs-bench warm-up"), net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, UDPPort)))
		}
		buf := make([]byte, 512)
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		for range l.ServerAddrs {
			if _, _, err := c.ReadFrom(buf); err != nil {
				break
			}
		}
		return nil
	})
}

// sleepCtx sleeps for d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// line is a one-line summary of a run for the progress log.
func (r RunResult) line() string {
	var parts []string
	if r.UDP != nil {
		parts = append(parts, fmt.Sprintf("UDP %.3f Mframes/s delivered (%.3f generated)", r.UDP.FPS()/1e6, float64(r.UDP.Generated)/r.UDP.Window.Seconds()/1e6))
	}
	if r.ConnRate != nil {
		parts = append(parts, fmt.Sprintf("TCP %.0f conn/s (%d failed)", r.ConnRate.Rate(), r.ConnRate.Failed))
	}
	if r.Latency != nil {
		parts = append(parts, fmt.Sprintf("latency p50 %v p99 %v (%d failed)", r.Latency.P50.Round(time.Microsecond), r.Latency.P99.Round(time.Microsecond), r.Latency.Failed))
	}
	return strings.Join(parts, ", ")
}
