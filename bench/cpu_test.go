package bench

import (
	"strings"
	"testing"
)

const procStatSample = `cpu  64250 10 15353 263589 553 1 698 25 7 0
cpu0 31770 4 7327 132790 69 0 346 10 3 0
cpu1 32479 6 8026 130798 484 1 351 15 4 0
intr 1234 0 0
ctxt 98765
btime 1700000000
processes 4242
procs_running 2
procs_blocked 0
softirq 55 1 2 3 4 5 6 7 8 9 10
`

func TestParseProcStat(t *testing.T) {
	s, err := ParseProcStat(strings.NewReader(procStatSample))
	if err != nil {
		t.Fatal(err)
	}
	want := CPUTimes{User: 64250, Nice: 10, System: 15353, Idle: 263589, IOWait: 553, IRQ: 1, SoftIRQ: 698, Steal: 25}
	if s.All != want {
		t.Errorf("All = %+v, want %+v", s.All, want)
	}
	if len(s.PerCPU) != 2 {
		t.Fatalf("%d CPUs, want 2", len(s.PerCPU))
	}
	if c := s.PerCPU[1]; c.User != 32479 || c.System != 8026 || c.SoftIRQ != 351 || c.IRQ != 1 || c.Steal != 15 {
		t.Errorf("cpu1 = %+v", c)
	}
	sum := s.SumPerCPU()
	if sum.User != 31770+32479 || sum.SoftIRQ != 346+351 || sum.Total() != s.PerCPU[0].Total()+s.PerCPU[1].Total() {
		t.Errorf("SumPerCPU = %+v", sum)
	}
}

func TestParseProcStatShortAndGaps(t *testing.T) {
	// Old kernels have only four or seven values; CPUs may be missing
	// (offline) from the list.
	s, err := ParseProcStat(strings.NewReader("cpu 10 0 5 100\ncpu0 4 0 2 50 1 0 3\ncpu2 6 0 3 50\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.All.User != 10 || s.All.Idle != 100 || s.All.SoftIRQ != 0 {
		t.Errorf("All = %+v", s.All)
	}
	if len(s.PerCPU) != 3 || s.PerCPU[0].SoftIRQ != 3 || s.PerCPU[1] != (CPUTimes{}) || s.PerCPU[2].User != 6 {
		t.Errorf("PerCPU = %+v", s.PerCPU)
	}
}

func TestParseProcStatErrors(t *testing.T) {
	for _, in := range []string{
		"",                            // no cpu line
		"intr 1 2 3\n",                // still none
		"cpu 1 2 x 4\n",               // not a number
		"cpu 1 2\n",                   // too short
		"cpu 1 2 3 4\ncpuX 1 2 3 4\n", // bad CPU name
	} {
		if _, err := ParseProcStat(strings.NewReader(in)); err == nil {
			t.Errorf("ParseProcStat(%q) succeeded, want an error", in)
		}
	}
}

func TestProcStatSub(t *testing.T) {
	a, err := ParseProcStat(strings.NewReader("cpu 100 0 50 1000 0 0 10 0\ncpu0 60 0 30 500 0 0 6 0\ncpu1 40 0 20 500 0 0 4 0\n"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := ParseProcStat(strings.NewReader("cpu 130 0 70 1100 0 0 40 0\ncpu0 80 0 35 560 0 0 25 0\ncpu1 50 0 35 540 0 0 15 0\n"))
	if err != nil {
		t.Fatal(err)
	}
	d := b.Sub(a)
	if d.All.User != 30 || d.All.System != 20 || d.All.SoftIRQ != 30 || d.All.Idle != 100 {
		t.Errorf("All delta = %+v", d.All)
	}
	if d.PerCPU[0].User != 20 || d.PerCPU[0].SoftIRQ != 19 || d.PerCPU[1].System != 15 || d.PerCPU[1].SoftIRQ != 11 {
		t.Errorf("per-CPU deltas = %+v", d.PerCPU)
	}
	if s := d.SumPerCPU(); s.User != 30 || s.System != 20 || s.SoftIRQ != 30 {
		t.Errorf("sum of per-CPU deltas = %+v", s)
	}
	// A counter that went backwards (CPU hot-unplugged and back) gives 0.
	if back := a.Sub(b); back.All.User != 0 || back.PerCPU[0].SoftIRQ != 0 {
		t.Errorf("backwards delta = %+v", back)
	}
}

func TestParsePidStat(t *testing.T) {
	for _, tc := range []struct {
		name, line string
		want       ProcTimes
	}{
		{"plain", "4242 (xvs) S 1 4242 4242 0 -1 4194560 1000 0 0 0 1234 567 0 0 20 0 9 0 100 1000000 500 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0", ProcTimes{1234, 567}},
		{"spaces and parentheses in the name", "77 (a (b) c) R 1 77 77 0 -1 0 0 0 0 0 9 8 0 0 20 0 1 0 5 0 0", ProcTimes{9, 8}},
		{"trailing newline", "1 (init) S 0 1 1 0 -1 0 0 0 0 0 3 4 0 0 20 0 1 0 1 0 0\n", ProcTimes{3, 4}},
	} {
		got, err := ParsePidStat([]byte(tc.line))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
	for _, bad := range []string{"", "12 xvs S 1 2 3", "12 (xvs) S 1 2 3", "12 (xvs) S 1 2 3 4 5 6 7 8 9 10 x 12 13"} {
		if _, err := ParsePidStat([]byte(bad)); err == nil {
			t.Errorf("ParsePidStat(%q) succeeded, want an error", bad)
		}
	}
	if d := (ProcTimes{10, 5}).Sub(ProcTimes{4, 7}); d != (ProcTimes{6, 0}) {
		t.Errorf("Sub = %+v", d)
	}
}

func TestReadProcStatHere(t *testing.T) {
	s, err := ReadProcStat()
	if err != nil {
		t.Skipf("no /proc/stat here: %v", err)
	}
	if len(s.PerCPU) == 0 || s.All.Total() == 0 {
		t.Errorf("ReadProcStat = %+v", s)
	}
}
