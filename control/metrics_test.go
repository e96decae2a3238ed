package control

import (
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/xvs-project/xvs/dataplane"
	"github.com/xvs-project/xvs/nat"
)

// funcCollector collects what fn sends, described by c's descriptions.
type funcCollector struct {
	c  *collector
	fn func(chan<- prometheus.Metric)
}

func (f funcCollector) Describe(ch chan<- *prometheus.Desc) { f.c.Describe(ch) }
func (f funcCollector) Collect(ch chan<- prometheus.Metric) { f.fn(ch) }

// gather registers fn on a pedantic registry (which checks every metric
// against the collector's descriptions) and returns the series as
// `name{label="value",...}` (labels sorted) to their values.
func gather(t *testing.T, c *collector, fn func(chan<- prometheus.Metric)) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(funcCollector{c, fn})
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			name := f.GetName()
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			sort.Strings(labels)
			if len(labels) > 0 {
				name += "{" + strings.Join(labels, ",") + "}"
			}
			out[name] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return out
}

func testCollector(t *testing.T) *collector {
	t.Helper()
	c, ok := NewCollector(&Director{}).(*collector)
	if !ok {
		t.Fatal("NewCollector does not return *collector")
	}
	return c
}

func TestCollectVRRP(t *testing.T) {
	c := testCollector(t)
	st := []VRRPStatus{
		{Name: "VI_1", State: "MASTER", Priority: 150, Base: 150, Transitions: 2},
		{Name: "VI_2", State: "BACKUP", Priority: 90, Base: 100, Transitions: 1},
		{Name: "VI_3", State: "FAULT", Priority: 0, Base: 100, Transitions: 3},
		{Name: "VI_4", State: "INIT", Priority: 100, Base: 100},
	}
	got := gather(t, c, func(ch chan<- prometheus.Metric) {
		c.collectVRRP(ch, st, 7, 5, map[string]uint64{"checksum": 2, "auth_failed": 1})
	})
	want := map[string]float64{
		`xvs_vrrp_state{vrrp_instance="VI_1"}`:                 2,
		`xvs_vrrp_state{vrrp_instance="VI_2"}`:                 1,
		`xvs_vrrp_state{vrrp_instance="VI_3"}`:                 3,
		`xvs_vrrp_state{vrrp_instance="VI_4"}`:                 0,
		`xvs_vrrp_priority{vrrp_instance="VI_2"}`:              90,
		`xvs_vrrp_base_priority{vrrp_instance="VI_2"}`:         100,
		`xvs_vrrp_transitions_total{vrrp_instance="VI_3"}`:     3,
		`xvs_vrrp_adverts_sent_total`:                          7,
		`xvs_vrrp_adverts_received_total`:                      5,
		`xvs_vrrp_adverts_dropped_total{reason="checksum"}`:    2,
		`xvs_vrrp_adverts_dropped_total{reason="auth_failed"}`: 1,
	}
	for k, v := range want {
		g, ok := got[k]
		if !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	if n := len(got); n != 4*4+2+2 {
		t.Errorf("%d series, want %d: %v", n, 4*4+2+2, got)
	}
}

// TestVRRPDropReasonsCovered checks that a director's VRRPCounters report
// every reason of the runner, so the dropped-adverts series never appear
// late.
func TestVRRPDropReasonsCovered(t *testing.T) {
	d := &Director{}
	if s, r, drops := d.VRRPCounters(); s != 0 || r != 0 || drops != nil {
		t.Errorf("without VRRP: %d %d %v", s, r, drops)
	}
	r := &vrrpRunner{drops: make([]atomic.Uint64, len(vrrpDropReasons))}
	d.vrrp = r
	r.sent.Add(3)
	r.received.Add(2)
	r.drop(errNotPeer)
	sent, received, drops := d.VRRPCounters()
	if sent != 3 || received != 2 {
		t.Errorf("sent %d received %d, want 3 2", sent, received)
	}
	if len(drops) != len(vrrpDropReasons) || drops["not_a_peer"] != 1 {
		t.Errorf("drops %v", drops)
	}
}

func TestCollectLayout(t *testing.T) {
	c := testCollector(t)
	w := make([]dataplane.Counters, 2)
	w[1][nat.DropNone] = 180
	l := dataplane.Layout{
		Interfaces: []dataplane.InterfaceLayout{{Name: "wan0", Side: "wan", Channels: 1, XDPMode: "native"}, {Name: "lan0", Side: "lan", Channels: 2, XDPMode: "generic"}},
		Workers: []dataplane.WorkerLayout{{Worker: 0, CPU: 1, SocketMode: "copy", Queues: []dataplane.QueueLayout{
			{Side: "wan", Queue: 0, Mode: "copy", Frames: 100, Batches: 4}, {Side: "lan", Queue: 0, Mode: "copy", Frames: 90, Batches: 3}, {Side: "lan", Queue: 1, Mode: "copy", Frames: 7, Batches: 1}}}},
		Relayouts: 2,
	}
	got := gather(t, c, func(ch chan<- prometheus.Metric) { c.collectLayout(ch, l, w) })
	want := map[string]float64{
		`xvs_queue_frames_received_total{queue="0",side="wan"}`:                      100,
		`xvs_queue_frames_received_total{queue="1",side="lan"}`:                      7,
		`xvs_queue_batches_total{queue="0",side="lan"}`:                              3,
		`xvs_queue_info{cpu="1",queue="1",side="lan",socket_mode="copy",worker="0"}`: 1,
		`xvs_worker_frames_forwarded_total{worker="1"}`:                              180,
		`xvs_worker_frames_forwarded_total{worker="0"}`:                              0,
		`xvs_worker_cpu{worker="0"}`:                                                 1,
		`xvs_interface_channels{interface="lan0",side="lan"}`:                        2,
		`xvs_interface_info{interface="wan0",side="wan",xdp_mode="native"}`:          1,
		`xvs_layout_changes_total`:                                                   2,
		`xvs_layout_errors_total`:                                                    0,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	if len(got) != 4+3*3+2+1+2 {
		t.Errorf("%d series, want 18: %v", len(got), got)
	}
}
