package nat

import (
	"strings"
	"testing"
)

// ipvsTable is IPVS's tcp_states[] for the INPUT and OUTPUT directions as
// net/netfilter/ipvs/ip_vs_proto_tcp.c prints it, rows syn, fin, ack, rst,
// columns the current state in the order below. It is transcribed here as
// text, apart from the table in state.go, so that a slip in either shows.
// It is the table since Linux 3.10 ("ipvs: add sloppy TCP and SCTP"),
// where INPUT ack from sNO gives sES.
const ipvsTable = `
INPUT
syn sSR sES sES sSR sSR sSR sSR sSR sSR sSR sSR
fin sCL sCW sSS sTW sTW sTW sCL sCW sLA sLI sTW
ack sES sES sSS sES sFW sTW sCL sCW sCL sLI sES
rst sCL sCL sCL sSR sCL sCL sCL sCL sLA sLI sSR
OUTPUT
syn sSS sES sSS sSR sSS sSS sSS sSS sSS sLI sSR
fin sTW sFW sSS sTW sFW sTW sCL sTW sLA sLI sTW
ack sES sES sSS sES sFW sTW sCL sCW sLA sES sES
rst sCL sCL sSS sCL sCL sTW sCL sCL sCL sCL sCL
`

var stateByShort = map[string]State{
	"sNO": StateNone, "sES": StateEstablished, "sSS": StateSynSent, "sSR": StateSynRecv,
	"sFW": StateFinWait, "sTW": StateTimeWait, "sCL": StateClose, "sCW": StateCloseWait,
	"sLA": StateLastAck, "sLI": StateListen, "sSA": StateSynAck,
}

var columns = []State{StateNone, StateEstablished, StateSynSent, StateSynRecv, StateFinWait,
	StateTimeWait, StateClose, StateCloseWait, StateLastAck, StateListen, StateSynAck}

// TestTCPStateTable checks every transition IPVS lists, for every
// combination of SYN, FIN, ACK and RST (IPVS takes RST first, then SYN,
// FIN, ACK; a segment with none of them changes nothing).
func TestTCPStateTable(t *testing.T) {
	const (
		fin = 0x01
		syn = 0x02
		rst = 0x04
		ack = 0x10
	)
	rows := map[string][4][]State{}
	dir := ""
	for _, line := range strings.Split(strings.TrimSpace(ipvsTable), "\n") {
		f := strings.Fields(line)
		if len(f) == 1 {
			dir = f[0]
			continue
		}
		r := rows[dir]
		var next []State
		for _, s := range f[1:] {
			next = append(next, stateByShort[s])
		}
		r[map[string]int{"syn": 0, "fin": 1, "ack": 2, "rst": 3}[f[0]]] = next
		rows[dir] = r
	}
	checked := 0
	for d, name := range map[int]string{dirInput: "INPUT", dirOutput: "OUTPUT"} {
		for flags := uint8(0); flags < 0x20; flags++ {
			if flags&0x08 != 0 { // PSH does not matter
				continue
			}
			row := -1
			switch {
			case flags&rst != 0:
				row = 3
			case flags&syn != 0:
				row = 0
			case flags&fin != 0:
				row = 1
			case flags&ack != 0:
				row = 2
			}
			for i, cur := range columns {
				want := cur
				if row >= 0 {
					want = rows[name][row][i]
				}
				if got := nextTCPState(cur, d, flags); got != want {
					t.Errorf("%s flags %#02x in %v: got %v, want %v", name, flags, cur, got, want)
				}
				checked++
			}
		}
	}
	t.Logf("%d transitions checked", checked)
}
