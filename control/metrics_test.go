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

func TestCollectQueues(t *testing.T) {
	c := testCollector(t)
	q := make([]dataplane.Counters, 2)
	q[1][dataplane.CounterRxWAN] = 100
	q[1][dataplane.CounterRxLAN] = 90
	q[1][nat.DropNone] = 180
	q[1][dataplane.CounterBatchWAN] = 4
	q[0][dataplane.CounterBatchLAN] = 1
	got := gather(t, c, func(ch chan<- prometheus.Metric) { c.collectQueues(ch, q) })
	want := map[string]float64{
		`xvs_queue_frames_received_total{queue="1",side="wan"}`: 100,
		`xvs_queue_frames_received_total{queue="1",side="lan"}`: 90,
		`xvs_queue_frames_forwarded_total{queue="1"}`:           180,
		`xvs_queue_batches_total{queue="1",side="wan"}`:         4,
		`xvs_queue_batches_total{queue="0",side="lan"}`:         1,
		`xvs_queue_frames_forwarded_total{queue="0"}`:           0,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	if len(got) != 2*5 {
		t.Errorf("%d series, want 10: %v", len(got), got)
	}
}
