package nat

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/xvs-project/xvs/internal/header"
	"github.com/xvs-project/xvs/scheduler"
)

// downLab serves TCP and UDP :80 on rs[0] and rs[1], and installs new
// snapshots the way the control plane does when health checks change a
// pool: same Counts per server, new weights and schedulers.
type downLab struct {
	t      testing.TB
	e      *Engine
	keep   bool
	counts map[uint8][]*scheduler.Counts
}

func newDownLab(t testing.TB, keep bool, weights ...int) *downLab {
	t.Helper()
	l := &downLab{t: t, e: NewEngine(NewTable(1<<16, DefaultTimeouts)), keep: keep, counts: map[uint8][]*scheduler.Counts{}}
	for _, proto := range []uint8{header.ProtocolTCP, header.ProtocolUDP} {
		l.counts[proto] = []*scheduler.Counts{new(scheduler.Counts), new(scheduler.Counts)}
	}
	l.set(weights...)
	return l
}

// set installs a snapshot with a weight per server; a negative weight
// leaves the server out (a failed server without inhibit_on_failure).
func (l *downLab) set(weights ...int) {
	l.t.Helper()
	var list []*Service
	for _, proto := range []uint8{header.ProtocolTCP, header.ProtocolUDP} {
		svc := &Service{VIP: vip, Port: 80, Proto: proto, KeepDeadDest: l.keep}
		var srv []scheduler.Server
		for i, w := range weights {
			if w < 0 {
				continue
			}
			c := l.counts[proto][i]
			svc.Reals = append(svc.Reals, Real{Addr: rs[i], Port: 8080, Weight: w, Counts: c})
			srv = append(srv, scheduler.Server{Weight: w, Counts: c})
		}
		s, err := scheduler.New("wrr", srv)
		if err != nil {
			l.t.Fatal(err)
		}
		svc.Sched = s
		list = append(list, svc)
	}
	l.e.SetServices(list)
}

// down sets the health flag of server i for both protocols.
func (l *downLab) down(i int, down bool) {
	for _, c := range l.counts {
		c[i].SetDown(down)
	}
}

// inactive returns the inactive counts of the UDP service's servers.
func (l *downLab) inactive(proto uint8) [2]int64 {
	c := l.counts[proto]
	return [2]int64{c[0].Inactive.Load(), c[1].Inactive.Load()}
}

// TestUDPFlowLeavesDownServer is the golden case of rescheduling: a UDP
// flow on rs1 whose server health checks took out (pool without it, then
// the down flag) goes on to rs2 at its next datagram, rewritten exactly as
// a new flow to rs2 would be; the counts move with it, replies of rs2 are
// translated and the entry to rs1 is gone.
func TestUDPFlowLeavesDownServer(t *testing.T) {
	l := newDownLab(t, false, 1, 0)
	send := func(want [4]byte) {
		t.Helper()
		in := pkt{src: client, dst: vip, sport: 40000, dport: 80, udp: true, payload: []byte("query")}.build(t)
		r := l.e.Inbound(in, 0)
		if r.Drop != DropNone || r.NextHop != want {
			t.Fatalf("inbound: %v to %v, want %v", r.Drop, r.NextHop, want)
		}
		golden := pkt{src: client, dst: want, sport: 40000, dport: 8080, udp: true, ttl: 63, payload: []byte("query")}.build(t)
		checkValid(t, in)
		if string(in) != string(golden) {
			t.Fatalf("DNAT frame differs from golden:\n got %x\nwant %x", in, golden)
		}
	}
	send(rs[0])
	if got := l.inactive(header.ProtocolUDP); got != [2]int64{1, 0} {
		t.Fatalf("counts before %v", got)
	}

	// The control plane's order: a pool without rs1 first, then the flag.
	l.set(-1, 1)
	send(rs[0]) // the flag is not set yet: the flow keeps its server
	l.down(0, true)
	send(rs[1])
	if got := l.inactive(header.ProtocolUDP); got != [2]int64{0, 1} {
		t.Fatalf("counts after rescheduling %v, want [0 1]", got)
	}
	if n := l.e.Table().Len(); n != 1 {
		t.Fatalf("%d entries, want 1", n)
	}
	send(rs[1]) // settled: no further move
	if got := l.inactive(header.ProtocolUDP); got != [2]int64{0, 1} {
		t.Fatalf("counts after the next datagram %v, want [0 1]", got)
	}

	out := pkt{src: rs[1], dst: client, sport: 8080, dport: 40000, udp: true, payload: []byte("answer")}.build(t)
	if r := l.e.Outbound(out, 0); r.Drop != DropNone || r.NextHop != client {
		t.Fatalf("reply of rs2: %+v", r)
	}
	golden := pkt{src: vip, dst: client, sport: 80, dport: 40000, udp: true, ttl: 63, payload: []byte("answer")}.build(t)
	checkValid(t, out)
	if string(out) != string(golden) {
		t.Fatalf("SNAT frame differs from golden:\n got %x\nwant %x", out, golden)
	}
	late := pkt{src: rs[0], dst: client, sport: 8080, dport: 40000, udp: true, payload: []byte("late")}.build(t)
	if r := l.e.Outbound(late, 0); r.Drop != DropNoConnection {
		t.Fatalf("late reply of rs1: %v, want no_connection", r.Drop)
	}
}

