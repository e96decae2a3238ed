package nat

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xvs-project/xvs/internal/header"
	"github.com/xvs-project/xvs/scheduler"
)

// Real is a real server of a virtual service.
type Real struct {
	Addr   [4]byte
	Port   uint16
	Weight int
	// Counts are the server's live connection counts, kept by the table
	// and read by the schedulers. Keep the same Counts for the same server
	// across snapshots; nil gets one made by SetServices.
	Counts *scheduler.Counts
	// dest is the server's number in the table's registry of Counts.
	dest uint32
}

// Service is a virtual service: VIP, port and protocol, its real servers and
// the scheduler that picks among them. A Service is immutable once handed to
// NewServices.
type Service struct {
	VIP   [4]byte
	Port  uint16
	Proto uint8 // header.ProtocolTCP or header.ProtocolUDP
	Reals []Real
	Sched scheduler.Scheduler
	// Persistence is persistence_timeout: 0 schedules every connection on
	// its own; otherwise a client keeps its real server across connections
	// (see persist.go). PersistBits is persistence_granularity as a prefix
	// length (0: the whole address).
	Persistence time.Duration
	PersistBits uint8
	// KeepDeadDest keeps a UDP flow on its real server after health
	// checks took the server out (Counts.Down), until the flow times out,
	// as IPVS does (xvs { udp_reschedule off }). By default such a flow
	// is scheduled anew at its next datagram. TCP connections always keep
	// their server until they end.
	KeepDeadDest bool
}

type svcKey struct {
	addr  [4]byte
	port  uint16
	proto uint8
	zero  uint8
}

// Services is an immutable snapshot of the virtual services, read by the fast
// path through an atomic pointer.
type Services struct {
	m map[svcKey]*Service
	// reals indexes the services' real servers for InstallSynced, built
	// at its first use (Services.real).
	realsOnce sync.Once
	reals     map[realKey]*Real
}

// NewServices builds a snapshot from a list of services.
func NewServices(list []*Service) *Services {
	s := &Services{m: make(map[svcKey]*Service, len(list))}
	for _, v := range list {
		s.m[svcKey{addr: v.VIP, port: v.Port, proto: v.Proto}] = v
	}
	return s
}

// Lookup returns the service for a destination, or nil.
func (s *Services) Lookup(vip [4]byte, port uint16, proto uint8) *Service {
	return s.m[svcKey{addr: vip, port: port, proto: proto}]
}

// Engine rewrites frames between clients and real servers. Inbound and
// Outbound may be called from any number of goroutines at once.
type Engine struct {
	table    *Table
	services atomic.Pointer[Services]
	// sync is the policy sync records follow, nil while they are off:
	// loaded once per input frame (SetSync).
	sync atomic.Pointer[SyncPolicy]

	// sloppyTCP lets a TCP segment other than a SYN start a connection
	// (SetSloppyTCP).
	sloppyTCP atomic.Bool

	syncMu     sync.Mutex  // serialises SetSync and SetSyncPolicy
	syncOn     bool        // under syncMu
	syncPolicy *SyncPolicy // under syncMu; nil: DefaultSyncPolicy
}

// NewEngine returns an engine over a connection table, serving no services
// until SetServices is called.
func NewEngine(t *Table) *Engine {
	e := &Engine{table: t}
	e.services.Store(NewServices(nil))
	return e
}

// SetServices replaces the virtual services. Established connections keep
// their real servers; new flows are scheduled over the new snapshot. The
// engine serves copies of the services, so the caller's list is never
// written and may be read by others meanwhile; the copies share the
// caller's schedulers and connection counts (a real server without counts
// gets its own, visible through Services). Call it from one goroutine at a
// time.
func (e *Engine) SetServices(list []*Service) {
	snap := make([]*Service, len(list))
	for i, svc := range list {
		c := *svc
		c.Reals = slices.Clone(svc.Reals)
		for j := range c.Reals {
			r := &c.Reals[j]
			if r.Counts == nil {
				r.Counts = new(scheduler.Counts)
			}
			r.dest = e.table.register(r.Counts)
		}
		snap[i] = &c
	}
	e.services.Store(NewServices(snap))
}

// Services returns the current snapshot.
func (e *Engine) Services() *Services { return e.services.Load() }

