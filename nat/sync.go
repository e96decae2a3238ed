package nat

import (
	"fmt"
	"time"

	"github.com/xvs-project/xvs/internal/header"
)

// Connection synchronisation, as IPVS's sync daemon does it (version 1 of
// its protocol, net/netfilter/ipvs/ip_vs_sync.c): a master director
// reports its connections and persistence templates to backup directors,
// which install them so that they can take over without breaking them.
//
// This file decides when a frame is to produce a sync record (SyncPolicy,
// checked by Engine.Inbound when Engine.SetSync is on) and defines the
// record (SyncRecord) that the dataplane's workers put on their SyncQueue.
// Table.InstallSynced (syncinstall.go) applies a record on a backup.
// Encoding records as datagrams and sending them is package connsync's
// job (connsync.EntryFromRecord, RecordFromEntry, Daemon); nat does not
// import it.

// IPVS connection flags (IP_VS_CONN_F_* in include/uapi/linux/ip_vs.h) that
// a SyncRecord's Flags carry. They have the values of connsync's Flag*
// constants, so SyncRecord.Flags is connsync.Entry.Flags as it is.
const (
	// SyncFlagMasq (IP_VS_CONN_F_MASQ) is the forwarding method NAT: no
	// bit set under SyncFlagFwdMask. Every record nat makes is NAT.
	SyncFlagMasq uint32 = 0x0000
	// SyncFlagFwdMask (IP_VS_CONN_F_FWD_MASK) selects the forwarding method.
	SyncFlagFwdMask uint32 = 0x0007
	// SyncFlagSync (IP_VS_CONN_F_SYNC) marks a connection a backup made
	// from a sync record. nat never sends it; a kernel backup drops it
	// from what it receives and sets it itself.
	SyncFlagSync uint32 = 0x0020
	// SyncFlagNoOutput (IP_VS_CONN_F_NOOUTPUT) marks a connection of a
	// forwarding method with no output direction (DR, TUN). Never set on
	// a NAT connection; ignored by InstallSynced.
	SyncFlagNoOutput uint32 = 0x0080
	// SyncFlagInactive (IP_VS_CONN_F_INACTIVE) marks a connection its
	// real server counts as inactive: for a TCP connection, one not in
	// ESTABLISHED; always for UDP. A template has it too.
	SyncFlagInactive uint32 = 0x0100
	// SyncFlagTemplate (IP_VS_CONN_F_TEMPLATE) marks a persistence
	// template: client (masked, port 0) to real server.
	SyncFlagTemplate uint32 = 0x1000
	// SyncFlagOnePacket (IP_VS_CONN_F_ONE_PACKET) marks a
	// one-packet-scheduling connection, which IPVS never syncs. nat has
	// none.
	SyncFlagOnePacket uint32 = 0x2000
)

// States of a persistence template (IP_VS_CTPL_S_* in include/net/ip_vs.h),
// the State of a SyncRecord with SyncFlagTemplate: connsync's
// TemplateStateNone and TemplateStateAssured.
const (
	// TemplateStateNone is a template no connection has confirmed yet.
	TemplateStateNone uint16 = 0
	// TemplateStateAssured is a template a connection confirmed: a TCP
	// connection reached ESTABLISHED, or a UDP server replied.
	TemplateStateAssured uint16 = 1
)

// ipvsUDPNormal is IP_VS_UDP_S_NORMAL, the one state of an IPVS UDP
// connection; ipvsTCPLast is IP_VS_TCP_S_LAST, the number of TCP states.
const (
	ipvsUDPNormal = 0
	ipvsTCPLast   = 11
)

// IPVSState returns the IPVS state number of a connection's State, the
// State of its SyncRecord and of the connsync.Entry made from it: a TCP
// state's number is IPVS's (StateEstablished is IP_VS_TCP_S_ESTABLISHED, 1,
// and so on to StateSynAck, IP_VS_TCP_S_SYNACK, 10: connsync.TCPState*),
// StateUDP is IP_VS_UDP_S_NORMAL (0, connsync.UDPStateNormal). ok is false
// for a value that is no State.
func IPVSState(s State) (n uint16, ok bool) {
	switch {
	case s == StateUDP:
		return ipvsUDPNormal, true
	case s < StateUDP:
		return uint16(s), true
	}
	return 0, false
}

