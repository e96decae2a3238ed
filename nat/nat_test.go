package nat

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/xvs-project/xvs/internal/header"
	"github.com/xvs-project/xvs/scheduler"
)

var (
	client = [4]byte{198, 18, 0, 2}
	vip    = [4]byte{198, 18, 0, 100}
	rs     = [][4]byte{{198, 18, 1, 11}, {198, 18, 1, 12}, {198, 18, 1, 13}}
	macA   = net.HardwareAddr{0x02, 0, 0, 0, 0, 0xa}
	macB   = net.HardwareAddr{0x02, 0, 0, 0, 0, 0xb}
)

// pkt describes a frame built with gopacket for the tests.
type pkt struct {
	src, dst     [4]byte
	sport, dport uint16
	udp          bool
	syn, ack     bool
	fin, rst     bool
	ttl          uint8
	payload      []byte
}

func (p pkt) build(t testing.TB) []byte {
	t.Helper()
	ttl := p.ttl
	if ttl == 0 {
		ttl = 64
	}
	eth := &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: ttl, Id: 7, SrcIP: net.IP(p.src[:]), DstIP: net.IP(p.dst[:])}
	var l4 gopacket.SerializableLayer
	if p.udp {
		ip.Protocol = layers.IPProtocolUDP
		u := &layers.UDP{SrcPort: layers.UDPPort(p.sport), DstPort: layers.UDPPort(p.dport)}
		u.SetNetworkLayerForChecksum(ip)
		l4 = u
	} else {
		ip.Protocol = layers.IPProtocolTCP
		tc := &layers.TCP{SrcPort: layers.TCPPort(p.sport), DstPort: layers.TCPPort(p.dport), Seq: 1000, Window: 65535,
			SYN: p.syn, ACK: p.ack, FIN: p.fin, RST: p.rst}
		tc.SetNetworkLayerForChecksum(ip)
		l4 = tc
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, eth, ip, l4, gopacket.Payload(p.payload)); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// checkValid decodes a frame with gopacket and verifies every checksum by
// full recomputation.
func checkValid(t testing.TB, frame []byte) gopacket.Packet {
	t.Helper()
	ip := header.IPv4(frame[header.EthernetSize:])
	if !ip.IsChecksumValid() {
		t.Fatalf("IPv4 checksum invalid after rewrite")
	}
	l4 := []byte(ip[ip.HeaderLength():ip.TotalLength()])
	if !header.TransportChecksumValid(ip.Protocol(), ip, l4) {
		t.Fatalf("transport checksum invalid after rewrite")
	}
	p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	if p.ErrorLayer() != nil {
		t.Fatalf("gopacket cannot decode the rewritten frame: %v", p.ErrorLayer().Error())
	}
	return p
}

func newEngine(t testing.TB, weights ...int) *Engine {
	t.Helper()
	return newEngineSize(t, 1<<16, weights...)
}

func newEngineSize(t testing.TB, max int, weights ...int) *Engine {
	t.Helper()
	e := NewEngine(NewTable(max, DefaultTimeouts))
	var list []*Service
	for _, proto := range []uint8{header.ProtocolTCP, header.ProtocolUDP} {
		svc := &Service{VIP: vip, Port: 80, Proto: proto}
		var srv []scheduler.Server
		for i, w := range weights {
			svc.Reals = append(svc.Reals, Real{Addr: rs[i], Port: 8080, Weight: w})
			srv = append(srv, scheduler.Server{Weight: w})
		}
		s, err := scheduler.New("wrr", srv)
		if err != nil {
			t.Fatal(err)
		}
		svc.Sched = s
		list = append(list, svc)
	}
	e.SetServices(list)
	return e
}

