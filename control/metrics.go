package control

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/xvs-project/xvs/dataplane"
	"github.com/xvs-project/xvs/nat"
)

// collector exposes the director's counters to Prometheus, read when
// scraped: the fast path only adds to per-worker counters.
type collector struct {
	d         *Director
	frames    *prometheus.Desc
	dropped   *prometheus.Desc
	forwarded *prometheus.Desc
	kickErrs  *prometheus.Desc
	xdp       *prometheus.Desc
	conns     *prometheus.Desc
	evicted   *prometheus.Desc
	xskDrops  *prometheus.Desc
}

// NewCollector returns a Prometheus collector of the director's counters:
// xvs_frames_received_total{side}, xvs_frames_forwarded_total,
// xvs_frames_dropped_total{reason}, xvs_tx_kick_errors_total,
// xvs_xdp_frames_total{verdict}, xvs_xsk_dropped_total{reason},
// xvs_connections and xvs_connections_evicted_total.
func NewCollector(d *Director) prometheus.Collector {
	return &collector{
		d:         d,
		frames:    prometheus.NewDesc("xvs_frames_received_total", "Frames received from the AF_XDP sockets, by interface side.", []string{"side"}, nil),
		forwarded: prometheus.NewDesc("xvs_frames_forwarded_total", "Frames rewritten and queued for transmission.", nil, nil),
		dropped:   prometheus.NewDesc("xvs_frames_dropped_total", "Frames dropped by the workers, by reason.", []string{"reason"}, nil),
		kickErrs:  prometheus.NewDesc("xvs_tx_kick_errors_total", "Transmit kicks that failed, e.g. while a link was down.", nil, nil),
		xdp:       prometheus.NewDesc("xvs_xdp_frames_total", "Frames seen by the XDP classifier, by verdict.", []string{"verdict"}, nil),
		conns:     prometheus.NewDesc("xvs_connections", "Entries in the connection table.", nil, nil),
		xskDrops:  prometheus.NewDesc("xvs_xsk_dropped_total", "Frames the kernel could not hand to the AF_XDP sockets, by reason.", []string{"reason"}, nil),
		evicted:   prometheus.NewDesc("xvs_connections_evicted_total", "Embryonic (SYN_RECV) entries evicted from a full connection table to make room.", nil, nil),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.frames, c.forwarded, c.dropped, c.kickErrs, c.xdp, c.conns, c.evicted, c.xskDrops} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	cnt := c.d.Dataplane.Counters()
	ch <- prometheus.MustNewConstMetric(c.frames, prometheus.CounterValue, float64(cnt[dataplane.CounterRxWAN]), "wan")
	ch <- prometheus.MustNewConstMetric(c.frames, prometheus.CounterValue, float64(cnt[dataplane.CounterRxLAN]), "lan")
	ch <- prometheus.MustNewConstMetric(c.forwarded, prometheus.CounterValue, float64(cnt[nat.DropNone]))
	for r := nat.DropNone + 1; r < nat.NumDrops; r++ {
		ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(cnt[r]), r.String())
	}
	ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(cnt[dataplane.CounterControlDropped]), "control_queue_full")
	ch <- prometheus.MustNewConstMetric(c.kickErrs, prometheus.CounterValue, float64(cnt[dataplane.CounterKickErrors]))
	if x, err := c.d.Dataplane.XDPCounters(); err == nil {
		ch <- prometheus.MustNewConstMetric(c.xdp, prometheus.CounterValue, float64(x.Passed), "pass")
		ch <- prometheus.MustNewConstMetric(c.xdp, prometheus.CounterValue, float64(x.Redirected), "redirect")
		ch <- prometheus.MustNewConstMetric(c.xdp, prometheus.CounterValue, float64(x.RedirectedMalformed), "redirect_malformed")
		ch <- prometheus.MustNewConstMetric(c.xdp, prometheus.CounterValue, float64(x.RedirectedVRRP), "redirect_vrrp")
		ch <- prometheus.MustNewConstMetric(c.xdp, prometheus.CounterValue, float64(x.ARPReplies), "arp_reply")
		ch <- prometheus.MustNewConstMetric(c.xdp, prometheus.CounterValue, float64(x.EchoReplies), "echo_reply")
	}
	if x, err := c.d.Dataplane.SocketDrops(); err == nil {
		ch <- prometheus.MustNewConstMetric(c.xskDrops, prometheus.CounterValue, float64(x.RxDropped), "rx_dropped")
		ch <- prometheus.MustNewConstMetric(c.xskDrops, prometheus.CounterValue, float64(x.RxRingFull), "rx_ring_full")
		ch <- prometheus.MustNewConstMetric(c.xskDrops, prometheus.CounterValue, float64(x.RxInvalid), "rx_invalid_descs")
		ch <- prometheus.MustNewConstMetric(c.xskDrops, prometheus.CounterValue, float64(x.TxInvalid), "tx_invalid_descs")
	}
	ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(c.d.Engine.Table().Len()))
	ch <- prometheus.MustNewConstMetric(c.evicted, prometheus.CounterValue, float64(c.d.Engine.Table().Evicted()))
}
