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
}

// Figure is one row of the table.
type Figure struct {
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
	key, name, unit, measures, format string
	higher                            bool
	value                             func(RunResult) float64
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

// figureDefs lists the figures in table order.
func figureDefs(s Settings) []figureDef {
	return []figureDef{
		{"udp_fps", "UDP frames delivered", "Mframes/s",
			fmt.Sprintf("%d-byte UDP frames of %d flows counted by XDP at the real servers' eth0, per second of the %v window", s.FrameBytes+4, s.Flows, s.Duration),
			"%.3f", true, func(r RunResult) float64 {
				if r.UDP == nil {
					return nan
				}
				return r.UDP.FPS() / 1e6
			}},
		{"udp_offered", "UDP frames offered", "Mframes/s",
			"frames the generator made in the same window (BPF_PROG_RUN live frames, XDP_TX out of the client's eth0, under SCHED_IDLE so it only uses CPU the forwarding path leaves idle)",
			"%.3f", true, func(r RunResult) float64 {
				if r.UDP == nil {
					return nan
				}
				return float64(r.UDP.Generated) / r.UDP.Window.Seconds() / 1e6
			}},
		{"tcp_cps", "TCP connections", "conn/s",
			fmt.Sprintf("closed loop, %d clients in the client namespace, each: connect to VIP:%d, GET, read the whole response, close; successful exchanges per second", s.Concurrency, TCPPort),
			"%.0f", true, func(r RunResult) float64 {
				if r.ConnRate == nil {
					return nan
				}
				return r.ConnRate.Rate()
			}},
		{"lat_p50", "request latency p50", "µs",
			fmt.Sprintf("open loop at %.0f requests/s (16 workers, each request due at a fixed time), each on a new connection: from connect to the end of the response; how late requests started is in the JSON (LagP99)", s.LatencyRate),
			"%.0f", false, func(r RunResult) float64 {
				if r.Latency == nil || r.Latency.OK == 0 {
					return nan
				}
				return float64(r.Latency.P50) / 1e3
			}},
		{"lat_p99", "request latency p99", "µs", "as p50, 99th percentile", "%.0f", false, func(r RunResult) float64 {
			if r.Latency == nil || r.Latency.OK == 0 {
				return nan
			}
			return float64(r.Latency.P99) / 1e3
		}},
		{"cpu_busy", "CPU busy per frame", "ns/frame",
			"all CPUs, /proc/stat per-CPU deltas over the UDP window (every state but idle and iowait) / frames delivered; includes the generator and sinks, which share the CPUs",
			"%.0f", false, udpPer(always(func(u *UDPResult) uint64 { return u.Busy() }))},
		{"cpu_user", "CPU user", "ns/frame", "user+nice of CPU busy: user-space code (xvs's workers, the lab's servers)",
			"%.0f", false, udpPer(always(func(u *UDPResult) uint64 { return u.CPU.User + u.CPU.Nice }))},
		{"cpu_sys", "CPU system", "ns/frame", "system of CPU busy: system calls outside softirq (the generator's BPF_PROG_RUN, AF_XDP kicks and polls)",
			"%.0f", false, udpPer(always(func(u *UDPResult) uint64 { return u.CPU.System }))},
		{"cpu_softirq", "CPU softirq", "ns/frame", "softirq (+irq) of CPU busy: the kernel's packet path (veth NAPI, XDP, AF_XDP copies, forwarding, NAT, bridge, sinks)",
			"%.0f", false, udpPer(always(func(u *UDPResult) uint64 { return u.CPU.SoftIRQ + u.CPU.IRQ }))},
		{"cpu_others", "CPU other processes", "ns/frame", "CPU busy not charged to this process or the director: other programs and kernel threads such as ksoftirqd and kworkers (low on a quiet machine; a run where it exceeds 10% of CPU busy gets a note)",
			"%.0f", false, udpPer(always(func(u *UDPResult) uint64 { return u.Others() }))},
		{"gen_cpu", "generator threads", "ns/frame", "the generating threads' own utime+stime (/proc/self/task/TID/stat), including softirq work the kernel did on their time slice; part of CPU busy",
			"%.0f", false, udpPer(always(func(u *UDPResult) uint64 { return u.Generator.UTime + u.Generator.STime }))},
		{"proc_user", "xvs process user", "ns/frame", "the `xvs run` process's utime over the UDP window (/proc/PID/stat) / frames delivered",
			"%.0f", false, udpPer(func(u *UDPResult) (uint64, bool) {
				if u.Director == nil {
					return 0, false
				}
				return u.Director.UTime, true
			})},
		{"proc_sys", "xvs process system", "ns/frame", "its stime likewise: system calls, and the kernel's work done on its time slice (AF_XDP transmit, the bridge, the sinks)",
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
	return &Report{
		Started: started,
		Machine: Machine{
			CPUs: runtime.NumCPU(), Kernel: unix.ByteSliceToString(uts.Release[:]), GoVer: runtime.Version(),
			Queues: lab.DefaultQueues, CPUModel: cpuModel(),
		},
		Settings: Settings{
			Duration: cfg.Duration, WarmUp: min(cfg.WarmUp, cfg.Duration), Rounds: cfg.Rounds, Flows: cfg.Flows, FrameBytes: FrameLen,
			Concurrency: cfg.Concurrency, LatencyRate: cfg.LatencyRate, Weights: cfg.Weights, Lab: cfg.Prefix,
		},
		Contenders: cfg.Contenders,
	}
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
}

// summarizeFigures computes each figure's summary per contender over the
// rounds, and the ratios of xvs's median to the others'. A contender none
// of whose runs has a figure gets no entry for it.
func summarizeFigures(s Settings, contenders []string, runs []RunResult) []Figure {
	var out []Figure
	for _, d := range figureDefs(s) {
		f := Figure{Key: d.key, Name: d.name, Unit: d.unit, Measures: d.measures,
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

// tableRows returns the header and rows of the figures table.
func (rep *Report) tableRows() (header []string, rows [][]string) {
	header = append([]string{"figure", "unit"}, rep.Contenders...)
	header = append(header, "xvs/"+Kernel, "xvs/"+Ceiling)
	for _, f := range rep.Figures {
		row := []string{f.Name, f.Unit}
		for _, c := range rep.Contenders {
			row = append(row, f.cell(c))
		}
		row = append(row, ratio(f.VsKernel), ratio(f.VsCeiling))
		rows = append(rows, row)
	}
	return header, rows
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
		"cells: median over rounds (min–max); xvs/X: xvs's median divided by X's (for Mframes/s and conn/s higher is better, for µs and ns/frame lower is better); n/a: the contender has no such figure (the ceiling forwards only the UDP benchmark frames, by MAC)",
	}
	for _, f := range rep.Figures {
		lines = append(lines, fmt.Sprintf("%s [%s]: %s", f.Name, f.Unit, f.Measures))
	}
	return lines
}

// Text renders the report as a plain-text table with its legend, the Go
// benchmarks and the profile's top functions.
func (rep *Report) Text() string {
	var b strings.Builder
	b.WriteString(rep.title() + "\n\n")
	header, rows := rep.tableRows()
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
	header, rows := rep.tableRows()
	esc := func(s string) string { return strings.ReplaceAll(s, "|", "\\|") }
	row := func(r []string) {
		b.WriteString("|")
		for _, c := range r {
			b.WriteString(" " + esc(strings.TrimSpace(c)) + " |")
		}
		b.WriteString("\n")
	}
	row(header)
	b.WriteString("|" + strings.Repeat(" --- |", len(header)) + "\n")
	for _, r := range rows {
		row(r)
	}
	b.WriteString("\n")
	for _, l := range rep.legend() {
		b.WriteString("- " + l + "\n")
	}
	b.WriteString("\n## Runs\n\n")
	row([]string{"round", "contender", "UDP Mframes/s", "offered", "per server", "TCP conn/s", "TCP failed", "p50 µs", "p99 µs", "latency failed", "error"})
	b.WriteString("|" + strings.Repeat(" --- |", 11) + "\n")
	for _, r := range rep.Runs {
		c := []string{fmt.Sprint(r.Round), r.Contender, "", "", "", "", "", "", "", "", firstLine(r.Err)}
		if r.UDP != nil {
			c[2] = fmt.Sprintf("%.3f", r.UDP.FPS()/1e6)
			c[3] = fmt.Sprintf("%.3f", float64(r.UDP.Generated)/r.UDP.Window.Seconds()/1e6)
			c[4] = strings.Trim(fmt.Sprint(r.UDP.PerServer), "[]")
		}
		if r.ConnRate != nil {
			c[5] = fmt.Sprintf("%.0f", r.ConnRate.Rate())
			c[6] = fmt.Sprint(r.ConnRate.Failed)
		}
		if r.Latency != nil {
			c[7] = fmt.Sprintf("%.0f", float64(r.Latency.P50)/1e3)
			c[8] = fmt.Sprintf("%.0f", float64(r.Latency.P99)/1e3)
			c[9] = fmt.Sprint(r.Latency.Failed)
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

// WriteFiles writes bench.json and bench.md into dir, creating it.
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
	return os.WriteFile(filepath.Join(dir, "bench.md"), []byte(rep.Markdown()), 0o644)
}