func TestInboundOutboundGolden(t *testing.T) {
	for _, tc := range []struct {
		desc string
		udp  bool
	}{
		{desc: "tcp handshake", udp: false},
		{desc: "udp exchange", udp: true},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			e := newEngine(t, 1)
			in := pkt{src: client, dst: vip, sport: 40000, dport: 80, udp: tc.udp, syn: !tc.udp, payload: []byte("hello")}.build(t)
			r := e.Inbound(in, 0)
			if r.Drop != DropNone {
				t.Fatalf("inbound dropped: %v", r.Drop)
			}
			if r.NextHop != rs[0] {
				t.Fatalf("next hop %v, want %v", r.NextHop, rs[0])
			}
			want := pkt{src: client, dst: rs[0], sport: 40000, dport: 8080, udp: tc.udp, syn: !tc.udp, ttl: 63, payload: []byte("hello")}.build(t)
			checkValid(t, in)
			if string(in) != string(want) {
				t.Fatalf("DNAT frame differs from golden:\n got %x\nwant %x", in, want)
			}
			out := pkt{src: rs[0], dst: client, sport: 8080, dport: 40000, udp: tc.udp, syn: !tc.udp, ack: !tc.udp, payload: []byte("world!")}.build(t)
			r = e.Outbound(out, 0)
			if r.Drop != DropNone {
				t.Fatalf("outbound dropped: %v", r.Drop)
			}
			if r.NextHop != client || r.MAC != [6]byte(macA) {
				t.Fatalf("outbound result %+v", r)
			}
			want = pkt{src: vip, dst: client, sport: 80, dport: 40000, udp: tc.udp, syn: !tc.udp, ack: !tc.udp, ttl: 63, payload: []byte("world!")}.build(t)
			checkValid(t, out)
			if string(out) != string(want) {
				t.Fatalf("SNAT frame differs from golden:\n got %x\nwant %x", out, want)
			}
		})
	}
}

func TestUDPZeroChecksumStaysZero(t *testing.T) {
	e := newEngine(t, 1)
	in := pkt{src: client, dst: vip, sport: 40000, dport: 80, udp: true, payload: []byte("x")}.build(t)
	binary.BigEndian.PutUint16(in[header.EthernetSize+20+6:], 0)
	if r := e.Inbound(in, 0); r.Drop != DropNone {
		t.Fatalf("dropped: %v", r.Drop)
	}
	if c := header.UDP(in[header.EthernetSize+20:]).Checksum(); c != 0 {
		t.Fatalf("UDP checksum 0 became %#x", c)
	}
}

// corrupt returns a valid TCP SYN to the VIP changed by f.
func corrupt(t *testing.T, f func(b []byte) []byte) []byte {
	b := pkt{src: client, dst: vip, sport: 40000, dport: 80, syn: true, payload: []byte("data")}.build(t)
	return f(b)
}

// fixIPChecksum recomputes the IPv4 header checksum after a test changed
// the header on purpose.
func fixIPChecksum(b []byte) []byte {
	ip := header.IPv4(b[header.EthernetSize:])
	ip.SetChecksum(0)
	ip.SetChecksum(ip.CalculateChecksum())
	return b
}

