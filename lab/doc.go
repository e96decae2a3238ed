// Package lab builds and tears down the network-namespace test lab that the
// xvs tests, `xvs lab up/down`, `make demo` and the benchmarks run against.
//
// A lab is a small, self-contained network made only of network namespaces
// and veth pairs, using addresses from the benchmarking range 198.18.0.0/15
// only, so that no lab packet ever leaves the machine:
//
//	<p>-client  eth0 198.18.0.2/24, default via 198.18.0.1
//	    |
//	<p>-lb      wan0 198.18.0.1/24 + VIP 198.18.0.100/32
//	            lan0 198.18.1.1/24
//	    |
//	<p>-sw      bridge br0 (STP off, forward delay 0): ports lb, rs1..rsN
//	    |
//	<p>-rs1..N  eth0 198.18.1.11.. /24, default via 198.18.1.1
//
// The "lb" namespace is where the director (xvs itself) runs: it receives
// client traffic for the VIP on wan0 and reaches every real server through
// the single interface lan0. The kernel does not forward between wan0 and
// lan0 unless [Config.Forwarding] is set, so without a director the VIP
// service is unreachable.
//
// Besides building and removing the topology ([Up], [Down], and [Open] to
// describe a lab built by another process), the package offers [Do] to run
// code (and create sockets) inside a namespace, tiny HTTP and UDP servers for
// the real servers ([Serve], [Lab.StartServers], [Lab.StartDaemons],
// [ServeForever]) and a bounded traffic generator ([RunTraffic]).
//
// The package is for tests, demos and benchmarks on one machine. It is not a
// general namespace manager and not part of the data path: nothing in the
// director should import it. All functions that touch namespaces need root
// (CAP_SYS_ADMIN and CAP_NET_ADMIN) and Linux.
package lab