// Table returns the engine's connection table.
func (e *Engine) Table() *Table { return e.table }

// Result tells the caller where a rewritten frame goes.
type Result struct {
	// Drop is DropNone when the frame was rewritten and is to be
	// forwarded; otherwise the frame is left unspecified and must be dropped.
	Drop Drop
	// NextHop is the address the frame is delivered to: the real server
	// (Inbound) or the client (Outbound). The caller routes it.
	NextHop [4]byte
	// MAC is the client side's link-layer address learnt from the
	// client's frames (Outbound only), for when the neighbour table has none.
	MAC [6]byte
	// Dest is the connection's real server as its number in the table's
	// registry plus one (Table.Dests), for per-server traffic counters;
	// 0 when the frame was dropped.
	Dest uint32
	// Sync says which sync records the frame produced, while the engine
	// has sync on (SetSync) and its policy says so; 0 otherwise, and
	// always from Outbound. The worker queues SyncRecord for
	// SyncNeedConn and SyncRecord.Template() for SyncNeedTemplate.
	Sync SyncNeed
	// SyncRecord is the connection as it was after the frame, when Sync
	// is not 0; otherwise it is left zero.
	SyncRecord SyncRecord
}

const tcpFlagsMask = header.TCPFlagSyn | header.TCPFlagAck | header.TCPFlagRst | header.TCPFlagFin

// parse validates an Ethernet/IPv4/TCP-or-UDP frame and returns its IPv4
// header and transport segment (cut to the lengths the headers give).
func parse(frame []byte) (header.IPv4, []byte, Drop) {
	if len(frame) < header.EthernetSize+header.IPv4MinimumSize {
		if len(frame) >= header.EthernetSize && header.Ethernet(frame).Type() != header.EtherTypeIPv4 {
			return nil, nil, DropNotIPv4
		}
		return nil, nil, DropTruncated
	}
	if header.Ethernet(frame).Type() != header.EtherTypeIPv4 {
		return nil, nil, DropNotIPv4
	}
	ip := header.IPv4(frame[header.EthernetSize:])
	hl := ip.HeaderLength()
	if ip.Version() != 4 || hl < header.IPv4MinimumSize {
		return nil, nil, DropBadIPHeader
	}
	tl := int(ip.TotalLength())
	if tl < hl {
		return nil, nil, DropBadIPHeader
	}
	if tl > len(ip) {
		return nil, nil, DropTruncated
	}
	if hl != header.IPv4MinimumSize {
		return nil, nil, DropIPOptions
	}
	ip = ip[:tl]
	if !ip.IsChecksumValid() {
		return nil, nil, DropBadIPChecksum
	}
	if ip.IsFragment() {
		return nil, nil, DropFragment
	}
	l4 := []byte(ip[hl:])
	switch ip.Protocol() {
	case header.ProtocolTCP:
		if len(l4) < header.TCPMinimumSize {
			return nil, nil, DropTruncated
		}
		if off := header.TCP(l4).DataOffset(); off < header.TCPMinimumSize || off > len(l4) {
			return nil, nil, DropBadL4Header
		}
	case header.ProtocolUDP:
		if len(l4) < header.UDPSize {
			return nil, nil, DropTruncated
		}
		ul := int(header.UDP(l4).Length())
		if ul < header.UDPSize || ul > len(l4) {
			return nil, nil, DropBadL4Header
		}
		l4 = l4[:ul]
	case header.ProtocolICMP:
		// Checked by parseICMPError.
		if ip.TTL() <= 1 {
			return nil, nil, DropTTLExceeded
		}
		return ip, l4, DropNone
	default:
		return nil, nil, DropProtocol
	}
	if !header.TransportChecksumValid(ip.Protocol(), ip, l4) {
		return nil, nil, DropBadL4Checksum
	}
	if ip.TTL() <= 1 {
		return nil, nil, DropTTLExceeded
	}
	return ip, l4, DropNone
}

// ports returns the source and destination ports and, for TCP, the flags.
func ports(proto uint8, l4 []byte) (src, dst uint16, flags uint8) {
	if proto == header.ProtocolTCP {
		t := header.TCP(l4)
		return t.SourcePort(), t.DestinationPort(), t.Flags()
	}
	u := header.UDP(l4)
	return u.SourcePort(), u.DestinationPort(), 0
}