func TestDropReasons(t *testing.T) {
	const ipo = header.EthernetSize
	for _, tc := range []struct {
		desc  string
		frame func(t *testing.T) []byte
		out   bool
		want  Drop
	}{
		{"empty", func(t *testing.T) []byte { return nil }, false, DropTruncated},
		{"ethernet only", func(t *testing.T) []byte { return corrupt(t, func(b []byte) []byte { return b[:14] }) }, false, DropTruncated},
		{"arp", func(t *testing.T) []byte {
			return corrupt(t, func(b []byte) []byte { b[12], b[13] = 0x08, 0x06; return b })
		}, false, DropNotIPv4},
		{"cut in IP header", func(t *testing.T) []byte { return corrupt(t, func(b []byte) []byte { return b[:ipo+12] }) }, false, DropTruncated},
		{"IHL 4", func(t *testing.T) []byte {
			return corrupt(t, func(b []byte) []byte { b[ipo] = 0x44; return fixIPChecksum(b) })
		}, false, DropBadIPHeader},
		{"version 6", func(t *testing.T) []byte {
			return corrupt(t, func(b []byte) []byte { b[ipo] = 0x65; return b })
		}, false, DropBadIPHeader},
		{"total length below header", func(t *testing.T) []byte {
			return corrupt(t, func(b []byte) []byte { binary.BigEndian.PutUint16(b[ipo+2:], 19); return fixIPChecksum(b) })
		}, false, DropBadIPHeader},
		{"total length beyond frame", func(t *testing.T) []byte {
			return corrupt(t, func(b []byte) []byte { binary.BigEndian.PutUint16(b[ipo+2:], 1400); return fixIPChecksum(b) })
		}, false, DropTruncated},
		{"IP options", func(t *testing.T) []byte {
			return corrupt(t, func(b []byte) []byte { b[ipo] = 0x46; return fixIPChecksum(b) })
		}, false, DropIPOptions},
		{"bad IP checksum", func(t *testing.T) []byte {
			return corrupt(t, func(b []byte) []byte { b[ipo+10] ^= 0xff; return b })
		}, false, DropBadIPChecksum},
		{"first fragment", func(t *testing.T) []byte {
			return corrupt(t, func(b []byte) []byte { b[ipo+6] |= 0x20; return fixIPChecksum(b) })
		}, false, DropFragment},
		{"later fragment", func(t *testing.T) []byte {
			return corrupt(t, func(b []byte) []byte { b[ipo+7] = 0x10; return fixIPChecksum(b) })
		}, false, DropFragment},
		{"bad TCP checksum", func(t *testing.T) []byte {
			return corrupt(t, func(b []byte) []byte { b[ipo+40] ^= 0x55; return b })
		}, false, DropBadL4Checksum},
		{"TCP data offset beyond segment", func(t *testing.T) []byte {
			return corrupt(t, func(b []byte) []byte { b[ipo+20+12] = 0xf0; return b })
		}, false, DropBadL4Header},
		{"TCP cut short", func(t *testing.T) []byte {
			return corrupt(t, func(b []byte) []byte {
				b = b[:ipo+20+10]
				binary.BigEndian.PutUint16(b[ipo+2:], 30)
				return fixIPChecksum(b)
			})
		}, false, DropTruncated},
		{"ICMP", func(t *testing.T) []byte {
			return corrupt(t, func(b []byte) []byte { b[ipo+9] = 1; return fixIPChecksum(b) })
		}, false, DropProtocol},
		{"TTL 1", func(t *testing.T) []byte {
			return pkt{src: client, dst: vip, sport: 1, dport: 80, syn: true, ttl: 1}.build(t)
		}, false, DropTTLExceeded},
		{"ACK without connection", func(t *testing.T) []byte {
			return pkt{src: client, dst: vip, sport: 1, dport: 80, ack: true}.build(t)
		}, false, DropNoConnection},
		{"SYN+ACK from client", func(t *testing.T) []byte {
			return pkt{src: client, dst: vip, sport: 1, dport: 80, syn: true, ack: true}.build(t)
		}, false, DropNoConnection},
		{"no such service", func(t *testing.T) []byte {
			return pkt{src: client, dst: vip, sport: 1, dport: 81, syn: true}.build(t)
		}, false, DropNoService},
		{"reply without connection", func(t *testing.T) []byte {
			return pkt{src: rs[0], dst: client, sport: 8080, dport: 1, udp: true}.build(t)
		}, true, DropNoConnection},
		{"UDP length beyond datagram", func(t *testing.T) []byte {
			b := pkt{src: client, dst: vip, sport: 1, dport: 80, udp: true, payload: []byte("abc")}.build(t)
			binary.BigEndian.PutUint16(b[ipo+20+4:], 200)
			return b
		}, false, DropBadL4Header},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			e := newEngine(t, 1)
			f := tc.frame(t)
			var r Result
			if tc.out {
				r = e.Outbound(f, 0)
			} else {
				r = e.Inbound(f, 0)
			}
			if r.Drop != tc.want {
				t.Fatalf("got %v, want %v", r.Drop, tc.want)
			}
		})
	}
}

