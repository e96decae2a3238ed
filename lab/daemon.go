//go:build linux

package lab

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// RunDir holds daemon logs (<ns>.log) and, per lab, pid files
// (<prefix>/<ns>.pid).
const RunDir = "/run/xvs/lab"

// Timeouts of daemon handling.
const (
	daemonReadyTimeout = 10 * time.Second
	termGrace          = 2 * time.Second
	killGrace          = 2 * time.Second
)

// daemon is one process started by StartDaemons.
type daemon struct {
	ns, log string
	pid     int
	exited  chan error
}

// StartDaemons starts one detached process per real server for
// `xvs lab up`: exe args... --ns NS --name NAME (for example
// `xvs lab serve --ns xvs-rs1 --name rs1`), which is expected to call
// ServeForever. Each process gets its own session (Setsid), the
// environment of this process, stdin from /dev/null and stdout/stderr
// appended to RunDir/<ns>.log; its pid goes to RunDir/<prefix>/<ns>.pid.
// StartDaemons returns once every server accepts TCP connections on port 80
// in its namespace (the UDP socket is bound before that), or an error, in
// which case the daemons it started are stopped again. Down(prefix) stops
// them (SIGTERM, then SIGKILL after 2s) and removes pid and log files.
func (l *Lab) StartDaemons(exe string, args ...string) error {
	if exe == "" {
		return errors.New("lab: empty daemon executable")
	}
	dir := filepath.Join(RunDir, l.Prefix)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("lab: create %s: %w", dir, err)
	}
	var ds []*daemon
	fail := func(err error) error {
		for _, d := range ds {
			killAndWait([]int{d.pid})
			os.Remove(pidFile(l.Prefix, d.ns))
		}
		return err
	}
	for i, ns := range l.ServerNS {
		if pid, ok := readPidFile(l.Prefix, ns); ok && daemonAlive(pid, ns) {
			return fail(fmt.Errorf("lab: a daemon for %s is already running (pid %d); run xvs lab down", ns, pid))
		}
		d, err := startDaemon(l.Prefix, ns, l.ServerNames[i], exe, args)
		if err != nil {
			return fail(err)
		}
		ds = append(ds, d)
	}
	for _, d := range ds {
		if err := d.waitReady(daemonReadyTimeout); err != nil {
			return fail(err)
		}
	}
	return nil
}

// pidFile is the pid file path of the daemon serving namespace ns.
func pidFile(prefix, ns string) string {
	return filepath.Join(RunDir, prefix, ns+".pid")
}

// logFile is the log path of the daemon serving namespace ns.
func logFile(ns string) string {
	return filepath.Join(RunDir, ns+".log")
}

// startDaemon spawns one daemon and records its pid.
func startDaemon(prefix, ns, name, exe string, args []string) (*daemon, error) {
	logPath := logFile(ns)
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lab: open daemon log: %w", err)
	}
	defer lf.Close()
	argv := append(append([]string(nil), args...), "--ns", ns, "--name", name)
	cmd := exec.Command(exe, argv...)
	cmd.Stdout = lf
	cmd.Stderr = lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("lab: start daemon for %s: %w", ns, err)
	}
	d := &daemon{ns: ns, log: logPath, pid: cmd.Process.Pid, exited: make(chan error, 1)}
	// Reap the child as soon as it exits; a process that outlives this
	// one (xvs lab up exits right away) is re-parented to init.
	go func() { d.exited <- cmd.Wait() }()
	p := pidFile(prefix, ns)
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(d.pid)+"\n"), 0o644); err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		killAndWait([]int{d.pid})
		return nil, fmt.Errorf("lab: write pid file: %w", err)
	}
	return d, nil
}

