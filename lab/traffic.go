//go:build linux

package lab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Defaults of TrafficConfig.
const (
	// DefaultConcurrency is the number of workers per protocol.
	DefaultConcurrency = 8
	// DefaultTimeout bounds one try.
	DefaultTimeout = 2 * time.Second
	// MaxConcurrency bounds TrafficConfig.Concurrency (one OS thread each).
	MaxConcurrency = 256
)

// labRange is the only range traffic may be sent to (besides loopback).
var labRange = netip.MustParsePrefix("198.18.0.0/15")

// TrafficConfig describes one bounded run of the traffic generator.
type TrafficConfig struct {
	// VIP is the target address; any lab address works (a real server's
	// address for plumbing tests). Zero means the lab VIP 198.18.0.100. It
	// must be in 198.18.0.0/15 or loopback.
	VIP netip.Addr
	// TCPPort and UDPPort are the target ports; zero means 80 and 53.
	TCPPort, UDPPort uint16
	// Requests is the number of HTTP requests, each on a new connection.
	Requests int
	// Datagrams is the number of UDP request/reply exchanges.
	Datagrams int
	// Concurrency is the number of workers per protocol (default 8).
	Concurrency int
	// Timeout bounds each try (connect+request+response, or
	// send+reply), default 2s. A try that runs out of time is a failure;
	// there are no retries.
	Timeout time.Duration
}

// ProtoResult counts the outcome of one protocol's tries.
type ProtoResult struct {
	// OK and Failed count tries.
	OK, Failed int
	// PerServer counts successful tries by the server name in the reply.
	PerServer map[string]int
	// Errors counts failures by kind, e.g. "connect: timeout".
	Errors map[string]int
	// Elapsed is the wall time of this protocol's phase.
	Elapsed time.Duration
	// SourcePorts is the set of client source ports the successful tries
	// used. TCP ports recycle (the server closes first), so a director's
	// connection table holds one entry per port, not one per try.
	SourcePorts map[uint16]struct{}
}

// TrafficResult is what RunTraffic saw.
type TrafficResult struct {
	// TCP and UDP hold the HTTP and UDP outcomes.
	TCP, UDP ProtoResult
	// NonVIPReplies counts UDP replies whose source was not VIP:UDPPort
	// (such a reply is also a failure). For TCP a reply from a wrong
	// source cannot reach the socket; it shows up as a failed connect.
	NonVIPReplies int
	// Elapsed is the wall time of the whole run.
	Elapsed time.Duration
}

