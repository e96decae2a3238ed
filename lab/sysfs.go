//go:build linux

package lab

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// sysfs shows the network devices of the namespace that mounted it, not
// those of the reading thread's namespace: /sys/class/net seen from a
// thread switched into a lab namespace still lists the root namespace's
// devices. DoSysfs therefore gives its thread a mount namespace of its
// own with a sysfs mounted from inside the lab namespace, as `ip netns
// exec` does for a process.

// DoSysfs runs fn on a thread in network namespace nsName whose /sys is a
// sysfs of that namespace, so /sys/class/net/IF lists the namespace's
// devices. The thread has a private mount namespace and is destroyed
// afterwards (see Do); nothing is mounted anywhere else.
func DoSysfs(nsName string, fn func() error) error {
	fd, err := openNS(nsName)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return onDyingThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNS | unix.CLONE_FS); err != nil {
			return fmt.Errorf("lab: unshare mount namespace: %w", err)
		}
		if err := unix.Mount("", "/", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("lab: make / a slave mount: %w", err)
		}
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("lab: setns: %w", err)
		}
		if err := unix.Unmount("/sys", unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("lab: unmount /sys: %w", err)
		}
		if err := unix.Mount("xvs-lab-sysfs", "/sys", "sysfs", 0, ""); err != nil {
			return fmt.Errorf("lab: mount sysfs of %s: %w", nsName, err)
		}
		return nil
	}, fn)
}

// netSysfs returns the path of attribute rel of interface ifName under
// /sys/class/net, refusing names that would leave the directory.
func netSysfs(ifName, rel string) (string, error) {
	if ifName == "" || strings.ContainsAny(ifName, "/\x00") || ifName == "." || ifName == ".." {
		return "", fmt.Errorf("lab: invalid interface name %q", ifName)
	}
	p := filepath.Join("/sys/class/net", ifName, rel)
	if !strings.HasPrefix(p, filepath.Join("/sys/class/net", ifName)+"/") {
		return "", fmt.Errorf("lab: invalid attribute %q", rel)
	}
	return p, nil
}

// WriteNetSysfs writes value to /sys/class/net/IF/REL of interface ifName
// in namespace ns, e.g. rel "threaded" or "queues/rx-0/rps_cpus".
func WriteNetSysfs(ns, ifName, rel, value string) error {
	p, err := netSysfs(ifName, rel)
	if err != nil {
		return err
	}
	return DoSysfs(ns, func() error {
		if err := os.WriteFile(p, []byte(value), 0o644); err != nil {
			return fmt.Errorf("lab: %s in %s: %w", p, ns, err)
		}
		return nil
	})
}

// ReadNetSysfs reads /sys/class/net/IF/REL of interface ifName in namespace
// ns, trimmed of surrounding space.
func ReadNetSysfs(ns, ifName, rel string) (string, error) {
	p, err := netSysfs(ifName, rel)
	if err != nil {
		return "", err
	}
	var s string
	err = DoSysfs(ns, func() error {
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("lab: %s in %s: %w", p, ns, err)
		}
		s = strings.TrimSpace(string(b))
		return nil
	})
	return s, err
}

// ErrNoNAPI matches (errors.Is) SetThreadedNAPI's error when the interface
// has no NAPI instance to thread: a veth has NAPI only while GRO is on or an
// XDP program is attached.
var ErrNoNAPI = errors.New("interface has no NAPI")

// SetThreadedNAPI turns threaded NAPI of interface ifName in namespace ns
// on or off (/sys/class/net/IF/threaded): on, each NAPI instance polls in a
// kernel thread named napi/IF-ID that the scheduler places like any task,
// instead of in softirq on the CPU that scheduled it. The setting outlives
// the NAPI instances: a veth that loses and regains NAPI (GRO or XDP off and
// on) gets new threads. The kernel refuses the setting while the interface
// has no NAPI (ErrNoNAPI).
func SetThreadedNAPI(ns, ifName string, on bool) error {
	v := "0"
	if on {
		v = "1"
	}
	err := WriteNetSysfs(ns, ifName, "threaded", v)
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EIO) {
		return fmt.Errorf("lab: threaded NAPI on %s in %s: %w (%w)", ifName, ns, ErrNoNAPI, err)
	}
	return err
}

// SetRPS sets receive packet steering of every receive queue of interface
// ifName in namespace ns to the CPUs in cpus (none turns RPS off): frames
// the interface receives outside NAPI (a veth without GRO or XDP takes its
// peer's frames with netif_rx on the sending CPU) are processed in softirq
// on one of those CPUs instead.
func SetRPS(ns, ifName string, cpus []int) error {
	mask, err := CPUMask(cpus)
	if err != nil {
		return err
	}
	return DoSysfs(ns, func() error {
		dir, err := netSysfs(ifName, "queues")
		if err != nil {
			return err
		}
		ents, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("lab: queues of %s in %s: %w", ifName, ns, err)
		}
		for _, e := range ents {
			if !strings.HasPrefix(e.Name(), "rx-") {
				continue
			}
			p := filepath.Join(dir, e.Name(), "rps_cpus")
			if err := os.WriteFile(p, []byte(mask), 0o644); err != nil {
				return fmt.Errorf("lab: %s in %s: %w", p, ns, err)
			}
		}
		return nil
	})
}

// CPUMask formats CPU numbers as the hexadecimal mask sysfs takes
// (comma-separated 32-bit groups, most significant first); no CPU gives
// "0".
func CPUMask(cpus []int) (string, error) {
	top := -1
	for _, c := range cpus {
		if c < 0 || c >= 4096 {
			return "", fmt.Errorf("lab: CPU %d out of range", c)
		}
		top = max(top, c)
	}
	if top < 0 {
		return "0", nil
	}
	words := make([]uint32, top/32+1)
	for _, c := range cpus {
		words[c/32] |= 1 << (c % 32)
	}
	var parts []string
	for i := len(words) - 1; i >= 0; i-- {
		if i == len(words)-1 {
			parts = append(parts, fmt.Sprintf("%x", words[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%08x", words[i]))
		}
	}
	return strings.Join(parts, ","), nil
}
