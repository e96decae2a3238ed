package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// UserHZ is the unit of the times in /proc/stat and /proc/PID/stat: clock
// ticks of 1/100 s on every Linux architecture (USER_HZ).
const UserHZ = 100

// TickNs is one clock tick in nanoseconds.
const TickNs = 1e9 / UserHZ

// CPUTimes are the times one CPU (or all of them) spent in each state, in
// clock ticks, as the "cpu" lines of /proc/stat give them.
type CPUTimes struct {
	User, Nice, System, Idle, IOWait, IRQ, SoftIRQ, Steal uint64
}

// Sub returns t - u field by field (a counter that went backwards gives 0).
func (t CPUTimes) Sub(u CPUTimes) CPUTimes {
	d := func(a, b uint64) uint64 {
		if a < b {
			return 0
		}
		return a - b
	}
	return CPUTimes{
		User: d(t.User, u.User), Nice: d(t.Nice, u.Nice), System: d(t.System, u.System),
		Idle: d(t.Idle, u.Idle), IOWait: d(t.IOWait, u.IOWait), IRQ: d(t.IRQ, u.IRQ),
		SoftIRQ: d(t.SoftIRQ, u.SoftIRQ), Steal: d(t.Steal, u.Steal),
	}
}

// Add returns t + u field by field.
func (t CPUTimes) Add(u CPUTimes) CPUTimes {
	return CPUTimes{
		User: t.User + u.User, Nice: t.Nice + u.Nice, System: t.System + u.System,
		Idle: t.Idle + u.Idle, IOWait: t.IOWait + u.IOWait, IRQ: t.IRQ + u.IRQ,
		SoftIRQ: t.SoftIRQ + u.SoftIRQ, Steal: t.Steal + u.Steal,
	}
}

// Total is the sum of every state.
func (t CPUTimes) Total() uint64 {
	return t.User + t.Nice + t.System + t.Idle + t.IOWait + t.IRQ + t.SoftIRQ + t.Steal
}

// ProcStat is a parsed /proc/stat: the aggregate line and one entry per CPU,
// indexed by CPU number (CPUs missing from the file stay zero).
type ProcStat struct {
	All    CPUTimes
	PerCPU []CPUTimes
}

// Sub returns the per-CPU and aggregate differences s - u.
func (s ProcStat) Sub(u ProcStat) ProcStat {
	d := ProcStat{All: s.All.Sub(u.All), PerCPU: make([]CPUTimes, len(s.PerCPU))}
	for i := range s.PerCPU {
		if i < len(u.PerCPU) {
			d.PerCPU[i] = s.PerCPU[i].Sub(u.PerCPU[i])
		} else {
			d.PerCPU[i] = s.PerCPU[i]
		}
	}
	return d
}

// SumPerCPU adds the per-CPU entries.
func (s ProcStat) SumPerCPU() CPUTimes {
	var t CPUTimes
	for _, c := range s.PerCPU {
		t = t.Add(c)
	}
	return t
}

// ParseProcStat reads the cpu lines of /proc/stat. Lines other than "cpu"
// and "cpuN" are ignored; a cpu line with fewer than four values, or a value
// that is not a number, is an error. Fields after steal (guest times, which
// are already included in user and nice) are ignored.
func ParseProcStat(r io.Reader) (ProcStat, error) {
	var s ProcStat
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	seenAll := false
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || !strings.HasPrefix(f[0], "cpu") {
			continue
		}
		if len(f) < 5 {
			return s, fmt.Errorf("bench: /proc/stat: short line %q", sc.Text())
		}
		var v [8]uint64
		for i := 0; i < 8 && i+1 < len(f); i++ {
			n, err := strconv.ParseUint(f[i+1], 10, 64)
			if err != nil {
				return s, fmt.Errorf("bench: /proc/stat: %q: %w", f[0], err)
			}
			v[i] = n
		}
		t := CPUTimes{User: v[0], Nice: v[1], System: v[2], Idle: v[3], IOWait: v[4], IRQ: v[5], SoftIRQ: v[6], Steal: v[7]}
		if f[0] == "cpu" {
			s.All, seenAll = t, true
			continue
		}
		n, err := strconv.Atoi(f[0][3:])
		if err != nil || n < 0 || n > 1<<16 {
			return s, fmt.Errorf("bench: /proc/stat: bad cpu name %q", f[0])
		}
		for len(s.PerCPU) <= n {
			s.PerCPU = append(s.PerCPU, CPUTimes{})
		}
		s.PerCPU[n] = t
	}
	if err := sc.Err(); err != nil {
		return s, fmt.Errorf("bench: /proc/stat: %w", err)
	}
	if !seenAll {
		return s, errors.New("bench: /proc/stat: no cpu line")
	}
	return s, nil
}

// ReadProcStat parses /proc/stat.
func ReadProcStat() (ProcStat, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return ProcStat{}, err
	}
	return ParseProcStat(bytes.NewReader(b))
}

// ProcTimes is the user and system CPU time of a process or thread, in
// clock ticks (fields utime and stime of /proc/PID/stat).
type ProcTimes struct {
	UTime, STime uint64
}

// Sub returns t - u (0 where a counter went backwards).
func (t ProcTimes) Sub(u ProcTimes) ProcTimes {
	var d ProcTimes
	if t.UTime >= u.UTime {
		d.UTime = t.UTime - u.UTime
	}
	if t.STime >= u.STime {
		d.STime = t.STime - u.STime
	}
	return d
}

// ParsePidStat parses the utime and stime fields (14 and 15) of a
// /proc/PID/stat or /proc/PID/task/TID/stat line. The command name (field 2)
// is in parentheses and may itself hold spaces and parentheses, so fields
// are counted from the last ')'.
func ParsePidStat(b []byte) (ProcTimes, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return ProcTimes{}, errors.New("bench: /proc/PID/stat: no command name")
	}
	// After ')': state(3) ppid(4) ... utime(14) stime(15).
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return ProcTimes{}, fmt.Errorf("bench: /proc/PID/stat: %d fields after the name, want at least 13", len(f))
	}
	u, err := strconv.ParseUint(f[11], 10, 64)
	if err != nil {
		return ProcTimes{}, fmt.Errorf("bench: /proc/PID/stat utime: %w", err)
	}
	s, err := strconv.ParseUint(f[12], 10, 64)
	if err != nil {
		return ProcTimes{}, fmt.Errorf("bench: /proc/PID/stat stime: %w", err)
	}
	return ProcTimes{UTime: u, STime: s}, nil
}

// ReadPidStat reads the times of process pid.
func ReadPidStat(pid int) (ProcTimes, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ProcTimes{}, err
	}
	return ParsePidStat(b)
}