// waitReady waits until the daemon's HTTP port accepts connections inside
// its namespace, failing early if the daemon exits.
func (d *daemon) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case err := <-d.exited:
			d.exited <- err
			return fmt.Errorf("lab: daemon for %s exited (%v); log %s: %s", d.ns, err, d.log, logTail(d.log))
		default:
		}
		err := Do(d.ns, func() error {
			c, err := net.DialTimeout("tcp4", fmt.Sprintf("127.0.0.1:%d", HTTPPort), 200*time.Millisecond)
			if err != nil {
				return err
			}
			return c.Close()
		})
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("lab: daemon for %s not ready after %v: %w; log %s: %s", d.ns, timeout, err, d.log, logTail(d.log))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// logTail returns the last few hundred bytes of a log, on one line.
func logTail(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return "(no log)"
	}
	if len(b) > 400 {
		b = b[len(b)-400:]
	}
	s := strings.TrimSpace(strings.ReplaceAll(string(b), "\n", " | "))
	if s == "" {
		return "(empty log)"
	}
	return s
}

// readPidFile reads the daemon pid recorded for namespace ns.
func readPidFile(prefix, ns string) (int, bool) {
	b, err := os.ReadFile(pidFile(prefix, ns))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid, err == nil && pid > 1
}

// daemonAlive tells whether pid is a live process started to serve ns: its
// command line must contain "--ns ns", so a recycled pid is never taken
// for a daemon.
func daemonAlive(pid int, ns string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !bytes.Contains(b, []byte("--ns\x00"+ns+"\x00")) {
		return false
	}
	return alive(pid)
}

// alive tells whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return false
	}
	st := b[i+2]
	return st != 'Z' && st != 'X'
}

// stopDaemons ends the daemons recorded for the lab and every other process
// whose network namespace is one of nsList, then removes pid and log files.
func stopDaemons(prefix string, nsList []string) error {
	dir := filepath.Join(RunDir, prefix)
	var pids []int
	seen := map[int]bool{}
	logs := map[string]bool{}
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("lab: read %s: %w", dir, err)
	}
	for _, e := range ents {
		ns, ok := strings.CutSuffix(e.Name(), ".pid")
		if !ok {
			continue
		}
		logs[ns] = true
		if pid, ok := readPidFile(prefix, ns); ok && daemonAlive(pid, ns) && !seen[pid] {
			seen[pid] = true
			pids = append(pids, pid)
		}
	}
	for _, pid := range pidsInNamespaces(nsList) {
		if !seen[pid] {
			seen[pid] = true
			pids = append(pids, pid)
		}
	}
	var errs []error
	if left := killAndWait(pids); len(left) > 0 {
		errs = append(errs, fmt.Errorf("lab: processes %v survived SIGKILL", left))
	}
	for _, ns := range nsList {
		logs[ns] = true
	}
	for ns := range logs {
		if err := os.Remove(logFile(ns)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		errs = append(errs, fmt.Errorf("lab: remove %s: %w", dir, err))
	}
	return errors.Join(errs...)
}

// pidsInNamespaces lists processes (other than this one) whose network
// namespace is one of the named namespaces, like `ip netns pids`.
func pidsInNamespaces(nsList []string) []int {
	ids := map[nsID]bool{}
	for _, ns := range nsList {
		if id, err := statNS(filepath.Join(netnsDir, ns)); err == nil {
			ids[id] = true
		}
	}
	if len(ids) == 0 {
		return nil
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 1 || pid == self {
			continue
		}
		id, err := statNS(fmt.Sprintf("/proc/%d/ns/net", pid))
		if err == nil && ids[id] {
			pids = append(pids, pid)
		}
	}
	return pids
}

// killAndWait sends SIGTERM to pids, waits up to termGrace for them to go,
// sends SIGKILL to the rest and waits up to killGrace. It returns the pids
// still alive at the end.
func killAndWait(pids []int) []int {
	if len(pids) == 0 {
		return nil
	}
	for _, pid := range pids {
		unix.Kill(pid, unix.SIGTERM)
	}
	left := waitGone(pids, termGrace)
	for _, pid := range left {
		unix.Kill(pid, unix.SIGKILL)
	}
	return waitGone(left, killGrace)
}

// waitGone polls until no pid in pids is alive or d has passed, and
// returns those still alive.
func waitGone(pids []int, d time.Duration) []int {
	deadline := time.Now().Add(d)
	for {
		var left []int
		for _, pid := range pids {
			if alive(pid) {
				left = append(left, pid)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		pids = left
		time.Sleep(20 * time.Millisecond)
	}
}