// TestDownServerCases covers what the down flag does and does not move.
func TestDownServerCases(t *testing.T) {
	for _, tc := range []struct {
		desc  string
		tcp   bool
		keep  bool  // udp_reschedule off
		after []int // the pool installed before the flag
		down  int   // the server flagged down
		want  [4]byte
		drop  Drop
	}{
		{desc: "udp, server removed", after: []int{-1, 1}, want: rs[1]},
		{desc: "udp, server inhibited at weight 0", after: []int{0, 1}, want: rs[1]},
		{desc: "udp, udp_reschedule off", keep: true, after: []int{-1, 1}, want: rs[0]},
		{desc: "udp, another server down", after: []int{1, -1}, down: 1, want: rs[0]},
		{desc: "udp, no live server left", after: []int{0, 0}, drop: DropNoRealServer},
		{desc: "tcp runs on until it ends", tcp: true, after: []int{-1, 1}, want: rs[0]},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			l := newDownLab(t, tc.keep, 1, 0)
			proto := uint8(header.ProtocolUDP)
			if tc.tcp {
				proto = header.ProtocolTCP
			}
			first := pkt{src: client, dst: vip, sport: 40000, dport: 80, udp: !tc.tcp, syn: tc.tcp}.build(t)
			if r := l.e.Inbound(first, 0); r.Drop != DropNone || r.NextHop != rs[0] {
				t.Fatalf("first frame: %+v", r)
			}
			l.set(tc.after...)
			l.down(tc.down, true)
			next := pkt{src: client, dst: vip, sport: 40000, dport: 80, udp: !tc.tcp, ack: tc.tcp, payload: []byte("x")}.build(t)
			r := l.e.Inbound(next, 1)
			if r.Drop != tc.drop || (tc.drop == DropNone && r.NextHop != tc.want) {
				t.Fatalf("next frame: %v to %v, want %v to %v", r.Drop, r.NextHop, tc.drop, tc.want)
			}
			if tc.drop == DropNone {
				checkValid(t, next)
			}
			total := l.counts[proto][0].Inactive.Load() + l.counts[proto][0].Active.Load() +
				l.counts[proto][1].Inactive.Load() + l.counts[proto][1].Active.Load()
			if wantTotal := int64(l.e.Table().Len()); total != wantTotal {
				t.Fatalf("%d connections counted, %d in the table", total, wantTotal)
			}
			if tc.drop != DropNone && l.e.Table().Len() != 0 {
				t.Fatalf("%d entries left after the flow found no server", l.e.Table().Len())
			}
		})
	}
}

// TestPersistentClientLeavesDownServer: a quiesced server keeps its
// persistent clients (TestPersistenceQuiescedAndRemovedServers), a server
// health checks took out at weight 0 (inhibit_on_failure) does not, for
// its live UDP flows and for the client's new connections.
func TestPersistentClientLeavesDownServer(t *testing.T) {
	e, svc := persistentEngine(t, time.Minute, 0, 1, 1, 1)
	first := udpTo(t, e, client, 1, 0)
	inhibited := *svc
	inhibited.Reals = append([]Real(nil), svc.Reals...)
	var srv []scheduler.Server
	var dead *scheduler.Counts
	for i := range inhibited.Reals {
		if inhibited.Reals[i].Addr == first {
			inhibited.Reals[i].Weight = 0
			dead = inhibited.Reals[i].Counts
		}
		srv = append(srv, scheduler.Server{Weight: inhibited.Reals[i].Weight})
	}
	inhibited.Sched, _ = scheduler.New("rr", srv)
	e.SetServices([]*Service{&inhibited})
	dead.SetDown(true)
	if got := udpTo(t, e, client, 1, 1); got == first {
		t.Fatal("a live flow stayed on a server that is down")
	}
	if got := udpTo(t, e, client, 2, 1); got == first {
		t.Fatal("a new connection of a persistent client went to a server that is down")
	}
	if dead.Inactive.Load() != 0 {
		t.Fatalf("the down server still counts %d flows", dead.Inactive.Load())
	}
}

