//go:build linux

package bench

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/xvs-project/xvs/lab"
	"golang.org/x/sys/unix"
)

// Report is the outcome of a benchmark: its conditions, every run's raw
// measurements, and each figure summarized per contender.
type Report struct {
	Started  time.Time
	Wall     time.Duration
	Machine  Machine
	Settings Settings
	// Contenders in run order.
	Contenders []string
	// Figures, in table order.
	Figures []Figure
	// Runs holds every contender's every round, in run order.
	Runs []RunResult
	// GoBench is the Go benchmarks' output, when they were asked for.
	GoBench *GoBench `json:",omitempty"`
	// Profile is the CPU profile of the xvs runs (merged over rounds when
	// go is available), ProfileTop its `go tool pprof -top` lines; Profiles
	// are the per-round files.
	Profile    string   `json:",omitempty"`
	ProfileTop []string `json:",omitempty"`
	Profiles   []string `json:",omitempty"`
	// Conditions say where and how each contender ran (CPUs, XDP and
	// AF_XDP modes, queues, worker placement, receive steering).
	Conditions []string `json:",omitempty"`
	// Notes are remarks about the conditions (load, missing tools).
	Notes []string `json:",omitempty"`
}

// Machine describes where the benchmark ran.
type Machine struct {
	CPUs     int
	CPUModel string `json:",omitempty"`
	Kernel   string
	GoVer    string
	// Queues is the number of queues of every lab veth.
	Queues int
}

// Settings are the benchmark's parameters.
type Settings struct {
	Duration, WarmUp time.Duration
	Rounds           int
	Flows            int
	FrameBytes       int
	Concurrency      int
	LatencyRate      float64
	Weights          []int
	Lab              string
	BulkStreams      int
	// DirectorCPUs and HostCPUs are the router-box split as CPU lists
	// ("" when there is no router box).
	DirectorCPUs, HostCPUs string
}

// Figure is one row of the table.
type Figure struct {
	// Section is the table the figure is in (SectionRouterBox,
	// SectionShared).
	Section         string
	Key, Name, Unit string
	// Measures says what the figure is and how it is taken.
	Measures string
	// HigherIsBetter tells how to read the ratios.
	HigherIsBetter bool
	// Values holds the summary per contender that has the figure.
	Values map[string]Summary
	// VsKernel and VsCeiling are the xvs median divided by the other
	// contender's median (null when either is missing).
	VsKernel, VsCeiling Num
	// format prints one value.
	format string
}

// figureDef defines a figure: how to read it from a run.
type figureDef struct {
	section, key, name, unit, measures, format string
	higher                                     bool
	value                                      func(RunResult) float64
}

// nan is the value of a figure a run does not have.
var nan = math.NaN()

// udpPer returns a per-frame CPU figure from a run's UDP result; f says
// false when the run does not have it.
func udpPer(f func(u *UDPResult) (uint64, bool)) func(RunResult) float64 {
	return func(r RunResult) float64 {
		if r.UDP == nil {
			return nan
		}
		t, ok := f(r.UDP)
		if !ok {
			return nan
		}
		return r.UDP.perFrame(t)
	}
}

// always wraps a tick count that every UDP run has.
func always(f func(u *UDPResult) uint64) func(u *UDPResult) (uint64, bool) {
	return func(u *UDPResult) (uint64, bool) { return f(u), true }
}

// rbPer returns a router-box UDP figure, NaN where the run has none.
func rbPer(f func(u *UDPResult) float64) func(RunResult) float64 {
	return func(r RunResult) float64 {
		if r.RouterBox == nil {
			return nan
		}
		return f(r.RouterBox)
	}
}

// cpuSeconds converts ticks to seconds.
func cpuSeconds(ticks uint64) float64 { return float64(ticks) / UserHZ }

// Sections of the table.
const (
	// SectionRouterBox holds the headline figures: UDP in the router-box
	// placement and the TCP figures.
	SectionRouterBox = "router-box"
	// SectionShared holds the UDP figures with shared CPUs.
	SectionShared = "shared"
)