// StateFromIPVS returns the State of a connection of protocol proto
// (header.ProtocolTCP or header.ProtocolUDP) whose IPVS state number is n,
// the inverse of IPVSState. ok is false for another protocol or for a
// number that is not a state of the protocol (TCP: n >= 11; UDP: n != 0),
// entries a kernel backup drops ("Invalid %s state"). It is not for
// templates, whose states are TemplateState*.
func StateFromIPVS(proto uint8, n uint16) (s State, ok bool) {
	switch proto {
	case header.ProtocolTCP:
		if n < ipvsTCPLast {
			return State(n), true
		}
	case header.ProtocolUDP:
		if n == ipvsUDPNormal {
			return StateUDP, true
		}
	}
	return 0, false
}

// SyncPolicy is IPVS's sync rate: the sysctl net.ipv4.vs.sync_threshold,
// two numbers "threshold period". The zero SyncPolicy (threshold 0,
// period 0: no packet count ever matches) syncs only a TCP connection's
// changes to FIN_WAIT, CLOSE, CLOSE_WAIT and TIME_WAIT; DefaultSyncPolicy
// is IPVS's.
//
// IPVS's other knobs keep their defaults: sync_refresh_period 0 (so
// sync_retries, which only applies with a refresh period, is never
// consulted), sync_persist_mode 0 (connections controlled by a template
// are synced like any other), sync_version 1.
type SyncPolicy struct {
	// Threshold is the input packet count at which a connection is first
	// synced (sync_threshold's first number, IPVS default 3).
	Threshold uint32
	// Period repeats the sync every Period input packets after
	// Threshold (sync_threshold's second number, default 50). 0 syncs a
	// connection only when its count reaches Threshold and on the state
	// changes, and a template only once.
	Period uint32
}

// DefaultSyncPolicy is IPVS's default sync_threshold, "3 50".
var DefaultSyncPolicy = SyncPolicy{Threshold: 3, Period: 50}

// Validate reports whether the kernel would accept p for sync_threshold
// (proc_do_sync_threshold): Threshold below Period unless Period is 0.
func (p SyncPolicy) Validate() error {
	if p.Period != 0 && p.Threshold >= p.Period {
		return fmt.Errorf("sync threshold %d not below sync period %d", p.Threshold, p.Period)
	}
	return nil
}

// syncedTCPStates are the TCP states in which IPVS syncs a connection
// (ip_vs_sync_conn_needed): ESTABLISHED, FIN_WAIT, CLOSE, CLOSE_WAIT and
// TIME_WAIT. A handshake in progress is never synced.
const syncedTCPStates uint16 = 1<<StateEstablished | 1<<StateFinWait | 1<<StateClose |
	1<<StateCloseWait | 1<<StateTimeWait

// Needed reports whether an input frame of a connection calls for a sync
// record, by the rules of ip_vs_sync_conn_needed with sync_refresh_period
// 0, which ip_vs_in calls (through ip_vs_sync_conn) for every packet from
// a client that it forwards. proto is the connection's protocol; synced is
// its state when it was last synced (IPVS's old_state, StateNone for a
// connection never synced) and cur its state after the frame; flags are
// its IPVS flags (SyncFlag*), of which SyncFlagTemplate and
// SyncFlagOnePacket count; pkts is its input packet count including this
// frame (IPVS's in_pkts).
//
//   - A one-packet connection is never synced.
//   - A TCP connection is synced only in ESTABLISHED, FIN_WAIT, CLOSE,
//     CLOSE_WAIT and TIME_WAIT. Reaching one of them other than
//     ESTABLISHED since the last sync (cur != synced) syncs at once.
//   - Otherwise (ESTABLISHED, UDP) it is synced when pkts % Period ==
//     Threshold, or, with Period 0, when pkts == Threshold. So a TCP
//     connection is first synced at its third packet if it is ESTABLISHED
//     by then, else at packet 53, 103, ...; a UDP flow at 3, 53, 103, ...
//   - A template (SyncFlagTemplate; synced, cur and proto do not matter)
//     is synced whenever one of its connections has an input packet while
//     Period is not 0; with Period 0, when pkts == Threshold.
//
// When Needed is true for a connection, the caller records cur as its
// synced state, as IPVS sets old_state.
func (p SyncPolicy) Needed(proto uint8, synced, cur State, flags uint32, pkts uint64) bool {
	if flags&SyncFlagOnePacket != 0 {
		return false
	}
	template := flags&SyncFlagTemplate != 0
	if !template && proto == header.ProtocolTCP {
		if cur >= StateUDP || syncedTCPStates&(uint16(1)<<cur) == 0 {
			return false
		}
		if cur != synced && cur != StateEstablished {
			return true
		}
	}
	if p.Period > 0 {
		return template || pkts%uint64(p.Period) == uint64(p.Threshold)
	}
	return pkts == uint64(p.Threshold)
}

