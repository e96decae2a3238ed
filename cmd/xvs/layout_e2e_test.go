package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xvs-project/xvs/dataplane"
	"github.com/xvs-project/xvs/lab"
	"golang.org/x/sys/unix"
)

// channelLab builds a lab whose director has wan0 and lan0 with 2 queues
// each, of which wanCh and lanCh are active (0: both), with real servers,
// removed when the test ends.
func channelLab(t *testing.T, wanCh, lanCh int) *lab.Lab {
	t.Helper()
	return buildLabWith(t, "xq", true, func(c *lab.Config) {
		c.Queues = 2
		c.WANChannels, c.LANChannels = wanCh, lanCh
	})
}

// layoutOf asks the running director for its layout, as xvs list --queues
// --json prints it.
func layoutOf(t *testing.T, d *lab.Director) dataplane.Layout {
	t.Helper()
	var out, errb bytes.Buffer
	if code := Main([]string{"list", "--queues", "--json", "--admin", d.Admin}, &out, &errb); code != 0 {
		t.Fatalf("xvs list --queues --json: exit %d: %s", code, errb.String())
	}
	var l dataplane.Layout
	if err := json.Unmarshal(out.Bytes(), &l); err != nil {
		t.Fatalf("decoding the layout: %v\n%s", err, out.String())
	}
	return l
}

// servedQueues returns the queues of side the layout's workers serve.
func servedQueues(l dataplane.Layout, side string) []int {
	var qs []int
	for _, w := range l.Workers {
		for _, q := range w.Queues {
			if q.Side == side {
				qs = append(qs, q.Queue)
			}
		}
	}
	slices.Sort(qs)
	return qs
}

// trafficBothWays sends HTTP on new connections and UDP datagrams through
// the VIP and fails the test on any failure.
func trafficBothWays(t *testing.T, l *lab.Lab, n int) {
	t.Helper()
	res, err := lab.RunTraffic(l.ClientNS, lab.TrafficConfig{VIP: l.VIP, Requests: n, Datagrams: n})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res.String())
	if res.TCP.Failed != 0 || res.UDP.Failed != 0 || res.TCP.OK != n || res.UDP.OK != n {
		t.Errorf("TCP %d ok %d failed %v, UDP %d ok %d failed %v; want %d ok each",
			res.TCP.OK, res.TCP.Failed, res.TCP.Errors, res.UDP.OK, res.UDP.Failed, res.UDP.Errors, n)
	}
}

// TestChannelsFewerThanQueues is acceptance (a) and (b) of the real-NIC
// issue: a director whose WAN or LAN interface runs fewer channels than it
// has queues allocated (ethtool -L) starts, serves every active channel of
// each side and nothing else, and forwards both ways.
func TestChannelsFewerThanQueues(t *testing.T) {
	for _, tc := range []struct {
		name         string
		wanCh, lanCh int
	}{
		{"wan 1 of 2, lan 2", 1, 2},
		{"wan 2, lan 1 of 2", 2, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := channelLab(t, tc.wanCh, tc.lanCh)
			if rx, _, err := lab.Channels(l.LBNS, lab.WANIf); err != nil || rx != tc.wanCh {
				t.Fatalf("wan0 has %d active channels (%v), want %d", rx, err, tc.wanCh)
			}
			d := directorT(t, l)
			lay := layoutOf(t, d)
			// veth refuses native XDP on an interface with fewer receive
			// channels than its peer has transmit channels: that side
			// falls back to generic mode, and says so.
			for _, it := range lay.Interfaces {
				want := map[string]int{"wan": tc.wanCh, "lan": tc.lanCh}[it.Side]
				mode := map[bool]string{true: "native", false: "generic"}[want == 2]
				if it.Channels != want || it.ChannelsFrom != "ethtool" || it.XDPMode != mode {
					t.Errorf("%s: %d channels from %s, XDP %s; want %d from ethtool, %s", it.Name, it.Channels, it.ChannelsFrom, it.XDPMode, want, mode)
				}
			}
			if !strings.Contains(d.Log(), "XDP attached in generic mode") {
				t.Errorf("the fallback to generic XDP was not logged")
			}
			for side, n := range map[string]int{"wan": tc.wanCh, "lan": tc.lanCh} {
				want := []int{0, 1}[:n]
				if got := servedQueues(lay, side); !slices.Equal(got, want) {
					t.Errorf("%s queues served %v, want %v", side, got, want)
				}
			}
			// One UMEM per worker: its first socket registers it, the
			// others share it; every socket busy-polls.
			for _, w := range lay.Workers {
				for i, q := range w.Queues {
					want := "copy, need_wakeup, busy poll"
					if i > 0 {
						want = "copy, need_wakeup, shared UMEM, busy poll"
					}
					if q.Mode != want {
						t.Errorf("%s queue %d: socket %q, want %q", q.Side, q.Queue, q.Mode, want)
					}
				}
			}
			if len(lay.Workers) != 1 {
				t.Errorf("%d workers, want 1 (one side has one channel, so one worker can transmit on both)", len(lay.Workers))
			}
			trafficBothWays(t, l, 300)
			m, err := scrape(l.LBNS, "127.0.0.1:9333")
			if err != nil {
				t.Fatal(err)
			}
			if v := m[`xvs_xdp_frames_total{verdict="drop_no_socket"}`]; v != 0 {
				t.Errorf("%v frames found no socket", v)
			}
		})
	}
}

