//go:build linux

package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/xvs-project/xvs/config"
	"github.com/xvs-project/xvs/dataplane"
	"github.com/xvs-project/xvs/lab"
	"golang.org/x/sys/unix"
)

// cpuSet returns the set of cpus.
func cpuSet(cpus []int) unix.CPUSet {
	var s unix.CPUSet
	for _, c := range cpus {
		s.Set(c)
	}
	return s
}

// setCPUs returns the CPUs in s, in order.
func setCPUs(s unix.CPUSet) []int {
	var cpus []int
	for c := 0; c < len(s)*64; c++ {
		if s.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	return cpus
}

// AllowedCPUs returns the CPUs the calling thread may run on.
func AllowedCPUs() ([]int, error) {
	var s unix.CPUSet
	if err := unix.SchedGetaffinity(0, &s); err != nil {
		return nil, fmt.Errorf("sched_getaffinity: %w", err)
	}
	return setCPUs(s), nil
}

// FormatCPUs writes CPU numbers as taskset does: "0", "1,3", "0-3".
var FormatCPUs = dataplane.FormatCPUs

// ParseCPUs parses a CPU list such as "1", "0,2" or "2-3,6" (the format of
// taskset -c and of Cpus_allowed_list), as the cpus keyword does.
func ParseCPUs(s string) ([]int, error) {
	cpus, err := config.ParseCPUList(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("bench: CPU list %q: %w", s, err)
	}
	return cpus, nil
}

// pinProcess sets the affinity of every thread of this process to cpus.
// Threads made later inherit the mask of the thread that makes them, so
// this pins the whole process, but for threads that set their own (the
// ceiling's workers, the generator's threads), which therefore must start
// after it. A thread made during the walk may be missed, so the walk is
// repeated until it finds no new thread.
func pinProcess(cpus []int) error {
	set := cpuSet(cpus)
	done := map[int]bool{}
	for pass := 0; pass < 5; pass++ {
		ents, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return fmt.Errorf("listing this process's threads: %w", err)
		}
		fresh := false
		for _, e := range ents {
			tid, err := strconv.Atoi(e.Name())
			if err != nil || done[tid] {
				continue
			}
			fresh = true
			done[tid] = true
			if err := unix.SchedSetaffinity(tid, &set); err != nil && !errors.Is(err, unix.ESRCH) {
				return fmt.Errorf("pinning thread %d to CPUs %s: %w", tid, FormatCPUs(cpus), err)
			}
		}
		if !fresh {
			return nil
		}
	}
	return nil
}

// runPinned runs fn on a thread of its own that may run only on cpus and
// is destroyed afterwards; processes fn starts inherit the mask, as they
// would under taskset.
func runPinned(cpus []int, fn func() error) error {
	// Do in this process's own namespace: a fresh locked thread that dies.
	return lab.Do(fmt.Sprintf("/proc/%d/ns/net", os.Getpid()), func() error {
		set := cpuSet(cpus)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			return fmt.Errorf("pinning to CPUs %s: %w", FormatCPUs(cpus), err)
		}
		return fn()
	})
}

// KThread is a kernel thread the benchmark placed.
type KThread struct {
	Pid  int
	Name string
	// CPUs is the thread's affinity as read back after placing it.
	CPUs string
}

// napiThreads returns the threaded-NAPI kernel threads of the named
// interfaces (napi/IF-ID). Kernel threads live in no network namespace, so
// interfaces of the same name in other namespaces cannot be told apart;
// the lab's director interfaces (wan0, lan0) exist only in its director
// namespace.
func napiThreads(ifNames ...string) ([]KThread, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var out []KThread
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err != nil {
			continue
		}
		name := strings.TrimSpace(string(comm))
		for _, ifn := range ifNames {
			if strings.HasPrefix(name, "napi/"+ifn+"-") && isKernelThread(pid) {
				out = append(out, KThread{Pid: pid, Name: name})
			}
		}
	}
	slices.SortFunc(out, func(a, b KThread) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// isKernelThread tells whether pid is a kernel thread (a child of kthreadd,
// pid 2).
func isKernelThread(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return false
	}
	f := strings.Fields(string(b[i+1:]))
	return len(f) > 1 && f[1] == "2"
}