// figureDefs lists the figures in table order.
func figureDefs(s Settings) []figureDef {
	tcpSection := SectionRouterBox
	if s.DirectorCPUs == "" {
		tcpSection = SectionShared
	}
	return []figureDef{
		{SectionRouterBox, "rb_udp_fps", "UDP frames delivered, router box", "Mframes/s",
			fmt.Sprintf("%d-byte UDP frames of %d flows counted and dropped by XDP on the switch port facing the director's lan0 (their first hop off the director), per second of the %v window, with the director alone on CPU %s and the offered load above what it forwards", s.FrameBytes+4, s.Flows, s.Duration, s.DirectorCPUs),
			"%.3f", true, rbPer(func(u *UDPResult) float64 { return u.FPS() / 1e6 })},
		{SectionRouterBox, "rb_udp_offered", "UDP frames offered, router box", "Mframes/s",
			fmt.Sprintf("frames the generator made in the window (BPF_PROG_RUN live frames, XDP_TX out of the client's eth0, on CPU %s under SCHED_IDLE)", s.HostCPUs),
			"%.3f", true, rbPer(func(u *UDPResult) float64 { return float64(u.Generated) / u.Window.Seconds() / 1e6 })},
		{SectionRouterBox, "rb_udp_per_cpu", "UDP frames per director-CPU-second", "Mframes/CPU-s",
			fmt.Sprintf("frames delivered / busy seconds of CPU %s (/proc/stat per-CPU deltas: the window less the CPU's idle and iowait time, which a tickless CPU measures exactly where its tick-sampled busy states miss short bursts; whatever ran there: the director's NAPI threads, its process, the kernel's forwarding in softirq)", s.DirectorCPUs),
			"%.3f", true, rbPer(func(u *UDPResult) float64 {
				if u.DirectorBusy() == 0 {
					return nan
				}
				return float64(u.Delivered) / cpuSeconds(u.DirectorBusy()) / 1e6
			})},
		{SectionRouterBox, "rb_dir_busy", "director CPU busy", "%",
			"busy share of the director's CPUs over the window; near 100 means the director was the bottleneck",
			"%.0f", true, rbPer(func(u *UDPResult) float64 {
				return 100 * cpuSeconds(u.DirectorBusy()) / (u.Window.Seconds() * float64(len(u.DirectorCPUs)))
			})},
		{SectionRouterBox, "rb_fwd_user", "forwarder user CPU per frame", "ns/frame",
			"user time of the forwarding threads (the xvs process's utime from /proc/PID/stat; the ceiling's workers' from /proc/self/task/TID/stat) / frames delivered; the kernel has none",
			"%.0f", false, rbPer(func(u *UDPResult) float64 {
				if u.Forwarder == nil {
					return nan
				}
				return u.perFrame(u.Forwarder.UTime)
			})},
		{SectionRouterBox, "rb_fwd_sys", "forwarder system CPU per frame", "ns/frame",
			"system time of the same threads: AF_XDP sendto (copy-mode transmit, the skb and the veth hand-over) and poll",
			"%.0f", false, rbPer(func(u *UDPResult) float64 {
				if u.Forwarder == nil {
					return nan
				}
				return u.perFrame(u.Forwarder.STime)
			})},
		{SectionRouterBox, "rb_napi", "director NAPI threads per frame", "ns/frame",
			"CPU time of the director's threaded NAPI threads (napi/wan0-N, napi/lan0-N, pinned to its CPUs): the veth receive path, the XDP program, the AF_XDP receive copy, and for the kernel its whole forwarding and NAT",
			"%.0f", false, rbPer(func(u *UDPResult) float64 { return u.perFrame(u.NAPI.UTime + u.NAPI.STime) })},
		{SectionRouterBox, "rb_host_busy", "hosts' CPU busy without the generator", "%",
			fmt.Sprintf("busy share of CPU %s less the generator's own threads: the sink's NAPI thread and the hosts' side of the veths; near 100 would mean the host side limited the figure", s.HostCPUs),
			"%.0f", false, rbPer(func(u *UDPResult) float64 {
				b, g := u.HostBusy(), u.Generator.UTime+u.Generator.STime
				if g > b {
					g = b
				}
				return 100 * cpuSeconds(b-g) / (u.Window.Seconds() * float64(len(u.HostCPUs)))
			})},
		{tcpSection, "tcp_cps", "TCP connections", "conn/s",
			fmt.Sprintf("closed loop, %d clients in the client namespace, each: connect to VIP:%d, GET, read the whole response, close; successful exchanges per second", s.Concurrency, TCPPort),
			"%.0f", true, func(r RunResult) float64 {
				if r.ConnRate == nil {
					return nan
				}
				return r.ConnRate.Rate()
			}},
		{tcpSection, "tcp_cpu", "director CPU per TCP connection", "µs/conn",
			"busy time of the director's CPUs during the connection-rate window / connections made",
			"%.1f", false, func(r RunResult) float64 {
				if r.ConnRate == nil || r.ConnCPU == nil || r.ConnRate.OK == 0 || r.RouterBox == nil {
					return nan
				}
				return cpuSeconds(busyOn(r.ConnCPU.PerCPU, r.RouterBox.DirectorCPUs, r.ConnCPU.Elapsed)) * 1e6 / float64(r.ConnRate.OK)
			}},
		{tcpSection, "lat_p50", "request latency p50", "µs",
			fmt.Sprintf("open loop at %.0f requests/s (16 workers, each request due at a fixed time), each on a new connection: from connect to the end of the response; how late requests started is in the JSON (LagP99)", s.LatencyRate),
			"%.0f", false, func(r RunResult) float64 {
				if r.Latency == nil || r.Latency.OK == 0 {
					return nan
				}
				return float64(r.Latency.P50) / 1e3
			}},
		{tcpSection, "lat_p99", "request latency p99", "µs", "as p50, 99th percentile", "%.0f", false, func(r RunResult) float64 {
			if r.Latency == nil || r.Latency.OK == 0 {
				return nan
			}
			return float64(r.Latency.P99) / 1e3
		}},
		{tcpSection, "bulk_gbps", "bulk TCP", "Gb/s",
			fmt.Sprintf("%d parallel TCP streams from the client through VIP:%d to the servers' discard sink, 1500-byte frames (TSO, GSO and GRO off on the end hosts' veths; the kernel contender's GRO off too), bytes counted at the receivers over the %v window", s.BulkStreams, TCPPort, s.Duration),
			"%.2f", true, func(r RunResult) float64 {
				if r.Bulk == nil {
					return nan
				}
				return r.Bulk.Gbps()
			}},
		{tcpSection, "bulk_per_cpu", "bulk TCP per director-CPU-second", "Gb/CPU-s",
			"bits received / busy seconds of the director's CPUs in the bulk window",
			"%.2f", true, func(r RunResult) float64 {
				if r.Bulk == nil || r.Bulk.CPU == nil || r.RouterBox == nil {
					return nan
				}
				b := busyOn(r.Bulk.CPU.PerCPU, r.RouterBox.DirectorCPUs, r.Bulk.CPU.Elapsed)
				if b == 0 {
					return nan
				}
				return float64(r.Bulk.Bytes) * 8 / 1e9 / cpuSeconds(b)
			}},
		{SectionShared, "udp_fps", "UDP frames delivered, shared CPUs", "Mframes/s",
			"as in the router box, but everything (generator, sinks, director) on every CPU and the kernel's receive work in softirq where it is raised",
			"%.3f", true, func(r RunResult) float64 {
				if r.UDP == nil {
					return nan
				}
				return r.UDP.FPS() / 1e6
			}},
		{SectionShared, "udp_offered", "UDP frames offered, shared CPUs", "Mframes/s",
			"frames the generator made in the same window (under SCHED_IDLE, so it only uses CPU the forwarding path leaves idle)",
			"%.3f", true, func(r RunResult) float64 {
				if r.UDP == nil {
					return nan
				}
				return float64(r.UDP.Generated) / r.UDP.Window.Seconds() / 1e6
			}},
		{SectionShared, "cpu_busy", "total CPU per frame, shared CPUs", "ns/frame",
			"all CPUs, /proc/stat per-CPU deltas over the UDP window (every state but idle and iowait) / frames delivered; includes the generator and sinks, which share the CPUs",
			"%.0f", false, udpPer(always(func(u *UDPResult) uint64 { return u.Busy() }))},
		{SectionShared, "cpu_user", "CPU user", "ns/frame", "user+nice of CPU busy: user-space code (xvs's workers, the lab's servers)",
			"%.0f", false, udpPer(always(func(u *UDPResult) uint64 { return u.CPU.User + u.CPU.Nice }))},
		{SectionShared, "cpu_sys", "CPU system", "ns/frame", "system of CPU busy: system calls outside softirq (the generator's BPF_PROG_RUN, AF_XDP kicks and polls)",
			"%.0f", false, udpPer(always(func(u *UDPResult) uint64 { return u.CPU.System }))},
		{SectionShared, "cpu_softirq", "CPU softirq", "ns/frame", "softirq (+irq) of CPU busy: the kernel's packet path (veth NAPI, XDP, AF_XDP copies, forwarding, NAT, bridge, sinks)",
			"%.0f", false, udpPer(always(func(u *UDPResult) uint64 { return u.CPU.SoftIRQ + u.CPU.IRQ }))},
		{SectionShared, "cpu_others", "CPU other processes", "ns/frame", "CPU busy not charged to this process or the director: other programs and kernel threads such as ksoftirqd and kworkers (low on a quiet machine; a run where it exceeds 10% of CPU busy gets a note)",
			"%.0f", false, udpPer(always(func(u *UDPResult) uint64 { return u.Others() }))},
		{SectionShared, "gen_cpu", "generator threads", "ns/frame", "the generating threads' own utime+stime (/proc/self/task/TID/stat), including softirq work the kernel did on their time slice; part of CPU busy",
			"%.0f", false, udpPer(always(func(u *UDPResult) uint64 { return u.Generator.UTime + u.Generator.STime }))},
		{SectionShared, "proc_user", "xvs process user", "ns/frame", "the `xvs run` process's utime over the UDP window (/proc/PID/stat) / frames delivered",
			"%.0f", false, udpPer(func(u *UDPResult) (uint64, bool) {
				if u.Director == nil {
					return 0, false
				}
				return u.Director.UTime, true
			})},
		{SectionShared, "proc_sys", "xvs process system", "ns/frame", "its stime likewise: system calls, and the kernel's work done on its time slice (AF_XDP transmit, the bridge, the sinks)",
			"%.0f", false, udpPer(func(u *UDPResult) (uint64, bool) {
				if u.Director == nil {
					return 0, false
				}
				return u.Director.STime, true
			})},
	}
}