// Inbound handles a frame from a client to a virtual service, at time now
// (Monotonic). On success the frame's IPv4 destination and transport
// destination port are rewritten to the real server (DNAT), its TTL is
// decremented, all checksums are updated and Result.NextHop names the real
// server. The Ethernet header is left to the caller.
//
// A datagram of a UDP flow whose real server health checks took out
// (scheduler.Counts.Down) starts the flow anew: its entry is removed and
// it is scheduled over the current snapshot, unless the service has
// KeepDeadDest. TCP connections keep their real server until they end.
func (e *Engine) Inbound(frame []byte, now int64) (res Result) {
	ip, l4, drop := parse(frame)
	if drop != DropNone {
		return Result{Drop: drop}
	}
	proto := ip.Protocol()
	if proto == header.ProtocolICMP {
		return e.icmpInbound(ip)
	}
	client, vip := ip.SourceAddress(), ip.DestinationAddress()
	cport, vport, flags := ports(proto, l4)
	fk := key{a: client, b: vip, pa: cport, pb: vport, proto: proto}
	t := e.table
	s := t.shardFor(client, cport, proto)
	size := uint64(len(frame))

	s.mu.Lock()
	idx, ok := s.get(dirInput, &fk)
	if ok && proto == header.ProtocolTCP && flags&tcpFlagsMask == header.TCPFlagSyn {
		// A new SYN on a closed connection's tuple starts a new
		// connection, scheduled afresh, as IPVS's conn_reuse_mode does.
		if st := s.conns[idx].State; st == StateTimeWait || st == StateClose {
			t.remove(s, idx, now)
			ok = false
		}
	}
	if ok && proto == header.ProtocolUDP && t.counts(&s.conns[idx]).Down() && e.reschedules(vip, vport, proto) {
		// Health checks took the flow's server out: this datagram
		// starts the flow anew on a live server, and the counts move
		// with it.
		t.remove(s, idx, now)
		ok = false
	}
	var real [4]byte
	var rport uint16
	var dest uint32
	if ok {
		c := &s.conns[idx]
		if proto == header.ProtocolTCP {
			t.setState(c, nextTCPState(c.State, dirInput, flags))
		}
		c.Expires = now + t.timeouts[c.State]
		c.InPkts++
		c.InBytes += size
		c.ClientMAC = header.Ethernet(frame).Source()
		real, rport, dest = c.Real, c.RPort, c.Dest
		if p := e.sync.Load(); p != nil {
			res.Sync = p.syncFrame(c, now, &res.SyncRecord)
		}
		s.mu.Unlock()
	} else {
		s.mu.Unlock()
		st := StateUDP
		if proto == header.ProtocolTCP {
			if flags&tcpFlagsMask != header.TCPFlagSyn && !e.sloppyStart(flags) {
				return Result{Drop: DropNoConnection}
			}
			st = nextTCPState(StateNone, dirInput, flags)
		}
		svc := e.services.Load().Lookup(vip, vport, proto)
		if svc == nil {
			return Result{Drop: DropNoService}
		}
		h := scheduler.Hint{SrcPort: cport, DstPort: vport}
		copy(h.Src[:], client[:])
		copy(h.Dst[:], vip[:])
		var r Real
		if svc.Persistence > 0 {
			var ok bool
			if r, ok = t.persistentReal(svc, client, now, h); !ok {
				return Result{Drop: DropNoRealServer}
			}
		} else {
			i := svc.Sched.Pick(h)
			if i < 0 || i >= len(svc.Reals) {
				return Result{Drop: DropNoRealServer}
			}
			r = svc.Reals[i]
		}
		real, rport = r.Addr, r.Port
		c := Conn{
			Client: client, VIP: vip, Real: real,
			CPort: cport, VPort: vport, RPort: rport,
			Proto: proto, State: st, Dest: r.dest,
			Persist: svc.Persistence, PersistBits: svc.PersistBits,
			ClientMAC: header.Ethernet(frame).Source(),
			Expires:   now + t.timeouts[st],
			InPkts:    1, InBytes: size,
		}
		s.mu.Lock()
		if cur, dup := s.get(dirInput, &fk); dup {
			// Another worker created it meanwhile: use theirs.
			real, rport, dest = s.conns[cur].Real, s.conns[cur].RPort, s.conns[cur].Dest
			t.releaseTemplate(&c, now)
		} else if i, ok := t.insertAt(s, c, now); !ok {
			s.mu.Unlock()
			t.releaseTemplate(&c, now)
			return Result{Drop: DropTableFull}
		} else {
			dest = c.Dest
			if p := e.sync.Load(); p != nil {
				res.Sync = p.syncFrame(&s.conns[i], now, &res.SyncRecord)
			}
		}
		s.mu.Unlock()
	}

	rewriteAddrPort(ip, l4, false, real, rport)
	ip.DecrementTTLWithChecksumUpdate()
	res.NextHop, res.Dest = real, dest+1
	return res
}

