//go:build linux

package lab

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// netnsDir is where named network namespaces are bind-mounted, the same
// place `ip netns` uses, so `ip netns list` and `ip -n NAME` see lab
// namespaces.
const netnsDir = "/run/netns"

// errNSExists reports that a namespace file is already present.
var errNSExists = errors.New("namespace exists")

// Do runs fn on a fresh goroutine that is locked to its OS thread and whose
// thread has been switched into the network namespace nsName (a name under
// /run/netns, or an absolute path to a namespace file such as
// /proc/PID/ns/net). Sockets that fn creates belong to that namespace for
// their whole life and may be used from any goroutine afterwards.
//
// The thread is never handed back to the Go scheduler: the goroutine exits
// while still locked, so the runtime destroys the thread. Goroutines that fn
// starts do NOT run in the namespace; each of them must call Do itself.
//
// Do returns fn's error. If fn panics, Do panics on the calling goroutine
// with the original value and the stack of fn; if fn calls runtime.Goexit
// (for example t.FailNow), Do returns an error.
func Do(nsName string, fn func() error) error {
	fd, err := openNS(nsName)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return doFd(fd, fn)
}

// openNS opens the namespace file for a lab namespace name or path.
func openNS(nsName string) (int, error) {
	if nsName == "" {
		return -1, errors.New("lab: empty namespace name")
	}
	p := nsName
	if !strings.Contains(nsName, "/") {
		p = filepath.Join(netnsDir, nsName)
	}
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("lab: open namespace %s: %w", nsName, err)
	}
	return fd, nil
}

// doFd is Do for an already open namespace file descriptor.
func doFd(fd int, fn func() error) error {
	return onDyingThread(func() error {
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("lab: setns: %w", err)
		}
		return nil
	}, fn)
}

// threadResult carries what happened on a dying thread back to the caller.
type threadResult struct {
	err      error
	done     bool
	panicked bool
	value    any
	stack    []byte
}

// onDyingThread runs setup and then fn on a new goroutine locked to its
// thread, and lets that goroutine exit locked so the thread (whose namespace
// setup may have changed) is destroyed rather than reused. fn is skipped if
// setup fails.
func onDyingThread(setup, fn func() error) error {
	ch := make(chan threadResult, 1)
	go runDying(ch, setup, fn, nil)
	r := <-ch
	if r.panicked {
		panic(fmt.Sprintf("%v\n\n[panic inside lab.Do; stack of the namespace goroutine:]\n%s", r.value, r.stack))
	}
	return r.err
}

// runDying is the body of onDyingThread's goroutine. locked, if not nil,
// is closed once the goroutine is locked to a thread other than the main
// one.
func runDying(ch chan<- threadResult, setup, fn func() error, locked chan<- struct{}) {
	runtime.LockOSThread()
	if unix.Gettid() == unix.Getpid() {
		// The main thread is never destroyed, only parked for good, which
		// would pin the namespace. Hand over to a new goroutine; while this
		// one blocks locked to the main thread, the new one must be picked
		// up by another thread. Then give the main thread back unchanged.
		next := make(chan struct{})
		go runDying(ch, setup, fn, next)
		<-next
		runtime.UnlockOSThread()
		return
	}
	if locked != nil {
		close(locked)
	}
	// No runtime.UnlockOSThread from here on, on purpose: the goroutine
	// exits locked and the runtime destroys the thread.
	var r threadResult
	defer func() {
		if p := recover(); p != nil {
			r.panicked, r.value, r.stack = true, p, debug.Stack()
		} else if !r.done {
			r.err = errors.New("lab: function run in a namespace called runtime.Goexit (t.FailNow inside lab.Do?)")
		}
		ch <- r
	}()
	if err := setup(); err != nil {
		r.err, r.done = err, true
		return
	}
	r.err = fn()
	r.done = true
}

// prepareNetnsDir makes sure /run/netns exists and, like iproute2 does, is a
// shared mount point so that namespace bind mounts propagate to other mount
// namespaces (for example those of `ip netns exec`).
func prepareNetnsDir() error {
	if err := os.MkdirAll(netnsDir, 0o755); err != nil {
		return fmt.Errorf("lab: create %s: %w", netnsDir, err)
	}
	err := unix.Mount("", netnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("lab: make %s shared: %w", netnsDir, err)
	}
	// Not a mount point yet: bind it onto itself, then make it shared.
	if err := unix.Mount(netnsDir, netnsDir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("lab: bind-mount %s: %w", netnsDir, err)
	}
	if err := unix.Mount("", netnsDir, "none", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("lab: make %s shared: %w", netnsDir, err)
	}
	return nil
}