// SyncNeed says which sync records a frame produced (Result.Sync).
type SyncNeed uint8

// The records a frame can produce.
const (
	// SyncNeedConn asks for the connection's record, Result.SyncRecord.
	SyncNeedConn SyncNeed = 1 << iota
	// SyncNeedTemplate asks for the record of the persistence template
	// the connection was made through: Result.SyncRecord.Template().
	SyncNeedTemplate
)

// SyncRecord is one connection or persistence template to synchronise:
// pointer-free and of fixed size, so that workers can queue it by value
// (SyncQueue) without allocating.
//
// It maps field for field onto connsync.Entry (the wire entry of IPVS's
// sync protocol version 1, struct ip_vs_sync_v4), which the caller builds,
// since nat does not import connsync:
//
//	Entry.Protocol = Proto
//	Entry.Flags    = Flags          (IPVS flags, connsync.Flag* values)
//	Entry.State    = State          (IPVS state number, see IPVSState)
//	Entry.CPort, VPort, DPort = CPort, VPort, RPort
//	Entry.CAddr, VAddr, DAddr = netip.AddrFrom4(Client), (VIP), (Real)
//	Entry.Timeout  = Timeout        (seconds)
//	Entry.FwMark   = 0; no options (HasSeq false, PEData and PEName empty)
//
// Persist and PersistBits are not on the wire: they let Template make the
// template's record from a connection's. Receiving, the caller makes a
// record from an IPv4 entry with FwMark 0 the same way (Persist and
// PersistBits 0) and hands it to Table.InstallSynced, which keeps the
// flags a kernel backup keeps (IP_VS_CONN_F_BACKUP_MASK) and checks the
// protocol and state; IPv6 and firewall-mark entries are for no nat
// service.
type SyncRecord struct {
	// Client, VIP and Real are the client's, the virtual service's and
	// the real server's addresses. A template's Client is the client's
	// address masked to the service's persistence granularity.
	Client, VIP, Real [4]byte
	// CPort, VPort and RPort are the client's, the virtual service's and
	// the real server's ports; a template's CPort is 0.
	CPort, VPort, RPort uint16
	// Proto is the IP protocol: header.ProtocolTCP or ProtocolUDP; a
	// template's is its service's.
	Proto uint8
	// PersistBits is the service's persistence granularity as a prefix
	// length (0: the whole address) when Persist is not 0.
	PersistBits uint8
	// State is the IPVS state number: IPVSState of the connection's
	// State, or TemplateState* for a template.
	State uint16
	// Flags are IPVS connection flags (SyncFlag*): SyncFlagInactive for
	// a connection its server counts as inactive, SyncFlagTemplate (with
	// SyncFlagInactive) for a template; the forwarding method is always
	// NAT (SyncFlagMasq, no bit).
	Flags uint32
	// Timeout is how long the connection or template lives without
	// traffic, in seconds: for a connection, the time left until it
	// expires, which when a frame made the record is its state's timeout
	// (what IPVS sends, cp->timeout); for a template, the persistence
	// timeout. A backup given 0 uses its own timeout for State.
	Timeout uint32
	// Persist is the persistence timeout in seconds of the service whose
	// template the connection was made through, 0 for none.
	Persist uint32
}

// seconds returns d in whole seconds, rounded up so that a positive time
// never reads as 0 ("use your default"), clamped to uint32.
func seconds(d int64) uint32 {
	if d <= 0 {
		return 0
	}
	s := (d + int64(time.Second) - 1) / int64(time.Second)
	return uint32(min(s, int64(^uint32(0))))
}

// SyncRecord returns the connection's record at time now (Monotonic):
// flagged inactive unless it counts as active, with the time it has left.
// An entry past its time but not yet swept is given 1 second, not 0.
func (c *Conn) SyncRecord(now int64) SyncRecord {
	var r SyncRecord
	c.fillSyncRecord(now, &r)
	return r
}

// fillSyncRecord writes c's record at time now to r.
func (c *Conn) fillSyncRecord(now int64, r *SyncRecord) {
	st, _ := IPVSState(c.State)
	flags := SyncFlagMasq
	if !c.active {
		flags |= SyncFlagInactive
	}
	*r = SyncRecord{
		Client: c.Client, VIP: c.VIP, Real: c.Real,
		CPort: c.CPort, VPort: c.VPort, RPort: c.RPort,
		Proto: c.Proto, PersistBits: c.PersistBits,
		State: st, Flags: flags,
		Timeout: max(seconds(c.Expires-now), 1),
		Persist: seconds(int64(c.Persist)),
	}
}