// TestChannelsChangeWhileRunning: `ethtool -L wan0 rx 2 tx 2` on a running
// director is followed: it logs the change, lays its workers out over the
// new queue, counts it, and keeps forwarding; lowering the channels under
// its sockets is refused by the kernel.
func TestChannelsChangeWhileRunning(t *testing.T) {
	l := channelLab(t, 1, 2)
	d := directorT(t, l)
	if got := servedQueues(layoutOf(t, d), "wan"); !slices.Equal(got, []int{0}) {
		t.Fatalf("wan queues served %v before, want [0]", got)
	}
	if err := lab.SetChannels(l.LBNS, lab.WANIf, 2, 2); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	var lay dataplane.Layout
	for {
		lay = layoutOf(t, d)
		// The new queues are published before the re-layout is
		// counted: wait for both.
		done := slices.Equal(servedQueues(lay, "wan"), []int{0, 1}) && lay.Relayouts+lay.LayoutErrors > 0
		if done || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := servedQueues(lay, "wan"); !slices.Equal(got, []int{0, 1}) {
		t.Fatalf("wan queues served %v 5 s after ethtool -L rx 2, want [0 1]", got)
	}
	if lay.Relayouts != 1 || lay.LayoutErrors != 0 {
		t.Errorf("%d re-layouts, %d failed; want 1, 0", lay.Relayouts, lay.LayoutErrors)
	}
	if !strings.Contains(d.Log(), "receive channels changed while running") {
		t.Errorf("the change was not logged")
	}
	trafficBothWays(t, l, 200)
	m, err := scrape(l.LBNS, "127.0.0.1:9333")
	if err != nil {
		t.Fatal(err)
	}
	if m[`xvs_layout_changes_total`] != 1 || m[`xvs_interface_channels{interface="wan0",side="wan"}`] != 2 {
		t.Errorf("metrics: xvs_layout_changes_total %v, wan0 channels %v; want 1 and 2",
			m[`xvs_layout_changes_total`], m[`xvs_interface_channels{interface="wan0",side="wan"}`])
	}
	// Taking a channel away from under a bound AF_XDP socket: the kernel
	// refuses it (ethtool says EINVAL), so no socket is ever left on a
	// queue that no longer exists.
	err = lab.SetChannels(l.LBNS, lab.WANIf, 1, 1)
	t.Logf("ethtool -L wan0 rx 1 tx 1 with sockets on both queues: %v", err)
	if err == nil {
		// Followed instead: the layout must shrink back.
		time.Sleep(2500 * time.Millisecond)
		if got := servedQueues(layoutOf(t, d), "wan"); !slices.Equal(got, []int{0}) {
			t.Errorf("after lowering to 1: wan queues served %v, want [0]", got)
		}
	}
	trafficBothWays(t, l, 100)
}

// withAffinity runs fn on a thread whose CPU affinity is cpus, so that a
// process fn starts inherits it as it would from taskset or systemd's
// CPUAffinity=.
func withAffinity(t *testing.T, cpus []int, fn func()) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var old, set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		t.Fatal(err)
	}
	for _, c := range cpus {
		set.Set(c)
	}
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		t.Fatal(err)
	}
	defer unix.SchedSetaffinity(0, &old)
	fn()
}

