package nat

import "testing"

// TestSloppyTCP checks sloppy TCP: off, a segment other than a SYN of an
// unknown connection is dropped; on, an ACK or a FIN starts a connection
// in the state IPVS's table gives it (ESTABLISHED, CLOSE) and its reply is
// forwarded, while a RST never starts one.
func TestSloppyTCP(t *testing.T) {
	cases := []struct {
		name      string
		seg       pkt
		sloppy    bool
		wantDrop  Drop
		wantState State
	}{
		{"ACK, off", pkt{ack: true}, false, DropNoConnection, 0},
		{"ACK, on", pkt{ack: true}, true, DropNone, StateEstablished},
		{"ACK+PSH data, on", pkt{ack: true, payload: []byte("mid-flow")}, true, DropNone, StateEstablished},
		{"FIN+ACK, on", pkt{fin: true, ack: true}, true, DropNone, StateClose},
		{"RST, on", pkt{rst: true}, true, DropNoConnection, 0},
		{"RST+ACK, on", pkt{rst: true, ack: true}, true, DropNoConnection, 0},
		{"SYN, off", pkt{syn: true}, false, DropNone, StateSynRecv},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEngine(t, 1)
			e.SetSloppyTCP(c.sloppy)
			if e.SloppyTCP() != c.sloppy {
				t.Fatalf("SloppyTCP() = %v after SetSloppyTCP(%v)", e.SloppyTCP(), c.sloppy)
			}
			seg := c.seg
			seg.src, seg.dst, seg.sport, seg.dport = client, vip, 40000, 80
			r := e.Inbound(seg.build(t), 0)
			if r.Drop != c.wantDrop {
				t.Fatalf("Inbound: drop %v, want %v", r.Drop, c.wantDrop)
			}
			var conns []Conn
			e.Table().Walk(func(c Conn) { conns = append(conns, c) })
			if c.wantDrop != DropNone {
				if len(conns) != 0 {
					t.Fatalf("dropped segment left %d entries", len(conns))
				}
				return
			}
			if len(conns) != 1 || conns[0].State != c.wantState || conns[0].Real != rs[0] {
				t.Fatalf("table %+v, want one entry to %v in %v", conns, rs[0], c.wantState)
			}
			reply := pkt{src: rs[0], dst: client, sport: 8080, dport: 40000, ack: true}.build(t)
			if r := e.Outbound(reply, 0); r.Drop != DropNone {
				t.Fatalf("reply: drop %v", r.Drop)
			}
		})
	}
}