// pinThreads sets the affinity of each thread to cpus and reads it back.
func pinThreads(ts []KThread, cpus []int) ([]KThread, error) {
	set := cpuSet(cpus)
	out := slices.Clone(ts)
	for i := range out {
		if err := unix.SchedSetaffinity(out[i].Pid, &set); err != nil {
			return out, fmt.Errorf("pinning %s (pid %d) to CPUs %s: %w", out[i].Name, out[i].Pid, FormatCPUs(cpus), err)
		}
		var got unix.CPUSet
		if err := unix.SchedGetaffinity(out[i].Pid, &got); err == nil {
			out[i].CPUs = FormatCPUs(setCPUs(got))
		}
	}
	return out, nil
}

// threadTimes sums the CPU times of the given threads (of any process);
// threads that are gone count nothing.
func threadTimes(ts []KThread) ProcTimes {
	var t ProcTimes
	for _, k := range ts {
		if pt, err := ReadPidStat(k.Pid); err == nil {
			t.UTime += pt.UTime
			t.STime += pt.STime
		}
	}
	return t
}

// allowedList returns the union of Cpus_allowed_list over every thread of
// process pid, as a CPU list.
func allowedList(pid int) (string, error) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return "", err
	}
	var all []int
	for _, e := range ents {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/status", pid, e.Name()))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "Cpus_allowed_list:"); ok {
				cpus, err := ParseCPUs(v)
				if err != nil {
					return "", err
				}
				all = append(all, cpus...)
			}
		}
	}
	if len(all) == 0 {
		return "", fmt.Errorf("no thread of pid %d", pid)
	}
	return FormatCPUs(all), nil
}

// Softnet is /proc/net/softnet_stat: per CPU, the frames the CPU's backlog
// (netif_rx, RPS) processed and those it dropped because the backlog was
// full (net.core.netdev_max_backlog).
type Softnet struct {
	Processed, Dropped []uint64
}

// ParseSoftnet parses /proc/net/softnet_stat. Each line is one CPU in hex
// columns; column 13, where present, is the CPU's number, else lines are
// CPUs in order.
func ParseSoftnet(b []byte) (Softnet, error) {
	var s Softnet
	sc := bufio.NewScanner(bytes.NewReader(b))
	for line := 0; sc.Scan(); line++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) < 2 {
			return s, fmt.Errorf("bench: softnet_stat: short line %q", sc.Text())
		}
		cpu := line
		if len(f) >= 13 {
			c, err := strconv.ParseUint(f[12], 16, 32)
			if err != nil {
				return s, fmt.Errorf("bench: softnet_stat: cpu %q: %w", f[12], err)
			}
			cpu = int(c)
		}
		if cpu > 1<<16 {
			return s, fmt.Errorf("bench: softnet_stat: cpu %d", cpu)
		}
		var v [2]uint64
		for i := range v {
			n, err := strconv.ParseUint(f[i], 16, 64)
			if err != nil {
				return s, fmt.Errorf("bench: softnet_stat: %q: %w", f[i], err)
			}
			v[i] = n
		}
		for len(s.Processed) <= cpu {
			s.Processed = append(s.Processed, 0)
			s.Dropped = append(s.Dropped, 0)
		}
		s.Processed[cpu], s.Dropped[cpu] = v[0], v[1]
	}
	return s, sc.Err()
}

// ReadSoftnet reads /proc/net/softnet_stat.
func ReadSoftnet() (Softnet, error) {
	b, err := os.ReadFile("/proc/net/softnet_stat")
	if err != nil {
		return Softnet{}, err
	}
	return ParseSoftnet(b)
}

// Sub returns s - u per CPU (counters are 32-bit in the kernel; a wrap
// gives the wrapped difference).
func (s Softnet) Sub(u Softnet) Softnet {
	d := Softnet{Processed: make([]uint64, len(s.Processed)), Dropped: make([]uint64, len(s.Dropped))}
	for i := range s.Processed {
		var p, q uint64
		if i < len(u.Processed) {
			p, q = u.Processed[i], u.Dropped[i]
		}
		d.Processed[i] = uint64(uint32(s.Processed[i] - p))
		d.Dropped[i] = uint64(uint32(s.Dropped[i] - q))
	}
	return d
}
