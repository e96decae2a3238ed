package connsync

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/xvs-project/xvs/nat"
)

// Source gives the sender the sync records the dataplane's workers queued:
// DrainSync moves up to len(dst) of them into dst, oldest first, and
// returns how many it moved. It must not block. (dataplane.Dataplane
// implements it.)
type Source interface {
	DrainSync(dst []nat.SyncRecord) int
}

// Sink installs a sync record received from a master at time now (the
// Daemon's clock, nat.Monotonic in production). nat.Engine implements it.
type Sink interface {
	InstallSynced(rec nat.SyncRecord, now int64) error
}

// DefaultFlush is how long a partly filled message waits for more records
// before the master sends it, unless Config.Flush says otherwise. The
// kernel waits up to two seconds; xvs sends sooner because a failover loses
// whatever the master had not sent yet: with 250 ms a backup that takes
// over lacks at most the last quarter second of connection changes, at the
// price of more, smaller messages when few connections change. Under load
// messages fill up and go at once anyway.
const DefaultFlush = 250 * time.Millisecond

// Tuning of the daemon's goroutines.
const (
	// drainBatch is the most records the master takes from its Source
	// at a time.
	drainBatch = 1024
	// idleSleep is how long the master pauses when its Source had
	// nothing: short enough for the workers' queues (nat.SyncQueue,
	// dataplane.SyncQueueLen records each) not to overflow at high
	// connection rates, long enough not to spin a CPU when idle.
	idleSleep = 2 * time.Millisecond
	// stopGrace bounds the master's last sends when its role ends.
	stopGrace = 200 * time.Millisecond
	// logEvery is the least time between two log lines about failing
	// sends or receives.
	logEvery = int64(time.Second)
	// readErrorPause is how long the backup waits after a failed read,
	// so that a persistent error does not spin.
	readErrorPause = 10 * time.Millisecond
	// recvBufLen is the backup's datagram buffer: larger than any IPv4
	// UDP payload, so that no message is ever truncated.
	recvBufLen = 1 << 16
	// rcvBuf is the receive socket buffer the backup asks for
	// (SO_RCVBUFFORCE, else SO_RCVBUF up to net.core.rmem_max), to ride
	// out bursts of messages while records are being installed.
	rcvBuf = 4 << 20
)

// Config configures a Daemon. Zero fields take the defaults given.
type Config struct {
	// Interface is the network interface messages are sent and received
	// on (required). Its MTU bounds the messages the master sends.
	Interface string
	// SyncID is sent in every message. A backup with SyncID 0 accepts
	// messages of any syncid; one with another SyncID drops messages of a
	// different syncid (IPVS's rule).
	SyncID uint8
	// Group is the multicast group messages are sent to and received on;
	// zero: DefaultGroup(). Only IPv4 multicast groups are supported.
	Group netip.Addr
	// Port is the UDP port; zero: DefaultPort.
	Port uint16
	// TTL is the multicast TTL of sent messages; zero: 1, the link only.
	TTL uint8
	// MaxLen is the longest message the master sends, header included;
	// zero: MaxLen(the interface's MTU). It is never above what the MTU
	// allows (MaxLen of the MTU), and must leave room for an IPv4 entry
	// (HeaderLen+EntryV4Len). A kernel backup drops messages longer than
	// MaxLen of its own interface's MTU (at least DefaultMaxLen).
	MaxLen int
	// Flush is how long a partly filled message may wait for more records
	// before it is sent; zero: DefaultFlush.
	Flush time.Duration
}

// withDefaults checks c and returns it with its defaults filled in.
func (c Config) withDefaults() (Config, error) {
	if c.Interface == "" {
		return c, errors.New("connsync: no interface")
	}
	if len(c.Interface) >= 16 { // IFNAMSIZ, with the terminating NUL
		return c, fmt.Errorf("connsync: interface name %q too long", c.Interface)
	}
	if !c.Group.IsValid() {
		c.Group = DefaultGroup()
	}
	if !c.Group.Is4() || !c.Group.IsMulticast() {
		return c, fmt.Errorf("connsync: group %v is not an ipv4 multicast address", c.Group)
	}
	if c.Port == 0 {
		c.Port = DefaultPort
	}
	if c.TTL == 0 {
		c.TTL = 1
	}
	if c.MaxLen != 0 && (c.MaxLen < HeaderLen+EntryV4Len || c.MaxLen > MaxMessageLen) {
		return c, fmt.Errorf("connsync: max length %d not in %d .. %d", c.MaxLen, HeaderLen+EntryV4Len, MaxMessageLen)
	}
	if c.Flush < 0 {
		return c, fmt.Errorf("connsync: negative flush delay %v", c.Flush)
	}
	if c.Flush == 0 {
		c.Flush = DefaultFlush
	}
	return c, nil
}

