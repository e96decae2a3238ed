//go:build linux

package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xvs-project/xvs/lab"
)

// bulkChunk is the size of one write of a bulk stream.
const bulkChunk = 64 << 10

// BulkResult is one bulk TCP window.
type BulkResult struct {
	// Streams is the number of parallel connections; Failed those that
	// ended before the window did, with their errors by kind.
	Streams, Failed int
	Errors          map[string]int `json:",omitempty"`
	// Bytes is what the receivers counted during the window.
	Bytes  uint64
	Window time.Duration
	// CPU is the CPU time over the window.
	CPU *CPUWindow `json:",omitempty"`
}

// Gbps is the goodput in gigabits per second.
func (b BulkResult) Gbps() float64 {
	if b.Window <= 0 {
		return nan
	}
	return float64(b.Bytes) * 8 / b.Window.Seconds() / 1e9
}

// BulkConfig sets up Bulk.
type BulkConfig struct {
	// NS is the client namespace, Target the virtual service.
	NS     string
	Target netip.AddrPort
	// Streams is the number of parallel connections.
	Streams int
	// WarmUp runs before the window opens (TCP's slow start, the
	// director's first packets), Window is the measured time.
	WarmUp, Window time.Duration
	// Received returns the bytes the receivers counted so far.
	Received func() uint64
	// Snap, when set, reads the CPU counters at the window's start and
	// end; their difference is BulkResult.CPU.
	Snap func() (cpuSnap, error)
}

// Bulk runs parallel TCP uploads from the client namespace through the
// target for WarmUp+Window: each stream connects, sends a POST to the lab
// servers' discard path (lab.DiscardPath) announcing more than it will
// send, and writes until the window closes. The goodput is what the
// receivers counted during the window, not what the senders wrote.
func Bulk(ctx context.Context, cfg BulkConfig) (BulkResult, error) {
	res := BulkResult{Streams: cfg.Streams}
	if cfg.Streams < 1 || cfg.Window <= 0 || cfg.Received == nil {
		return res, fmt.Errorf("bench: bulk: %d streams, window %v", cfg.Streams, cfg.Window)
	}
	var (
		stop   atomic.Bool
		mu     sync.Mutex
		conns  []net.Conn
		wg     sync.WaitGroup
		failed atomic.Int64
		kinds  = map[string]int{}
		fail   = func(k string) {
			mu.Lock()
			kinds[k]++
			mu.Unlock()
			failed.Add(1)
		}
	)
	header := []byte(fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: xvs-bench\r\nContent-Length: %d\r\n\r\n", lab.DiscardPath, cfg.Target, int64(1)<<50))
	end := time.Now().Add(cfg.WarmUp + cfg.Window + 5*time.Second)
	for i := 0; i < cfg.Streams; i++ {
		var c net.Conn
		err := lab.Do(cfg.NS, func() error {
			d := net.Dialer{Timeout: tryTimeout}
			var err error
			c, err = d.Dial("tcp4", cfg.Target.String())
			return err
		})
		if err != nil {
			fail("connect: " + lab.ErrKind(err))
			continue
		}
		c.SetWriteDeadline(end)
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, bulkChunk)
			if _, err := c.Write(header); err != nil {
				fail("send: " + lab.ErrKind(err))
				return
			}
			for !stop.Load() {
				if _, err := c.Write(buf); err != nil {
					if !stop.Load() {
						fail("send: " + lab.ErrKind(err))
					}
					return
				}
			}
		}()
	}
	closeAll := func() {
		stop.Store(true)
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}
	defer closeAll()
	if len(conns) == 0 {
		return res, errors.New("bench: bulk: no stream connected")
	}
	if err := sleepCtx(ctx, cfg.WarmUp); err != nil {
		return res, err
	}
	var sa, sb cpuSnap
	var err error
	if cfg.Snap != nil {
		if sa, err = cfg.Snap(); err != nil {
			return res, err
		}
	}
	b0, t0 := cfg.Received(), time.Now()
	if err := sleepCtx(ctx, cfg.Window); err != nil {
		return res, err
	}
	b1, t1 := cfg.Received(), time.Now()
	if cfg.Snap != nil {
		if sb, err = cfg.Snap(); err != nil {
			return res, err
		}
		res.CPU = sb.sub(sa)
	}
	res.Bytes, res.Window = b1-b0, t1.Sub(t0)
	res.Failed = int(failed.Load())
	mu.Lock()
	if len(kinds) > 0 {
		res.Errors = kinds
	}
	mu.Unlock()
	if res.Bytes == 0 {
		return res, fmt.Errorf("bench: bulk: the receivers counted no byte in the window (%d of %d streams failed: %v)", res.Failed, cfg.Streams, kinds)
	}
	return res, nil
}
