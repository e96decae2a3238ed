package dataplane

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/xvs-project/xvs/internal/ethtool"
	"golang.org/x/sys/unix"
)

// startCPUs is the set of CPUs this process was allowed to run on when it
// started (taskset, systemd's CPUAffinity=, a cpuset cgroup), read before
// any worker pinned a thread; startCPUsErr is why it could not be read.
var startCPUs, startCPUsErr = readAffinity()

func readAffinity() ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("reading the process's CPU affinity: %w", err)
	}
	var cpus []int
	for c := 0; c < len(set)*64; c++ {
		if set.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	if len(cpus) == 0 {
		return nil, errors.New("the process's CPU affinity is empty")
	}
	return cpus, nil
}

// AllowedCPUs returns the CPUs the process was allowed to run on when it
// started (sched_getaffinity), in increasing order. Workers run only on
// these.
func AllowedCPUs() ([]int, error) {
	if startCPUsErr != nil {
		return nil, startCPUsErr
	}
	return slices.Clone(startCPUs), nil
}

// CheckCPUs returns an error naming the first CPU of want that is not in
// allowed, with the allowed set written as a CPU list.
func CheckCPUs(want, allowed []int) error {
	for _, c := range want {
		if !slices.Contains(allowed, c) {
			return fmt.Errorf("CPU %d is not one this process may run on (%s; set by taskset, systemd's CPUAffinity= or a cpuset cgroup)", c, FormatCPUs(allowed))
		}
	}
	return nil
}

// FormatCPUs writes a CPU set the way taskset and /proc/PID/status do:
// "0-3,8,10-11".
func FormatCPUs(cpus []int) string {
	s := slices.Clone(cpus)
	slices.Sort(s)
	s = slices.Compact(s)
	var b strings.Builder
	for i := 0; i < len(s); {
		j := i
		for j+1 < len(s) && s[j+1] == s[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(s[i]))
		if j > i {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(s[j]))
		}
		i = j + 1
	}
	return b.String()
}

// Channels is how many receive queues of an interface are active, and
// where that was read.
type Channels struct {
	Rx int
	// Source is "ethtool" (the driver's channels, ethtool -l) or "sysfs"
	// (the count of /sys/class/net/IF/queues/rx-*, real_num_rx_queues,
	// for drivers without channels).
	Source string
}

// ActiveChannels returns the number of active receive queues of the
// interface: ethtool's current channels (rx + combined) where the driver
// reports them, else the receive queues sysfs lists. A NIC usually
// allocates more queues than it runs; only the active ones receive frames
// and accept an AF_XDP socket.
func ActiveChannels(name string) (Channels, error) {
	if ch, err := ethtool.GetChannels(name); err == nil && ch.ActiveRx() > 0 {
		return Channels{Rx: ch.ActiveRx(), Source: "ethtool"}, nil
	}
	m, err := filepath.Glob(filepath.Join("/sys/class/net", name, "queues", "rx-*"))
	if err != nil || len(m) == 0 {
		if _, serr := os.Stat(filepath.Join("/sys/class/net", name)); serr != nil {
			return Channels{}, fmt.Errorf("counting the receive queues of %s: %w", name, serr)
		}
		return Channels{Rx: 1, Source: "sysfs"}, nil
	}
	return Channels{Rx: len(m), Source: "sysfs"}, nil
}

// WorkerPlan is what one worker serves: the CPU it is pinned to and the
// receive queues of each interface whose sockets it owns. It transmits on
// the other interface through the socket of its first queue there.
type WorkerPlan struct {
	CPU       int
	WANQueues []int
	LANQueues []int
}

// Place lays workers over queues and CPUs. Every active queue of each side
// is served, so a frame arriving on any of them is forwarded; there are as
// many workers as the fewer of the two sides' queues and the CPUs (and at
// most maxWorkers when it is above 0), so that every worker has a socket on
// both sides to transmit with and no two workers share a CPU; worker i
// serves queue q of a side when q mod workers == i, and runs on cpus[i].
func Place(wanQueues, lanQueues int, cpus []int, maxWorkers int) []WorkerPlan {
	n := min(wanQueues, lanQueues, len(cpus))
	if maxWorkers > 0 {
		n = min(n, maxWorkers)
	}
	if n < 1 {
		return nil
	}
	out := make([]WorkerPlan, n)
	for i := range out {
		out[i].CPU = cpus[i]
	}
	for q := 0; q < wanQueues; q++ {
		out[q%n].WANQueues = append(out[q%n].WANQueues, q)
	}
	for q := 0; q < lanQueues; q++ {
		out[q%n].LANQueues = append(out[q%n].LANQueues, q)
	}
	return out
}