// Role is what a Daemon does: nothing, send (master) or receive (backup).
type Role int

// The roles of a Daemon.
const (
	// RoleNone: no socket, no goroutine.
	RoleNone Role = iota
	// RoleMaster sends the Source's records.
	RoleMaster
	// RoleBackup receives records and installs them in the Sink.
	RoleBackup
)

// String returns "none", "master" or "backup".
func (r Role) String() string {
	switch r {
	case RoleNone:
		return "none"
	case RoleMaster:
		return "master"
	case RoleBackup:
		return "backup"
	}
	return "Role(" + strconv.Itoa(int(r)) + ")"
}

// ErrClosed is returned by SetRole after Close.
var ErrClosed = errors.New("connsync: daemon closed")

// Stats are a Daemon's counters since New.
type Stats struct {
	// Role is the daemon's role now.
	Role Role
	// SentMessages, SentEntries and SentBytes count the messages the
	// master sent, their entries, and their bytes (UDP payload).
	SentMessages, SentEntries, SentBytes uint64
	// SendErrors counts the messages that could not be sent; their
	// entries are lost.
	SendErrors uint64
	// ReceivedMessages and ReceivedBytes count every datagram the backup
	// read, valid or not; ReceivedEntries counts the entries of the
	// messages it accepted (the right syncid, valid as a whole).
	ReceivedMessages, ReceivedEntries, ReceivedBytes uint64
	// Installed counts the entries the Sink accepted.
	Installed uint64
	// Dropped counts drops by reason, with every label of DropReasons
	// present: whole datagrams for the decoder's reasons and "syncid",
	// single entries for "ipv6", "fwmark", "table_full", "unsupported"
	// and "other". ReceivedEntries is Installed plus the entry drops.
	Dropped map[string]uint64
	// SendDelay is the age of the oldest record in the last message sent,
	// measured from the Source drain before the one that returned it: how
	// long sync lagged behind the workers, the idle pause and the Flush
	// wait included.
	SendDelay time.Duration
	// LastReceived is the wall time of the last valid message received,
	// zero if none.
	LastReceived time.Time
}

// decodeErrs are the decoder's sentinels a received datagram can produce,
// in the order of their drop counters.
var decodeErrs = [...]error{
	ErrTruncated, ErrBadSize, ErrVersion0, ErrVersion, ErrReserved, ErrCount,
	ErrEntryOverrun, ErrEntryVersion, ErrEntryType, ErrEntrySize,
	ErrBadOption, ErrUnknownOption, ErrDuplicateOption, ErrNonCanonical,
}

// Drop counters after the decoder's.
const (
	dropSyncID = len(decodeErrs) + iota
	dropIPv6
	dropFwMark
	dropTableFull
	dropUnsupported
	dropOther
	numDrops
)

// dropLabels are the labels of the drop counters.
var dropLabels = func() [numDrops]string {
	var l [numDrops]string
	for i, err := range decodeErrs {
		l[i] = Reason(err)
	}
	l[dropSyncID] = "syncid"
	l[dropIPv6] = "ipv6"
	l[dropFwMark] = "fwmark"
	l[dropTableFull] = "table_full"
	l[dropUnsupported] = "unsupported"
	l[dropOther] = "other"
	return l
}()

// DropReasons returns the labels of Stats.Dropped, a fixed set: the
// decoder's Reason labels that a received datagram can produce
// ("truncated", "bad_size", "version0", "version", "reserved", "count",
// "entry_overrun", "entry_version", "entry_type", "entry_size",
// "bad_option", "unknown_option", "duplicate_option", "non_canonical"),
// then "syncid" (a message of a foreign syncid), "ipv6" and "fwmark"
// (entries nat has no service for: ErrIPv6Entry, ErrFwMarkEntry),
// "table_full" (the Sink returned nat.ErrTableFull), "unsupported"
// (nat.ErrSyncRecord) and "other" (any other error).
func DropReasons() []string {
	l := dropLabels
	return l[:]
}