func TestNoRealServer(t *testing.T) {
	e := newEngine(t, 0, 0)
	f := pkt{src: client, dst: vip, sport: 1, dport: 80, syn: true}.build(t)
	if r := e.Inbound(f, 0); r.Drop != DropNoRealServer {
		t.Fatalf("got %v, want no_real_server", r.Drop)
	}
}

func TestTableFull(t *testing.T) {
	e := NewEngine(NewTable(numShards, DefaultTimeouts)) // one entry per shard
	s, _ := scheduler.New("rr", []scheduler.Server{{Weight: 1}})
	e.SetServices([]*Service{{VIP: vip, Port: 80, Proto: header.ProtocolUDP, Reals: []Real{{Addr: rs[0], Port: 80, Weight: 1}}, Sched: s}})
	full := 0
	for port := uint16(1); port < 2000; port++ {
		f := pkt{src: client, dst: vip, sport: port, dport: 80, udp: true}.build(t)
		if e.Inbound(f, 0).Drop == DropTableFull {
			full++
		}
	}
	if n := e.Table().Len(); n > numShards {
		t.Fatalf("table holds %d entries, limit %d", n, numShards)
	}
	if full == 0 {
		t.Fatal("no frame was refused for a full table")
	}
}

func TestTCPStatesAndExpiry(t *testing.T) {
	e := newEngine(t, 1)
	step := func(in bool, syn, ack, fin, rst bool) State {
		t.Helper()
		var f []byte
		var r Result
		if in {
			f = pkt{src: client, dst: vip, sport: 5000, dport: 80, syn: syn, ack: ack, fin: fin, rst: rst}.build(t)
			r = e.Inbound(f, 0)
		} else {
			f = pkt{src: rs[0], dst: client, sport: 8080, dport: 5000, syn: syn, ack: ack, fin: fin, rst: rst}.build(t)
			r = e.Outbound(f, 0)
		}
		if r.Drop != DropNone {
			t.Fatalf("dropped: %v", r.Drop)
		}
		var st State
		e.Table().Walk(func(c Conn) { st = c.State })
		return st
	}
	for i, s := range []struct {
		in                 bool
		syn, ack, fin, rst bool
		want               State
	}{
		{in: true, syn: true, want: StateSynRecv},
		{in: false, syn: true, ack: true, want: StateSynRecv},
		{in: true, ack: true, want: StateEstablished},
		{in: true, fin: true, ack: true, want: StateCloseWait},
		{in: false, fin: true, ack: true, want: StateTimeWait},
	} {
		if got := step(s.in, s.syn, s.ack, s.fin, s.rst); got != s.want {
			t.Fatalf("step %d: state %v, want %v", i, got, s.want)
		}
	}
	if n := e.Table().Expire(int64(DefaultTimeouts[StateTimeWait]) - 1); n != 0 {
		t.Fatalf("expired %d entries before their time", n)
	}
	if n := e.Table().Expire(int64(DefaultTimeouts[StateTimeWait])); n != 1 {
		t.Fatalf("expired %d entries, want 1", n)
	}
	if e.Table().Len() != 0 {
		t.Fatal("table not empty after expiry")
	}
}

func TestSynReusesClosedTuple(t *testing.T) {
	e := newEngine(t, 1, 1)
	syn := func() [4]byte {
		f := pkt{src: client, dst: vip, sport: 7000, dport: 80, syn: true}.build(t)
		r := e.Inbound(f, 0)
		if r.Drop != DropNone {
			t.Fatal(r.Drop)
		}
		return r.NextHop
	}
	first := syn()
	if again := syn(); again != first {
		t.Fatal("a retransmitted SYN was scheduled anew")
	}
	// The real server refuses: RST in SYN_RECV closes the connection.
	rst := pkt{src: first, dst: client, sport: 8080, dport: 7000, rst: true, ack: true}.build(t)
	if r := e.Outbound(rst, 0); r.Drop != DropNone {
		t.Fatal(r.Drop)
	}
	if next := syn(); next == first {
		t.Fatal("a SYN on a closed tuple was not scheduled anew")
	}
}

