//go:build linux

package lab

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Director is an `xvs run` process in a lab's director namespace, started
// by StartDirector for the demo, the lab tests and the benchmark.
type Director struct {
	cmd     *exec.Cmd
	logPath string
	// Admin is the unix socket of its admin API (inside the run's dir).
	Admin string
	done  chan error
}

// StartDirector runs `exe run` in l's director namespace (through `ip netns
// exec`, which executes it in place) with its log, ready file and admin
// socket in dir and args added, and waits up to 20 s until it forwards.
// The director logs in the console format and serves metrics on
// 127.0.0.1:9333 inside the namespace (what the demo, the benchmark and the
// lab tests scrape); args may override either (e.g. --metrics "").
func StartDirector(l *Lab, exe, dir string, args ...string) (*Director, error) {
	return StartDirectorIn(l.LBNS, exe, dir, args...)
}

// StartDirectorIn is StartDirector in namespace ns, e.g. a Pair lab's
// LB2NS.
func StartDirectorIn(ns, exe, dir string, args ...string) (*Director, error) {
	ready := filepath.Join(dir, "ready")
	d := &Director{logPath: filepath.Join(dir, "director.log"), Admin: filepath.Join(dir, "xvs.sock"), done: make(chan error, 1)}
	logf, err := os.Create(d.logPath)
	if err != nil {
		return nil, err
	}
	argv := append([]string{"netns", "exec", ns, exe, "run", "--ready-file", ready, "--admin", d.Admin,
		"--log-format", "console", "--metrics", "127.0.0.1:9333"}, args...)
	d.cmd = exec.Command("ip", argv...)
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	if err := d.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("lab: starting the director: %w", err)
	}
	go func() { d.done <- d.cmd.Wait(); logf.Close() }()
	deadline := time.After(20 * time.Second)
	for {
		if _, err := os.Stat(ready); err == nil {
			return d, nil
		}
		select {
		case err := <-d.done:
			d.done <- err
			return nil, fmt.Errorf("lab: the director exited before forwarding (%v):\n%s", err, d.Log())
		case <-deadline:
			d.Stop()
			return nil, fmt.Errorf("lab: the director did not start within 20s:\n%s", d.Log())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Pid returns the director's process id.
func (d *Director) Pid() int { return d.cmd.Process.Pid }

// Log returns what the director wrote so far.
func (d *Director) Log() string {
	b, _ := os.ReadFile(d.logPath)
	return string(b)
}

// Stop sends SIGTERM and waits for the director to exit; after 10 s it is
// killed, and Stop says so. Stopping again returns the first result.
func (d *Director) Stop() error {
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		d.done <- err
		return err
	case <-time.After(10 * time.Second):
		_ = d.cmd.Process.Kill()
		err := <-d.done
		d.done <- err
		return errors.New("lab: the director did not stop within 10s of SIGTERM; killed")
	}
}

// Kill kills the director with SIGKILL, as a crash or the OOM killer would,
// and waits for it to be gone.
func (d *Director) Kill() error {
	_ = d.cmd.Process.Kill()
	err := <-d.done
	d.done <- err
	return err
}