// newReport starts a report for cfg.
func newReport(cfg Config, started time.Time) *Report {
	var uts unix.Utsname
	_ = unix.Uname(&uts)
	rep := &Report{
		Started: started,
		Machine: Machine{
			CPUs: runtime.NumCPU(), Kernel: unix.ByteSliceToString(uts.Release[:]), GoVer: runtime.Version(),
			Queues: lab.DefaultQueues, CPUModel: cpuModel(),
		},
		Settings: Settings{
			Duration: cfg.Duration, WarmUp: min(cfg.WarmUp, cfg.Duration), Rounds: cfg.Rounds, Flows: cfg.Flows, FrameBytes: FrameLen,
			Concurrency: cfg.Concurrency, LatencyRate: cfg.LatencyRate, Weights: cfg.Weights, Lab: cfg.Prefix,
			BulkStreams: cfg.BulkStreams,
		},
		Contenders: cfg.Contenders,
	}
	if len(cfg.DirectorCPUs) > 0 {
		rep.Settings.DirectorCPUs, rep.Settings.HostCPUs = FormatCPUs(cfg.DirectorCPUs), FormatCPUs(cfg.HostCPUs)
	}
	return rep
}

// cpuModel returns the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// finish computes the figures from the runs.
func (rep *Report) finish(started time.Time) {
	rep.Wall = time.Since(started)
	rep.Figures = summarizeFigures(rep.Settings, rep.Contenders, rep.Runs)
	rep.Conditions = conditions(rep.Contenders, rep.Runs)
}