// SetSloppyTCP turns IPVS's sloppy_tcp on or off: while on, a TCP segment
// of no known connection starts one even when it is not a SYN (a RST never
// does), so that a director that starts with an empty table, or a backup
// that takes over a flow it was never told of, picks it up mid-stream. The
// segment is scheduled like a SYN; an ACK makes the connection
// ESTABLISHED, a FIN CLOSE, as IPVS's state table does. The risk is the
// operator's: a scheduler that does not hash the client (anything but sh
// and mh without persistence) may pick a real server that never saw the
// connection, which answers with a RST; and any stray segment creates an
// entry. Off by default, as in IPVS.
func (e *Engine) SetSloppyTCP(on bool) { e.sloppyTCP.Store(on) }

// SloppyTCP reports whether sloppy TCP is on (SetSloppyTCP).
func (e *Engine) SloppyTCP() bool { return e.sloppyTCP.Load() }

// sloppyStart reports whether a TCP segment with flags, not a plain SYN,
// starts a connection: only with sloppy TCP on, and never a RST. Kept out
// of line; it is reached only by segments of unknown connections.
//
//go:noinline
func (e *Engine) sloppyStart(flags uint8) bool {
	return flags&header.TCPFlagRst == 0 && e.sloppyTCP.Load()
}

// reschedules reports whether a UDP flow to the service whose server is
// down is scheduled anew: the service exists and does not keep dead
// destinations. Called only for flows whose server is down; kept out of
// line because inlining its map lookup into Inbound slowed every frame by
// about 10 ns (BenchmarkFrame/inbound).
//
//go:noinline
func (e *Engine) reschedules(vip [4]byte, vport uint16, proto uint8) bool {
	svc := e.services.Load().Lookup(vip, vport, proto)
	return svc != nil && !svc.KeepDeadDest
}

// Outbound handles a frame from a real server, at time now. On success its
// IPv4 source and transport source port are rewritten to the virtual service
// the flow came to (SNAT), its TTL is decremented, all checksums are updated,
// and Result names the client and the client side's link-layer address.
func (e *Engine) Outbound(frame []byte, now int64) Result {
	ip, l4, drop := parse(frame)
	if drop != DropNone {
		return Result{Drop: drop}
	}
	proto := ip.Protocol()
	if proto == header.ProtocolICMP {
		return e.icmpOutbound(ip)
	}
	real, client := ip.SourceAddress(), ip.DestinationAddress()
	rport, cport, flags := ports(proto, l4)
	t := e.table
	s := t.shardFor(client, cport, proto)

	s.mu.Lock()
	rk := key{a: real, b: client, pa: rport, pb: cport, proto: proto}
	idx, ok := s.get(dirOutput, &rk)
	if !ok {
		s.mu.Unlock()
		return Result{Drop: DropNoConnection}
	}
	c := &s.conns[idx]
	if proto == header.ProtocolTCP {
		t.setState(c, nextTCPState(c.State, dirOutput, flags))
	}
	c.Expires = now + t.timeouts[c.State]
	c.OutPkts++
	c.OutBytes += uint64(len(frame))
	vip, vport, mac, dest := c.VIP, c.VPort, c.ClientMAC, c.Dest
	s.mu.Unlock()

	rewriteAddrPort(ip, l4, true, vip, vport)
	ip.DecrementTTLWithChecksumUpdate()
	return Result{NextHop: client, MAC: mac, Dest: dest + 1}
}