// counters are a Daemon's Stats as they are kept.
type counters struct {
	sentMessages, sentEntries, sentBytes, sendErrors atomic.Uint64
	receivedMessages, receivedEntries, receivedBytes atomic.Uint64
	installed                                        atomic.Uint64
	dropped                                          [numDrops]atomic.Uint64
	sendDelay                                        atomic.Int64 // nanoseconds
	lastReceived                                     atomic.Int64 // Unix nanoseconds, 0 for none
}

// Daemon is IPVS's connection sync daemon: as master it sends the records
// a Source gives it to a multicast group, as backup it receives them and
// installs them in a Sink. It owns the socket and the goroutine of its
// current role; New starts neither, SetRole does.
type Daemon struct {
	cfg  Config
	src  Source
	sink Sink
	now  func() int64
	log  *zap.Logger

	// mu serialises SetRole and Close; cur and closed are under it.
	mu     sync.Mutex
	cur    *session
	closed bool
	role   atomic.Int64

	st counters

	// The backup's receive state, used only by its goroutine (or a
	// test's): entryFn is installEntry bound once, rxNow the time the
	// current datagram's entries are installed at.
	entryFn func(Entry)
	rxNow   int64
}

// session is one role's socket and goroutine.
type session struct {
	role Role
	conn *net.UDPConn
	done chan struct{}
	wg   sync.WaitGroup
}

// New returns a Daemon in RoleNone for cfg, with its defaults filled in
// and checked. src is needed for RoleMaster, sink for RoleBackup; now is
// the clock given to sink.InstallSynced (nil: nat.Monotonic), log the
// logger (nil: none). It opens nothing.
func New(cfg Config, src Source, sink Sink, now func() int64, log *zap.Logger) (*Daemon, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if now == nil {
		now = nat.Monotonic
	}
	if log == nil {
		log = zap.NewNop()
	}
	d := &Daemon{cfg: cfg, src: src, sink: sink, now: now, log: log}
	d.entryFn = d.installEntry
	return d, nil
}

// Role returns the daemon's current role.
func (d *Daemon) Role() Role { return Role(d.role.Load()) }

// SetRole stops the current role, closing its socket and waiting for its
// goroutine, and starts r; it does nothing if r is the current role. A
// master stopping drains its Source once more and sends what it holds
// before it closes. The sockets of the new role are opened in the network
// namespace of the calling thread. If they cannot be opened (no such
// interface, no Source or Sink for the role, a socket error), SetRole
// returns the error and leaves the daemon in RoleNone. After Close it
// returns ErrClosed for any role but RoleNone.
func (d *Daemon) SetRole(r Role) error {
	if r < RoleNone || r > RoleBackup {
		return fmt.Errorf("connsync: unknown role %d", int(r))
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed && r != RoleNone {
		return ErrClosed
	}
	if d.Role() == r {
		return nil
	}
	d.stop()
	if r == RoleNone {
		return nil
	}
	s, err := d.start(r)
	if err != nil {
		return err
	}
	d.cur = s
	d.role.Store(int64(r))
	return nil
}

// Close stops the current role and waits for everything the daemon
// started; later SetRole calls fail. It returns nil.
func (d *Daemon) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	d.stop()
	return nil
}

// stop ends the current session, if any. Called under mu.
func (d *Daemon) stop() {
	s := d.cur
	if s == nil {
		return
	}
	close(s.done)
	if s.role == RoleMaster {
		// Let the master send what it holds, but not forever.
		_ = s.conn.SetWriteDeadline(time.Now().Add(stopGrace))
	} else {
		_ = s.conn.Close() // wakes the reader
	}
	s.wg.Wait()
	_ = s.conn.Close()
	d.cur = nil
	d.role.Store(int64(RoleNone))
	d.log.Info("connection sync stopped", zap.Stringer("role", s.role))
}

