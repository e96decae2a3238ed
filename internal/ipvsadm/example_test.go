package ipvsadm_test

import (
	"net/netip"
	"os"
	"time"

	"github.com/xvs-project/xvs/internal/ipvsadm"
)

// A NAT service listed as `ipvsadm -L -n --stats` lists it.
func ExampleWriteServices() {
	svcs := []ipvsadm.Service{{
		Protocol:  "TCP",
		Addr:      netip.MustParseAddr("198.18.0.1"),
		Port:      80,
		Scheduler: "wlc",
		Reals: []ipvsadm.Real{
			{Addr: netip.MustParseAddr("198.18.1.10"), Port: 8080, Forward: ipvsadm.ForwardMasq, Weight: 1,
				Stats: ipvsadm.Stats{Conns: 1200, InPkts: 36_000, OutPkts: 41_000, InBytes: 2_900_000, OutBytes: 310_000_000}},
			{Addr: netip.MustParseAddr("198.18.1.11"), Port: 8080, Forward: ipvsadm.ForwardMasq, Weight: 1,
				Stats: ipvsadm.Stats{Conns: 1100, InPkts: 33_000, OutPkts: 39_500, InBytes: 2_700_000, OutBytes: 295_000_000}},
		},
		Stats: ipvsadm.Stats{Conns: 2300, InPkts: 69_000, OutPkts: 80_500, InBytes: 5_600_000, OutBytes: 605_000_000},
	}}
	if err := ipvsadm.WriteServices(os.Stdout, svcs, ipvsadm.Options{Numeric: true, Stats: true}); err != nil {
		panic(err)
	}
	// Output:
	// IP Virtual Server version 1.2.1 (size=4096)
	// Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes
	//   -> RemoteAddress:Port
	// TCP  198.18.0.1:80                    2300    69000    80500  5600000  605000K
	//   -> 198.18.1.10:8080                 1200    36000    41000  2900000  310000K
	//   -> 198.18.1.11:8080                 1100    33000    39500  2700000  295000K
}

// Rates for `ipvsadm -L -n --rate` come from an Estimator per service and
// per real server, fed with the cumulative counters every two seconds.
func ExampleEstimator() {
	var est ipvsadm.Estimator
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var s ipvsadm.Stats
	est.Update(start, s)
	for i := 1; i <= 60; i++ { // two minutes at 50 conn/s, 200 packets/s each way
		s.Conns += 100
		s.InPkts += 400
		s.OutPkts += 400
		s.InBytes += 60_000
		s.OutBytes += 1_000_000
		est.Update(start.Add(time.Duration(i)*ipvsadm.EstimateInterval), s)
	}
	svc := ipvsadm.Service{
		Protocol: "UDP", Addr: netip.MustParseAddr("198.18.0.1"), Port: 53, Scheduler: "rr",
		Stats: s, Rate: est.Rate(),
	}
	if err := ipvsadm.WriteService(os.Stdout, svc, ipvsadm.Options{Numeric: true, Rate: true}); err != nil {
		panic(err)
	}
	// Output:
	// Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS
	//   -> RemoteAddress:Port
	// UDP  198.18.0.1:53                      50      200      200    30000   500000
}

// `ipvsadm -L -c -n`.
func ExampleWriteConns() {
	conns := []ipvsadm.Conn{{
		Protocol: "TCP",
		Expires:  14*time.Minute + 59*time.Second,
		State:    "ESTABLISHED",
		Client:   netip.MustParseAddrPort("198.19.7.1:51000"),
		Virtual:  netip.MustParseAddrPort("198.18.0.1:80"),
		Dest:     netip.MustParseAddrPort("198.18.1.10:8080"),
	}}
	if err := ipvsadm.WriteConns(os.Stdout, conns, ipvsadm.Options{Numeric: true}); err != nil {
		panic(err)
	}
	// Output:
	// IPVS connection entries
	// pro expire state       source             virtual            destination
	// TCP 14:59  ESTABLISHED 198.19.7.1:51000   198.18.0.1:80      198.18.1.10:8080
}
