//go:build linux

package bench

import (
	"encoding/binary"
	"math"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// fakeRun makes a run whose UDP window delivered fps frames per second
// over one second and used the given ticks of user, system and softirq.
func fakeRun(c string, round int, fps float64, user, sys, soft uint64, cps float64, p50 time.Duration) RunResult {
	r := RunResult{Contender: c, Round: round}
	r.UDP = &UDPResult{Mode: Shared, Window: time.Second, Delivered: uint64(fps), Generated: uint64(fps),
		CPU: CPUTimes{User: user, System: sys, SoftIRQ: soft, Idle: 10}}
	// The router box forwards a third more, on CPU 1 busy 90 of 100 ticks.
	r.RouterBox = &UDPResult{Mode: RouterBox, DirectorCPUs: []int{1}, HostCPUs: []int{0}, Window: time.Second,
		Delivered: uint64(fps * 4 / 3), Generated: 3e6,
		PerCPU: []CPUTimes{{User: 5, System: 50, Idle: 45}, {User: user, System: 90 - user, Idle: 10}}}
	if c == XVS {
		r.UDP.Director = &ProcTimes{UTime: user, STime: sys}
	}
	if c != Kernel {
		r.RouterBox.Forwarder = &ProcTimes{UTime: user, STime: 90 - user}
	}
	if c != Ceiling {
		r.ConnRate = &TCPResult{OK: int(cps), Elapsed: time.Second}
		r.ConnCPU = &CPUWindow{Elapsed: time.Second, PerCPU: []CPUTimes{{System: 80, Idle: 20}, {System: 20, Idle: 80}}}
		r.Latency = &LatencyResult{OK: 10, P50: p50, P99: 2 * p50}
		r.Bulk = &BulkResult{Streams: 4, Bytes: uint64(cps) * 1e5, Window: time.Second,
			CPU: &CPUWindow{Elapsed: time.Second, PerCPU: []CPUTimes{{System: 100}, {System: 50, Idle: 50}}}}
	}
	return r
}

func figure(t *testing.T, figs []Figure, key string) Figure {
	t.Helper()
	for _, f := range figs {
		if f.Key == key {
			return f
		}
	}
	t.Fatalf("no figure %q", key)
	return Figure{}
}

func TestSummarizeFigures(t *testing.T) {
	s := Settings{Duration: time.Second, Rounds: 3, Flows: 10000, FrameBytes: FrameLen, Concurrency: 32, LatencyRate: 500,
		BulkStreams: 4, DirectorCPUs: "1", HostCPUs: "0"}
	runs := []RunResult{
		fakeRun(XVS, 1, 600e3, 30, 60, 90, 5000, 200*time.Microsecond),
		fakeRun(Kernel, 1, 400e3, 0, 10, 190, 6000, 100*time.Microsecond),
		fakeRun(Ceiling, 1, 900e3, 5, 50, 145, 0, 0),
		fakeRun(XVS, 2, 500e3, 30, 60, 90, 4000, 300*time.Microsecond),
		fakeRun(Kernel, 2, 500e3, 0, 10, 190, 5000, 100*time.Microsecond),
		fakeRun(Ceiling, 2, 1000e3, 5, 50, 145, 0, 0),
		fakeRun(XVS, 3, 700e3, 30, 60, 90, 6000, 100*time.Microsecond),
		{Contender: Kernel, Round: 3, Err: "boom"},
		fakeRun(Ceiling, 3, 800e3, 5, 50, 145, 0, 0),
	}
	figs := summarizeFigures(s, AllContenders, runs)

	fps := figure(t, figs, "udp_fps")
	x := fps.Values[XVS]
	if x.Min != 0.5 || x.Median != 0.6 || x.Max != 0.7 || x.N != 3 {
		t.Errorf("xvs UDP = %+v", x)
	}
	k := fps.Values[Kernel]
	if k.N != 2 || k.Median != 0.45 || !math.IsNaN(k.Values[2]) {
		t.Errorf("kernel UDP (a failed round) = %+v", k)
	}
	if got := float64(fps.VsKernel); math.Abs(got-0.6/0.45) > 1e-12 {
		t.Errorf("xvs/kernel = %v, want %v", got, 0.6/0.45)
	}
	if got := float64(fps.VsCeiling); math.Abs(got-0.6/0.9) > 1e-12 {
		t.Errorf("xvs/ceiling = %v, want %v", got, 0.6/0.9)
	}

	cps := figure(t, figs, "tcp_cps")
	if _, ok := cps.Values[Ceiling]; ok {
		t.Errorf("the ceiling has a TCP figure: %+v", cps.Values[Ceiling])
	}
	if cps.Values[XVS].Median != 5000 || !math.IsNaN(float64(cps.VsCeiling)) || float64(cps.VsKernel) != 5000.0/5500 {
		t.Errorf("TCP figure %+v", cps)
	}
	if p50 := figure(t, figs, "lat_p50"); p50.Values[XVS].Median != 200 || float64(p50.VsKernel) != 2 {
		t.Errorf("p50 figure %+v", p50)
	}

	// 180 busy ticks per 600e3 frames (median round): 10 ms * 180 / 600e3.
	busy := figure(t, figs, "cpu_busy")
	if got, want := busy.Values[XVS].Median, 180*TickNs/600e3; math.Abs(got-want) > 1e-9 {
		t.Errorf("busy per frame = %v, want %v", got, want)
	}
	soft := figure(t, figs, "cpu_softirq")
	if got, want := soft.Values[Kernel].Median, Summarize([]float64{190 * TickNs / 400e3, 190 * TickNs / 500e3}).Median; math.Abs(got-want) > 1e-9 {
		t.Errorf("kernel softirq per frame = %v, want %v", got, want)
	}
	proc := figure(t, figs, "proc_user")
	if _, ok := proc.Values[Kernel]; ok || proc.Values[XVS].N != 3 {
		t.Errorf("process figure %+v: only xvs has it", proc)
	}

	// Router box: xvs delivers 0.8 Mframes/s (median) on 90 ticks of CPU 1.
	rb := figure(t, figs, "rb_udp_fps")
	if got := rb.Values[XVS].Median; math.Abs(got-0.8) > 1e-9 {
		t.Errorf("router-box xvs = %v, want 0.8", got)
	}
	if got, want := figure(t, figs, "rb_udp_per_cpu").Values[XVS].Median, 0.8/0.9; math.Abs(got-want) > 1e-9 {
		t.Errorf("frames per director-CPU-second = %v, want %v", got, want)
	}
	if got := figure(t, figs, "rb_dir_busy").Values[Kernel].Median; math.Abs(got-90) > 1e-9 {
		t.Errorf("director busy = %v%%, want 90", got)
	}
	user := figure(t, figs, "rb_fwd_user")
	if _, ok := user.Values[Kernel]; ok || user.Values[Ceiling].N != 3 {
		t.Errorf("forwarder user figure %+v: xvs and the ceiling only", user)
	}
	if got, want := float64(user.VsCeiling), (30*TickNs/800e3)/(5*TickNs/1200e3); math.Abs(got-want) > 1e-9 {
		t.Errorf("user CPU per frame xvs/ceiling = %v, want %v", got, want)
	}
	// 20 ticks of CPU 1 for 5000 connections: 40 µs each.
	if got := figure(t, figs, "tcp_cpu").Values[XVS].Median; math.Abs(got-40) > 1e-9 {
		t.Errorf("director CPU per connection = %v µs, want 40", got)
	}
	// 5000 × 1e5 bytes in a second: 4 Gb/s, on half a CPU-second.
	bulk := figure(t, figs, "bulk_gbps")
	if got := bulk.Values[XVS].Median; math.Abs(got-4) > 1e-9 || math.Abs(float64(bulk.VsKernel)-5000.0/5500) > 1e-9 {
		t.Errorf("bulk %+v", bulk)
	}
	if got := figure(t, figs, "bulk_per_cpu").Values[XVS].Median; math.Abs(got-8) > 1e-9 {
		t.Errorf("bulk per director-CPU-second = %v, want 8", got)
	}
	for _, f := range figs {
		if f.Section != SectionRouterBox && f.Section != SectionShared {
			t.Errorf("figure %s in section %q", f.Key, f.Section)
		}
	}

	rep := &Report{Settings: s, Contenders: AllContenders, Runs: runs, Figures: figs, Machine: Machine{CPUs: 2, Kernel: "6.18"}}
	txt := rep.Text()
	for _, want := range []string{"xvs", "kernel-nat", "ceiling", "xvs/kernel-nat", "xvs/ceiling", "UDP frames delivered, router box", "Headline: router box", "UDP frames delivered, shared CPUs", "0.600 (0.500–0.700)", "n/a", "kernel-nat round 3: boom", "bulk TCP"} {
		if !strings.Contains(txt, want) {
			t.Errorf("table lacks %q:\n%s", want, txt)
		}
	}
	md := rep.Markdown()
	if !strings.Contains(md, "| UDP frames delivered, shared CPUs | Mframes/s | 0.600 (0.500–0.700) |") {
		t.Errorf("markdown table:\n%s", md)
	}
	if _, err := rep.JSON(); err != nil {
		t.Errorf("JSON: %v", err)
	}
}

func TestNFTRuleset(t *testing.T) {
	reals := []netip.Addr{netip.MustParseAddr("198.18.1.11"), netip.MustParseAddr("198.18.1.12"), netip.MustParseAddr("198.18.1.13")}
	got, err := NFTRuleset(netip.MustParseAddr("198.18.0.100"), []NATService{
		{Proto: "udp", Port: 53, Reals: reals, Weights: []int{3, 2, 1}},
		{Proto: "tcp", Port: 80, Reals: reals, Weights: []int{1, 1, 1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"table ip xvs_bench {",
		"type nat hook prerouting priority dstnat; policy accept;",
		"ip daddr 198.18.0.100 udp dport 53 dnat to numgen inc mod 6 map { 0-2 : 198.18.1.11, 3-4 : 198.18.1.12, 5 : 198.18.1.13 }",
		"ip daddr 198.18.0.100 tcp dport 80 dnat to numgen inc mod 3 map { 0 : 198.18.1.11, 1 : 198.18.1.12, 2 : 198.18.1.13 }",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("ruleset lacks %q:\n%s", want, got)
		}
	}
	for _, bad := range []NATService{
		{Proto: "sctp", Port: 1, Reals: reals, Weights: []int{1, 1, 1}},
		{Proto: "udp", Port: 1, Reals: reals, Weights: []int{1}},
		{Proto: "udp", Port: 1, Reals: reals, Weights: []int{1, 0, 1}},
	} {
		if _, err := NFTRuleset(netip.MustParseAddr("198.18.0.100"), []NATService{bad}); err == nil {
			t.Errorf("NFTRuleset accepted %+v", bad)
		}
	}
}

func TestTemplate(t *testing.T) {
	f := FrameSpec{
		SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2},
		Src: netip.MustParseAddr("198.18.0.2"), Dst: netip.MustParseAddr("198.18.0.100"), DstPort: 53,
	}
	b, err := f.Template()
	if err != nil {
		t.Fatal(err)
	}
	if binary.BigEndian.Uint16(b[12:]) != 0x0800 || b[14] != 0x45 || b[23] != 17 {
		t.Errorf("not IPv4/UDP: % x", b[:24])
	}
	var sum uint32
	for i := 14; i < 34; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	if sum != 0xffff {
		t.Errorf("IPv4 header checksum does not verify: %#x", sum)
	}
	if got := binary.BigEndian.Uint16(b[16:]); got != FrameLen-14 {
		t.Errorf("IP total length %d", got)
	}
	if got := binary.BigEndian.Uint16(b[38:]); got != FrameLen-34 {
		t.Errorf("UDP length %d", got)
	}
	if binary.BigEndian.Uint16(b[36:]) != 53 || binary.BigEndian.Uint16(b[40:]) != 0 {
		t.Errorf("UDP port or checksum: % x", b[34:42])
	}
	if string(b[42:50]) != string(Magic[:]) {
		t.Errorf("payload % x, want the magic", b[42:])
	}
	if _, err := (FrameSpec{Src: f.Src, Dst: f.Dst}).Template(); err == nil {
		t.Error("a frame without MACs was accepted")
	}
}

func TestNearestRank(t *testing.T) {
	r := TCPResult{}
	for i := 100; i >= 1; i-- {
		r.Latencies = append(r.Latencies, time.Duration(i))
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{50, 50}, {99, 99}, {100, 100}, {0, 1}, {1, 1}} {
		if got := r.Percentile(tc.p); got != tc.want {
			t.Errorf("p%v = %v, want %v", tc.p, got, tc.want)
		}
	}
	if (TCPResult{}).Percentile(50) != 0 {
		t.Error("percentile of nothing")
	}
}