// RunTraffic runs a bounded load from inside namespace nsName: first
// cfg.Requests HTTP GETs, each on a new TCP connection from an ephemeral
// port (connect, GET /, read the whole response whose body is the server
// name, close), then cfg.Datagrams UDP exchanges, each from a new
// unconnected socket on its own source port, so each is a new flow (send to
// VIP:UDPPort, wait for one reply, record its source). Every worker goroutine switches into the namespace itself and
// every socket is checked to belong to it before it sends anything.
// RunTraffic returns an error only if it cannot run at all; failed tries
// are counted in the result.
func RunTraffic(nsName string, cfg TrafficConfig) (TrafficResult, error) {
	var res TrafficResult
	if !cfg.VIP.IsValid() {
		cfg.VIP = VIP
	}
	cfg.VIP = cfg.VIP.Unmap()
	if !cfg.VIP.Is4() || !(labRange.Contains(cfg.VIP) || cfg.VIP.IsLoopback()) {
		return res, fmt.Errorf("lab: traffic target %s is outside 198.18.0.0/15", cfg.VIP)
	}
	if cfg.TCPPort == 0 {
		cfg.TCPPort = HTTPPort
	}
	if cfg.UDPPort == 0 {
		cfg.UDPPort = UDPPort
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Concurrency > MaxConcurrency {
		return res, fmt.Errorf("lab: concurrency %d above %d", cfg.Concurrency, MaxConcurrency)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Requests < 0 || cfg.Datagrams < 0 {
		return res, errors.New("lab: negative request count")
	}
	fd, err := openNS(nsName)
	if err != nil {
		return res, err
	}
	defer unix.Close(fd)

	start := time.Now()
	if cfg.Requests > 0 {
		t0 := time.Now()
		res.TCP, _, err = runWorkers(fd, cfg.Requests, cfg.Concurrency, func(w *worker) error {
			return w.tcpLoop(cfg)
		})
		res.TCP.Elapsed = time.Since(t0)
		if err != nil {
			return res, err
		}
	}
	if cfg.Datagrams > 0 {
		t0 := time.Now()
		var nonVIP int
		res.UDP, nonVIP, err = runWorkers(fd, cfg.Datagrams, cfg.Concurrency, func(w *worker) error {
			return w.udpLoop(cfg)
		})
		res.UDP.Elapsed = time.Since(t0)
		res.NonVIPReplies = nonVIP
		if err != nil {
			return res, err
		}
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

// worker is the per-goroutine state of one generator worker.
type worker struct {
	next   *atomic.Int64 // shared: tries handed out so far
	total  int64
	guard  func(network, address string, c syscall.RawConn) error
	res    ProtoResult
	nonVIP int
}

func newProtoResult() ProtoResult {
	return ProtoResult{PerServer: map[string]int{}, Errors: map[string]int{}, SourcePorts: map[uint16]struct{}{}}
}

// take reserves the next try; false when all are handed out.
func (w *worker) take() bool { return w.next.Add(1) <= w.total }

// fail counts a failed try of the given kind.
func (w *worker) fail(kind string) {
	w.res.Failed++
	w.res.Errors[kind]++
}

// runWorkers runs n tries on conc workers, each inside the namespace fd,
// and merges their counts.
func runWorkers(fd, n, conc int, loop func(*worker) error) (ProtoResult, int, error) {
	if conc > n {
		conc = n
	}
	var next atomic.Int64
	ws := make([]*worker, conc)
	errs := make([]error, conc)
	var wg sync.WaitGroup
	for i := range ws {
		w := &worker{next: &next, total: int64(n), res: newProtoResult()}
		ws[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = doFd(fd, func() error {
				w.guard = nsGuard(currentNSCookie())
				return loop(w)
			})
		}()
	}
	wg.Wait()
	total := newProtoResult()
	nonVIP := 0
	for _, w := range ws {
		total.OK += w.res.OK
		total.Failed += w.res.Failed
		for k, v := range w.res.PerServer {
			total.PerServer[k] += v
		}
		for k, v := range w.res.Errors {
			total.Errors[k] += v
		}
		for p := range w.res.SourcePorts {
			total.SourcePorts[p] = struct{}{}
		}
		nonVIP += w.nonVIP
	}
	return total, nonVIP, errors.Join(errs...)
}

// tcpLoop performs HTTP tries until none are left.
func (w *worker) tcpLoop(cfg TrafficConfig) error {
	target := netip.AddrPortFrom(cfg.VIP, cfg.TCPPort).String()
	br := bufio.NewReaderSize(nil, 4096)
	req := []byte("GET / HTTP/1.1\r\nHost: " + target + "\r\nUser-Agent: xvs-lab\r\nConnection: close\r\n\r\n")
	for w.take() {
		deadline := time.Now().Add(cfg.Timeout)
		d := net.Dialer{Deadline: deadline, Control: w.guard}
		c, err := d.Dial("tcp4", target)
		if err != nil {
			if errors.Is(err, errWrongNS) {
				return err
			}
			w.fail("connect: " + ErrKind(err))
			continue
		}
		name, err := httpExchange(c, br, req, deadline)
		local := c.LocalAddr().(*net.TCPAddr).Port
		c.Close()
		if err != nil {
			w.fail(err.Error())
			continue
		}
		w.res.OK++
		w.res.PerServer[name]++
		w.res.SourcePorts[uint16(local)] = struct{}{}
	}
	return nil
}

// httpExchange sends one request on c and reads the whole response; it
// returns the server name from the body or an error naming the failure
// kind.
func httpExchange(c net.Conn, br *bufio.Reader, req []byte, deadline time.Time) (string, error) {
	c.SetDeadline(deadline)
	if _, err := c.Write(req); err != nil {
		return "", errors.New("send: " + ErrKind(err))
	}
	br.Reset(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return "", errors.New("response: " + ErrKind(err))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if err != nil {
		return "", errors.New("body: " + ErrKind(err))
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("response: status %d", resp.StatusCode)
	}
	name := strings.TrimSpace(string(body))
	if name == "" || strings.ContainsAny(name, " \t\r\n") {
		return "", errors.New("response: bad body")
	}
	if h := resp.Header.Get("X-Server"); h != "" && h != name {
		return "", errors.New("response: X-Server differs from body")
	}
	// Let the server close first (it does after each response), so the
	// TIME_WAIT state stays on the server side and client ports recycle;
	// do not wait long for a server that keeps the connection open.
	if d := time.Now().Add(200 * time.Millisecond); d.Before(deadline) {
		c.SetReadDeadline(d)
	}
	io.Copy(io.Discard, br)
	return name, nil
}

// udpPortBase and udpPorts set the source ports of UDP tries: try i of a
// run is sent from port udpPortBase + i mod udpPorts, so that each datagram
// of a run is a new flow to the director (as a DNS client with random ports
// makes) and a weighted scheduler's split over the run can be checked
// exactly. Ports repeat only after udpPorts tries.
const (
	udpPortBase = 20000
	udpPorts    = 40000
)

// takeIndex reserves the next try and returns its index; false when all are
// handed out.
func (w *worker) takeIndex() (int64, bool) {
	i := w.next.Add(1)
	return i - 1, i <= w.total
}

// udpLoop performs UDP tries until none are left, each from its own socket
// and source port.
func (w *worker) udpLoop(cfg TrafficConfig) error {
	target := netip.AddrPortFrom(cfg.VIP, cfg.UDPPort)
	dst := net.UDPAddrFromAddrPort(target)
	lc := net.ListenConfig{Control: w.guard}
	buf := make([]byte, 2048)
	for {
		seq, ok := w.takeIndex()
		if !ok {
			return nil
		}
		c, err := lc.ListenPacket(context.Background(), "udp4", fmt.Sprintf("0.0.0.0:%d", udpPortBase+seq%udpPorts))
		if err != nil && !errors.Is(err, errWrongNS) {
			// The port is taken by someone else: any port will do.
			c, err = lc.ListenPacket(context.Background(), "udp4", "0.0.0.0:0")
		}
		if err != nil {
			if errors.Is(err, errWrongNS) {
				return err
			}
			return fmt.Errorf("lab: udp socket: %w", err)
		}
		pc := c.(*net.UDPConn)
		w.udpTry(pc, dst, target, seq, cfg.Timeout, buf)
		pc.Close()
	}
}

// udpTry sends one datagram and checks its reply.
func (w *worker) udpTry(pc *net.UDPConn, dst *net.UDPAddr, target netip.AddrPort, seq int64, timeout time.Duration, buf []byte) {
	if _, err := pc.WriteToUDP(fmt.Appendf(nil, "xvs-lab %d", seq), dst); err != nil {
		w.fail("udp send: " + ErrKind(err))
		return
	}
	pc.SetReadDeadline(time.Now().Add(timeout))
	n, from, err := pc.ReadFromUDPAddrPort(buf)
	if err != nil {
		w.fail("udp reply: " + ErrKind(err))
		return
	}
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	if from != target {
		w.nonVIP++
		w.fail("udp reply: from non-VIP source")
		return
	}
	name := string(buf[:n])
	if name == "" || strings.ContainsAny(name, " \t\r\n") {
		w.fail("udp reply: bad payload")
		return
	}
	w.res.OK++
	w.res.PerServer[name]++
	w.res.SourcePorts[uint16(pc.LocalAddr().(*net.UDPAddr).Port)] = struct{}{}
}

// ErrKind maps an error to a short, address-free description so that the
// failures of a load group into a few kinds (timeout, connection refused,
// ...). Load generators outside this package (bench) use it too.
func ErrKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "host unreachable"
	case errors.Is(err, syscall.ENETUNREACH):
		return "network unreachable"
	case errors.Is(err, syscall.EPIPE):
		return "broken pipe"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected EOF"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "no free local port"
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	for {
		u := errors.Unwrap(err)
		if u == nil {
			break
		}
		err = u
	}
	s := err.Error()
	if len(s) > 60 {
		s = s[:60]
	}
	return s
}

// String returns a readable multi-line summary of the run.
func (r TrafficResult) String() string {
	var b strings.Builder
	proto := func(label, unit string, p ProtoResult) {
		n := p.OK + p.Failed
		if n == 0 {
			fmt.Fprintf(&b, "%s: not run\n", label)
			return
		}
		rate := 0.0
		if p.Elapsed > 0 {
			rate = float64(n) / p.Elapsed.Seconds()
		}
		fmt.Fprintf(&b, "%s: %d ok, %d failed of %d in %v (%.0f %s/s)\n",
			label, p.OK, p.Failed, n, p.Elapsed.Round(time.Millisecond), rate, unit)
		for _, k := range sortedKeys(p.PerServer) {
			fmt.Fprintf(&b, "  %-8s %6d  %5.1f%%\n", k, p.PerServer[k], 100*float64(p.PerServer[k])/float64(n))
		}
		for _, k := range sortedKeys(p.Errors) {
			fmt.Fprintf(&b, "  error %q: %d\n", k, p.Errors[k])
		}
	}
	proto("TCP", "req", r.TCP)
	proto("UDP", "dgram", r.UDP)
	fmt.Fprintf(&b, "non-VIP replies: %d\n", r.NonVIPReplies)
	fmt.Fprintf(&b, "elapsed: %v\n", r.Elapsed.Round(time.Millisecond))
	return b.String()
}

// sortedKeys returns the keys of m in order.
func sortedKeys(m map[string]int) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