// summarizeFigures computes each figure's summary per contender over the
// rounds, and the ratios of xvs's median to the others'. A contender none
// of whose runs has a figure gets no entry for it.
func summarizeFigures(s Settings, contenders []string, runs []RunResult) []Figure {
	var out []Figure
	for _, d := range figureDefs(s) {
		f := Figure{Section: d.section, Key: d.key, Name: d.name, Unit: d.unit, Measures: d.measures,
			HigherIsBetter: d.higher, Values: map[string]Summary{}, format: d.format}
		for _, c := range contenders {
			var vals []float64
			for _, r := range runs {
				if r.Contender == c {
					vals = append(vals, d.value(r))
				}
			}
			if sum := Summarize(vals); sum.N > 0 {
				f.Values[c] = sum
			}
		}
		med := func(c string) float64 {
			if v, ok := f.Values[c]; ok {
				return v.Median
			}
			return nan
		}
		f.VsKernel = Num(Ratio(med(XVS), med(Kernel)))
		f.VsCeiling = Num(Ratio(med(XVS), med(Ceiling)))
		out = append(out, f)
	}
	return out
}

// cell formats a contender's summary of a figure: "median (min–max)", or
// "n/a".
func (f Figure) cell(c string) string {
	v, ok := f.Values[c]
	if !ok {
		return "n/a"
	}
	format := f.format
	if format == "" {
		format = "%.3g"
	}
	if v.N == 1 || v.Min == v.Max {
		return fmt.Sprintf(format, v.Median)
	}
	return fmt.Sprintf(format+" ("+format+"–"+format+")", v.Median, v.Min, v.Max)
}

