//go:build linux

package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/xvs-project/xvs/lab"
)

// tryTimeout bounds one exchange (connect, request, whole response).
const tryTimeout = 2 * time.Second

// TCPResult is the outcome of a TCP phase.
type TCPResult struct {
	// OK and Failed count exchanges; Errors counts failures by kind.
	OK, Failed int
	Errors     map[string]int
	// Elapsed is the measured window.
	Elapsed time.Duration
	// Latencies holds each successful exchange's latency, Lags how late
	// each exchange started (paced runs only).
	Latencies []time.Duration `json:"-"`
	Lags      []time.Duration `json:"-"`
}

// Rate is successful exchanges per second.
func (r TCPResult) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.OK) / r.Elapsed.Seconds()
}

// Percentile returns the p-th percentile (0..100) of the latencies,
// nearest rank, or 0 when there are none.
func (r TCPResult) Percentile(p float64) time.Duration { return percentile(r.Latencies, p) }

// percentile returns the p-th percentile (0..100) of ds, nearest rank, or
// 0 when ds is empty.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[nearestRank(len(s), p)]
}

// nearestRank returns the index of the p-th percentile of n sorted values.
func nearestRank(n int, p float64) int {
	i := int(p/100*float64(n)+0.999999999) - 1
	return max(0, min(n-1, i))
}

// exchanger performs HTTP/1.1 exchanges on new connections from a thread
// inside the client namespace.
type exchanger struct {
	target string
	req    []byte
	buf    []byte
}

func newExchanger(target netip.AddrPort) *exchanger {
	t := target.String()
	return &exchanger{
		target: t,
		req:    []byte("GET / HTTP/1.1\r\nHost: " + t + "\r\nUser-Agent: xvs-bench\r\nConnection: close\r\n\r\n"),
		buf:    make([]byte, 4096),
	}
}

// do connects, sends one GET, reads the response to the end (the server
// closes first, so TIME_WAIT stays with the server) and closes. It returns
// "" or the kind of failure.
func (e *exchanger) do() string {
	deadline := time.Now().Add(tryTimeout)
	d := net.Dialer{Deadline: deadline}
	c, err := d.Dial("tcp4", e.target)
	if err != nil {
		return "connect: " + lab.ErrKind(err)
	}
	defer c.Close()
	c.SetDeadline(deadline)
	if _, err := c.Write(e.req); err != nil {
		return "send: " + lab.ErrKind(err)
	}
	n := 0
	for {
		if n == len(e.buf) {
			n = 0 // only the status line is checked; the body is tiny
		}
		m, err := c.Read(e.buf[n:])
		n += m
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "response: " + lab.ErrKind(err)
		}
	}
	if !bytes.HasPrefix(e.buf[:n], []byte("HTTP/1.1 200 ")) {
		return "response: not 200"
	}
	return ""
}

// tally merges per-worker results.
type tally struct {
	mu  sync.Mutex
	res TCPResult
}

func (t *tally) addLags(l []time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.res.Lags = append(t.res.Lags, l...)
}

func (t *tally) add(ok, failed int, errs map[string]int, lat []time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.res.OK += ok
	t.res.Failed += failed
	if t.res.Errors == nil {
		t.res.Errors = map[string]int{}
	}
	for k, v := range errs {
		t.res.Errors[k] += v
	}
	t.res.Latencies = append(t.res.Latencies, lat...)
}

// ConnRate runs conc closed-loop clients in namespace ns for d, each
// making one connection per request to target (connect, GET, response,
// close) as fast as it can. Exchanges still running at the end are
// awaited (each is bounded by a 2 s timeout) but not counted.
func ConnRate(ctx context.Context, ns string, target netip.AddrPort, conc int, d time.Duration) (TCPResult, error) {
	if conc < 1 {
		return TCPResult{}, fmt.Errorf("bench: concurrency %d", conc)
	}
	start := time.Now()
	end := start.Add(d)
	var t tally
	var wg sync.WaitGroup
	errs := make([]error, conc)
	for i := 0; i < conc; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = lab.Do(ns, func() error {
				e := newExchanger(target)
				ok, failed := 0, 0
				kinds := map[string]int{}
				for ctx.Err() == nil && time.Now().Before(end) {
					k := e.do()
					if time.Now().After(end) {
						break
					}
					if k == "" {
						ok++
					} else {
						failed++
						kinds[k]++
					}
				}
				t.add(ok, failed, kinds, nil)
				return nil
			})
		}()
	}
	wg.Wait()
	t.res.Elapsed = min(time.Since(start), d)
	if err := errors.Join(errs...); err != nil {
		return t.res, err
	}
	return t.res, ctx.Err()
}

// PacedLatency makes rate requests per second for d from namespace ns to
// target, each on a new connection (connect, GET, whole response, close),
// open loop: request k is due at k/rate seconds, made by worker k mod
// workers, which sleeps until then. A request's latency runs from the
// moment its worker starts it to the end of its response; how late workers
// started requests (timer wake-ups, a slow earlier exchange) is kept apart
// in Lags, so that the harness's wake-up delays do not count as the path's
// latency, and a path so slow that requests start late shows there.
func PacedLatency(ctx context.Context, ns string, target netip.AddrPort, rate float64, d time.Duration, workers int) (TCPResult, error) {
	if rate <= 0 || workers < 1 {
		return TCPResult{}, fmt.Errorf("bench: rate %v, workers %d", rate, workers)
	}
	interval := time.Duration(float64(time.Second) / rate)
	n := int(d / interval)
	var t tally
	var wg sync.WaitGroup
	errs := make([]error, workers)
	start := time.Now().Add(10 * time.Millisecond) // every worker is in place by then
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = lab.Do(ns, func() error {
				e := newExchanger(target)
				ok, failed := 0, 0
				kinds := map[string]int{}
				var lat, lags []time.Duration
				for k := i; k < n && ctx.Err() == nil; k += workers {
					due := start.Add(time.Duration(k) * interval)
					if w := time.Until(due); w > 0 {
						time.Sleep(w)
					}
					t0 := time.Now()
					lags = append(lags, t0.Sub(due))
					if kind := e.do(); kind == "" {
						ok++
						lat = append(lat, time.Since(t0))
					} else {
						failed++
						kinds[kind]++
					}
				}
				t.add(ok, failed, kinds, lat)
				t.addLags(lags)
				return nil
			})
		}()
	}
	wg.Wait()
	t.res.Elapsed = time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return t.res, err
	}
	return t.res, ctx.Err()
}
