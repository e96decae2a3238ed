// Package config reads keepalived.conf files (keepalived 2.2 syntax) and
// turns them into a Spec: the virtual servers, real servers, VRRP
// instances and xvs-specific settings that xvs acts on.
//
// The package is for loading and checking configuration. It does not apply
// anything to the system, it does not run health checks or VRRP, and it
// does not keep a configuration up to date when files change: callers parse
// again and compare Specs. Keywords that keepalived knows but xvs does not
// act on yet are accepted and reported as warnings in Spec.Warnings, so an
// existing keepalived.conf can be loaded unchanged.
//
// Parsing is deterministic: the same files always give the same Spec, with
// everything in the order it appears in the input.
package config

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Pos is a position in a configuration file, 1-based line and column.
// Columns count bytes, so a tab counts as one column.
type Pos struct {
	File      string
	Line, Col int
}

// String returns the position as "file:line:col", or "line:col" when the
// file name is empty.
func (p Pos) String() string {
	if p.File == "" {
		return fmt.Sprintf("%d:%d", p.Line, p.Col)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Diagnostic is one problem found in a file, or a note about it.
type Diagnostic struct {
	Pos     Pos
	Msg     string
	Warning bool // true for problems that do not stop the file being used
	// Note is true for what is no problem in keepalived's eyes but worth
	// knowing: a keyword accepted but not acted on yet. keepalived -t
	// says nothing about it, so neither fails xvs check. Warning is
	// false for a note.
	Note bool
}

// String returns "file:line:col: msg", "file:line:col: warning: msg" for
// warnings, or "file:line:col: note: msg" for notes.
func (d Diagnostic) String() string {
	switch {
	case d.Warning:
		return d.Pos.String() + ": warning: " + d.Msg
	case d.Note:
		return d.Pos.String() + ": note: " + d.Msg
	}
	return d.Pos.String() + ": " + d.Msg
}

// Error is returned when parsing fails. It holds every error found:
// parsing goes on after an error where it can. After 20 errors no more are
// recorded, and the list ends with a "too many errors" diagnostic.
//
// When braces or quotes are wrong, only those errors (and errors reading
// included files) are reported: the meaning of the statements is not
// checked, since the block structure cannot be trusted.
type Error struct {
	// Diags are the errors, in the order they were found. None of them
	// is a warning.
	Diags []Diagnostic
	// Warnings are the warnings found before parsing failed. They are not
	// part of the text returned by Error.
	Warnings []Diagnostic
}

// Error returns the errors, one "file:line:col: message" per line.
func (e *Error) Error() string {
	lines := make([]string, len(e.Diags))
	for i, d := range e.Diags {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}

// Spec is the configuration described by a keepalived.conf file and the
// files it includes.
type Spec struct {
	Global         Global
	VirtualServers []VirtualServer
	VRRPInstances  []VRRPInstance
	// VRRPScripts are the vrrp_script blocks, in order.
	VRRPScripts []VRRPScript
	// VRRPSyncGroups are the vrrp_sync_group blocks, in order.
	VRRPSyncGroups []VRRPSyncGroup
	XVS            XVS
	// Warnings lists unknown keywords that were skipped (each once, at
	// its first use), values that were adjusted or lines ignored as
	// keepalived adjusts or ignores them, and (as notes, Diagnostic.Note)
	// keywords that were accepted but are not acted on, in the order they
	// appear in the input.
	Warnings []Diagnostic
}

// Global holds the global_defs settings xvs acts on. When there are several
// global_defs blocks, later settings replace earlier ones.
type Global struct {
	RouterID string // router_id; empty when not set
	// LVSTimeouts are lvs_timeouts: the established TCP, TCP FIN_WAIT and
	// UDP timeouts; zero for those not set (IPVS's defaults apply).
	LVSTimeouts struct{ TCP, TCPFin, UDP time.Duration }
	Pos         Pos // position of the first global_defs keyword; zero when absent

	// VRRPVersion is vrrp_version, 2 or 3; 0 when not set (2 applies).
	VRRPVersion int
	// VRRPMcastGroup4 is vrrp_mcast_group4; invalid (zero) when not set
	// (224.0.0.18 applies).
	VRRPMcastGroup4 netip.Addr
	// GARP holds vrrp_garp_master_delay, vrrp_garp_master_repeat,
	// vrrp_garp_master_refresh, vrrp_garp_master_refresh_repeat,
	// vrrp_garp_lower_prio_delay and vrrp_garp_lower_prio_repeat.
	GARP GARP
	// ScriptUser and ScriptGroup are script_user USER [GROUP]: whom
	// scripts (notify, vrrp_script, MISC_CHECK) run as; empty when not set.
	ScriptUser, ScriptGroup string
	// EnableScriptSecurity is enable_script_security.
	EnableScriptSecurity bool
	// VRRPSkipCheckAdvAddr is vrrp_skip_check_adv_addr.
	VRRPSkipCheckAdvAddr bool
	// VRRPLowerPrioNoAdvert is vrrp_lower_prio_no_advert.
	VRRPLowerPrioNoAdvert bool
	// SyncDaemon is lvs_sync_daemon (or the deprecated
	// lvs_sync_daemon_interface of a vrrp_instance); nil when connection
	// sync is not configured or cannot start (lvs_sync_daemon names no
	// vrrp_instance, which keepalived takes as not starting it). Unlike
	// the other settings, the first one given counts, as in keepalived.
	SyncDaemon *SyncDaemon
	// Mail is the e-mail alert settings (alerts.go); left out of JSON
	// when none is given.
	Mail Mail `json:",omitzero"`
}

// SyncDaemon is lvs_sync_daemon (global_defs) or the deprecated
// lvs_sync_daemon_interface of a vrrp_instance: IPVS connection sync, the
// kernel's sync daemon as keepalived drives it. While the named
// vrrp_instance is MASTER this director sends its connections to the
// group; in any other state it receives them from the master, so that a
// backup taking over already knows the connections in flight.
//
//	lvs_sync_daemon INTERFACE [VRRP_INSTANCE | inst NAME] [id SYNCID]
//	    [maxlen N] [port N] [ttl N] [group ADDR]
type SyncDaemon struct {
	Pos          Pos    // position of the keyword
	Interface    string // interface the sync messages are sent and received on
	InterfacePos Pos
	// Instance is the vrrp_instance whose state drives the role: MASTER
	// sends, otherwise receive. It is always defined by a vrrp_instance.
	Instance    string
	InstancePos Pos // position of the name; the enclosing instance's name for lvs_sync_daemon_interface
	// SyncID is 0..255, the sync id carried by every message (a backup
	// with a sync id other than 0 ignores messages with another one).
	// When "id" is not given it is the instance's virtual_router_id,
	// filled in after parsing, as keepalived does; for the deprecated
	// lvs_sync_daemon_interface it is 0, as keepalived also does.
	SyncID    int
	SyncIDSet bool // "id" (or the old positional syncid) was given
	// MaxLen is maxlen: the largest sync message payload in bytes,
	// 1..65507; 0 when not set (derived from the interface's MTU).
	MaxLen int
	Port   uint16     // port, 1..65535; 0 when not set (8848)
	TTL    int        // ttl, 1..255; 0 when not set (1)
	Group  netip.Addr // group, an IPv4 multicast address; invalid (zero) when not set (224.0.0.81)
}

// GARP is the gratuitous ARP timing of a VRRP master, globally
// (vrrp_garp_*) or per instance (garp_*). Each field has a Set flag,
// because 0 is a meaningful value for all of them.
type GARP struct {
	MasterDelay            time.Duration // garp_master_delay: the second burst after becoming master
	MasterDelaySet         bool
	MasterRepeat           int // garp_master_repeat: GARPs per burst
	MasterRepeatSet        bool
	MasterRefresh          time.Duration // garp_master_refresh: periodic GARPs while master; 0 = none
	MasterRefreshSet       bool
	MasterRefreshRepeat    int // garp_master_refresh_repeat
	MasterRefreshRepeatSet bool
	LowerPrioDelay         time.Duration // garp_lower_prio_delay
	LowerPrioDelaySet      bool
	LowerPrioRepeat        int // garp_lower_prio_repeat
	LowerPrioRepeatSet     bool
}

// Command is a script to run with its arguments, as notify_*, script and
// misc_path give it: the text (quoted or not) is split into words at
// spaces, keepalived's way, and never handed to a shell.
type Command struct {
	Pos  Pos      // position of the command text
	Argv []string // the program and its arguments; empty when not set
}

// XVS is the optional xvs-specific block:
//
//	xvs {
//	    wan_interface IF
//	    lan_interface IF
//	    queues N
//	    cpus 2-5,8
//	    max_connections N
//	    udp_reschedule on|off
//	    sloppy_tcp [on|off]
//	    sync_threshold THRESHOLD PERIOD
//	}
//
// It may appear at most once.
type XVS struct {
	WANInterface string // wan_interface; empty when not set
	LANInterface string // lan_interface; empty when not set
	// WANInterfacePos and LANInterfacePos are the positions of the
	// interface names; zero when not set.
	WANInterfacePos, LANInterfacePos Pos
	// Queues caps the number of workers (queues, 1..1024); 0 when not
	// set. Every active receive queue is served whatever it says.
	Queues int
	// CPUs are the CPUs the workers run on (cpus, a CPU list such as
	// "2-5,8"), in increasing order; nil when not set: every CPU the
	// process may run on. CPUsPos is the position of the list.
	CPUs    []int
	CPUsPos Pos
	// MaxConnections bounds the connection table (max_connections); 0
	// when not set: derived from the machine's memory.
	MaxConnections int
	// UDPKeepDeadDest is "udp_reschedule off": UDP flows to a real server
	// that health checks took out stay with it until they time out, as
	// IPVS does. By default (false) such a flow is scheduled again at its
	// next datagram.
	UDPKeepDeadDest bool
	// SloppyTCP is sloppy_tcp (alone, or with on, yes or true), as IPVS's
	// net.ipv4.vs.sloppy_tcp: a TCP segment other than a SYN for a
	// connection not in the table creates one, so that a director that
	// starts with an empty table (after a restart, or taking over without
	// connection sync) picks up flows mid-stream. Off by default: only a
	// SYN starts a connection.
	//
	// The risk: a mid-flow segment is scheduled afresh and may land on a
	// real server that never saw the connection, which answers with a
	// RST, unless persistence or a hashing scheduler (sh, mh) sends it to
	// the same one. It also lets any stray ACK create an entry, so scans
	// that fill the connection table get cheaper.
	SloppyTCP bool
	// SyncThreshold and SyncPeriod are sync_threshold THRESHOLD PERIOD,
	// as IPVS's net.ipv4.vs.sync_threshold: with connection sync
	// (lvs_sync_daemon), a connection is sent to the backups when its
	// count of incoming packets reaches THRESHOLD and then every PERIOD
	// packets (PERIOD 0: only at THRESHOLD), besides TCP state changes.
	// Both are 0..65535 (the kernel takes any int; larger values make
	// little sense for a packet count), and THRESHOLD must be below
	// PERIOD unless PERIOD is 0, as the kernel requires. When
	// SyncThresholdSet is false both are 0 and IPVS's "3 50" applies.
	SyncThreshold, SyncPeriod int
	SyncThresholdSet          bool
	Pos                       Pos // position of the xvs keyword; zero when absent
}

// VirtualServer is one virtual_server block: a virtual address and port
// that traffic is balanced for.
type VirtualServer struct {
	Pos       Pos        // position of the virtual_server keyword
	Addr      netip.Addr // IPv4 or IPv6, without a zone
	Port      uint16     // 1..65535
	Protocol  string     // "TCP" or "UDP"; without protocol "UDP" (with a warning), as keepalived 2.2
	Scheduler string     // lb_algo or lvs_sched, lower case (e.g. "rr", "wrr", "wlc"); default "wlc"
	Kind      string     // lb_kind or lvs_method, upper case: "NAT", "DR" or "TUN"; default "NAT"
	// DelayLoop is the health check interval; default 60s. Decimal
	// seconds such as "delay_loop 1.5" are accepted.
	DelayLoop time.Duration
	// PersistenceTimeout is 0 when persistence_timeout is absent;
	// "persistence_timeout" with no value means 360s.
	PersistenceTimeout time.Duration
	// PersistenceGranularity is persistence_granularity as a prefix
	// length: clients in the same prefix share a persistence template.
	// 0 when not set, which means the whole address (32 or 128).
	PersistenceGranularity int
	// SchedulerFlags are the scheduler flag keywords given, as written:
	// flag-1, flag-2, flag-3, sh-port, sh-fallback, mh-port, mh-fallback.
	SchedulerFlags []string
	Reals          []RealServer

	// Pool keywords: quorum (default 1), hysteresis, quorum_up,
	// quorum_down, sorry_server, ha_suspend, omega, alpha. The
	// virtual server's alpha, retry, delay_before_retry, warmup,
	// connect_timeout, virtualhost and inhibit_on_failure are not fields
	// of their own: they reach the real servers and checkers that do not
	// set them (see Check and RealServer).
	Quorum               int
	Hysteresis           int
	QuorumUp, QuorumDown Command
	Sorry                *SorryServer // nil when there is no sorry_server
	HASuspend            bool
	Omega                bool
	Alpha                bool
	// Group is the virtual_server_group this service came from ("" for a
	// virtual_server ADDR PORT block): "virtual_server group NAME" is
	// expanded into one VirtualServer per address and port of the group,
	// each with the block's settings, Pos at the virtual_server keyword,
	// and real servers (and a sorry server) without a port taking the
	// group entry's port.
	Group string
	// SMTPAlert is smtp_alert: whether gaining or losing the quorum
	// sends mail; nil when not set (Mail.VirtualServerAlert decides).
	SMTPAlert *bool `json:",omitempty"`
}

// SorryServer is sorry_server ADDR PORT with sorry_server_inhibit.
type SorryServer struct {
	Pos     Pos
	Addr    netip.Addr
	Port    uint16
	Inhibit bool // sorry_server_inhibit
}

// RealServer is one real_server of a virtual server.
type RealServer struct {
	Pos  Pos        // position of the real_server keyword
	Addr netip.Addr // same address family as the virtual server
	// Port is 1..65535. When real_server gives no port, the virtual
	// server's port is used, as keepalived does.
	Port   uint16
	Weight int // 0..65535; default 1
	// UThreshold and LThreshold are uthreshold and lthreshold: the
	// connection count at which the server is overloaded and the count it
	// must fall to before it takes new connections again; 0 when not set.
	UThreshold, LThreshold int
	// InhibitOnFailure is inhibit_on_failure: a failed server stays
	// listed with weight 0 instead of being removed. A real server
	// without the keyword takes its virtual server's.
	InhibitOnFailure bool
	// NotifyUp and NotifyDown are notify_up and notify_down.
	NotifyUp, NotifyDown Command
	// Checks are the checker blocks (TCP_CHECK, HTTP_GET, …), in order.
	Checks []Check
	// SMTPAlert is smtp_alert: whether its checkers changing state send
	// mail; nil when not set (Mail.RealServerAlert decides).
	SMTPAlert *bool `json:",omitempty"`
}

// Check is one checker block of a real server. Fields a checker type does
// not have stay zero. ConnectTimeout, Retry, DelayBeforeRetry, DelayLoop,
// Warmup, Alpha and VirtualHost are the checker's own setting, else its
// real server's, else its virtual server's, as keepalived 2.2 inherits
// them; "not set" below means set at none of those levels. Durations and
// counts that are not set are zero (or -1 where noted): package control
// applies keepalived's defaults per checker type.
type Check struct {
	// ignored marks a checker keepalived ignores with a report (an
	// HTTP_GET or SSL_GET without url): it is not added to the real
	// server.
	ignored bool

	Pos  Pos    // position of the checker keyword
	Kind string // TCP_CHECK, HTTP_GET, SSL_GET, MISC_CHECK, UDP_CHECK, PING_CHECK, DNS_CHECK or SMTP_CHECK

	ConnectIP      netip.Addr    // connect_ip; zero: the real server's address
	ConnectPort    uint16        // connect_port; 0: the real server's port
	BindTo         netip.Addr    // bindto
	BindPort       uint16        // bind_port
	ConnectTimeout time.Duration // connect_timeout; 0: not set (5s)
	// Retry is retry or its old name nb_get_retry; -1 when not set.
	Retry            int
	DelayBeforeRetry time.Duration // delay_before_retry; 0: not set
	// DelayLoop is the checker's delay_loop, else the real server's, else
	// the virtual server's (always set: the virtual server's default is 60s).
	DelayLoop time.Duration
	// Warmup is warmup; -1 when not set.
	Warmup         time.Duration
	Alpha          bool // alpha (checker, real server or virtual server level)
	LogAllFailures bool // log_all_failures

	// HTTP_GET and SSL_GET.
	URLs         []URL
	HTTPProtocol string // http_protocol: "1.0", "1.1", "1.0C" or "1.0K"; empty when not set
	// VirtualHost is virtualhost, inherited from the real server and then
	// the virtual server when the checker has none.
	VirtualHost string
	EnableSNI   bool   // enable_sni
	SNIName     string // sni_name

	// MISC_CHECK.
	MiscPath    Command
	MiscTimeout time.Duration // misc_timeout; 0: not set (the delay_loop)
	MiscDynamic bool          // misc_dynamic
	// User and Group are the checker's user keyword; empty: script_user.
	User, Group string

	// UDP_CHECK.
	Payload        []byte // payload, decoded from hex; nil when not set
	RequireReply   bool   // require_reply
	Reply          string // require_reply's hex argument, as written; empty when none
	MinReplyLength int    // min_reply_length
	MaxReplyLength int    // max_reply_length

	// DNS_CHECK.
	DNSType string // type, upper case; empty when not set (SOA)
	DNSName string // name; empty when not set (".")

	// SMTP_CHECK.
	// HeloName is helo_name: the name sent with HELO; empty when not set
	// (keepalived's "smtpchecker.keepalived.org").
	HeloName string
	// SMTPHosts are the further servers an SMTP_CHECK talks to, from its
	// host blocks (deprecated in keepalived, still accepted): the check
	// passes only when the dialogue with the Check's own connection
	// (ConnectIP, ConnectPort, …) and with every host passes. When the
	// block has host blocks but sets none of connect_ip, connect_port,
	// bindto, bind_port, bind_if, fwmark and connect_timeout at its own
	// level, keepalived checks the hosts alone: the first host's settings
	// are then the Check's own and SMTPHosts holds the others.
	SMTPHosts []SMTPHost
}

// SMTPHost is one host block of an SMTP_CHECK: one more server the SMTP
// dialogue is held with. The other checker keywords of a host block
// (retry, delay_before_retry, warmup, delay_loop, alpha,
// log_all_failures) set the whole checker's, as in keepalived.
type SMTPHost struct {
	Pos            Pos           // position of the host keyword
	ConnectIP      netip.Addr    // connect_ip; zero: the real server's address
	ConnectPort    uint16        // connect_port; 0: the real server's port
	BindTo         netip.Addr    // bindto
	BindPort       uint16        // bind_port
	ConnectTimeout time.Duration // connect_timeout; 0: the Check's ConnectTimeout
}

// URL is one url block of HTTP_GET or SSL_GET.
type URL struct {
	Pos  Pos
	Path string // path; required
	// StatusCode is status_code as written (e.g. "200", "200-299 302");
	// empty when not set (200-299).
	StatusCode  string
	Digest      string // digest: lower-case hex MD5; empty when not set
	VirtualHost string // virtualhost of this url; empty when not set
}

// VRRPInstance is one vrrp_instance block.
type VRRPInstance struct {
	Pos             Pos    // position of the vrrp_instance keyword
	Name            string // the instance name, unique in the configuration
	Interface       string // interface; empty when not set
	InterfacePos    Pos    // position of the interface name; zero when not set
	State           string // "MASTER" or "BACKUP"; default "BACKUP"
	VirtualRouterID int    // virtual_router_id, 1..255; required
	Priority        int    // priority, 1..255; default 100
	VirtualIPs      []VirtualIP

	// Version is version, 2 or 3; 0 when not set (vrrp_version, else 2).
	Version int
	// AdvertInterval is advert_int (decimals allowed, e.g. 0.1); 0 when
	// not set (1s).
	AdvertInterval time.Duration
	NoPreempt      bool          // nopreempt (preempt turns it off again)
	PreemptDelay   time.Duration // preempt_delay; 0 when not set
	// AuthType and AuthPass are authentication { auth_type PASS|AH
	// auth_pass SECRET }; AuthType is "" when there is no block.
	AuthType, AuthPass string
	UnicastSrcIP       netip.Addr   // unicast_src_ip; zero when not set
	UnicastPeers       []netip.Addr // unicast_peer { ... }
	TrackInterfaces    []Track      // track_interface { IF [weight N] }
	TrackScripts       []Track      // track_script { NAME [weight N] }
	// Notify scripts: notify_master, notify_backup, notify_fault,
	// notify_stop and notify (called with the four arguments "INSTANCE"
	// NAME STATE PRIORITY appended).
	NotifyMaster, NotifyBackup, NotifyFault, NotifyStop, Notify Command
	// GARP overrides the global_defs GARP timing for this instance.
	GARP GARP
	// LowerPrioNoAdvert and SkipCheckAdvAddr are lower_prio_no_advert
	// and skip_check_adv_addr (or the global vrrp_* forms).
	LowerPrioNoAdvert, SkipCheckAdvAddr bool
	// SMTPAlert is smtp_alert: whether state changes send mail; nil when
	// not set (Mail.VRRPAlert decides).
	SMTPAlert *bool `json:",omitempty"`
	// UseVMAC is use_vmac: the VIPs are answered for, and announced,
	// with the virtual router MAC address 00:00:5e:00:01:VRID (RFC 5798
	// §7.3) instead of Interface's own, so that a failover changes no
	// client's ARP cache. xvs puts that address in the NIC's filter with
	// a macvlan interface on Interface while it runs, as keepalived does.
	UseVMAC bool `json:",omitempty"`
	// VMACName is use_vmac's interface name; empty when not given
	// (keepalived's default, vrrp.VRID, is used).
	VMACName string `json:",omitempty"`
	// VMACXmitBase is vmac_xmit_base: adverts go out with Interface's
	// own MAC address rather than the virtual one. It is cleared without
	// use_vmac and set with unicast_peer, each with a warning.
	VMACXmitBase bool `json:",omitempty"`
}

// Track is one line of track_interface or track_script: a name with an
// optional weight that is added to (or, negative, taken from) the
// priority while the tracked thing is up (positive) or down (negative).
// WeightSet is false when the line has no weight: a failure then puts the
// instance in FAULT state.
type Track struct {
	Pos       Pos
	Name      string
	Weight    int
	WeightSet bool
}

// VRRPScript is one vrrp_script block.
type VRRPScript struct {
	Pos      Pos
	Name     string
	Script   Command       // script; required
	Interval time.Duration // interval; default 1s
	Timeout  time.Duration // timeout; 0 when not set (the interval)
	Weight   int           // weight; 0 when not set
	Rise     int           // rise; default 1
	Fall     int           // fall; default 1
	// User and Group are the user keyword; empty: script_user.
	User, Group string
}

// VRRPSyncGroup is one vrrp_sync_group block: instances that change state
// together.
type VRRPSyncGroup struct {
	Pos                                                         Pos
	Name                                                        string
	Group                                                       []string // instance names, each defined by a vrrp_instance
	NotifyMaster, NotifyBackup, NotifyFault, NotifyStop, Notify Command
	TrackScripts                                                []Track
	// SMTPAlert is smtp_alert: whether the group's state changes send
	// mail; nil when not set (Mail.VRRPAlert decides).
	SMTPAlert *bool `json:",omitempty"`
}

// VirtualIP is one line of a virtual_ipaddress block.
type VirtualIP struct {
	Pos Pos // position of the address
	// Prefix is the address with its prefix length, not masked:
	// "198.18.0.100/24" keeps the address 198.18.0.100. It is /32 or
	// /128 when no prefix length is given.
	Prefix netip.Prefix
	Dev    string // dev; empty when not set
	DevPos Pos    // position of the dev name; zero when not set
	Label  string // label; empty when not set
}

// IfaceRef is a network interface named by the configuration.
type IfaceRef struct {
	Name string
	Pos  Pos // where it is named
}

// Interfaces returns every interface the configuration names, where it
// names it: for each VRRP instance its interface, the dev of its virtual
// IPs and its track_interface lines, then the xvs block's wan_interface
// and lan_interface, then the interface of lvs_sync_daemon (when it is
// used: Global.SyncDaemon is not nil). A name is listed at each place it
// appears.
func (s *Spec) Interfaces() []IfaceRef {
	var refs []IfaceRef
	add := func(name string, pos Pos) {
		if name != "" {
			refs = append(refs, IfaceRef{Name: name, Pos: pos})
		}
	}
	for _, vi := range s.VRRPInstances {
		add(vi.Interface, vi.InterfacePos)
		for _, vip := range vi.VirtualIPs {
			add(vip.Dev, vip.DevPos)
		}
		for _, t := range vi.TrackInterfaces {
			add(t.Name, t.Pos)
		}
	}
	add(s.XVS.WANInterface, s.XVS.WANInterfacePos)
	add(s.XVS.LANInterface, s.XVS.LANInterfacePos)
	if sd := s.Global.SyncDaemon; sd != nil {
		add(sd.Interface, sd.InterfacePos)
	}
	return refs
}

// Options changes how ParseWith reads a configuration.
type Options struct {
	// ConfigID is the configuration id, keepalived's -i option: a line
	// "@ID rest" is read as "rest" when ID is ConfigID and skipped
	// otherwise, and "@^ID rest" the other way round; ${_INSTANCE} is
	// replaced by it. Empty means the machine's host name up to its first
	// dot, as keepalived does.
	ConfigID string
}

// Parse parses src as the keepalived.conf named filename, with the
// configuration id taken from the host name (see Options). The name is
// used in positions, and include patterns are resolved relative to its
// directory (each included file's patterns relative to that file's
// directory) and read from the operating system's file system. Included
// files must be regular files of at most 16 MiB; includes may nest 10
// deep.
//
// On failure Parse returns a nil Spec and an *Error.
func Parse(filename string, src []byte) (*Spec, error) {
	return parse(filename, src, osFS{}, Options{})
}

// ParseWith is Parse with options.
func ParseWith(filename string, src []byte, opts Options) (*Spec, error) {
	return parse(filename, src, osFS{}, opts)
}

// ParseFile reads and parses the keepalived.conf at path. Problems in the
// file are returned as an *Error; a file that cannot be read gives an error
// wrapping the one from the operating system.
func ParseFile(path string) (*Spec, error) {
	return ParseFileWith(path, Options{})
}

// ParseFileWith is ParseFile with options.
func ParseFileWith(path string, opts Options) (*Spec, error) {
	src, err := osFS{}.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return ParseWith(path, src, opts)
}
