package healthcheck

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Tests talk only to loopback addresses.

// shortTimeout bounds I/O in checker tests that expect a timeout.
const shortTimeout = 200 * time.Millisecond

// addrPort returns a listener's address as a netip.AddrPort.
func addrPort(t testing.TB, a net.Addr) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		t.Fatal(err)
	}
	return ap
}

// tcpListener listens on 127.0.0.1:0 and hands each accepted connection
// to handle in its own goroutine. It is closed at the end of the test.
func tcpListener(t testing.TB, handle func(net.Conn)) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				if handle != nil {
					handle(c)
				}
			})
		}
	})
	return addrPort(t, ln.Addr())
}

// closedPort returns a loopback TCP or UDP port that nothing listens on.
func closedPort(t testing.TB, network string) netip.AddrPort {
	t.Helper()
	switch network {
	case "tcp":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ap := addrPort(t, ln.Addr())
		ln.Close()
		return ap
	default:
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ap := addrPort(t, pc.LocalAddr())
		pc.Close()
		return ap
	}
}

// fullBacklog returns the address of a listening socket that never
// accepts and whose accept queue is full, so that further connection
// attempts hang (the kernel drops their SYNs).
func fullBacklog(t testing.TB) netip.AddrPort {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	ap := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(sa.(*syscall.SockaddrInet4).Port))
	for range 16 {
		c, err := net.DialTimeout("tcp", ap.String(), 100*time.Millisecond)
		if err != nil {
			if isTimeout(err) {
				return ap // the queue is full
			}
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Skip("could not fill a listen backlog on loopback")
	return ap
}

// assertResult checks a result's health and, when want is not nil, that
// its error matches want.
func assertResult(t *testing.T, r Result, healthy bool, want error) {
	t.Helper()
	if r.Healthy != healthy {
		t.Fatalf("Healthy = %v (err %v), want %v", r.Healthy, r.Err, healthy)
	}
	if healthy && r.Err != nil {
		t.Fatalf("healthy result with error %v", r.Err)
	}
	if !healthy && r.Err == nil {
		t.Fatal("unhealthy result without an error")
	}
	if want != nil && !errors.Is(r.Err, want) {
		t.Fatalf("err = %v, want one matching %v", r.Err, want)
	}
}

// newChecker builds a checker or fails the test.
func newChecker(t testing.TB, c Config, server netip.AddrPort) Checker {
	t.Helper()
	ch, err := c.NewChecker(server)
	if err != nil {
		t.Fatalf("NewChecker(%+v): %v", c, err)
	}
	return ch
}

// timedCheck runs a check and returns its result and duration.
func timedCheck(c Checker) (Result, time.Duration) {
	start := time.Now()
	r := c.Check(context.Background())
	return r, time.Since(start)
}

// fakeClock is a Clock that moves only when told to.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
	armed  []time.Duration // every AfterFunc delay, in order
}

type fakeTimer struct {
	c    *fakeClock
	at   time.Time
	f    func()
	done bool
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	c.armed = append(c.armed, d)
	return t
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.done {
		return false
	}
	t.done = true
	t.c.timers = slices.DeleteFunc(t.c.timers, func(x *fakeTimer) bool { return x == t })
	return true
}

// Advance moves the clock on by d and fires the timers that came due, in
// time order, each in its own goroutine as time.AfterFunc does.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*fakeTimer
	c.timers = slices.DeleteFunc(c.timers, func(t *fakeTimer) bool {
		if !t.at.After(c.now) {
			t.done = true
			due = append(due, t)
			return true
		}
		return false
	})
	c.mu.Unlock()
	slices.SortStableFunc(due, func(a, b *fakeTimer) int { return a.at.Compare(b.at) })
	for _, t := range due {
		go t.f()
	}
}

// Armed returns the number of AfterFunc calls so far.
func (c *fakeClock) Armed() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.armed)
}

// Delays returns every AfterFunc delay so far.
func (c *fakeClock) Delays() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.armed)
}

// Pending returns the number of armed timers.
func (c *fakeClock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// waitFor polls cond until it holds, failing the test after 5 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// noRunnerLeak fails the test if goroutines of the Runner outlive it.
func noRunnerLeak(t testing.TB) {
	t.Helper()
	t.Cleanup(func() {
		var stacks string
		ok := func() bool {
			buf := make([]byte, 1<<20)
			stacks = string(buf[:runtime.Stack(buf, true)])
			return !strings.Contains(stacks, "healthcheck.(*Runner)")
		}
		deadline := time.Now().Add(2 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("Runner goroutines left behind:\n%s", stacks)
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}
