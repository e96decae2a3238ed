package control

import (
	"sort"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/xvs-project/xvs/dataplane"
	"github.com/xvs-project/xvs/nat"
	"github.com/xvs-project/xvs/vrrp"
)

// collector exposes the director's counters to Prometheus, read when
// scraped: the fast path only adds to per-worker counters.
type collector struct {
	svc  *serviceMetrics // per service and real server (metrics_services.go)
	sync *syncMetrics    // connection sync (metrics_sync.go)
	d    *Director

	frames    *prometheus.Desc
	dropped   *prometheus.Desc
	forwarded *prometheus.Desc
	kickErrs  *prometheus.Desc
	xdp       *prometheus.Desc
	xskDrops  *prometheus.Desc

	qFrames    *prometheus.Desc
	qBatches   *prometheus.Desc
	qInfo      *prometheus.Desc
	wForwarded *prometheus.Desc
	wCPU       *prometheus.Desc
	ifChannels *prometheus.Desc
	ifInfo     *prometheus.Desc
	relayouts  *prometheus.Desc
	layoutErrs *prometheus.Desc

	conns     *prometheus.Desc
	connsMax  *prometheus.Desc
	evicted   *prometheus.Desc
	refused   *prometheus.Desc
	templates *prometheus.Desc

	vrrpState       *prometheus.Desc
	vrrpPriority    *prometheus.Desc
	vrrpBase        *prometheus.Desc
	vrrpTransitions *prometheus.Desc
	vrrpSent        *prometheus.Desc
	vrrpReceived    *prometheus.Desc
	vrrpDropped     *prometheus.Desc
}