// TestConcurrentBothDirections drives one table from many goroutines, with
// the two directions of each flow on different goroutines, under -race.
func TestConcurrentBothDirections(t *testing.T) {
	e := newEngine(t, 3, 2, 1)
	const flows = 2000
	ins := make([][]byte, flows)
	for i := range ins {
		ins[i] = pkt{src: client, dst: vip, sport: uint16(10000 + i), dport: 80, udp: true}.build(t)
	}
	var wg sync.WaitGroup
	next := make([][4]byte, flows)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < flows; i += 4 {
				f := append([]byte(nil), ins[i]...)
				r := e.Inbound(f, 0)
				if r.Drop != DropNone {
					t.Errorf("inbound %d: %v", i, r.Drop)
					return
				}
				next[i] = r.NextHop
			}
		}()
	}
	wg.Wait()
	counts := map[[4]byte]int{}
	for _, n := range next {
		counts[n]++
	}
	// 2000 is not a whole number of 6-long cycles: 333 cycles and 2 more,
	// which wrr gives to the first server.
	if counts[rs[0]] != 333*3+2 || counts[rs[1]] != 333*2 || counts[rs[2]] != 333 {
		t.Fatalf("wrr split %v", counts)
	}
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := (g + 1) % 4; i < flows; i += 4 {
				f := pkt{src: next[i], dst: client, sport: 8080, dport: uint16(10000 + i), udp: true}.build(t)
				if r := e.Outbound(f, 0); r.Drop != DropNone {
					t.Errorf("outbound %d: %v", i, r.Drop)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestInboundOutboundAllocateNothing(t *testing.T) {
	e := newEngine(t, 1)
	in := pkt{src: client, dst: vip, sport: 40000, dport: 80, udp: true, payload: make([]byte, 18)}.build(t)
	out := pkt{src: rs[0], dst: client, sport: 8080, dport: 40000, udp: true, payload: make([]byte, 18)}.build(t)
	e.Inbound(append([]byte(nil), in...), 0)
	a, b := make([]byte, len(in)), make([]byte, len(out))
	allocs := testing.AllocsPerRun(1000, func() {
		copy(a, in)
		copy(b, out)
		if e.Inbound(a, 0).Drop != DropNone || e.Outbound(b, 0).Drop != DropNone {
			panic("dropped")
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per frame pair", allocs)
	}
}

// BenchmarkFrame measures the per-frame path of package nat: validation,
// connection lookup and state update, and the rewrite with incremental
// checksum updates, for 64-byte UDP frames over 10 000 established flows.
func BenchmarkFrame(b *testing.B) {
	for _, dir := range []string{"inbound", "outbound"} {
		b.Run(dir, func(b *testing.B) {
			e := newEngine(b, 3, 2, 1)
			const flows = 10000
			frames := make([][]byte, flows)
			for i := range frames {
				in := pkt{src: client, dst: vip, sport: uint16(10000 + i), dport: 80, udp: true, payload: make([]byte, 18)}.build(b)
				r := e.Inbound(append([]byte(nil), in...), 0)
				if dir == "inbound" {
					frames[i] = in
				} else {
					frames[i] = pkt{src: r.NextHop, dst: client, sport: 8080, dport: uint16(10000 + i), udp: true, payload: make([]byte, 18)}.build(b)
				}
			}
			buf := make([]byte, len(frames[0]))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				copy(buf, frames[i%flows])
				var r Result
				if dir == "inbound" {
					r = e.Inbound(buf, 0)
				} else {
					r = e.Outbound(buf, 0)
				}
				if r.Drop != DropNone {
					b.Fatal(r.Drop)
				}
			}
		})
	}
}

// BenchmarkNewFlow measures scheduling and inserting a new UDP flow.
func BenchmarkNewFlow(b *testing.B) {
	e := newEngine(b, 3, 2, 1)
	f := pkt{src: client, dst: vip, sport: 1, dport: 80, udp: true, payload: make([]byte, 18)}.build(b)
	buf := make([]byte, len(f))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		copy(buf, f)
		// A new client address and port per frame: a new flow each time.
		binary.BigEndian.PutUint16(buf[header.EthernetSize+20:], uint16(i))
		buf[header.EthernetSize+14] = byte(i >> 16)
		fixIPChecksum(buf)
		u := header.UDP(buf[header.EthernetSize+20:])
		u.SetChecksum(0)
		if r := e.Inbound(buf, 0); r.Drop != DropNone && r.Drop != DropTableFull {
			b.Fatal(r.Drop)
		}
		if i%50000 == 0 {
			e.Table().Expire(1 << 62)
		}
	}
}

// FuzzEngine feeds random frames to both directions: it must never panic,
// and every frame it forwards must carry valid checksums.
func FuzzEngine(f *testing.F) {
	t := &testing.T{}
	f.Add(pkt{src: client, dst: vip, sport: 40000, dport: 80, syn: true, payload: []byte("GET /")}.build(t), false)
	f.Add(pkt{src: client, dst: vip, sport: 40000, dport: 80, udp: true, payload: []byte("q")}.build(t), false)
	f.Add(pkt{src: rs[0], dst: client, sport: 8080, dport: 40000, udp: true, payload: []byte("a")}.build(t), true)
	f.Add(pkt{src: rs[0], dst: client, sport: 8080, dport: 40000, syn: true, ack: true}.build(t), true)
	syn := pkt{src: client, dst: vip, sport: 40000, dport: 80, syn: true}.build(t)
	f.Add(icmpError(t, rs[0], client, 3, 4, syn, 0), true)
	f.Add(icmpError(t, [4]byte{198, 18, 0, 254}, vip, 11, 0, syn, 0), false)
	f.Fuzz(func(t *testing.T, frame []byte, outbound bool) {
		e := newEngineSize(t, 4*numShards, 1)
		// Make replies findable: a flow from the frame's destination.
		if outbound && len(frame) >= 38 {
			var c [4]byte
			copy(c[:], frame[30:34])
			cport := binary.BigEndian.Uint16(frame[36:38])
			seed := pkt{src: c, dst: vip, sport: cport, dport: 80, udp: frame[23] == 17, syn: true}.build(t)
			e.Inbound(seed, 0)
		}
		var r Result
		if outbound {
			r = e.Outbound(frame, 0)
		} else {
			r = e.Inbound(frame, 0)
		}
		if r.Drop == DropNone {
			ip := header.IPv4(frame[header.EthernetSize:])
			if !ip.IsChecksumValid() {
				t.Fatal("forwarded frame with a bad IPv4 checksum")
			}
			l4 := []byte(ip[ip.HeaderLength():ip.TotalLength()])
			if ip.Protocol() == header.ProtocolUDP {
				l4 = l4[:header.UDP(l4).Length()]
			}
			if !header.TransportChecksumValid(ip.Protocol(), ip, l4) {
				t.Fatal("forwarded frame with a bad transport checksum")
			}
		}
	})
}

func TestRandomRoundTrips(t *testing.T) {
	seed := uint64(20261126)
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	e := newEngine(t, 5, 1, 1)
	for i := 0; i < 2000; i++ {
		p := pkt{src: [4]byte{198, 18, byte(rng.IntN(256)), byte(rng.IntN(256))}, dst: vip,
			sport: uint16(1 + rng.IntN(65535)), dport: 80, udp: rng.IntN(2) == 0, syn: true,
			payload: make([]byte, rng.IntN(200))}
		p.ack = false
		in := p.build(t)
		r := e.Inbound(in, 0)
		if r.Drop != DropNone {
			t.Fatalf("frame %d: %v", i, r.Drop)
		}
		checkValid(t, in)
		back := pkt{src: r.NextHop, dst: p.src, sport: 8080, dport: p.sport, udp: p.udp, syn: true, ack: true, payload: p.payload}.build(t)
		r = e.Outbound(back, 0)
		if r.Drop != DropNone {
			t.Fatalf("reply %d: %v", i, r.Drop)
		}
		pk := checkValid(t, back)
		if src := pk.NetworkLayer().NetworkFlow().Src().String(); src != fmt.Sprint(net.IP(vip[:])) {
			t.Fatalf("reply %d from %s, want the VIP", i, src)
		}
	}
}

// TestConnectionCounts checks the active/inactive counts the schedulers
// read, with IPVS's meaning: a TCP connection is active while ESTABLISHED,
// everything else (UDP included) is inactive.
func TestConnectionCounts(t *testing.T) {
	e := newEngine(t, 1)
	svc := e.Services().Lookup(vip, 80, header.ProtocolTCP)
	cnt := svc.Reals[0].Counts
	check := func(step string, active, inactive int64) {
		t.Helper()
		if a, i := cnt.Active.Load(), cnt.Inactive.Load(); a != active || i != inactive {
			t.Fatalf("%s: active %d inactive %d, want %d %d", step, a, i, active, inactive)
		}
	}
	in := func(syn, ack, fin bool) {
		f := pkt{src: client, dst: vip, sport: 6000, dport: 80, syn: syn, ack: ack, fin: fin}.build(t)
		if r := e.Inbound(f, 0); r.Drop != DropNone {
			t.Fatal(r.Drop)
		}
	}
	in(true, false, false)
	check("SYN", 0, 1)
	in(false, true, false)
	check("ACK", 1, 0)
	in(false, true, true)
	check("FIN", 0, 1)
	e.Table().Expire(1 << 62)
	check("expired", 0, 0)
	udp := e.Services().Lookup(vip, 80, header.ProtocolUDP).Reals[0].Counts
	f := pkt{src: client, dst: vip, sport: 6001, dport: 80, udp: true}.build(t)
	e.Inbound(f, 0)
	if udp.Inactive.Load() != 1 || udp.Active.Load() != 0 {
		t.Fatalf("UDP counts %d %d", udp.Active.Load(), udp.Inactive.Load())
	}
}

// TestSynFloodEvictsEmbryonicOnly fills a small table with established
// connections and a flood of SYNs: new SYNs replace embryonic entries,
// established connections are never evicted and keep working, and once
// only established entries are left new flows are refused as table_full.
func TestSynFloodEvictsEmbryonicOnly(t *testing.T) {
	e := NewEngine(NewTable(numShards*2, DefaultTimeouts))
	s, _ := scheduler.New("rr", []scheduler.Server{{Weight: 1}})
	e.SetServices([]*Service{{VIP: vip, Port: 80, Proto: header.ProtocolTCP, Reals: []Real{{Addr: rs[0], Port: 80, Weight: 1}}, Sched: s}})
	// Established connections: SYN then ACK from port 1000+i.
	var est []uint16
	for p := uint16(1000); p < 1300; p++ {
		if e.Inbound(pkt{src: client, dst: vip, sport: p, dport: 80, syn: true}.build(t), 0).Drop != DropNone {
			continue
		}
		if e.Inbound(pkt{src: client, dst: vip, sport: p, dport: 80, ack: true}.build(t), 0).Drop != DropNone {
			t.Fatalf("ACK of port %d dropped", p)
		}
		est = append(est, p)
	}
	// The flood: SYNs from many spoofed sources.
	full := 0
	for i := 0; i < 20000; i++ {
		src := [4]byte{198, 19, byte(i >> 8), byte(i)}
		if e.Inbound(pkt{src: src, dst: vip, sport: uint16(i), dport: 80, syn: true}.build(t), 0).Drop == DropTableFull {
			full++
		}
	}
	if e.Table().Evicted() == 0 {
		t.Fatal("no embryonic entry was evicted under the flood")
	}
	for _, p := range est {
		if r := e.Inbound(pkt{src: client, dst: vip, sport: p, dport: 80, ack: true, payload: []byte("x")}.build(t), 0); r.Drop != DropNone {
			t.Fatalf("established connection from port %d lost under the flood: %v", p, r.Drop)
		}
	}
	if n := e.Table().Len(); n > numShards*2 {
		t.Fatalf("table holds %d entries, bound %d", n, numShards*2)
	}
	t.Logf("%d established kept, %d embryonic evicted, %d SYNs refused as table_full", len(est), e.Table().Evicted(), full)
}

// TestResultNamesTheRealServer: Result.Dest names the counts of the real
// server a frame went to or came from (Table.Dests), so workers can count
// traffic per server; Conns counts the connections made to each.
func TestResultNamesTheRealServer(t *testing.T) {
	e := newEngine(t, 1, 1)
	svc := e.Services().Lookup(vip, 80, header.ProtocolUDP)
	for i := 0; i < 4; i++ {
		sport := uint16(7000 + i)
		r := e.Inbound(pkt{src: client, dst: vip, sport: sport, dport: 80, udp: true}.build(t), 0)
		if r.Drop != DropNone || r.Dest == 0 {
			t.Fatalf("inbound %d: %+v", i, r)
		}
		got := e.Table().Dests()[r.Dest-1]
		want := svc.Reals[0].Counts
		if r.NextHop == rs[1] {
			want = svc.Reals[1].Counts
		}
		if got != want {
			t.Fatalf("inbound %d to %v: Dest %d names other counts", i, r.NextHop, r.Dest)
		}
		back := e.Outbound(pkt{src: r.NextHop, dst: client, sport: 8080, dport: sport, udp: true}.build(t), 0)
		if back.Dest != r.Dest {
			t.Fatalf("outbound %d: Dest %d, inbound had %d", i, back.Dest, r.Dest)
		}
		again := e.Inbound(pkt{src: client, dst: vip, sport: sport, dport: 80, udp: true}.build(t), 0)
		if again.Dest != r.Dest {
			t.Fatalf("second datagram %d: Dest %d, first had %d", i, again.Dest, r.Dest)
		}
	}
	if a, b := svc.Reals[0].Counts.Conns.Load(), svc.Reals[1].Counts.Conns.Load(); a != 2 || b != 2 {
		t.Errorf("Conns %d and %d, want 2 and 2 (wrr 1:1 over 4 flows)", a, b)
	}
	if r := e.Inbound(pkt{src: client, dst: vip, sport: 9, dport: 81, udp: true}.build(t), 0); r.Dest != 0 {
		t.Errorf("a dropped frame has Dest %d, want 0", r.Dest)
	}
}

// BenchmarkSetServicesNewPool installs a service of 10 000 real servers
// never seen before: the cost of registering their counts.
func BenchmarkSetServicesNewPool(b *testing.B) {
	const n = 10000
	srv := make([]scheduler.Server, n)
	for i := range srv {
		srv[i] = scheduler.Server{Weight: 1}
	}
	s, err := scheduler.New("rr", srv)
	if err != nil {
		b.Fatal(err)
	}
	e := NewEngine(NewTable(1<<16, DefaultTimeouts))
	for i := 0; i < b.N; i++ {
		svc := &Service{VIP: vip, Port: 80, Proto: header.ProtocolUDP, Sched: s, Reals: make([]Real, n)}
		for j := range svc.Reals {
			svc.Reals[j] = Real{Addr: [4]byte{198, 18, byte(1 + j>>8), byte(j)}, Port: 80, Weight: 1, Counts: new(scheduler.Counts)}
		}
		e.SetServices([]*Service{svc})
	}
}
