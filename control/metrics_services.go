package control

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/xvs-project/xvs/internal/ipvsadm"
)

// serviceMetrics are the per virtual service and per real server series,
// the numbers of xvs list --stats as Prometheus sees them. Labels:
// protocol, vip, port; and real (IP:PORT) for real servers.
type serviceMetrics struct {
	d                                        *Director
	svcConns, svcPackets, svcBytes           *prometheus.Desc
	realConns, realPackets, realBytes        *prometheus.Desc
	realActive, realInactive, realWeight, up *prometheus.Desc
	checkUp, checkRetries                    *prometheus.Desc
}

func newServiceMetrics(d *Director) *serviceMetrics {
	svc := []string{"protocol", "vip", "port"}
	svcDir := append(svc[:3:3], "direction")
	real := append(svc[:3:3], "real")
	realDir := append(real[:4:4], "direction")
	return &serviceMetrics{
		d:            d,
		svcConns:     prometheus.NewDesc("xvs_service_connections_total", "Connections scheduled for a virtual service (ipvsadm's Conns).", svc, nil),
		svcPackets:   prometheus.NewDesc("xvs_service_packets_total", "Packets forwarded for a virtual service; direction in (client to server) or out.", svcDir, nil),
		svcBytes:     prometheus.NewDesc("xvs_service_bytes_total", "IP bytes forwarded for a virtual service; direction in or out.", svcDir, nil),
		realConns:    prometheus.NewDesc("xvs_real_connections_total", "Connections scheduled to a real server.", real, nil),
		realPackets:  prometheus.NewDesc("xvs_real_packets_total", "Packets forwarded to (in) and from (out) a real server.", realDir, nil),
		realBytes:    prometheus.NewDesc("xvs_real_bytes_total", "IP bytes forwarded to (in) and from (out) a real server.", realDir, nil),
		realActive:   prometheus.NewDesc("xvs_real_active_connections", "Established connections to a real server (ipvsadm's ActiveConn).", real, nil),
		realInactive: prometheus.NewDesc("xvs_real_inactive_connections", "Other connections to a real server (ipvsadm's InActConn).", real, nil),
		realWeight:   prometheus.NewDesc("xvs_real_weight", "Scheduling weight of a real server in the pool now (0: quiesced or inhibited).", real, nil),
		up:           prometheus.NewDesc("xvs_real_up", "1 while the health checks keep a real server in service, 0 once they took it out.", real, nil),
		checkUp: prometheus.NewDesc("xvs_healthcheck_up", "1 while a health check finds its real server up, 0 when down; check is the checker's position and kind.",
			[]string{"service", "real", "check"}, nil),
		checkRetries: prometheus.NewDesc("xvs_healthcheck_retries", "Failures of an up health check not (yet) counted against its retry.",
			[]string{"service", "real", "check"}, nil),
	}
}

func (m *serviceMetrics) describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.svcConns, m.svcPackets, m.svcBytes, m.realConns, m.realPackets, m.realBytes,
		m.realActive, m.realInactive, m.realWeight, m.up, m.checkUp, m.checkRetries} {
		ch <- d
	}
}

func (m *serviceMetrics) collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, c := range m.d.health.Checks() {
		l := []string{c.Service, c.Server, strconv.Itoa(c.Index) + " " + c.Kind}
		up := 0.0
		if c.Up {
			up = 1
		}
		gauge(m.checkUp, up, l...)
		gauge(m.checkRetries, float64(c.Retries), l...)
	}
	svcs, counts := m.d.listing()
	for i, s := range svcs {
		sl := []string{s.Protocol, s.Addr.String(), strconv.Itoa(int(s.Port))}
		counter(m.svcConns, s.Stats.Conns, sl...)
		directions(s.Stats, func(dir string, pkts, bytes uint64) {
			counter(m.svcPackets, pkts, append(sl, dir)...)
			counter(m.svcBytes, bytes, append(sl, dir)...)
		})
		for j, r := range s.Reals {
			rl := append(sl[:3:3], r.Addr.String()+":"+strconv.Itoa(int(r.Port)))
			counter(m.realConns, r.Stats.Conns, rl...)
			directions(r.Stats, func(dir string, pkts, bytes uint64) {
				counter(m.realPackets, pkts, append(rl, dir)...)
				counter(m.realBytes, bytes, append(rl, dir)...)
			})
			gauge(m.realActive, float64(r.ActiveConn), rl...)
			gauge(m.realInactive, float64(r.InActConn), rl...)
			gauge(m.realWeight, float64(r.Weight), rl...)
			up := 1.0
			if counts[i][j].Down() {
				up = 0
			}
			gauge(m.up, up, rl...)
		}
	}
}

func directions(s ipvsadm.Stats, f func(dir string, pkts, bytes uint64)) {
	f("in", s.InPkts, s.InBytes)
	f("out", s.OutPkts, s.OutBytes)
}
