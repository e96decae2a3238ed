package dataplane

import (
	"net"
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/xvs-project/xvs/internal/header"
	"github.com/xvs-project/xvs/nat"
	"github.com/xvs-project/xvs/scheduler"
)

var (
	client  = [4]byte{198, 18, 0, 2}
	vip     = [4]byte{198, 18, 0, 100}
	real1   = [4]byte{198, 18, 1, 11}
	lanMAC  = [6]byte{2, 0, 0, 0, 1, 1}
	wanMAC  = [6]byte{2, 0, 0, 0, 0, 1}
	rsMAC   = [6]byte{2, 0, 0, 0, 1, 11}
	cliMAC  = [6]byte{2, 0, 0, 0, 0, 2}
	gwMAC   = [6]byte{2, 0, 0, 0, 0, 0xfe}
	gateway = [4]byte{198, 18, 0, 254}
)

func udpFrame(t testing.TB, src, dst [4]byte, sport, dport uint16, srcMAC, dstMAC [6]byte) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr(srcMAC[:]), DstMAC: net.HardwareAddr(dstMAC[:]), EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.IP(src[:]), DstIP: net.IP(dst[:])}
	udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	udp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, udp, gopacket.Payload(make([]byte, 18))); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// testWorker is a worker without sockets: rewrite needs only the engine and
// the neighbour snapshots.
func testWorker(t testing.TB, wanNeigh map[[4]byte][6]byte) (*worker, *linkView, *linkView) {
	t.Helper()
	eng := nat.NewEngine(nat.NewTable(1<<16, nat.DefaultTimeouts))
	s, err := scheduler.New("wrr", []scheduler.Server{{Weight: 1}})
	if err != nil {
		t.Fatal(err)
	}
	eng.SetServices([]*nat.Service{{VIP: vip, Port: 53, Proto: header.ProtocolUDP,
		Reals: []nat.Real{{Addr: real1, Port: 53, Weight: 1}}, Sched: s}})
	n := &Neighbours{links: map[int]*atomic.Pointer[linkView]{1: {}, 2: {}}, miss: make(chan [4]byte, 4)}
	wan := &linkView{
		routes: []route{
			{dst: netip.MustParsePrefix("198.18.0.0/24")},
			{dst: netip.MustParsePrefix("0.0.0.0/0"), gw: gateway, hasG: true},
		},
		neigh: wanNeigh,
	}
	lan := &linkView{routes: []route{{dst: netip.MustParsePrefix("198.18.1.0/24")}}, neigh: map[[4]byte][6]byte{real1: rsMAC}}
	n.links[1].Store(wan)
	n.links[2].Store(lan)
	return &worker{eng: eng, neigh: n, wanIf: 1, lanIf: 2, wanMAC: wanMAC, lanMAC: lanMAC}, wan, lan
}

func TestRewriteAddressesNextHop(t *testing.T) {
	w, wan, lan := testWorker(t, map[[4]byte][6]byte{client: cliMAC, gateway: gwMAC})
	in := udpFrame(t, client, vip, 4000, 53, cliMAC, wanMAC)
	if d := w.rewrite(in, lan, lanMAC, true, 0); d != nat.DropNone {
		t.Fatalf("inbound: %v", d)
	}
	eth := header.Ethernet(in)
	if eth.Destination() != rsMAC || eth.Source() != lanMAC {
		t.Fatalf("inbound MACs dst %x src %x", eth.Destination(), eth.Source())
	}
	out := udpFrame(t, real1, client, 53, 4000, rsMAC, lanMAC)
	if d := w.rewrite(out, wan, wanMAC, false, 0); d != nat.DropNone {
		t.Fatalf("outbound: %v", d)
	}
	eth = header.Ethernet(out)
	if eth.Destination() != cliMAC || eth.Source() != wanMAC {
		t.Fatalf("outbound MACs dst %x src %x", eth.Destination(), eth.Source())
	}
	// A client beyond the on-link prefix goes to the default gateway.
	far := [4]byte{198, 19, 7, 7}
	in = udpFrame(t, far, vip, 4001, 53, gwMAC, wanMAC)
	w.rewrite(in, lan, lanMAC, true, 0)
	out = udpFrame(t, real1, far, 53, 4001, rsMAC, lanMAC)
	if d := w.rewrite(out, wan, wanMAC, false, 0); d != nat.DropNone {
		t.Fatalf("outbound via gateway: %v", d)
	}
	if header.Ethernet(out).Destination() != gwMAC {
		t.Fatalf("outbound via gateway went to %x", header.Ethernet(out).Destination())
	}
}

