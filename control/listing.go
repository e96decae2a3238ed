package control

import (
	"net/netip"
	"strings"

	"github.com/xvs-project/xvs/internal/header"
	"github.com/xvs-project/xvs/internal/ipvsadm"
	"github.com/xvs-project/xvs/scheduler"
)

// ServiceList is what the admin API's GET /v1/services returns.
type ServiceList struct {
	// ConnTableSize is the connection table's capacity, which xvs list
	// shows where ipvsadm shows IPVS's hash table size.
	ConnTableSize int               `json:"conn_table_size"`
	Services      []ipvsadm.Service `json:"services"`
}

// Services returns the virtual services as ipvsadm lists IPVS's table: the
// services configured (those of a VRRP VIP too, whether or not this
// director is MASTER, as IPVS keeps them on a keepalived BACKUP), with the
// real servers the health checks leave in, their weights, thresholds and
// connection counts, and the traffic counters and rates (see Stats).
func (d *Director) Services() []ipvsadm.Service {
	list, _ := d.listing()
	return list
}

// listing is Services, with the connection counts of each real server
// listed (counts[i][j] for list[i].Reals[j]).
func (d *Director) listing() (list []ipvsadm.Service, counts [][]*scheduler.Counts) {
	d.mu.Lock()
	wanted := d.wanted
	d.mu.Unlock()
	conf := map[countsKey]*ServicePlan{}
	for i := range d.Plan.Services {
		sp := &d.Plan.Services[i]
		conf[sp.key()] = sp
	}
	list = make([]ipvsadm.Service, 0, len(wanted))
	ids := make([]svcID, 0, len(wanted))
	counts = make([][]*scheduler.Counts, 0, len(wanted))
	for _, s := range wanted {
		ids = append(ids, svcID{s.VIP, s.Port, s.Proto})
		var cs []*scheduler.Counts
		proto := protoName(s.Proto)
		svc := ipvsadm.Service{
			Protocol: proto, Addr: netip.AddrFrom4(s.VIP), Port: s.Port,
			Persistent: s.Persistence,
		}
		if sp := conf[countsKey{vip: s.VIP, port: s.Port, proto: s.Proto}]; sp != nil {
			svc.Scheduler, svc.SchedFlags = sp.Scheduler, schedFlags(sp.SchedulerFlags)
		}
		if s.Persistence > 0 && s.PersistBits > 0 && s.PersistBits < 32 {
			svc.Netmask = int(s.PersistBits)
		}
		if svc.Scheduler == "" {
			svc.Scheduler = "wlc"
		}
		for _, r := range s.Reals {
			real := ipvsadm.Real{Addr: netip.AddrFrom4(r.Addr), Port: r.Port, Forward: ipvsadm.ForwardMasq, Weight: r.Weight}
			if r.Counts != nil {
				real.ActiveConn = uint64(max(r.Counts.Active.Load(), 0))
				real.InActConn = uint64(max(r.Counts.Inactive.Load(), 0))
				u, l := r.Counts.Thresholds()
				real.UThreshold, real.LThreshold = uint32(u), uint32(l)
			}
			svc.Reals = append(svc.Reals, real)
			cs = append(cs, r.Counts)
		}
		list = append(list, svc)
		counts = append(counts, cs)
	}
	d.fillStats(list, ids, counts)
	return list, counts
}

func protoName(p uint8) string {
	if p == header.ProtocolUDP {
		return "UDP"
	}
	return "TCP"
}

// schedFlags turns keepalived's scheduler flag keywords into IPVS's bits.
func schedFlags(words []string) ipvsadm.SchedFlags {
	var f ipvsadm.SchedFlags
	for _, w := range words {
		switch {
		case w == "flag-1" || strings.HasSuffix(w, "-fallback"):
			f |= ipvsadm.SchedFlag1
		case w == "flag-2" || strings.HasSuffix(w, "-port"):
			f |= ipvsadm.SchedFlag2
		case w == "flag-3":
			f |= ipvsadm.SchedFlag3
		}
	}
	return f
}
