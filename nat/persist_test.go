package nat

import (
	"testing"
	"time"

	"github.com/xvs-project/xvs/internal/header"
	"github.com/xvs-project/xvs/scheduler"
)

// persistentEngine serves UDP :80 on three real servers with rr and the
// given persistence.
func persistentEngine(t *testing.T, timeout time.Duration, bits uint8, weights ...int) (*Engine, *Service) {
	t.Helper()
	e := NewEngine(NewTable(1<<12, DefaultTimeouts))
	svc := &Service{VIP: vip, Port: 80, Proto: header.ProtocolUDP, Persistence: timeout, PersistBits: bits}
	var srv []scheduler.Server
	for i, w := range weights {
		svc.Reals = append(svc.Reals, Real{Addr: rs[i], Port: 8080, Weight: w})
		srv = append(srv, scheduler.Server{Weight: w})
	}
	s, err := scheduler.New("rr", srv)
	if err != nil {
		t.Fatal(err)
	}
	svc.Sched = s
	e.SetServices([]*Service{svc})
	return e, e.Services().Lookup(vip, 80, header.ProtocolUDP)
}

func udpTo(t *testing.T, e *Engine, from [4]byte, sport uint16, now int64) [4]byte {
	t.Helper()
	f := pkt{src: from, dst: vip, sport: sport, dport: 80, udp: true}.build(t)
	r := e.Inbound(f, now)
	if r.Drop != DropNone {
		t.Fatalf("dropped: %v", r.Drop)
	}
	return r.NextHop
}

func TestPersistenceKeepsClientOnServer(t *testing.T) {
	const timeout = 360 * time.Second
	e, _ := persistentEngine(t, timeout, 0, 1, 1, 1)
	udpTimeout := int64(DefaultTimeouts[StateUDP])
	first := udpTo(t, e, client, 1000, 0)
	other := [4]byte{198, 18, 0, 3}
	if udpTo(t, e, other, 1000, 0) == first {
		t.Fatal("rr gave a second client the same server: the test cannot tell persistence from chance")
	}
	// New connections (new source ports) of the same client within the
	// timeout stick to its server, however rr would go.
	for p := uint16(1001); p < 1010; p++ {
		if got := udpTo(t, e, client, p, int64(p)); got != first {
			t.Fatalf("connection from port %d went to %v, want %v", p, got, first)
		}
	}
	// The template outlives its connections by the timeout...
	lastConnEnd := int64(1009) + udpTimeout
	e.Table().Expire(lastConnEnd)
	if e.Table().Len() != 0 {
		t.Fatalf("%d connections left after their timeout", e.Table().Len())
	}
	if n := e.Table().Templates(); n != 2 {
		t.Fatalf("%d templates after the connections ended, want 2", n)
	}
	if got := udpTo(t, e, client, 2000, lastConnEnd+int64(timeout)-1); got != first {
		t.Fatalf("within the timeout after the last connection: %v, want %v", got, first)
	}
	// ...and is released once it controls nothing and the timeout passed.
	end := lastConnEnd + int64(timeout) - 1 + udpTimeout + int64(timeout)
	e.Table().Expire(end)
	if n := e.Table().Templates(); n != 0 {
		t.Fatalf("%d templates left after the persistence timeout", n)
	}
}

func TestPersistenceGranularity(t *testing.T) {
	e, _ := persistentEngine(t, time.Minute, 24, 1, 1, 1)
	first := udpTo(t, e, [4]byte{198, 18, 5, 1}, 1, 0)
	for i := byte(2); i < 20; i++ {
		if got := udpTo(t, e, [4]byte{198, 18, 5, i}, 1, 0); got != first {
			t.Fatalf("client 198.18.5.%d in the same /24 went to %v, want %v", i, got, first)
		}
	}
	if udpTo(t, e, [4]byte{198, 18, 6, 1}, 1, 0) == first {
		t.Fatal("a client of another /24 shared the template")
	}
}

func TestPersistenceQuiescedAndRemovedServers(t *testing.T) {
	e, svc := persistentEngine(t, time.Minute, 0, 1, 1, 1)
	first := udpTo(t, e, client, 1, 0)
	// Quiesce the client's server: a new snapshot with weight 0 and the
	// same Counts. The client keeps its server.
	quiesced := *svc
	quiesced.Reals = append([]Real(nil), svc.Reals...)
	var srv []scheduler.Server
	for i := range quiesced.Reals {
		if quiesced.Reals[i].Addr == first {
			quiesced.Reals[i].Weight = 0
		}
		srv = append(srv, scheduler.Server{Weight: quiesced.Reals[i].Weight})
	}
	quiesced.Sched, _ = scheduler.New("rr", srv)
	e.SetServices([]*Service{&quiesced})
	if got := udpTo(t, e, client, 2, 1); got != first {
		t.Fatalf("a quiesced server lost its persistent client to %v", got)
	}
	if udpTo(t, e, [4]byte{198, 18, 0, 9}, 2, 1) == first {
		t.Fatal("a quiesced server got a new client")
	}
	// Remove the server: the client is scheduled afresh.
	removed := quiesced
	removed.Reals = nil
	srv = nil
	for _, r := range quiesced.Reals {
		if r.Addr != first {
			removed.Reals = append(removed.Reals, r)
			srv = append(srv, scheduler.Server{Weight: r.Weight})
		}
	}
	removed.Sched, _ = scheduler.New("rr", srv)
	e.SetServices([]*Service{&removed})
	if got := udpTo(t, e, client, 3, 2); got == first {
		t.Fatal("a client kept a server that left the service")
	}
}

// TestTemplatesPerDest counts templates per real server, as ipvsadm's
// PersistConn column shows them.
func TestTemplatesPerDest(t *testing.T) {
	e, svc := persistentEngine(t, time.Minute, 32, 1, 1)
	for i := 0; i < 6; i++ {
		udpTo(t, e, [4]byte{198, 18, 0, byte(10 + i)}, 5000, 0)
	}
	per := e.Table().TemplatesPerDest()
	total := 0
	for i, r := range svc.Reals {
		n := per[r.dest]
		if n == 0 {
			t.Errorf("real server %d has no template", i)
		}
		total += n
	}
	if total != 6 || e.Table().Templates() != 6 {
		t.Errorf("%d templates over the servers, %d in all; want 6 (one per client)", total, e.Table().Templates())
	}
}
