package control

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/xvs-project/xvs/connsync"
	"github.com/xvs-project/xvs/dataplane"
)

// syncMetrics are the connection sync metrics, exported only with
// lvs_sync_daemon:
//
//   - xvs_sync_role{role}: 1 for the role the daemon has now (none,
//     master: sending, backup: receiving), 0 for the others.
//   - xvs_sync_records_queued_total: records the workers queued for the
//     sender; xvs_sync_records_lost_total: records lost because a
//     worker's queue was full (the sender fell behind).
//   - xvs_sync_messages_total{direction}, xvs_sync_entries_total{direction},
//     xvs_sync_bytes_total{direction}: datagrams, entries and UDP payload
//     bytes sent (direction "sent") and received ("received").
//   - xvs_sync_send_errors_total: datagrams the kernel refused to send.
//   - xvs_sync_dropped_total{reason}: received datagrams or entries
//     dropped, by reason (truncated, bad_size, version, syncid, ipv6,
//     fwmark, table_full, unsupported, ...).
//   - xvs_sync_installed_total{result}: what received entries did to the
//     table: installed, updated, template, replaced, stale, refused,
//     invalid, unbound (nat.SyncStats).
//   - xvs_sync_lag_seconds: on a master, how long the oldest record of
//     the last message waited before it was sent.
//   - xvs_sync_last_received_timestamp_seconds: on a backup, when the
//     last valid message arrived (Unix time; 0 if none).
type syncMetrics struct {
	role, queued, lost, messages, entries, bytes, sendErrors *prometheus.Desc
	dropped, installed, lag, lastReceived                    *prometheus.Desc
}

func newSyncMetrics() *syncMetrics {
	dir := []string{"direction"}
	return &syncMetrics{
		role:         prometheus.NewDesc("xvs_sync_role", "1 for the connection sync role now (none, master sends, backup receives), 0 for the others.", []string{"role"}, nil),
		queued:       prometheus.NewDesc("xvs_sync_records_queued_total", "Sync records the workers queued for the sender.", nil, nil),
		lost:         prometheus.NewDesc("xvs_sync_records_lost_total", "Sync records lost because a worker's sync queue was full.", nil, nil),
		messages:     prometheus.NewDesc("xvs_sync_messages_total", "Sync messages (datagrams) sent or received.", dir, nil),
		entries:      prometheus.NewDesc("xvs_sync_entries_total", "Connection and template entries sent or received in sync messages.", dir, nil),
		bytes:        prometheus.NewDesc("xvs_sync_bytes_total", "UDP payload bytes of sync messages sent or received.", dir, nil),
		sendErrors:   prometheus.NewDesc("xvs_sync_send_errors_total", "Sync messages the kernel refused to send.", nil, nil),
		dropped:      prometheus.NewDesc("xvs_sync_dropped_total", "Received sync datagrams or entries dropped, by reason.", []string{"reason"}, nil),
		installed:    prometheus.NewDesc("xvs_sync_installed_total", "What received sync entries did to the connection table, by result.", []string{"result"}, nil),
		lag:          prometheus.NewDesc("xvs_sync_lag_seconds", "How long the oldest record of the last sync message sent waited before it was sent.", nil, nil),
		lastReceived: prometheus.NewDesc("xvs_sync_last_received_timestamp_seconds", "Unix time of the last valid sync message received; 0 if none.", nil, nil),
	}
}

func (m *syncMetrics) describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.role, m.queued, m.lost, m.messages, m.entries, m.bytes,
		m.sendErrors, m.dropped, m.installed, m.lag, m.lastReceived} {
		ch <- d
	}
}

// collect sends the metrics of d's connection sync, if it has one,
// through the collector's counter and gauge senders.
func (m *syncMetrics) collect(counter func(*prometheus.Desc, uint64, ...string), gauge func(*prometheus.Desc, float64, ...string),
	d *Director, cnt dataplane.Counters) {
	if d.sync == nil {
		return
	}
	st := d.sync.Stats()
	for _, r := range []connsync.Role{connsync.RoleNone, connsync.RoleMaster, connsync.RoleBackup} {
		v := 0.0
		if st.Role == r {
			v = 1
		}
		gauge(m.role, v, r.String())
	}
	counter(m.queued, cnt[dataplane.CounterSyncQueued])
	counter(m.lost, cnt[dataplane.CounterSyncQueueFull])
	counter(m.messages, st.SentMessages, "sent")
	counter(m.messages, st.ReceivedMessages, "received")
	counter(m.entries, st.SentEntries, "sent")
	counter(m.entries, st.ReceivedEntries, "received")
	counter(m.bytes, st.SentBytes, "sent")
	counter(m.bytes, st.ReceivedBytes, "received")
	counter(m.sendErrors, st.SendErrors)
	for _, r := range connsync.DropReasons() {
		counter(m.dropped, st.Dropped[r], r)
	}
	ts := d.Engine.Table().SyncStats()
	for _, v := range []struct {
		n    uint64
		name string
	}{{ts.Installed, "installed"}, {ts.Updated, "updated"}, {ts.Templates, "template"}, {ts.Replaced, "replaced"},
		{ts.Stale, "stale"}, {ts.Refused, "refused"}, {ts.Invalid, "invalid"}, {ts.Unbound, "unbound"}} {
		counter(m.installed, v.n, v.name)
	}
	gauge(m.lag, st.SendDelay.Seconds())
	last := 0.0
	if !st.LastReceived.IsZero() {
		last = float64(st.LastReceived.UnixNano()) / 1e9
	}
	gauge(m.lastReceived, last)
}

// Sync returns the connection sync's counters; ok is false without
// lvs_sync_daemon.
func (d *Director) Sync() (st connsync.Stats, ok bool) {
	if d.sync == nil {
		return connsync.Stats{}, false
	}
	return d.sync.Stats(), true
}

var _ connsync.Sink = (*syncSink)(nil)
var _ connsync.Source = (*dataplane.Dataplane)(nil)
