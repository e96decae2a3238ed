package nat

import "time"

// State is a connection's state, with IPVS's names and meanings.
type State uint8

// TCP states as IPVS keeps them (ip_vs_proto_tcp.c), then UDP's one state.
const (
	StateNone State = iota
	StateEstablished
	StateSynSent
	StateSynRecv
	StateFinWait
	StateTimeWait
	StateClose
	StateCloseWait
	StateLastAck
	StateListen
	StateSynAck
	StateUDP
	numStates
)

var stateNames = [numStates]string{
	"NONE", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT", "TIME_WAIT",
	"CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "SYNACK", "UDP",
}

// String returns the state's name as ipvsadm -Lnc prints it.
func (s State) String() string {
	if s < numStates {
		return stateNames[s]
	}
	return "UNKNOWN"
}

// Timeouts are the idle timeouts per state.
type Timeouts [numStates]time.Duration

// DefaultTimeouts are IPVS's defaults: established 900 s, syn_recv 60 s,
// fin_wait and time_wait 120 s, close 10 s, close_wait 60 s, last_ack 30 s,
// UDP 300 s.
var DefaultTimeouts = Timeouts{
	StateNone:        2 * time.Second,
	StateEstablished: 900 * time.Second,
	StateSynSent:     120 * time.Second,
	StateSynRecv:     60 * time.Second,
	StateFinWait:     120 * time.Second,
	StateTimeWait:    120 * time.Second,
	StateClose:       10 * time.Second,
	StateCloseWait:   60 * time.Second,
	StateLastAck:     30 * time.Second,
	StateListen:      120 * time.Second,
	StateSynAck:      120 * time.Second,
	StateUDP:         300 * time.Second,
}

// Direction of a frame relative to the virtual service.
const (
	dirInput  = 0 // client to real server
	dirOutput = 1 // real server to client
)

// Flag classes of a TCP segment, in IPVS's order of precedence.
const (
	flagSyn = iota
	flagFin
	flagAck
	flagRst
	flagNone
)

const (
	sNO = StateNone
	sES = StateEstablished
	sSS = StateSynSent
	sSR = StateSynRecv
	sFW = StateFinWait
	sTW = StateTimeWait
	sCL = StateClose
	sCW = StateCloseWait
	sLA = StateLastAck
	sLI = StateListen
	sSA = StateSynAck
)

// tcpStates is IPVS's TCP state transition table for LVS-NAT, indexed by
// direction, flag class and current state, as Linux has it since 3.10: an
// input ACK with no connection yet (sNO, reached only with sloppy TCP)
// makes it ESTABLISHED; before, it made it CLOSE.
var tcpStates = [2][4][11]State{
	dirInput: {
		//            sNO  sES  sSS  sSR  sFW  sTW  sCL  sCW  sLA  sLI  sSA
		flagSyn: {sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR},
		flagFin: {sCL, sCW, sSS, sTW, sTW, sTW, sCL, sCW, sLA, sLI, sTW},
		flagAck: {sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES},
		flagRst: {sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sSR},
	},
	dirOutput: {
		flagSyn: {sSS, sES, sSS, sSR, sSS, sSS, sSS, sSS, sSS, sLI, sSR},
		flagFin: {sTW, sFW, sSS, sTW, sFW, sTW, sCL, sTW, sLA, sLI, sTW},
		flagAck: {sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sLA, sES, sES},
		flagRst: {sCL, sCL, sSS, sCL, sCL, sTW, sCL, sCL, sCL, sCL, sCL},
	},
}

// flagClass maps TCP flags to IPVS's class: RST first, then SYN, FIN, ACK.
func flagClass(flags uint8) int {
	switch {
	case flags&0x04 != 0:
		return flagRst
	case flags&0x02 != 0:
		return flagSyn
	case flags&0x01 != 0:
		return flagFin
	case flags&0x10 != 0:
		return flagAck
	}
	return flagNone
}

// nextTCPState returns the state after a segment with the given flags in
// the given direction.
func nextTCPState(cur State, dir int, flags uint8) State {
	c := flagClass(flags)
	if c == flagNone || cur > sSA {
		return cur
	}
	return tcpStates[dir][c][cur]
}