// Template returns the record of the persistence template a connection's
// record r was made through (r.Persist not 0), as IPVS sends it after the
// connection (ip_vs_sync_conn follows cp->control): the client's address
// masked to PersistBits, client port 0, flags SyncFlagTemplate and
// SyncFlagInactive, the persistence timeout as Timeout. Its state is
// TemplateStateAssured once the connection was confirmed: a TCP
// connection established or past it (IPVS assures the template when its
// connection reaches ESTABLISHED; the record no longer knows whether a
// closing connection ever was, and counts it as confirmed), a UDP flow
// never (IPVS assures on a reply, which the record does not show).
func (r *SyncRecord) Template() SyncRecord {
	st := TemplateStateNone
	if r.Proto == header.ProtocolTCP {
		switch State(r.State) {
		case StateEstablished, StateFinWait, StateCloseWait, StateLastAck, StateTimeWait:
			st = TemplateStateAssured
		}
	}
	return SyncRecord{
		Client: mask(r.Client, r.PersistBits), VIP: r.VIP, Real: r.Real,
		VPort: r.VPort, RPort: r.RPort,
		Proto: r.Proto, PersistBits: r.PersistBits,
		State: st, Flags: SyncFlagTemplate | SyncFlagInactive,
		Timeout: r.Persist, Persist: r.Persist,
	}
}

// syncFrame applies policy p to connection c after an input frame at time
// now, under its shard's lock: it records c's synced state when c is to be
// synced and fills rec when anything is. Kept out of line: Inbound calls it
// only with sync on, and its body would only lengthen Inbound otherwise.
//
//go:noinline
func (p *SyncPolicy) syncFrame(c *Conn, now int64, rec *SyncRecord) SyncNeed {
	var n SyncNeed
	if p.Needed(c.Proto, c.syncState, c.State, 0, c.InPkts) {
		c.syncState = c.State
		n = SyncNeedConn
	}
	// ip_vs_sync_conn goes on to the controlling template whether or not
	// the connection itself was synced. IPVS counts the template's own
	// input packets; with Period 0 (the only case where they matter) the
	// connection's count stands in for them, so the template is synced
	// once per connection rather than once in its life.
	if c.Persist != 0 && p.Needed(c.Proto, 0, 0, SyncFlagTemplate, c.InPkts) {
		n |= SyncNeedTemplate
	}
	if n != 0 {
		c.fillSyncRecord(now, rec)
	}
	return n
}

// SetSync turns sync records on or off: while on, Inbound reports in
// Result.Sync which records a frame produced by the engine's SyncPolicy
// (DefaultSyncPolicy unless SetSyncPolicy changed it), and copies the
// connection into Result.SyncRecord; the worker queues them (SyncQueue).
// Outbound never produces records: IPVS syncs only from ip_vs_in, and a
// state change a reply caused is synced with the next input frame.
// Workers read the setting once per frame; it may change while they run.
func (e *Engine) SetSync(on bool) {
	e.syncMu.Lock()
	defer e.syncMu.Unlock()
	e.syncOn = on
	e.publishSync()
}

// SetSyncPolicy sets the policy sync records follow; it takes effect at
// once if sync is on, else when SetSync turns it on. The error says why
// the kernel would refuse p.
func (e *Engine) SetSyncPolicy(p SyncPolicy) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("sync policy: %w", err)
	}
	e.syncMu.Lock()
	defer e.syncMu.Unlock()
	e.syncPolicy = &p
	e.publishSync()
	return nil
}

// Sync reports whether sync records are on and the policy they follow.
func (e *Engine) Sync() (on bool, p SyncPolicy) {
	e.syncMu.Lock()
	defer e.syncMu.Unlock()
	p = DefaultSyncPolicy
	if e.syncPolicy != nil {
		p = *e.syncPolicy
	}
	return e.syncOn, p
}

// publishSync publishes the policy for the workers, nil when sync is off.
// Called under syncMu.
func (e *Engine) publishSync() {
	if !e.syncOn {
		e.sync.Store(nil)
		return
	}
	p := DefaultSyncPolicy
	if e.syncPolicy != nil {
		p = *e.syncPolicy
	}
	e.sync.Store(&p)
}