func TestRewriteWithoutNeighbour(t *testing.T) {
	w, wan, lan := testWorker(t, map[[4]byte][6]byte{})
	lan.neigh = map[[4]byte][6]byte{}
	in := udpFrame(t, client, vip, 4000, 53, cliMAC, wanMAC)
	if d := w.rewrite(in, lan, lanMAC, true, 0); d != nat.DropNoNeighbour {
		t.Fatalf("inbound without the real server's MAC: %v", d)
	}
	if a := <-w.neigh.miss; a != real1 {
		t.Fatalf("resolver asked for %v, want the real server", a)
	}
	// Replies fall back to the MAC learnt from the client's frames.
	lan.neigh = map[[4]byte][6]byte{real1: rsMAC}
	in = udpFrame(t, client, vip, 4002, 53, cliMAC, wanMAC)
	if d := w.rewrite(in, lan, lanMAC, true, 0); d != nat.DropNone {
		t.Fatal(d)
	}
	out := udpFrame(t, real1, client, 53, 4002, rsMAC, lanMAC)
	if d := w.rewrite(out, wan, wanMAC, false, 0); d != nat.DropNone {
		t.Fatalf("outbound with a learnt MAC: %v", d)
	}
	if header.Ethernet(out).Destination() != cliMAC {
		t.Fatalf("outbound went to %x, want the learnt %x", header.Ethernet(out).Destination(), cliMAC)
	}
}

func TestNextHopLongestPrefix(t *testing.T) {
	v := &linkView{routes: []route{
		{dst: netip.MustParsePrefix("198.18.0.128/25"), gw: [4]byte{198, 18, 0, 1}, hasG: true},
		{dst: netip.MustParsePrefix("198.18.0.0/24")},
	}}
	for _, tc := range []struct {
		dst, want [4]byte
		ok        bool
	}{
		{[4]byte{198, 18, 0, 200}, [4]byte{198, 18, 0, 1}, true},
		{[4]byte{198, 18, 0, 5}, [4]byte{198, 18, 0, 5}, true},
		{[4]byte{198, 19, 0, 5}, [4]byte{}, false},
	} {
		got, ok := v.nextHop(tc.dst)
		if ok != tc.ok || got != tc.want {
			t.Errorf("nextHop(%v) = %v %v, want %v %v", tc.dst, got, ok, tc.want, tc.ok)
		}
	}
}

func TestRewriteAllocatesNothing(t *testing.T) {
	w, wan, lan := testWorker(t, map[[4]byte][6]byte{client: cliMAC})
	in := udpFrame(t, client, vip, 4000, 53, cliMAC, wanMAC)
	out := udpFrame(t, real1, client, 53, 4000, rsMAC, lanMAC)
	a, b := make([]byte, len(in)), make([]byte, len(out))
	allocs := testing.AllocsPerRun(1000, func() {
		copy(a, in)
		copy(b, out)
		if w.rewrite(a, lan, lanMAC, true, 0) != nat.DropNone || w.rewrite(b, wan, wanMAC, false, 0) != nat.DropNone {
			panic("dropped")
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per frame pair", allocs)
	}
}

// BenchmarkRewrite is the whole per-frame path of a worker short of the
// ring operations: validate and classify, look up the connection, DNAT or
// SNAT with checksum updates, find the next hop's MAC, set the Ethernet
// header; 64-byte UDP frames of 10 000 established flows.
func BenchmarkRewrite(b *testing.B) {
	w, wan, lan := testWorker(b, map[[4]byte][6]byte{client: cliMAC})
	const flows = 10000
	ins := make([][]byte, flows)
	outs := make([][]byte, flows)
	for i := range ins {
		ins[i] = udpFrame(b, client, vip, uint16(10000+i), 53, cliMAC, wanMAC)
		w.rewrite(append([]byte(nil), ins[i]...), lan, lanMAC, true, 0)
		outs[i] = udpFrame(b, real1, client, 53, uint16(10000+i), rsMAC, lanMAC)
	}
	buf := make([]byte, len(ins[0]))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		j := i % flows
		if i&1 == 0 {
			copy(buf, ins[j])
			if w.rewrite(buf, lan, lanMAC, true, 0) != nat.DropNone {
				b.Fatal("inbound dropped")
			}
		} else {
			copy(buf, outs[j])
			if w.rewrite(buf, wan, wanMAC, false, 0) != nat.DropNone {
				b.Fatal("outbound dropped")
			}
		}
	}
}