// createNS creates a new named network namespace, like `ip netns add`. It
// returns an error wrapping errNSExists if the name is taken.
func createNS(name string) error {
	if name == "" || strings.ContainsAny(name, "/\x00") || name == "." || name == ".." {
		return fmt.Errorf("lab: invalid namespace name %q", name)
	}
	p := filepath.Join(netnsDir, name)
	f, err := os.OpenFile(p, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("lab: namespace %s: %w", name, errNSExists)
		}
		return fmt.Errorf("lab: create namespace file: %w", err)
	}
	f.Close()
	err = onDyingThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("lab: unshare: %w", err)
		}
		return nil
	}, func() error {
		src := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		if err := unix.Mount(src, p, "none", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("lab: bind-mount namespace %s: %w", name, err)
		}
		return nil
	})
	if err != nil {
		os.Remove(p)
		return err
	}
	return nil
}

// deleteNS removes a named namespace, like `ip netns delete`. The kernel
// frees the namespace, and with it its interfaces, once nothing else holds
// it. A missing namespace is not an error.
func deleteNS(name string) error {
	p := filepath.Join(netnsDir, name)
	if err := unix.Unmount(p, unix.MNT_DETACH); err != nil &&
		!errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("lab: unmount namespace %s: %w", name, err)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("lab: remove namespace %s: %w", name, err)
	}
	return nil
}

// nsExists tells whether a named namespace file exists.
func nsExists(name string) bool {
	_, err := os.Lstat(filepath.Join(netnsDir, name))
	return err == nil
}

// listNS returns the names of all named namespaces.
func listNS() ([]string, error) {
	ents, err := os.ReadDir(netnsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lab: list namespaces: %w", err)
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names, nil
}

// nsID identifies a namespace by the device and inode of its nsfs file.
type nsID struct{ dev, ino uint64 }

// statNS returns the identity of the namespace behind path.
func statNS(path string) (nsID, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return nsID{}, err
	}
	return nsID{uint64(st.Dev), st.Ino}, nil
}

// currentNSCookie returns the SO_NETNS_COOKIE of the calling thread's
// network namespace, or 0 if the kernel cannot tell. It must run on a
// locked thread to be meaningful.
func currentNSCookie() uint64 {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0
	}
	defer unix.Close(fd)
	c, err := unix.GetsockoptUint64(fd, unix.SOL_SOCKET, unix.SO_NETNS_COOKIE)
	if err != nil {
		return 0
	}
	return c
}

// nsGuard returns a net.Dialer/ListenConfig Control function that refuses a
// socket unless it was created in the namespace with the given cookie. It
// turns a socket accidentally created on the wrong thread (and so in the
// root namespace) into an error before any packet is sent. A zero cookie
// disables the check.
func nsGuard(cookie uint64) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, c syscall.RawConn) error {
		if cookie == 0 {
			return nil
		}
		var got uint64
		var gerr error
		if err := c.Control(func(fd uintptr) {
			got, gerr = unix.GetsockoptUint64(int(fd), unix.SOL_SOCKET, unix.SO_NETNS_COOKIE)
		}); err != nil {
			return err
		}
		if gerr != nil {
			return fmt.Errorf("lab: read socket namespace: %w", gerr)
		}
		if got != cookie {
			return errWrongNS
		}
		return nil
	}
}

// errWrongNS is returned when a socket ended up outside its lab namespace.
var errWrongNS = errors.New("lab: socket created outside the intended namespace")

// writeSysctl writes a /proc/sys value for the calling thread's network
// namespace (call it inside Do). key uses slashes: "net/ipv4/ip_forward".
func writeSysctl(key, value string) error {
	if err := os.WriteFile(filepath.Join("/proc/sys", key), []byte(value), 0o644); err != nil {
		return fmt.Errorf("lab: sysctl %s=%s: %w", key, value, err)
	}
	return nil
}

// readSysctl reads a /proc/sys value of the calling thread's namespace.
func readSysctl(key string) (string, error) {
	b, err := os.ReadFile(filepath.Join("/proc/sys", key))
	if err != nil {
		return "", fmt.Errorf("lab: sysctl %s: %w", key, err)
	}
	return strings.TrimSpace(string(b)), nil
}