// NewCollector returns a Prometheus collector of the director's counters,
// read from the workers' published counters, the kernel and the control
// plane when scraped (nothing is counted for it on the fast path):
//
// Frames, summed over queues:
//   - xvs_frames_received_total{side}: frames taken from the AF_XDP
//     sockets, side "wan" or "lan".
//   - xvs_frames_forwarded_total: frames rewritten and queued for
//     transmission.
//   - xvs_frames_dropped_total{reason}: frames the workers dropped, by
//     nat.Drop reason (table_full, no_neighbour, bad_l4_checksum, ...),
//     and control_queue_full for VRRP frames the control queue had no
//     room for.
//   - xvs_tx_kick_errors_total: transmit kicks that failed (a link down).
//   - xvs_xdp_frames_total{verdict}: the XDP classifier's verdicts: pass,
//     redirect, redirect_malformed, redirect_vrrp, arp_reply, echo_reply.
//   - xvs_xsk_dropped_total{reason}: the kernel's AF_XDP socket drops:
//     rx_dropped (no fill frame), rx_ring_full (the workers fell behind),
//     rx_invalid_descs, tx_invalid_descs.
//
// Per receive queue (side wan or lan, queue its number on that interface):
//   - xvs_queue_frames_received_total{side,queue}
//   - xvs_queue_batches_total{side,queue}: non-empty receive batches (at
//     most 64 frames each); frames/batches near 64 means its worker is
//     saturated, near 1 that it is mostly idle.
//   - xvs_queue_info{side,queue,worker,cpu,socket_mode}: 1 for each queue
//     served: the queue → worker → CPU map and how its socket is bound.
//
// Per worker, and the layout:
//   - xvs_worker_frames_forwarded_total{worker}
//   - xvs_worker_cpu{worker}: the CPU the worker is pinned to.
//   - xvs_interface_channels{interface,side}: active receive channels,
//     every one of them served.
//   - xvs_interface_info{interface,side,xdp_mode}: 1; xdp_mode native or
//     generic.
//   - xvs_layout_changes_total: re-layouts after the channels changed
//     while running (ethtool -L); xvs_layout_errors_total: those that
//     failed (frames on unserved queues are then counted in
//     xvs_xdp_frames_total{verdict="drop_no_socket"}).
//
// Connection table:
//   - xvs_connections: entries now.
//   - xvs_connections_max: the table's capacity (max_connections, else
//     the default sized from memory, rounded up to the 256 shards; each
//     shard holds 1/256 of it, so refusals may begin a little earlier).
//   - xvs_connections_evicted_total: embryonic (SYN_RECV) entries evicted
//     from a full shard to make room.
//   - xvs_connections_refused_total: new flows refused because their
//     shard was full and nothing could be evicted (the frames counted
//     under xvs_frames_dropped_total{reason="table_full"}; a retransmitted
//     SYN is counted again).
//   - xvs_persistence_templates: persistence templates now.
//
// VRRP, only with vrrp_instances (the label is vrrp_instance, not
// instance, which Prometheus sets to the scraped target):
//   - xvs_vrrp_state{vrrp_instance}: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT
//     (the values of keepalived-exporter's keepalived_vrrp_state).
//   - xvs_vrrp_priority{vrrp_instance}: the effective priority (after
//     track_interface and track_script weights; 0 while stopping).
//   - xvs_vrrp_base_priority{vrrp_instance}: the configured priority.
//   - xvs_vrrp_transitions_total{vrrp_instance}: state changes.
//   - xvs_vrrp_adverts_sent_total: adverts sent, every instance.
//   - xvs_vrrp_adverts_received_total: received adverts used by an
//     instance.
//   - xvs_vrrp_adverts_dropped_total{reason}: received adverts not used,
//     by reason (checksum, ttl, version_mismatch, vrid_mismatch,
//     auth_failed, interval_mismatch, unknown_vrid, not_a_peer, ...).
//
// Per virtual service (labels protocol, vip, port) and real server (and
// real, IP:PORT), the numbers of xvs list --stats; direction is in (client
// to server) or out:
//   - xvs_service_connections_total, xvs_service_packets_total{direction},
//     xvs_service_bytes_total{direction} (IP bytes, as IPVS counts).
//   - xvs_real_connections_total, xvs_real_packets_total{direction},
//     xvs_real_bytes_total{direction}.
//   - xvs_real_active_connections, xvs_real_inactive_connections: ipvsadm's
//     ActiveConn and InActConn.
//   - xvs_real_weight: the weight in the pool now (health checks and
//     runtime edits included).
//   - xvs_real_up: 1 while the health checks keep the server in service,
//     0 once they took it out.
//   - xvs_healthcheck_up{service,real,check} and
//     xvs_healthcheck_retries{...}: each checker's verdict and the failures
//     it has counted towards its retry; check is "INDEX KIND", e.g.
//     "0 HTTP_GET".
//
// Connection sync, only with lvs_sync_daemon: see syncMetrics
// (metrics_sync.go): xvs_sync_role{role}, xvs_sync_records_queued_total,
// xvs_sync_records_lost_total, xvs_sync_messages_total{direction},
// xvs_sync_entries_total{direction}, xvs_sync_bytes_total{direction},
// xvs_sync_send_errors_total, xvs_sync_dropped_total{reason},
// xvs_sync_installed_total{result}, xvs_sync_lag_seconds,
// xvs_sync_last_received_timestamp_seconds.
//
// Mail alerts: xvs_mail_alerts_total{result} (sent, failed, dropped;
// metrics_mail.go).
//
// `xvs run` registers next to it xvs_config_reloads_total{result}
// (applied or refused), xvs_config_last_reload_successful, and client_golang's
// Go runtime (go_*) and process (process_*) collectors.
func NewCollector(d *Director) prometheus.Collector {
	worker, side := []string{"worker"}, []string{"side", "queue"}
	inst := []string{"vrrp_instance"}
	return &collector{
		svc:       newServiceMetrics(d),
		sync:      newSyncMetrics(),
		d:         d,
		frames:    prometheus.NewDesc("xvs_frames_received_total", "Frames received from the AF_XDP sockets, by interface side.", []string{"side"}, nil),
		forwarded: prometheus.NewDesc("xvs_frames_forwarded_total", "Frames rewritten and queued for transmission.", nil, nil),
		dropped:   prometheus.NewDesc("xvs_frames_dropped_total", "Frames dropped by the workers, by reason.", []string{"reason"}, nil),
		kickErrs:  prometheus.NewDesc("xvs_tx_kick_errors_total", "Transmit kicks that failed, e.g. while a link was down.", nil, nil),
		xdp:       prometheus.NewDesc("xvs_xdp_frames_total", "Frames seen by the XDP classifier, by verdict.", []string{"verdict"}, nil),
		xskDrops:  prometheus.NewDesc("xvs_xsk_dropped_total", "Frames the kernel could not hand to the AF_XDP sockets, by reason.", []string{"reason"}, nil),

		qFrames:    prometheus.NewDesc("xvs_queue_frames_received_total", "Frames received on one receive queue of one interface side.", side, nil),
		qBatches:   prometheus.NewDesc("xvs_queue_batches_total", "Non-empty receive batches (up to 64 frames) taken from one receive queue of one interface side.", side, nil),
		qInfo:      prometheus.NewDesc("xvs_queue_info", "1 for each receive queue served: its worker, that worker's CPU and how its AF_XDP socket is bound.", []string{"side", "queue", "worker", "cpu", "socket_mode"}, nil),
		wForwarded: prometheus.NewDesc("xvs_worker_frames_forwarded_total", "Frames one worker rewrote and queued for transmission.", worker, nil),
		wCPU:       prometheus.NewDesc("xvs_worker_cpu", "The CPU a worker is pinned to.", worker, nil),
		ifChannels: prometheus.NewDesc("xvs_interface_channels", "Active receive channels of an interface, every one served.", []string{"interface", "side"}, nil),
		ifInfo:     prometheus.NewDesc("xvs_interface_info", "1 for each interface of the dataplane, with the mode its XDP program is attached in.", []string{"interface", "side", "xdp_mode"}, nil),
		relayouts:  prometheus.NewDesc("xvs_layout_changes_total", "Times the workers were laid out again because an interface's channels changed while running.", nil, nil),
		layoutErrs: prometheus.NewDesc("xvs_layout_errors_total", "Re-layouts after a change of channels that failed; unserved queues' frames are dropped and counted until one works.", nil, nil),

		conns:     prometheus.NewDesc("xvs_connections", "Entries in the connection table.", nil, nil),
		connsMax:  prometheus.NewDesc("xvs_connections_max", "Bound of the connection table (max_connections or the memory-sized default).", nil, nil),
		evicted:   prometheus.NewDesc("xvs_connections_evicted_total", "Embryonic (SYN_RECV) entries evicted from a full connection table to make room.", nil, nil),
		refused:   prometheus.NewDesc("xvs_connections_refused_total", "New flows refused because the connection table was full and nothing could be evicted.", nil, nil),
		templates: prometheus.NewDesc("xvs_persistence_templates", "Persistence templates (persistence_timeout) in the connection table.", nil, nil),

		vrrpState:       prometheus.NewDesc("xvs_vrrp_state", "State of a vrrp_instance: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT.", inst, nil),
		vrrpPriority:    prometheus.NewDesc("xvs_vrrp_priority", "Effective priority of a vrrp_instance, after tracking weights.", inst, nil),
		vrrpBase:        prometheus.NewDesc("xvs_vrrp_base_priority", "Configured priority of a vrrp_instance.", inst, nil),
		vrrpTransitions: prometheus.NewDesc("xvs_vrrp_transitions_total", "State changes of a vrrp_instance since start.", inst, nil),
		vrrpSent:        prometheus.NewDesc("xvs_vrrp_adverts_sent_total", "VRRP adverts sent, all instances.", nil, nil),
		vrrpReceived:    prometheus.NewDesc("xvs_vrrp_adverts_received_total", "VRRP adverts received and used by an instance.", nil, nil),
		vrrpDropped:     prometheus.NewDesc("xvs_vrrp_adverts_dropped_total", "VRRP adverts received and not used, by reason.", []string{"reason"}, nil),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	c.svc.describe(ch)
	c.sync.describe(ch)
	describeMail(ch) // metrics_mail.go
	for _, d := range []*prometheus.Desc{
		c.frames, c.forwarded, c.dropped, c.kickErrs, c.xdp, c.xskDrops,
		c.qFrames, c.qBatches, c.qInfo, c.wForwarded, c.wCPU, c.ifChannels, c.ifInfo, c.relayouts, c.layoutErrs,
		c.conns, c.connsMax, c.evicted, c.refused, c.templates,
		c.vrrpState, c.vrrpPriority, c.vrrpBase, c.vrrpTransitions, c.vrrpSent, c.vrrpReceived, c.vrrpDropped,
	} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	c.svc.collect(ch)
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	cnt := c.d.Dataplane.Counters()
	counter(c.frames, cnt[dataplane.CounterRxWAN], "wan")
	counter(c.frames, cnt[dataplane.CounterRxLAN], "lan")
	counter(c.forwarded, cnt[nat.DropNone])
	for r := nat.DropNone + 1; r < nat.NumDrops; r++ {
		counter(c.dropped, cnt[r], r.String())
	}
	counter(c.dropped, cnt[dataplane.CounterControlDropped], "control_queue_full")
	counter(c.kickErrs, cnt[dataplane.CounterKickErrors])
	if x, err := c.d.Dataplane.XDPCounters(); err == nil {
		counter(c.xdp, x.Passed, "pass")
		counter(c.xdp, x.Redirected, "redirect")
		counter(c.xdp, x.RedirectedMalformed, "redirect_malformed")
		counter(c.xdp, x.RedirectedVRRP, "redirect_vrrp")
		counter(c.xdp, x.ARPReplies, "arp_reply")
		counter(c.xdp, x.EchoReplies, "echo_reply")
		counter(c.xdp, x.NoSocket, "drop_no_socket")
	}
	if x, err := c.d.Dataplane.SocketDrops(); err == nil {
		counter(c.xskDrops, x.RxDropped, "rx_dropped")
		counter(c.xskDrops, x.RxRingFull, "rx_ring_full")
		counter(c.xskDrops, x.RxInvalid, "rx_invalid_descs")
		counter(c.xskDrops, x.TxInvalid, "tx_invalid_descs")
	}
	c.collectLayout(ch, c.d.Dataplane.Layout(), c.d.Dataplane.WorkerCounters())

	t := c.d.Engine.Table()
	gauge(c.conns, float64(t.Len()))
	gauge(c.connsMax, float64(t.Cap()))
	counter(c.evicted, t.Evicted())
	counter(c.refused, cnt[nat.DropTableFull])
	gauge(c.templates, float64(t.Templates()))

	c.sync.collect(counter, gauge, c.d, cnt)
	collectMail(counter, c.d) // metrics_mail.go
	if st := c.d.VRRP(); st != nil {
		sent, received, drops := c.d.VRRPCounters()
		c.collectVRRP(ch, st, sent, received, drops)
	}
}

// collectLayout sends the per-queue, per-worker and layout metrics.
func (c *collector) collectLayout(ch chan<- prometheus.Metric, l dataplane.Layout, w []dataplane.Counters) {
	for _, it := range l.Interfaces {
		ch <- prometheus.MustNewConstMetric(c.ifChannels, prometheus.GaugeValue, float64(it.Channels), it.Name, it.Side)
		ch <- prometheus.MustNewConstMetric(c.ifInfo, prometheus.GaugeValue, 1, it.Name, it.Side, it.XDPMode)
	}
	for _, wl := range l.Workers {
		n, cpu := strconv.Itoa(wl.Worker), strconv.Itoa(wl.CPU)
		ch <- prometheus.MustNewConstMetric(c.wCPU, prometheus.GaugeValue, float64(wl.CPU), n)
		for _, q := range wl.Queues {
			qn := strconv.Itoa(q.Queue)
			ch <- prometheus.MustNewConstMetric(c.qFrames, prometheus.CounterValue, float64(q.Frames), q.Side, qn)
			ch <- prometheus.MustNewConstMetric(c.qBatches, prometheus.CounterValue, float64(q.Batches), q.Side, qn)
			ch <- prometheus.MustNewConstMetric(c.qInfo, prometheus.GaugeValue, 1, q.Side, qn, n, cpu, q.Mode)
		}
	}
	for i := range w {
		ch <- prometheus.MustNewConstMetric(c.wForwarded, prometheus.CounterValue, float64(w[i][nat.DropNone]), strconv.Itoa(i))
	}
	ch <- prometheus.MustNewConstMetric(c.relayouts, prometheus.CounterValue, float64(l.Relayouts))
	ch <- prometheus.MustNewConstMetric(c.layoutErrs, prometheus.CounterValue, float64(l.LayoutErrors))
}

// vrrpStateValues maps VRRPStatus.State to the xvs_vrrp_state value: the
// vrrp.State number (0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT).
var vrrpStateValues = map[string]float64{
	vrrp.Initialize.String(): float64(vrrp.Initialize),
	vrrp.Backup.String():     float64(vrrp.Backup),
	vrrp.Master.String():     float64(vrrp.Master),
	vrrp.Fault.String():      float64(vrrp.Fault),
}

// collectVRRP sends the VRRP metrics of the instances st and the runner's
// advert counters.
func (c *collector) collectVRRP(ch chan<- prometheus.Metric, st []VRRPStatus, sent, received uint64, drops map[string]uint64) {
	for _, s := range st {
		if v, ok := vrrpStateValues[s.State]; ok {
			ch <- prometheus.MustNewConstMetric(c.vrrpState, prometheus.GaugeValue, v, s.Name)
		}
		ch <- prometheus.MustNewConstMetric(c.vrrpPriority, prometheus.GaugeValue, float64(s.Priority), s.Name)
		ch <- prometheus.MustNewConstMetric(c.vrrpBase, prometheus.GaugeValue, float64(s.Base), s.Name)
		ch <- prometheus.MustNewConstMetric(c.vrrpTransitions, prometheus.CounterValue, float64(s.Transitions), s.Name)
	}
	ch <- prometheus.MustNewConstMetric(c.vrrpSent, prometheus.CounterValue, float64(sent))
	ch <- prometheus.MustNewConstMetric(c.vrrpReceived, prometheus.CounterValue, float64(received))
	reasons := make([]string, 0, len(drops))
	for r := range drops {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		ch <- prometheus.MustNewConstMetric(c.vrrpDropped, prometheus.CounterValue, float64(drops[r]), r)
	}
}
