package nat

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// modelFlow is what the reference model knows of one flow.
type modelFlow struct {
	real    [4]byte
	udp     bool
	closed  bool  // TCP reset by the server: CLOSE
	expires int64 // 0: no entry
}

// timeout is the flow's idle timeout in its state.
func (m *modelFlow) timeout() int64 {
	switch {
	case m.udp:
		return int64(DefaultTimeouts[StateUDP])
	case m.closed:
		return int64(DefaultTimeouts[StateClose])
	}
	return int64(DefaultTimeouts[StateEstablished])
}

// TestTableAgainstModel runs concurrent workers over disjoint sets of
// flows that share the table's shards: new flows, frames of both
// directions, resets and expiry, each result checked against a simple
// per-flow model. Rounds alternate a concurrent phase with an expiry
// sweep at a later time, after which the table must hold exactly the flows
// the model says are alive.
func TestTableAgainstModel(t *testing.T) {
	t.Logf("seed %d (replay with -seed)", *seedFlag)
	e := newEngine(t, 3, 2, 1)
	const workers, flowsPer, rounds, opsPer = 4, 300, 12, 2000
	udpT, estT := int64(DefaultTimeouts[StateUDP]), int64(DefaultTimeouts[StateEstablished])
	models := make([][]modelFlow, workers)
	for w := range models {
		models[w] = make([]modelFlow, flowsPer)
	}
	src := func(w, i int) ([4]byte, uint16) {
		return [4]byte{198, 18, byte(10 + w), byte(i)}, uint16(20000 + i)
	}
	now := int64(0)
	for round := 0; round < rounds; round++ {
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(*seedFlag, uint64(round*workers+w)))
				for op := 0; op < opsPer; op++ {
					i := rng.IntN(flowsPer)
					m := &models[w][i]
					cl, cport := src(w, i)
					udp := i%2 == 0
					switch k := rng.IntN(4); {
					case k == 0 && m.expires == 0: // a new flow
						r := e.Inbound(pkt{src: cl, dst: vip, sport: cport, dport: 80, udp: udp, syn: !udp}.build(t), now)
						if r.Drop != DropNone {
							t.Errorf("new flow %d/%d: %v", w, i, r.Drop)
							return
						}
						*m = modelFlow{real: r.NextHop, udp: udp, expires: now + udpT}
						if !udp {
							m.closed = false
							// Complete the handshake so it is established.
							e.Outbound(pkt{src: r.NextHop, dst: cl, sport: 8080, dport: cport, syn: true, ack: true}.build(t), now)
							e.Inbound(pkt{src: cl, dst: vip, sport: cport, dport: 80, ack: true}.build(t), now)
							m.expires = now + estT
						}
					case k == 1: // client frame on whatever is there
						r := e.Inbound(pkt{src: cl, dst: vip, sport: cport, dport: 80, udp: udp, ack: !udp}.build(t), now)
						switch {
						case m.expires != 0 && (r.Drop != DropNone || r.NextHop != m.real):
							t.Errorf("flow %d/%d: got %v %v, want %v", w, i, r.Drop, r.NextHop, m.real)
							return
						case m.expires != 0:
							m.expires = now + m.timeout()
						case m.expires == 0 && udp && r.Drop != DropNone:
							t.Errorf("flow %d/%d: a UDP datagram starts a flow, got %v", w, i, r.Drop)
							return
						case m.expires == 0 && udp:
							*m = modelFlow{real: r.NextHop, udp: true, expires: now + udpT}
						case m.expires == 0 && r.Drop != DropNoConnection:
							t.Errorf("flow %d/%d: ACK without a connection gave %v", w, i, r.Drop)
							return
						}
					case k == 2: // reply
						r := e.Outbound(pkt{src: m.real, dst: cl, sport: 8080, dport: cport, udp: udp, ack: !udp}.build(t), now)
						if m.expires != 0 && (r.Drop != DropNone || r.NextHop != cl) {
							t.Errorf("reply of %d/%d: %v", w, i, r.Drop)
							return
						}
						if m.expires != 0 {
							m.expires = now + m.timeout()
						}
						if m.expires == 0 && m.real != ([4]byte{}) && r.Drop != DropNoConnection {
							t.Errorf("reply of a gone flow %d/%d: %v", w, i, r.Drop)
							return
						}
					case k == 3 && m.expires != 0 && !m.udp: // the server resets it
						r := e.Outbound(pkt{src: m.real, dst: cl, sport: 8080, dport: cport, rst: true, ack: true}.build(t), now)
						if r.Drop != DropNone {
							t.Errorf("RST of %d/%d: %v", w, i, r.Drop)
							return
						}
						m.closed = true
						m.expires = now + m.timeout()
					}
				}
			}()
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		// Sweep at a time that ends some flows and not others: CLOSE
		// (10 s) always, UDP (300 s) and established (900 s) flows
		// depending on when each was last refreshed.
		now += int64(11*time.Second) + rand.New(rand.NewPCG(*seedFlag, uint64(round))).Int64N(int64(700*time.Second))
		e.Table().Expire(now)
		alive := 0
		for w := range models {
			for i := range models[w] {
				if m := &models[w][i]; m.expires != 0 && m.expires <= now {
					m.expires = 0
				} else if m.expires != 0 {
					alive++
				}
			}
		}
		if n := e.Table().Len(); n != alive {
			t.Fatalf("round %d: table holds %d entries, model %d", round, n, alive)
		}
	}
}