// TestDownCheckAllocatesNothing extends TestInboundOutboundAllocateNothing
// to the new branch: an established UDP flow while another server is
// down, a flow kept on its down server (udp_reschedule off), and a flow
// moved from server to server at every datagram.
func TestDownCheckAllocatesNothing(t *testing.T) {
	for _, tc := range []struct {
		desc string
		keep bool
		flip bool // move the flow at every datagram
	}{
		{desc: "another server down"},
		{desc: "kept on its down server", keep: true},
		{desc: "rescheduled at every datagram", flip: true},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			l := newDownLab(t, tc.keep, 1, 1)
			in := pkt{src: client, dst: vip, sport: 40000, dport: 80, udp: true, payload: make([]byte, 18)}.build(t)
			a := make([]byte, len(in))
			copy(a, in)
			on := l.e.Inbound(a, 0).NextHop
			other := 1
			if on == rs[1] {
				other = 0
			}
			switch {
			case tc.keep:
				l.down(1-other, true)
			default:
				l.down(other, true)
			}
			i, moves := 0, 0
			allocs := testing.AllocsPerRun(1000, func() {
				if tc.flip {
					// The pool keeps both servers, so rr may hand the
					// flow back to the server just flagged: the path
					// runs whenever it does.
					l.down(i%2, true)
					l.down(1-i%2, false)
					i++
				}
				copy(a, in)
				r := l.e.Inbound(a, 0)
				if r.Drop != DropNone {
					panic("dropped")
				}
				if r.NextHop != on {
					moves++
					on = r.NextHop
				}
			})
			if allocs != 0 {
				t.Fatalf("%v allocations per frame", allocs)
			}
			if tc.flip != (moves > 0) {
				t.Fatalf("the flow moved %d times", moves)
			}
		})
	}
}

// BenchmarkReschedule measures the datagram that moves a UDP flow off a
// server health checks took out: remove the entry, schedule, insert.
// BenchmarkFrame/inbound measures the check that every other UDP datagram
// pays.
func BenchmarkReschedule(b *testing.B) {
	l := newDownLab(b, false, 1, 0)
	const flows = 10000
	frames := make([][]byte, flows)
	for i := range frames {
		frames[i] = pkt{src: client, dst: vip, sport: uint16(10000 + i), dport: 80, udp: true, payload: make([]byte, 18)}.build(b)
	}
	buf := make([]byte, len(frames[0]))
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		b.StopTimer()
		l.e.Table().Expire(1 << 62)
		l.down(0, false)
		l.set(1, 0)
		for _, f := range frames {
			copy(buf, f)
			l.e.Inbound(buf, 0)
		}
		l.set(-1, 1)
		l.down(0, true)
		b.StartTimer()
		for i := 0; i < flows && done < b.N; i, done = i+1, done+1 {
			copy(buf, frames[i])
			if r := l.e.Inbound(buf, 0); r.Drop != DropNone || r.NextHop != rs[1] {
				b.Fatal(r.Drop, r.NextHop)
			}
		}
	}
}

// TestSetServicesAgainWhileServing hands the snapshot being served to
// SetServices again, as the control plane does when another service's pool
// changes, while a worker schedules new flows over it: under -race this
// shows that a re-installed service is not written.
func TestSetServicesAgainWhileServing(t *testing.T) {
	e := newEngine(t, 1, 1)
	list := []*Service{e.Services().Lookup(vip, 80, header.ProtocolTCP), e.Services().Lookup(vip, 80, header.ProtocolUDP)}
	f := pkt{src: client, dst: vip, sport: 1, dport: 80, udp: true, payload: make([]byte, 18)}.build(t)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, len(f))
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			copy(buf, f)
			binary.BigEndian.PutUint16(buf[header.EthernetSize+20:], uint16(i))
			header.UDP(buf[header.EthernetSize+20:]).SetChecksum(0)
			if r := e.Inbound(buf, 0); r.Drop != DropNone {
				t.Errorf("dropped: %v", r.Drop)
				return
			}
		}
	}()
	for range 200 {
		e.SetServices(list)
	}
	close(stop)
	<-done
}