// TestWorkersStayOnAllowedCPUs is acceptance (c): under taskset -c N (here
// N is the last CPU of the test's own set), every thread of xvs, workers
// included, may run only on N, and the worker says so.
func TestWorkersStayOnAllowedCPUs(t *testing.T) {
	allowed, err := dataplane.AllowedCPUs()
	if err != nil {
		t.Fatal(err)
	}
	cpu := allowed[len(allowed)-1]
	l := channelLab(t, 0, 0)
	var d *lab.Director
	withAffinity(t, []int{cpu}, func() { d = directorT(t, l) })
	trafficBothWays(t, l, 200)
	lay := layoutOf(t, d)
	if len(lay.Workers) != 1 || lay.Workers[0].CPU != cpu || !slices.Equal(lay.AllowedCPUs, []int{cpu}) {
		t.Errorf("layout: workers %+v, allowed %v; want one worker on CPU %d, allowed [%d]", lay.Workers, lay.AllowedCPUs, cpu, cpu)
	}
	if got := servedQueues(lay, "wan"); !slices.Equal(got, []int{0, 1}) {
		t.Errorf("the one worker serves wan queues %v, want [0 1]", got)
	}
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", d.Pid()))
	if err != nil || len(tasks) < 3 {
		t.Fatalf("threads of xvs: %v (%v)", tasks, err)
	}
	want := fmt.Sprint(cpu)
	for _, p := range tasks {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // the thread ended
		}
		var name, list string
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
				list = strings.TrimSpace(v)
			}
			if v, ok := strings.CutPrefix(line, "Name:"); ok {
				name = strings.TrimSpace(v)
			}
		}
		if list != want {
			t.Errorf("thread %s (%s) may run on CPUs %q, want only %s", p, name, list, want)
		}
	}
	t.Logf("%d threads of xvs, each on CPU %s only", len(tasks), want)
}

// TestCPUsOutsideAllowedSet is acceptance (d): a cpus keyword naming a CPU
// the process may not use is refused at its file:line:col, by xvs check
// and by xvs run alike, before anything is touched.
func TestCPUsOutsideAllowedSet(t *testing.T) {
	allowed, err := dataplane.AllowedCPUs()
	if err != nil {
		t.Fatal(err)
	}
	outside := allowed[len(allowed)-1] + 1
	conf := filepath.Join(t.TempDir(), "keepalived.conf")
	src := fmt.Sprintf("xvs {\n    cpus %d,%d\n}\nvirtual_server 198.18.0.100 80 {\n    protocol TCP\n    real_server 198.18.1.11 80 {\n    }\n}\n", allowed[0], outside)
	if err := os.WriteFile(conf, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%s:2:10: cpus %s: CPU %d is not one this process may run on (%s;", conf,
		dataplane.FormatCPUs([]int{allowed[0], outside}), outside, dataplane.FormatCPUs(allowed))
	// Both refuse it: check with keepalived -t's status for errors (4),
	// run with 1.
	for _, c := range []struct {
		args []string
		code int
	}{{[]string{"check", "-f", conf}, checkErrors}, {[]string{"run", "-f", conf, "--metrics", "", "--admin", ""}, 1}} {
		var out, errb bytes.Buffer
		code := Main(c.args, &out, &errb)
		if code != c.code || !strings.Contains(errb.String(), want) {
			t.Errorf("xvs %s: exit %d, stderr %q; want exit %d and %q", c.args[0], code, errb.String(), c.code, want)
		}
	}
	// Inside the set, xvs check passes.
	if err := os.WriteFile(conf, []byte(strings.Replace(src, fmt.Sprintf(",%d", outside), "", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := Main([]string{"check", "-f", conf}, &out, &errb); code != 0 {
		t.Errorf("xvs check with cpus inside the set: exit %d: %s", code, errb.String())
	}
}