// ratio formats a ratio, "n/a" when missing.
func ratio(n Num) string {
	if math.IsNaN(float64(n)) || math.IsInf(float64(n), 0) {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", float64(n))
}

// tableRows returns the header and rows of the figures of one section.
func (rep *Report) tableRows(section string) (header []string, rows [][]string) {
	header = append([]string{"figure", "unit"}, rep.Contenders...)
	header = append(header, "xvs/"+Kernel, "xvs/"+Ceiling)
	for _, f := range rep.Figures {
		if f.Section != section {
			continue
		}
		row := []string{f.Name, f.Unit}
		for _, c := range rep.Contenders {
			row = append(row, f.cell(c))
		}
		row = append(row, ratio(f.VsKernel), ratio(f.VsCeiling))
		rows = append(rows, row)
	}
	return header, rows
}

// sections returns the table sections with their headings, headline first.
func (rep *Report) sections() (keys, headings []string) {
	s := rep.Settings
	if s.DirectorCPUs != "" {
		keys = append(keys, SectionRouterBox)
		headings = append(headings, fmt.Sprintf("Headline: router box — the director alone on CPU %s; generator, sinks, client and servers on CPU %s (TCP figures too)", s.DirectorCPUs, s.HostCPUs))
	}
	keys = append(keys, SectionShared)
	headings = append(headings, fmt.Sprintf("Shared CPUs — generator (SCHED_IDLE), sinks and director on all %d CPUs: total CPU per frame", rep.Machine.CPUs))
	return keys, headings
}

// title is the first line of the table.
func (rep *Report) title() string {
	s := rep.Settings
	return fmt.Sprintf("xvs bench: %d round(s) × %v per figure per contender, interleaved (%s); lab %s; %d CPUs, Linux %s, %s",
		s.Rounds, s.Duration, strings.Join(rep.Contenders, " → "), s.Lab, rep.Machine.CPUs, rep.Machine.Kernel, rep.Machine.GoVer)
}

// legend explains the table.
func (rep *Report) legend() []string {
	lines := []string{
		"cells: median over rounds (min–max); xvs/X: xvs's median divided by X's (for Mframes/s, conn/s and Gb/s higher is better, for µs and ns/frame lower is better); n/a: the contender has no such figure (the ceiling forwards only the UDP benchmark frames, by MAC; the kernel has no forwarding process)",
	}
	for _, f := range rep.Figures {
		lines = append(lines, fmt.Sprintf("%s [%s]: %s", f.Name, f.Unit, f.Measures))
	}
	return lines
}

// conditions describes how each contender ran, from its first run that
// recorded them, and whether xvs and the ceiling placed their workers
// alike.
func conditions(contenders []string, runs []RunResult) []string {
	var lines []string
	workers := map[string]map[string][]string{}
	for _, c := range contenders {
		for _, r := range runs {
			if r.Contender != c || len(r.Setups) == 0 {
				continue
			}
			for _, s := range r.Setups {
				line := fmt.Sprintf("%s, %s: director CPUs %s, hosts' CPUs %s", c, s.Mode, s.DirectorCPUs, s.HostCPUs)
				if s.Allowed != "" {
					line += fmt.Sprintf(" (the xvs process's threads allowed CPUs %s)", s.Allowed)
				}
				line += fmt.Sprintf("; XDP wan0 %s, lan0 %s; AF_XDP %s; queues wan0 %d, lan0 %d", s.WANXDP, s.LANXDP, orNone(s.Sockets), s.WANQueues, s.LANQueues)
				if len(s.Workers) > 0 {
					line += "; " + strings.Join(s.Workers, "; ")
				}
				if len(s.Steering) > 0 {
					line += "; " + strings.Join(s.Steering, "; ")
				}
				if len(s.NAPI) > 0 {
					var ts []string
					for _, k := range s.NAPI {
						ts = append(ts, fmt.Sprintf("%s on CPU %s", k.Name, k.CPUs))
					}
					line += "; NAPI threads " + strings.Join(ts, ", ")
				}
				lines = append(lines, line)
				if workers[s.Mode] == nil {
					workers[s.Mode] = map[string][]string{}
				}
				workers[s.Mode][c] = s.Workers
			}
			break
		}
	}
	for _, mode := range []string{RouterBox, Shared} {
		x, okx := workers[mode][XVS]
		cl, okc := workers[mode][Ceiling]
		if !okx || !okc || len(x) == 0 || len(cl) == 0 {
			continue
		}
		if strings.Join(x, "; ") == strings.Join(cl, "; ") {
			lines = append(lines, fmt.Sprintf("%s: xvs and the ceiling are pinned the same (%s)", mode, strings.Join(x, "; ")))
		} else {
			lines = append(lines, fmt.Sprintf("%s: xvs and the ceiling are pinned DIFFERENTLY: xvs %s; ceiling %s", mode, strings.Join(x, "; "), strings.Join(cl, "; ")))
		}
	}
	return lines
}

// orNone returns s or "none".
func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// Text renders the report as plain-text tables with the conditions, the
// legend, the Go benchmarks and the profile's top functions.
func (rep *Report) Text() string {
	var b strings.Builder
	b.WriteString(rep.title() + "\n")
	keys, headings := rep.sections()
	for i, key := range keys {
		b.WriteString("\n" + headings[i] + "\n\n")
		header, rows := rep.tableRows(key)
		widths := make([]int, len(header))
		for _, r := range append([][]string{header}, rows...) {
			for i, c := range r {
				widths[i] = max(widths[i], len([]rune(c)))
			}
		}
		line := func(r []string) {
			for i, c := range r {
				pad := widths[i] - len([]rune(c))
				if i > 0 {
					b.WriteString("  ")
				}
				b.WriteString(c)
				if i < len(r)-1 {
					b.WriteString(strings.Repeat(" ", pad))
				}
			}
			b.WriteString("\n")
		}
		line(header)
		for _, r := range rows {
			line(r)
		}
	}
	if len(rep.Conditions) > 0 {
		b.WriteString("\nconditions:\n")
		for _, l := range rep.Conditions {
			b.WriteString("  " + l + "\n")
		}
	}
	b.WriteString("\n")
	for _, l := range rep.legend() {
		b.WriteString("  " + l + "\n")
	}
	rep.writeTail(&b, "  ", "")
	fmt.Fprintf(&b, "\nwall time %v\n", rep.Wall.Round(time.Second))
	return b.String()
}

// writeTail writes failures, notes, the Go benchmarks and the profile,
// each line prefixed, code blocks fenced with fence when not empty.
func (rep *Report) writeTail(b *strings.Builder, indent, fence string) {
	var failed []string
	for _, r := range rep.Runs {
		if r.Err != "" {
			failed = append(failed, fmt.Sprintf("%s round %d: %s", r.Contender, r.Round, firstLine(r.Err)))
		}
	}
	if len(failed) > 0 {
		b.WriteString("\nfailed runs:\n")
		for _, f := range failed {
			b.WriteString(indent + f + "\n")
		}
	}
	if len(rep.Notes) > 0 {
		b.WriteString("\nnotes:\n")
		for _, n := range rep.Notes {
			b.WriteString(indent + n + "\n")
		}
	}
	if g := rep.GoBench; g != nil {
		b.WriteString("\nGo benchmarks of the fast path")
		if g.Command != "" {
			b.WriteString(" (" + g.Command + ")")
		}
		b.WriteString(":\n")
		if g.Note != "" {
			b.WriteString(indent + g.Note + "\n")
		}
		if len(g.Lines) > 0 {
			if fence != "" {
				b.WriteString(fence + "\n")
			}
			for _, l := range g.Lines {
				b.WriteString(indent + l + "\n")
			}
			if fence != "" {
				b.WriteString(fence + "\n")
			}
		}
	}
	if rep.Profile != "" {
		fmt.Fprintf(b, "\nCPU profile of xvs (`go tool pprof %s`), top functions:\n", rep.Profile)
		if fence != "" {
			b.WriteString(fence + "\n")
		}
		for _, l := range rep.ProfileTop {
			b.WriteString(indent + l + "\n")
		}
		if fence != "" {
			b.WriteString(fence + "\n")
		}
	}
}

// firstLine returns s up to its first newline.
func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// Markdown renders the report as a Markdown document.
func (rep *Report) Markdown() string {
	var b strings.Builder
	b.WriteString("# " + rep.title() + "\n\n")
	b.WriteString("![chart](bench.svg)\n")
	esc := func(s string) string { return strings.ReplaceAll(s, "|", "\\|") }
	row := func(r []string) {
		b.WriteString("|")
		for _, c := range r {
			b.WriteString(" " + esc(strings.TrimSpace(c)) + " |")
		}
		b.WriteString("\n")
	}
	keys, headings := rep.sections()
	for i, key := range keys {
		b.WriteString("\n## " + headings[i] + "\n\n")
		header, rows := rep.tableRows(key)
		row(header)
		b.WriteString("|" + strings.Repeat(" --- |", len(header)) + "\n")
		for _, r := range rows {
			row(r)
		}
	}
	if len(rep.Conditions) > 0 {
		b.WriteString("\n## Conditions\n\n")
		for _, l := range rep.Conditions {
			b.WriteString("- " + l + "\n")
		}
	}
	b.WriteString("\n## Figures\n\n")
	for _, l := range rep.legend() {
		b.WriteString("- " + l + "\n")
	}
	b.WriteString("\n## Runs\n\n")
	cols := []string{"round", "contender", "router box UDP Mframes/s", "offered", "director busy %", "shared UDP Mframes/s", "offered", "TCP conn/s", "TCP failed", "p50 µs", "p99 µs", "latency failed", "bulk Gb/s", "error"}
	row(cols)
	b.WriteString("|" + strings.Repeat(" --- |", len(cols)) + "\n")
	for _, r := range rep.Runs {
		c := make([]string, len(cols))
		c[0], c[1], c[13] = fmt.Sprint(r.Round), r.Contender, firstLine(r.Err)
		if u := r.RouterBox; u != nil {
			c[2] = fmt.Sprintf("%.3f", u.FPS()/1e6)
			c[3] = fmt.Sprintf("%.3f", float64(u.Generated)/u.Window.Seconds()/1e6)
			c[4] = fmt.Sprintf("%.0f", 100*cpuSeconds(u.DirectorBusy())/(u.Window.Seconds()*float64(len(u.DirectorCPUs))))
		}
		if u := r.UDP; u != nil {
			c[5] = fmt.Sprintf("%.3f", u.FPS()/1e6)
			c[6] = fmt.Sprintf("%.3f", float64(u.Generated)/u.Window.Seconds()/1e6)
		}
		if r.ConnRate != nil {
			c[7] = fmt.Sprintf("%.0f", r.ConnRate.Rate())
			c[8] = fmt.Sprint(r.ConnRate.Failed)
		}
		if r.Latency != nil {
			c[9] = fmt.Sprintf("%.0f", float64(r.Latency.P50)/1e3)
			c[10] = fmt.Sprintf("%.0f", float64(r.Latency.P99)/1e3)
			c[11] = fmt.Sprint(r.Latency.Failed)
		}
		if r.Bulk != nil {
			c[12] = fmt.Sprintf("%.2f", r.Bulk.Gbps())
		}
		row(c)
	}
	rep.writeTail(&b, "", "```")
	fmt.Fprintf(&b, "\nWall time %v.\n", rep.Wall.Round(time.Second))
	return b.String()
}

// JSON renders the report as indented JSON.
func (rep *Report) JSON() ([]byte, error) {
	return json.MarshalIndent(rep, "", "  ")
}

// WriteFiles writes bench.json, bench.md and the chart bench.svg into dir,
// creating it.
func (rep *Report) WriteFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	j, err := rep.JSON()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "bench.json"), append(j, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "bench.md"), []byte(rep.Markdown()), 0o644); err != nil {
		return err
	}
	svg, err := rep.SVG()
	if err != nil {
		return fmt.Errorf("drawing the chart: %w", err)
	}
	return os.WriteFile(filepath.Join(dir, "bench.svg"), svg, 0o644)
}