// start opens the socket of role r and starts its goroutine. Called under
// mu.
func (d *Daemon) start(r Role) (*session, error) {
	switch {
	case r == RoleMaster && d.src == nil:
		return nil, errors.New("connsync: master without a source")
	case r == RoleBackup && d.sink == nil:
		return nil, errors.New("connsync: backup without a sink")
	}
	ifc, err := net.InterfaceByName(d.cfg.Interface)
	if err != nil {
		return nil, fmt.Errorf("connsync: interface %s: %w", d.cfg.Interface, err)
	}
	s := &session{role: r, done: make(chan struct{})}
	if r == RoleMaster {
		maxLen := MaxLen(ifc.MTU)
		if d.cfg.MaxLen != 0 {
			maxLen = min(maxLen, d.cfg.MaxLen)
		}
		s.conn, err = openSender(ifc, &d.cfg)
		if err != nil {
			return nil, err
		}
		dst := netip.AddrPortFrom(d.cfg.Group, d.cfg.Port)
		conn := s.conn
		m := newMaster(d, maxLen, func(msg []byte) error {
			_, err := conn.WriteToUDPAddrPort(msg, dst)
			return err
		})
		s.wg.Go(func() { m.run(s.done) })
		d.logStart(r, zap.Int("max_len", maxLen))
		return s, nil
	}
	s.conn, err = openReceiver(ifc, &d.cfg)
	if err != nil {
		return nil, err
	}
	s.wg.Go(func() { d.runBackup(s.conn, s.done) })
	d.logStart(r)
	return s, nil
}

// logStart logs the start of role r.
func (d *Daemon) logStart(r Role, fields ...zap.Field) {
	d.log.Info("connection sync started", append([]zap.Field{zap.Stringer("role", r),
		zap.String("interface", d.cfg.Interface), zap.Stringer("group", d.cfg.Group),
		zap.Uint16("port", d.cfg.Port), zap.Uint8("syncid", d.cfg.SyncID)}, fields...)...)
}

// Stats returns the daemon's counters. It is safe to call from any
// goroutine at any time.
func (d *Daemon) Stats() Stats {
	c := &d.st
	s := Stats{
		Role:             d.Role(),
		SentMessages:     c.sentMessages.Load(),
		SentEntries:      c.sentEntries.Load(),
		SentBytes:        c.sentBytes.Load(),
		SendErrors:       c.sendErrors.Load(),
		ReceivedMessages: c.receivedMessages.Load(),
		ReceivedEntries:  c.receivedEntries.Load(),
		ReceivedBytes:    c.receivedBytes.Load(),
		Installed:        c.installed.Load(),
		Dropped:          make(map[string]uint64, numDrops),
		SendDelay:        time.Duration(c.sendDelay.Load()),
	}
	for i, l := range dropLabels {
		s.Dropped[l] = c.dropped[i].Load()
	}
	if ns := c.lastReceived.Load(); ns != 0 {
		s.LastReceived = time.Unix(0, ns)
	}
	return s
}

// master is the sending side of one RoleMaster session: it drains the
// Source, packs the records into messages and sends them. Everything it
// needs per record is allocated by newMaster.
type master struct {
	d       *Daemon
	src     Source
	out     func(msg []byte) error // sends one message
	flushFn func(msg []byte) error // send, bound once
	b       *Builder
	recs    []nat.SyncRecord
	e       Entry
	flush   int64 // Config.Flush in nanoseconds
	// prev is when the last DrainSync was called; base is prev of the
	// drain whose records are being packed: the records were (most
	// likely) queued after it. oldest is base of the first record of the
	// message being built.
	prev, base, oldest int64
	lastLog            int64
}

// newMaster returns a master of d packing messages of at most maxLen
// bytes and sending them with out.
func newMaster(d *Daemon, maxLen int, out func([]byte) error) *master {
	now := nat.Monotonic()
	m := &master{
		d:       d,
		src:     d.src,
		out:     out,
		b:       NewBuilder(d.cfg.SyncID, maxLen),
		recs:    make([]nat.SyncRecord, drainBatch),
		flush:   int64(d.cfg.Flush),
		prev:    now,
		lastLog: math.MinInt64 / 2,
	}
	m.flushFn = m.send
	return m
}

// run pumps until done is closed, pausing idleSleep whenever the Source
// has nothing; then it drains and sends what is left.
func (m *master) run(done <-chan struct{}) {
	t := time.NewTimer(idleSleep)
	defer t.Stop()
	for {
		select {
		case <-done:
			m.finish()
			return
		default:
		}
		if m.pump() > 0 {
			continue
		}
		t.Reset(idleSleep)
		select {
		case <-done:
			m.finish()
			return
		case <-t.C:
		}
	}
}

