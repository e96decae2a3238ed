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
// Each contender runs twice per round, in two placements of the work on
// the CPUs:
//
//   - router box (the headline): the director alone on its CPUs (default
//     the last one): xvs under a CPU mask as taskset gives it, the ceiling's
//     workers pinned there, and the director's veths' receive work in
//     threaded NAPI kernel threads pinned there too (RPS where a veth has no
//     NAPI), while the generator, the sinks, the client and the servers run
//     on the other CPUs, with receive packet steering on the director's
//     peers. Offered UDP load exceeds what the director forwards; the
//     figures are frames delivered per second and per second of the
//     director CPUs' time (all of it, softirq included, from /proc/stat),
//     and the TCP figures: connections per second, request latency and
//     bulk throughput with 1500-byte frames.
//   - shared: everything on every CPU, the generator under SCHED_IDLE, the
//     kernel's receive work in softirq where it is raised; the figure is
//     the total CPU time per frame delivered.
//
// UDP frames are generated with BPF_PROG_RUN live frames and counted and
// dropped by XDP at the servers. Every figure is summarized as min /
// median / max over the rounds; the report is a table (text, Markdown,
// JSON) and a chart (SVG). Nothing imports this package but cmd/xvs.
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
	"slices"
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

// Placements of the work on the CPUs (UDPResult.Mode, Setup.Mode).
const (
	// RouterBox puts the director alone on Config.DirectorCPUs and
	// everything else on Config.HostCPUs.
	RouterBox = "router-box"
	// Shared lets everything run on every CPU.
	Shared = "shared"
)

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
	// DirectorCPUs and HostCPUs split the CPUs for the router-box
	// placement: the director (xvs, the ceiling's workers, the NAPI
	// threads of its veths) on DirectorCPUs, the generator, sinks, client
	// and servers on HostCPUs. They must be disjoint and allowed to this
	// process; default: the highest allowed CPU for the director, the
	// others for the hosts. With a single CPU there is no router box.
	DirectorCPUs, HostCPUs []int
	// BulkStreams is the number of parallel TCP streams of the bulk
	// figure (default 4).
	BulkStreams int
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
	DefaultBulkStreams = 4
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
	if c.BulkStreams == 0 {
		c.BulkStreams = DefaultBulkStreams
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
	case c.BulkStreams < 1 || c.BulkStreams > 256:
		return fmt.Errorf("bench: bulk streams %d out of 1..256", c.BulkStreams)
	}
	if err := c.fillCPUs(); err != nil {
		return err
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

// fillCPUs defaults and checks DirectorCPUs and HostCPUs against the CPUs
// this process may use. With fewer than two CPUs both stay empty: no
// router box.
func (c *Config) fillCPUs() error {
	allowed, err := AllowedCPUs()
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if len(c.DirectorCPUs) == 0 && len(c.HostCPUs) == 0 {
		if len(allowed) < 2 {
			return nil
		}
		c.DirectorCPUs = allowed[len(allowed)-1:]
		c.HostCPUs = slices.Clone(allowed[:len(allowed)-1])
		return nil
	}
	if len(c.DirectorCPUs) == 0 || len(c.HostCPUs) == 0 {
		return errors.New("bench: give both the director's and the hosts' CPUs, or neither")
	}
	for _, cpu := range append(slices.Clone(c.DirectorCPUs), c.HostCPUs...) {
		if !slices.Contains(allowed, cpu) {
			return fmt.Errorf("bench: CPU %d is not one this process may use (%s)", cpu, FormatCPUs(allowed))
		}
	}
	for _, cpu := range c.DirectorCPUs {
		if slices.Contains(c.HostCPUs, cpu) {
			return fmt.Errorf("bench: CPU %d is both the director's and the hosts'", cpu)
		}
	}
	return nil
}

// UDPResult is one UDP window.
type UDPResult struct {
	// Mode is the placement (RouterBox or Shared); DirectorCPUs and
	// HostCPUs are its CPUs (in Shared both are every CPU).
	Mode                   string
	DirectorCPUs, HostCPUs []int
	Window                 time.Duration
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
	// Forwarder is the forwarding threads' CPU time: the xvs process, or
	// the ceiling's workers (ticks); nil for the kernel.
	Forwarder *ProcTimes `json:",omitempty"`
	// NAPI is the CPU time of the director's threaded NAPI kernel threads
	// (router box only; ticks).
	NAPI ProcTimes
	// SoftnetDropped counts frames the CPUs' backlogs dropped (full
	// backlog: netif_rx and RPS), per CPU.
	SoftnetDropped []uint64 `json:",omitempty"`
	// Self is this process's CPU time (ticks): the generator, the lab's
	// servers, the ceiling's workers.
	Self ProcTimes
}

// busyOf is the CPU time of every state but idle and iowait.
func busyOf(c CPUTimes) uint64 {
	return c.User + c.Nice + c.System + c.IRQ + c.SoftIRQ + c.Steal
}

// Busy is the CPU time of every state but idle and iowait, in ticks.
func (u UDPResult) Busy() uint64 { return busyOf(u.CPU) }

// busyOn sums the busy time of the given CPUs of per over a window of
// elapsed. The busy states of /proc/stat are sampled at the tick, but a
// tickless idle CPU has no tick: work it does in short bursts between idle
// periods (softirq after an IPI, as RPS raises) goes uncounted, while its
// idle time is measured exactly. So a CPU's busy time is the window less
// its idle and iowait time, or the sampled busy states where those add up
// to more.
func busyOn(per []CPUTimes, cpus []int, elapsed time.Duration) uint64 {
	window := uint64(elapsed.Seconds()*UserHZ + 0.5)
	var t uint64
	for _, c := range cpus {
		if c < 0 || c >= len(per) {
			continue
		}
		b := busyOf(per[c])
		if notIdle := window - min(window, per[c].Idle+per[c].IOWait); notIdle > b {
			b = notIdle
		}
		t += b
	}
	return t
}

// DirectorBusy is the busy time of the director's CPUs over the window
// (ticks): everything that ran there, softirq included (see busyOn).
func (u UDPResult) DirectorBusy() uint64 { return busyOn(u.PerCPU, u.DirectorCPUs, u.Window) }

// HostBusy is the busy time of the hosts' CPUs over the window (ticks),
// the generator's threads included.
func (u UDPResult) HostBusy() uint64 { return busyOn(u.PerCPU, u.HostCPUs, u.Window) }

// DirectorOthers estimates, in ticks, the time on the director's CPUs that
// was neither the forwarder's threads, nor its NAPI threads, nor softirq
// or irq: other processes that ran there (router box).
func (u UDPResult) DirectorOthers() uint64 {
	var ours uint64
	if u.Forwarder != nil {
		ours += u.Forwarder.UTime + u.Forwarder.STime
	}
	ours += u.NAPI.UTime + u.NAPI.STime
	for _, c := range u.DirectorCPUs {
		if c >= 0 && c < len(u.PerCPU) {
			ours += u.PerCPU[c].SoftIRQ + u.PerCPU[c].IRQ
		}
	}
	if b := u.DirectorBusy(); b > ours {
		return b - ours
	}
	return 0
}

// Others estimates, in ticks, the CPU time of processes that are not part
// of the benchmark: busy time minus this process's and the director's. The
// kernel's packet work is charged to whichever task it interrupted, so
// this is near zero on a quiet machine.
func (u UDPResult) Others() uint64 {
	ours := u.Self.UTime + u.Self.STime + u.NAPI.UTime + u.NAPI.STime
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

// CPUWindow is the CPU time spent during a TCP window.
type CPUWindow struct {
	Elapsed time.Duration
	// PerCPU holds each CPU's /proc/stat delta (ticks).
	PerCPU []CPUTimes
	// Forwarder and NAPI are as in UDPResult.
	Forwarder *ProcTimes `json:",omitempty"`
	NAPI      ProcTimes
}

// cpuSnap is one reading of the counters a window needs.
type cpuSnap struct {
	t       time.Time
	stat    ProcStat
	softnet Softnet
	fwd     *ProcTimes
	napi    ProcTimes
}

// sub returns the window from a to s.
func (s cpuSnap) sub(a cpuSnap) *CPUWindow {
	w := &CPUWindow{Elapsed: s.t.Sub(a.t), PerCPU: s.stat.Sub(a.stat).PerCPU, NAPI: s.napi.Sub(a.napi)}
	if s.fwd != nil && a.fwd != nil {
		d := s.fwd.Sub(*a.fwd)
		w.Forwarder = &d
	}
	return w
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

// Setup records how a contender ran in one placement: where its work
// was, in which modes, over how many queues. The report's conditions are
// made from it.
type Setup struct {
	Mode string
	// DirectorCPUs and HostCPUs as lists ("1", "0").
	DirectorCPUs, HostCPUs string
	// Allowed is the union of the CPUs the xvs process's threads may run
	// on (Cpus_allowed_list), read after it started; xvs only.
	Allowed string `json:",omitempty"`
	// WANXDP and LANXDP are the attach modes of the XDP programs on the
	// director's wan0 and lan0: native, generic, offload or none.
	WANXDP, LANXDP string
	// Sockets is the AF_XDP bind mode (copy, zero-copy), "" without
	// AF_XDP.
	Sockets string `json:",omitempty"`
	// WANQueues and LANQueues are the active channels of wan0 and lan0.
	WANQueues, LANQueues int
	// Workers describes the forwarding threads' placement.
	Workers []string `json:",omitempty"`
	// NAPI lists the director's threaded NAPI threads and their CPUs
	// (router box).
	NAPI []KThread `json:",omitempty"`
	// Steering says how each veth's receive work was placed.
	Steering []string `json:",omitempty"`
}

// RunResult is one contender in one round.
type RunResult struct {
	Contender string
	Round     int
	// RouterBox is the UDP window of the router-box placement, UDP that of
	// the shared one.
	RouterBox *UDPResult `json:",omitempty"`
	UDP       *UDPResult `json:",omitempty"`
	// ConnRate, its CPU, Latency and Bulk are measured in the router-box
	// placement (in the shared one where there is no router box).
	ConnRate *TCPResult     `json:",omitempty"`
	ConnCPU  *CPUWindow     `json:",omitempty"`
	Latency  *LatencyResult `json:",omitempty"`
	Bulk     *BulkResult    `json:",omitempty"`
	// Setups holds the conditions of each placement.
	Setups []Setup `json:",omitempty"`
	// Metrics holds the director's non-zero counters after the first UDP
	// window (xvs only).
	Metrics map[string]float64 `json:",omitempty"`
	// Forwarded, TxFull and RxDropped are the ceiling's own counts (over
	// its runs, warm-up included): frames forwarded, dropped for want of a
	// transmit frame, dropped by the kernel for a full receive ring.
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
	if len(cfg.DirectorCPUs) == 0 {
		rep.Notes = append(rep.Notes, "a single CPU: no router-box placement; every figure is of the shared placement")
	}

	profiles, err := runLab(ctx, cfg, rep, logf)
	if len(rep.Runs) == 0 && err != nil {
		return nil, err
	}
	runErr := err
	for _, r := range rep.Runs {
		rep.Notes = append(rep.Notes, runNotes(r)...)
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

// runNotes returns remarks about disturbed or doubtful windows of a run.
func runNotes(r RunResult) []string {
	var notes []string
	if u := r.UDP; u != nil && u.Busy() > 0 && u.Others()*10 > u.Busy() {
		notes = append(notes, fmt.Sprintf("%s round %d: %.0f%% of the CPU time in the shared UDP window went to processes outside the benchmark; its figures are disturbed",
			r.Contender, r.Round, 100*float64(u.Others())/float64(u.Busy())))
	}
	if u := r.RouterBox; u != nil && u.Delivered > 0 {
		var drops uint64
		for _, c := range u.HostCPUs {
			if c < len(u.SoftnetDropped) {
				drops += u.SoftnetDropped[c]
			}
		}
		if drops*100 > u.Delivered {
			notes = append(notes, fmt.Sprintf("%s round %d: the hosts' CPUs dropped %d frames from full backlogs in the router-box UDP window (%.1f%% of those delivered): the host side, not the director, limited it",
				r.Contender, r.Round, drops, 100*float64(drops)/float64(u.Delivered)))
		}
		win := float64(u.Window) / 1e9 * UserHZ * float64(len(u.DirectorCPUs))
		if o := u.DirectorOthers(); win > 0 && float64(o) > 0.1*win {
			notes = append(notes, fmt.Sprintf("%s round %d: %.0f%% of the director's CPU time in the router-box UDP window went to other processes; its figures are disturbed",
				r.Contender, r.Round, 100*float64(o)/win))
		}
		if win > 0 && float64(u.DirectorBusy()) < 0.8*win {
			notes = append(notes, fmt.Sprintf("%s round %d: the director's CPUs were busy only %.0f%% of the router-box UDP window: it was not overloaded",
				r.Contender, r.Round, 100*float64(u.DirectorBusy())/win))
		}
	}
	return notes
}

// runLab builds the lab and its instruments, runs every contender in every
// round (appending to rep.Runs), removes everything, and returns the paths
// of the xvs CPU profiles written. Its error joins the failed runs' errors,
// or is ctx's error when cancelled, or is why the lab could not be set up
// (then rep.Runs is empty).
func runLab(ctx context.Context, cfg Config, rep *Report, logf func(string, ...any)) (profiles []string, err error) {
	allCPUs, err := AllowedCPUs()
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	lc := lab.Default()
	lc.Prefix = cfg.Prefix
	logf("== building lab %s", cfg.Prefix)
	l, err := lab.Up(lc)
	if err != nil {
		return nil, err
	}
	// Deferred calls run in reverse: this process's CPU mask is given
	// back, generators and sinks go, then the namespaces (which takes
	// every interface and the processes and XDP links in them, and the
	// NAPI threads of their veths).
	defer func() {
		if derr := l.Down(); derr != nil {
			logf("lab down: %v", derr)
			err = errors.Join(err, fmt.Errorf("lab down: %w", derr))
		}
	}()
	defer func() {
		if perr := pinProcess(allCPUs); perr != nil {
			err = errors.Join(err, perr)
		}
	}()
	if err := l.StartServers(); err != nil {
		return nil, err
	}
	// The end hosts' veths send and take frames of at most the MTU: the
	// bulk figure is about 1500-byte frames, which no host merges or
	// splits.
	for _, ns := range append([]string{l.ClientNS}, l.ServerNS...) {
		if err := lab.SetSegmentationOffloads(ns, lab.HostIf, false); err != nil {
			return nil, err
		}
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
	newGen := func(cpus []int) (*Generator, error) {
		// Under SCHED_IDLE: the generator takes only the CPU time nothing
		// else on its CPUs wants (with shared CPUs, a generator at normal
		// priority takes half of each CPU from the forwarders' workers).
		return NewGenerator(GeneratorConfig{
			NS: l.ClientNS, Ifname: lab.HostIf,
			Frame:     FrameSpec{SrcMAC: cliMAC, DstMAC: wanMAC, Src: l.ClientAddr, Dst: l.VIP, DstPort: UDPPort},
			SportBase: sportBase, Flows: cfg.Flows, OnCPUs: cpus, Queues: lc.Queues, Idle: true,
		})
	}
	r := &runner{cfg: cfg, l: l, sinks: sinks, logf: logf, queues: lc.Queues}
	shared := &placement{mode: Shared, director: allCPUs, host: allCPUs}
	if shared.gen, err = newGen(allCPUs[:min(len(allCPUs), lc.Queues)]); err != nil {
		return nil, err
	}
	defer shared.gen.Close()
	if len(cfg.DirectorCPUs) > 0 {
		r.rb = &placement{mode: RouterBox, director: cfg.DirectorCPUs, host: cfg.HostCPUs}
		if r.rb.gen, err = newGen(cfg.HostCPUs[:min(len(cfg.HostCPUs), lc.Queues)]); err != nil {
			return nil, err
		}
		defer r.rb.gen.Close()
	}
	r.shared = shared

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

// placement is where a phase puts the work, with its generator.
type placement struct {
	mode           string
	director, host []int
	gen            *Generator
}

// runner holds what every run needs.
type runner struct {
	cfg        Config
	l          *lab.Lab
	sinks      *Sinks
	queues     int
	rb, shared *placement
	logf       func(string, ...any)
	profiles   []string
}

// contender is a started contender of one phase.
type contender struct {
	name    string
	dir     Director
	kernel  *KernelNAT
	ceiling *CeilingForwarder
	stop    func() error
}

// forwarderTimes reads the forwarding threads' CPU time: the xvs process,
// the ceiling's workers; nil for the kernel.
func (c *contender) forwarderTimes() (*ProcTimes, error) {
	switch {
	case c.dir != nil:
		pt, err := ReadPidStat(c.dir.Pid())
		if err != nil {
			return nil, fmt.Errorf("reading the director's CPU time: %w", err)
		}
		return &pt, nil
	case c.ceiling != nil:
		pt := c.ceiling.ThreadTimes()
		return &pt, nil
	}
	return nil, nil
}

// run measures one contender once, in each placement; errors go into the
// result.
func (r *runner) run(ctx context.Context, c string, round int) (res RunResult) {
	res = RunResult{Contender: c, Round: round}
	phases := []*placement{r.shared}
	if r.rb != nil {
		phases = []*placement{r.rb, r.shared}
	}
	for i, p := range phases {
		if err := r.phase(ctx, &res, c, round, p, i == 0); err != nil {
			res.Err = fmt.Sprintf("%s: %v", p.mode, err)
			return res
		}
	}
	return res
}

// phase starts contender c placed as p, measures the UDP window and, when
// primary, the TCP figures, and stops it.
func (r *runner) phase(ctx context.Context, res *RunResult, c string, round int, p *placement, primary bool) (err error) {
	if err := pinProcess(p.host); err != nil {
		return err
	}
	warmNeighbours(r.l)
	sinks := r.sinks
	var hostNAPI []KThread
	if p.mode == RouterBox {
		// The router box counts frames at their first hop off the
		// director, the switch's port facing lan0, polled in threaded NAPI
		// on the hosts' CPUs: the bridge and the servers' veths would cost
		// the hosts' CPUs more per frame than the director spends.
		ps, err := AttachPortSink(r.l.SwitchNS, lab.SwitchDirectorPort, UDPPort)
		if err != nil {
			return err
		}
		defer ps.Close()
		sinks = ps
		if err := lab.SetThreadedNAPI(r.l.SwitchNS, lab.SwitchDirectorPort, true); err != nil {
			return err
		}
		ts, err := napiThreads(lab.SwitchDirectorPort)
		if err != nil {
			return err
		}
		if hostNAPI, err = pinThreads(ts, p.host); err != nil {
			return err
		}
	}
	ct, err := r.start(ctx, c, round, p, primary)
	if err != nil {
		return err
	}
	defer func() {
		if serr := ct.stop(); serr != nil && err == nil {
			err = fmt.Errorf("stopping: %w", serr)
			if ct.dir != nil {
				err = fmt.Errorf("%w\n%s", err, ct.dir.Log())
			}
		}
		if ct.ceiling != nil {
			f, t, d := ct.ceiling.Forwarded()
			res.Forwarded += f
			res.TxFull += t
			res.RxDropped += d
		}
	}()
	setup, napi, err := r.steer(p, ct)
	if err != nil {
		return err
	}
	if len(hostNAPI) > 0 {
		var ts []string
		for _, k := range hostNAPI {
			ts = append(ts, fmt.Sprintf("%s on CPU %s", k.Name, k.CPUs))
		}
		setup.Steering = append(setup.Steering, fmt.Sprintf("UDP counted and dropped by XDP on switch port %s, threaded NAPI (%s)", lab.SwitchDirectorPort, strings.Join(ts, ", ")))
	}
	res.Setups = append(res.Setups, setup)

	u, err := r.udp(ctx, p, ct, napi, sinks)
	if err != nil {
		return err
	}
	if p.mode == RouterBox {
		res.RouterBox = &u
	} else {
		res.UDP = &u
	}
	if ct.dir != nil && res.Metrics == nil {
		if m, err := ct.dir.Metrics(); err == nil {
			res.Metrics = map[string]float64{}
			for k, v := range m {
				if v != 0 && strings.HasPrefix(k, "xvs_") {
					res.Metrics[k] = v
				}
			}
		}
	}
	if !primary || c == Ceiling {
		return nil
	}
	return r.tcp(ctx, res, p, ct, napi)
}

// start starts contender c with the director's work on p.director.
func (r *runner) start(ctx context.Context, c string, round int, p *placement, primary bool) (*contender, error) {
	ct := &contender{name: c}
	switch c {
	case XVS:
		tmp, err := os.MkdirTemp("", "xvs-bench-")
		if err != nil {
			return nil, err
		}
		var args []string
		prof := ""
		if r.cfg.OutDir != "" && primary {
			prof, err = filepath.Abs(filepath.Join(r.cfg.OutDir, fmt.Sprintf("xvs-round%d.pprof", round)))
			if err != nil {
				os.RemoveAll(tmp)
				return nil, err
			}
			args = append(args, "--cpuprofile", prof)
		}
		// Started from a thread that may run only on the director's CPUs,
		// xvs inherits that mask (as under taskset) and places its workers
		// within it. The previous contender's AF_XDP sockets may hold the
		// queues for a moment more; xsk.Open waits that out.
		var d Director
		err = runPinned(p.director, func() (err error) {
			d, err = r.cfg.StartDirector(r.l, tmp, args...)
			return err
		})
		if err != nil {
			os.RemoveAll(tmp)
			return nil, err
		}
		ct.dir = d
		ct.stop = func() error {
			err := d.Stop()
			os.RemoveAll(tmp)
			if st, serr := os.Stat(prof); prof != "" && serr == nil && st.Size() > 0 {
				r.profiles = append(r.profiles, prof)
			}
			return err
		}
	case Kernel:
		svcs := []NATService{
			{Proto: "udp", Port: UDPPort, Reals: r.l.ServerAddrs, Weights: r.weights()},
			{Proto: "tcp", Port: TCPPort, Reals: r.l.ServerAddrs, Weights: r.weights()},
		}
		k, err := StartKernelNAT(ctx, r.l, svcs)
		if err != nil {
			return nil, err
		}
		ct.kernel = k
		ct.stop = k.Stop
	case Ceiling:
		cl, err := StartCeiling(r.l, UDPPort, r.queues, p.director)
		if err != nil {
			return nil, err
		}
		ct.ceiling = cl
		ct.stop = cl.Stop
	default:
		return nil, fmt.Errorf("unknown contender %q", c)
	}
	return ct, nil
}

// steer places the veths' receive work for p and describes the contender's
// setup. Router box: the director's wan0 and lan0 poll in threaded NAPI,
// their threads pinned to the director's CPUs, and steer what arrives
// outside NAPI there with RPS; the director's peers (the client's eth0, the
// switch's port facing lan0) steer with RPS to the hosts' CPUs, so the
// hosts' side of a frame the director sends is not done on its CPU.
// Shared: none of that. It returns the setup and the NAPI threads.
func (r *runner) steer(p *placement, ct *contender) (Setup, []KThread, error) {
	l := r.l
	rb := p.mode == RouterBox
	s := Setup{Mode: p.mode, DirectorCPUs: FormatCPUs(p.director), HostCPUs: FormatCPUs(p.host)}
	var hostRPS []int
	if rb {
		hostRPS = p.host
	}
	for _, ifn := range []string{l.WANIf, l.LANIf} {
		err := lab.SetThreadedNAPI(l.LBNS, ifn, rb)
		noNAPI := errors.Is(err, lab.ErrNoNAPI)
		if err != nil && !noNAPI {
			return s, nil, err
		}
		// RPS only where the veth has no NAPI: on a NAPI interface it
		// would add a backlog hop on the same CPU to the kernel's path.
		var rps []int
		if rb && noNAPI {
			rps = p.director
		}
		if err := lab.SetRPS(l.LBNS, ifn, rps); err != nil {
			return s, nil, err
		}
		switch {
		case noNAPI && rb:
			s.Steering = append(s.Steering, fmt.Sprintf("%s: no NAPI, RPS to CPU %s", ifn, FormatCPUs(rps)))
		case noNAPI:
			s.Steering = append(s.Steering, ifn+": no NAPI")
		case rb:
			s.Steering = append(s.Steering, ifn+": threaded NAPI")
		default:
			s.Steering = append(s.Steering, ifn+": NAPI in softirq")
		}
	}
	var napi []KThread
	if rb {
		ts, err := napiThreads(l.WANIf, l.LANIf)
		if err != nil {
			return s, nil, err
		}
		if napi, err = pinThreads(ts, p.director); err != nil {
			return s, nil, err
		}
		s.NAPI = napi
	}
	for _, peer := range []struct{ ns, ifn, name string }{
		{l.ClientNS, lab.HostIf, "client eth0"}, {l.SwitchNS, lab.SwitchDirectorPort, "switch port " + lab.SwitchDirectorPort},
	} {
		if err := lab.SetRPS(peer.ns, peer.ifn, hostRPS); err != nil {
			return s, nil, err
		}
		if rb {
			s.Steering = append(s.Steering, fmt.Sprintf("%s: RPS to CPU %s", peer.name, FormatCPUs(hostRPS)))
		}
	}
	if !rb {
		s.Steering = append(s.Steering, "receive work in softirq on the CPU that raised it; no RPS")
	}

	var err error
	if s.WANXDP, err = xdpMode(l.LBNS, l.WANIf); err != nil {
		return s, nil, err
	}
	if s.LANXDP, err = xdpMode(l.LBNS, l.LANIf); err != nil {
		return s, nil, err
	}
	if s.WANQueues, _, err = lab.Channels(l.LBNS, l.WANIf); err != nil {
		return s, nil, err
	}
	if s.LANQueues, _, err = lab.Channels(l.LBNS, l.LANIf); err != nil {
		return s, nil, err
	}
	switch {
	case ct.dir != nil:
		if s.Allowed, err = allowedList(ct.dir.Pid()); err != nil {
			return s, nil, fmt.Errorf("reading the director's CPU mask: %w", err)
		}
		if m, err := ct.dir.Metrics(); err == nil {
			s.Workers, s.Sockets = xvsPlacement(m)
		} else {
			s.Sockets = "unknown (metrics not read)"
		}
	case ct.ceiling != nil:
		s.Workers, s.Sockets = ct.ceiling.Placement(), "copy"
	default:
		s.Workers = []string{"the kernel: forwarding and NAT in the receive path of the veths (NAPI or backlog)"}
	}
	return s, napi, nil
}

// snap reads the counters of a window.
func (r *runner) snap(ct *contender, napi []KThread) (s cpuSnap, err error) {
	if s.fwd, err = ct.forwarderTimes(); err != nil {
		return s, err
	}
	s.napi = threadTimes(napi)
	if s.stat, err = ReadProcStat(); err != nil {
		return s, err
	}
	if s.softnet, err = ReadSoftnet(); err != nil {
		return s, err
	}
	s.t = time.Now()
	return s, nil
}

// tcp measures the TCP figures: connection rate (with its CPU time),
// latency and bulk throughput. The kernel contender forwards them with GRO
// off on the director's veths, so it too handles every frame as it came
// (RPS steers them where threaded NAPI would have).
func (r *runner) tcp(ctx context.Context, res *RunResult, p *placement, ct *contender, napi []KThread) error {
	if ct.kernel != nil {
		if err := ct.kernel.SetGRO(false); err != nil {
			return err
		}
		napi = nil
		if p.mode == RouterBox {
			// Without GRO wan0 has no NAPI: steer its receive work to
			// the director's CPUs.
			if err := lab.SetRPS(r.l.LBNS, r.l.WANIf, p.director); err != nil {
				return err
			}
		}
	}
	target := netip.AddrPortFrom(r.l.VIP, TCPPort)
	a, err := r.snap(ct, napi)
	if err != nil {
		return err
	}
	cr, err := ConnRate(ctx, r.l.ClientNS, target, r.cfg.Concurrency, r.cfg.Duration)
	if err != nil {
		return fmt.Errorf("TCP connection rate: %w", err)
	}
	b, err := r.snap(ct, napi)
	if err != nil {
		return err
	}
	res.ConnRate, res.ConnCPU = &cr, b.sub(a)
	if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
		return err
	}
	lr, err := PacedLatency(ctx, r.l.ClientNS, target, r.cfg.LatencyRate, r.cfg.Duration, 16)
	if err != nil {
		return fmt.Errorf("TCP latency: %w", err)
	}
	res.Latency = &LatencyResult{
		OK: lr.OK, Failed: lr.Failed, Errors: lr.Errors, Rate: r.cfg.LatencyRate, Elapsed: lr.Elapsed,
		P50: lr.Percentile(50), P99: lr.Percentile(99), Max: lr.Percentile(100),
		LagP99: percentile(lr.Lags, 99),
	}
	if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
		return err
	}
	bulk, err := Bulk(ctx, BulkConfig{
		NS: r.l.ClientNS, Target: target, Streams: r.cfg.BulkStreams,
		WarmUp: min(r.cfg.WarmUp, r.cfg.Duration), Window: r.cfg.Duration,
		Received: func() uint64 {
			var n uint64
			for _, ns := range r.l.ServerNS {
				n += lab.DiscardedBytes(ns)
			}
			return n
		},
		Snap: func() (cpuSnap, error) { return r.snap(ct, napi) },
	})
	if err != nil {
		return fmt.Errorf("bulk TCP: %w", err)
	}
	res.Bulk = &bulk
	return nil
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

// udp runs p's generator, opens the window after the warm-up and reads
// every counter at both ends of it.
func (r *runner) udp(ctx context.Context, p *placement, ct *contender, napi []KThread, sinks *Sinks) (UDPResult, error) {
	u := UDPResult{Mode: p.mode, DirectorCPUs: p.director, HostCPUs: p.host}
	gen := p.gen
	gen.Start()
	stopped := false
	defer func() {
		if !stopped {
			gen.Stop(5 * time.Second)
		}
	}()
	if err := sleepCtx(ctx, min(r.cfg.WarmUp, r.cfg.Duration)); err != nil {
		return u, err
	}
	type snap struct {
		cpu  cpuSnap
		sink SinkCount
		gen  uint64
		gthr ProcTimes
		self ProcTimes
	}
	take := func() (s snap, err error) {
		s.gthr = gen.ThreadTimes()
		if s.self, err = ReadPidStat(os.Getpid()); err != nil {
			return s, err
		}
		if s.cpu, err = r.snap(ct, napi); err != nil {
			return s, err
		}
		if s.sink, err = sinks.Count(); err != nil {
			return s, err
		}
		if s.gen, err = gen.Generated(); err != nil {
			return s, err
		}
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
	if err := gen.Stop(5 * time.Second); err != nil {
		return u, err
	}
	u.Window = b.cpu.t.Sub(a.cpu.t)
	u.Delivered = b.sink.Delivered - a.sink.Delivered
	u.Foreign = b.sink.Foreign - a.sink.Foreign
	for i := range b.sink.PerServer {
		u.PerServer = append(u.PerServer, b.sink.PerServer[i]-a.sink.PerServer[i])
	}
	u.Generated = b.gen - a.gen
	w := b.cpu.sub(a.cpu)
	u.PerCPU = w.PerCPU
	for _, c := range u.PerCPU {
		u.CPU = u.CPU.Add(c)
	}
	u.Forwarder, u.NAPI = w.Forwarder, w.NAPI
	if ct.dir != nil {
		u.Director = w.Forwarder
	}
	u.SoftnetDropped = b.cpu.softnet.Sub(a.cpu.softnet).Dropped
	u.Generator = b.gthr.Sub(a.gthr)
	u.Self = b.self.Sub(a.self)
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
	if u := r.RouterBox; u != nil {
		parts = append(parts, fmt.Sprintf("router box: UDP %.3f Mframes/s delivered (%.3f offered), director CPUs %.0f%% busy",
			u.FPS()/1e6, float64(u.Generated)/u.Window.Seconds()/1e6, 100*float64(u.DirectorBusy())/(u.Window.Seconds()*UserHZ*float64(len(u.DirectorCPUs)))))
	}
	if u := r.UDP; u != nil {
		parts = append(parts, fmt.Sprintf("shared: UDP %.3f Mframes/s delivered (%.3f offered), %.0f ns CPU/frame", u.FPS()/1e6, float64(u.Generated)/u.Window.Seconds()/1e6, u.perFrame(u.Busy())))
	}
	if r.ConnRate != nil {
		parts = append(parts, fmt.Sprintf("TCP %.0f conn/s (%d failed)", r.ConnRate.Rate(), r.ConnRate.Failed))
	}
	if r.Latency != nil {
		parts = append(parts, fmt.Sprintf("latency p50 %v p99 %v (%d failed)", r.Latency.P50.Round(time.Microsecond), r.Latency.P99.Round(time.Microsecond), r.Latency.Failed))
	}
	if r.Bulk != nil {
		parts = append(parts, fmt.Sprintf("bulk %.2f Gb/s (%d of %d streams failed)", r.Bulk.Gbps(), r.Bulk.Failed, r.Bulk.Streams))
	}
	return strings.Join(parts, ", ")
}
