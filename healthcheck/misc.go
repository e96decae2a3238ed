package healthcheck

import (
	"context"
	"fmt"
	"net/netip"
	"time"
)

// MiscConfig configures a MISC_CHECK: run a program; exit status 0 means
// healthy.
//
// With Dynamic set (misc_dynamic), keepalived's rule applies: status 0 is
// healthy with the weight unchanged (the configured weight until a
// dynamic weight was reported), 1 is unhealthy, and 2..255 is healthy with
// weight status-2 (0..253). Without Dynamic, any status but 0 is
// unhealthy. A script killed by a signal or by its timeout is unhealthy.
type MiscConfig struct {
	// Path is misc_path: the command line, split into arguments by
	// SplitCommand and executed without a shell. A program name without
	// a slash is looked up in PATH. The script inherits this process's
	// environment and gets stdin, stdout and stderr on /dev/null.
	Path string
	// Timeout is misc_timeout. Zero means DefaultDelayLoop; keepalived
	// uses the delay_loop, which the configuration layer should put here
	// when misc_timeout is absent.
	Timeout time.Duration
	// Dynamic is misc_dynamic.
	Dynamic bool
	// User and Group are the user keyword (or the global script_user):
	// the script runs as User, with primary group Group when set. Empty
	// runs it as this process.
	User, Group string
}

// Kind returns KindMisc.
func (MiscConfig) Kind() Kind { return KindMisc }

// NewChecker validates c and returns a *MiscChecker. The real server's
// address is not used: scripts get only their own arguments.
func (c MiscConfig) NewChecker(netip.AddrPort) (Checker, error) {
	if c.Timeout < 0 {
		return nil, fmt.Errorf("%w: negative misc_timeout %v", ErrInvalidConfig, c.Timeout)
	}
	s, err := NewScript(c.Path, c.User, c.Group)
	if err != nil {
		return nil, fmt.Errorf("misc_path: %w", err)
	}
	timeout := c.Timeout
	if timeout == 0 {
		timeout = DefaultDelayLoop
	}
	return &MiscChecker{script: s, timeout: timeout, dynamic: c.Dynamic}, nil
}

// MiscChecker is a MISC_CHECK. Build it with MiscConfig.NewChecker.
type MiscChecker struct {
	script  *Script
	timeout time.Duration
	dynamic bool
}

// String returns "MISC_CHECK" and the command.
func (c *MiscChecker) String() string { return string(KindMisc) + " " + c.script.String() }

// Check runs the script. Errors wrap ErrExitStatus, ErrScriptTimeout, or
// say why the script could not run or what signal killed it.
func (c *MiscChecker) Check(ctx context.Context) Result {
	code, err := c.script.Run(ctx, c.timeout)
	if err != nil {
		return fail(err)
	}
	return miscResult(code, c.dynamic)
}

// miscResult applies keepalived's exit status rule.
func miscResult(code int, dynamic bool) Result {
	switch {
	case code == 0:
		return pass()
	case dynamic && code >= 2 && code <= 255:
		return Result{Healthy: true, Weight: code - 2, HasWeight: true}
	}
	return fail(fmt.Errorf("%w: exit status %d", ErrExitStatus, code))
}
