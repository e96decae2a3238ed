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

// Diagnostic is one problem found in a file.
type Diagnostic struct {
	Pos     Pos
	Msg     string
	Warning bool // true for problems that do not stop the file being used
}

// String returns "file:line:col: msg", or "file:line:col: warning: msg"
// for warnings.
func (d Diagnostic) String() string {
	if d.Warning {
		return d.Pos.String() + ": warning: " + d.Msg
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
	XVS            XVS
	// Warnings lists keywords that were accepted but are not acted on,
	// and unknown keywords that were skipped, one per occurrence, in the
	// order they appear in the input.
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
}

// XVS is the optional xvs-specific block:
//
//	xvs {
//	    wan_interface IF
//	    lan_interface IF
//	    queues N
//	    max_connections N
//	}
//
// It may appear at most once.
type XVS struct {
	WANInterface string // wan_interface; empty when not set
	LANInterface string // lan_interface; empty when not set
	Queues       int    // queues, 1..1024; 0 when not set
	// MaxConnections bounds the connection table (max_connections); 0
	// when not set: derived from the machine's memory.
	MaxConnections int
	Pos            Pos // position of the xvs keyword; zero when absent
}

// VirtualServer is one virtual_server block: a virtual address and port
// that traffic is balanced for.
type VirtualServer struct {
	Pos       Pos        // position of the virtual_server keyword
	Addr      netip.Addr // IPv4 or IPv6, without a zone
	Port      uint16     // 1..65535
	Protocol  string     // "TCP" or "UDP"; default "TCP"
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
}

// VRRPInstance is one vrrp_instance block.
type VRRPInstance struct {
	Pos             Pos    // position of the vrrp_instance keyword
	Name            string // the instance name, unique in the configuration
	Interface       string // interface; empty when not set
	State           string // "MASTER" or "BACKUP"; default "BACKUP"
	VirtualRouterID int    // virtual_router_id, 1..255; required
	Priority        int    // priority, 1..255; default 100
	VirtualIPs      []VirtualIP
}

// VirtualIP is one line of a virtual_ipaddress block.
type VirtualIP struct {
	Pos Pos // position of the address
	// Prefix is the address with its prefix length, not masked:
	// "198.18.0.100/24" keeps the address 198.18.0.100. It is /32 or
	// /128 when no prefix length is given.
	Prefix netip.Prefix
	Dev    string // dev; empty when not set
	Label  string // label; empty when not set
}

// Parse parses src as the keepalived.conf named filename. The name is used
// in positions, and include patterns are resolved relative to its
// directory (each included file's patterns relative to that file's
// directory) and read from the operating system's file system. Included
// files must be regular files of at most 16 MiB; includes may nest 10
// deep.
//
// On failure Parse returns a nil Spec and an *Error.
func Parse(filename string, src []byte) (*Spec, error) {
	return parse(filename, src, osFS{})
}

// ParseFile reads and parses the keepalived.conf at path. Problems in the
// file are returned as an *Error; a file that cannot be read gives an error
// wrapping the one from the operating system.
func ParseFile(path string) (*Spec, error) {
	src, err := osFS{}.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, src)
}