// pump drains the Source once, packs the records, sending every message
// that fills up, then sends the partly filled message if its oldest record
// is Flush old. It returns the number of records drained. It does not
// allocate.
func (m *master) pump() int {
	start := nat.Monotonic()
	n := m.src.DrainSync(m.recs)
	m.base, m.prev = m.prev, start
	for i := range m.recs[:n] {
		EntryFromRecord(&m.recs[i], &m.e)
		if m.b.Count() == 0 {
			m.oldest = m.base
		}
		// send never fails and a record always makes a valid entry,
		// so AddFlush cannot fail.
		_ = m.b.AddFlush(&m.e, m.flushFn)
	}
	if m.b.Count() > 0 && nat.Monotonic()-m.oldest >= m.flush {
		_ = m.b.Flush(m.flushFn)
	}
	return n
}

// finish drains what the Source still has (a bounded number of times, in
// case its workers go on queueing) and sends everything.
func (m *master) finish() {
	for range 64 {
		if m.pump() < len(m.recs) {
			break
		}
	}
	_ = m.b.Flush(m.flushFn)
}

// send sends msg and counts it. It returns nil even when the send failed,
// so that the Builder moves on: the message is lost, counted in
// SendErrors and logged at most once per logEvery.
func (m *master) send(msg []byte) error {
	c := &m.d.st
	now := nat.Monotonic()
	if err := m.out(msg); err != nil {
		c.sendErrors.Add(1)
		if now-m.lastLog >= logEvery {
			m.lastLog = now
			m.d.log.Warn("connection sync: send failed", zap.Error(err),
				zap.Uint64("send_errors", c.sendErrors.Load()))
		}
	} else {
		c.sentMessages.Add(1)
		c.sentEntries.Add(uint64(msg[4])) // nr_conns
		c.sentBytes.Add(uint64(len(msg)))
		c.sendDelay.Store(now - m.oldest)
	}
	// The next message starts with a record of the current drain.
	m.oldest = m.base
	return nil
}

// runBackup reads datagrams from conn until it is closed.
func (d *Daemon) runBackup(conn *net.UDPConn, done <-chan struct{}) {
	buf := make([]byte, recvBufLen)
	lastLog := int64(math.MinInt64 / 2)
	for {
		n, err := conn.Read(buf)
		if err == nil {
			d.receive(buf[:n])
			continue
		}
		select {
		case <-done:
			return
		default:
		}
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if now := nat.Monotonic(); now-lastLog >= logEvery {
			lastLog = now
			d.log.Warn("connection sync: receive failed", zap.Error(err))
		}
		time.Sleep(readErrorPause)
	}
}

// receive handles one received datagram b: it checks its syncid, decodes
// it and installs its entries, counting everything. Only one goroutine at a
// time may call it. It does not allocate for a valid message (the Sink
// aside).
func (d *Daemon) receive(b []byte) {
	c := &d.st
	c.receivedMessages.Add(1)
	c.receivedBytes.Add(uint64(len(b)))
	m, err := ParseHeader(b)
	// The syncid is checked after the length, before the version, as
	// ip_vs_process_message does.
	sized := err == nil || !(errors.Is(err, ErrTruncated) || errors.Is(err, ErrBadSize))
	if sized && d.cfg.SyncID != 0 && m.SyncID != d.cfg.SyncID {
		c.dropped[dropSyncID].Add(1)
		return
	}
	if err == nil {
		d.rxNow = d.now()
		_, err = Decode(b, d.entryFn)
	}
	if err != nil {
		c.dropped[decodeDrop(err)].Add(1)
		return
	}
	c.lastReceived.Store(time.Now().UnixNano())
}

// decodeDrop returns the drop counter of a decoding error.
func decodeDrop(err error) int {
	for i, e := range decodeErrs {
		if errors.Is(err, e) {
			return i
		}
	}
	return dropOther
}

// installEntry converts one entry of a valid message and installs it,
// counting a refused entry by its reason.
func (d *Daemon) installEntry(e Entry) {
	c := &d.st
	c.receivedEntries.Add(1)
	rec, err := RecordFromEntry(&e)
	if err == nil {
		err = d.sink.InstallSynced(rec, d.rxNow)
	}
	if err == nil {
		c.installed.Add(1)
		return
	}
	drop := dropOther
	switch {
	case errors.Is(err, ErrIPv6Entry):
		drop = dropIPv6
	case errors.Is(err, ErrFwMarkEntry):
		drop = dropFwMark
	case errors.Is(err, nat.ErrTableFull):
		drop = dropTableFull
	case errors.Is(err, nat.ErrSyncRecord):
		drop = dropUnsupported
	}
	c.dropped[drop].Add(1)
}
