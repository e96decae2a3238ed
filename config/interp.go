package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

const (
	defaultDelayLoop   = 60 * time.Second
	defaultPersistence = 360 * time.Second
	maxPersistence     = 2678400  // seconds (31 days), as keepalived
	maxDelayLoop       = 31536000 // seconds (one year)
	defaultPriority    = 100
	maxQueues          = 1024
	maxIfNameLen       = 15 // IFNAMSIZ - 1
	maxInt32           = 1<<31 - 1
)

// vsKey identifies a virtual server.
type vsKey struct {
	addr     netip.Addr
	port     uint16
	protocol string
}

// interp turns statements into a Spec.
type interp struct {
	p         *parser
	spec      *Spec
	vsSeen    map[vsKey]Pos
	vrrpSeen  map[string]Pos
	globalSet bool

	// Filled while reading, checked once the whole configuration is read.
	vsDrafts    []*vsDraft          // virtual servers, in order
	groups      map[string]*vsGroup // virtual_server_group blocks by name
	scriptSeen  map[string]Pos      // vrrp_script names
	syncSeen    map[string]Pos      // vrrp_sync_group names
	vrrpExtra   []vrrpExtra         // for each of spec.VRRPInstances
	syncMembers [][]syncMember      // for each of spec.VRRPSyncGroups
	// syncdAt is the position of the first lvs_sync_daemon or
	// lvs_sync_daemon_interface, valid or not; zero when there is none.
	syncdAt Pos
	// syncd is what it set, resolved by finishSyncDaemon; nil when it is
	// invalid or names no instance.
	syncd *syncdDraft
}

// top interprets the top-level statements.
func (in *interp) top(list []*stmt) {
	in.vsSeen = make(map[vsKey]Pos)
	in.vrrpSeen = make(map[string]Pos)
	in.groups = make(map[string]*vsGroup)
	in.scriptSeen = make(map[string]Pos)
	in.syncSeen = make(map[string]Pos)
	for _, st := range list {
		switch st.kw.text {
		case "global_defs":
			in.globalDefs(st)
		case "virtual_server":
			in.virtualServer(st)
		case "virtual_server_group":
			in.virtualServerGroup(st)
		case "vrrp_instance":
			in.vrrpInstance(st)
		case "vrrp_script":
			in.vrrpScript(st)
		case "vrrp_sync_group":
			in.vrrpSyncGroup(st)
		case "xvs":
			in.xvs(st)
		default:
			in.other(st, notActedTop)
		}
	}
	in.finish()
}

// finish does what needs the whole configuration: virtual servers of
// groups, references to scripts and instances, and values that depend on
// global_defs.
func (in *interp) finish() {
	in.finishVirtualServers()
	in.finishVRRP()
	in.finishSyncDaemon()
	in.finishMail()
}

// other handles a keyword the current block does not act on.
func (in *interp) other(st *stmt, notActed map[string]bool) {
	kw := st.kw.text
	if garpIntervals[kw] && notActed[kw] && !in.garpInterval(st) {
		return
	}
	switch {
	case st.warning != "":
		in.p.warnf(st.kw.pos, "%s", st.warning)
	case placement[kw] != "":
		in.p.errorf(st.kw.pos, "%s is only allowed %s", kw, placement[kw])
	case notActed[kw]:
		in.notActed(st.kw.pos, kw)
	default:
		in.p.warnOnce(st.kw.pos, "unknown keyword %q", kw)
	}
}

// notActed warns, once per keyword, that kw is accepted but not acted on.
func (in *interp) notActed(pos Pos, kw string) {
	in.p.noteOnce(pos, "keyword %q is accepted but not acted on yet", kw)
}

// garpIntervals are the GARP and unsolicited NA interval keywords xvs
// does not act on yet, whose values keepalived checks all the same.
var garpIntervals = set("vrrp_garp_interval", "vrrp_gna_interval", "garp_interval", "gna_interval")

// garpInterval checks the value of a GARP or NA interval as keepalived
// does (decimal seconds from 0.000001 to 4294.967295) and reports whether
// it is valid; keepalived ignores an invalid line with a report, and so
// does xvs, with a warning.
func (in *interp) garpInterval(st *stmt) bool {
	if len(st.args) != 1 {
		return true // the not-acted-on note covers it
	}
	d, problem := parseSeconds(st.args[0].text, 4294)
	if problem == "" && (d < time.Microsecond || d > 4294967295*time.Microsecond) {
		problem = "is outside 0.000001 to 4294.967295 seconds"
	}
	if problem != "" {
		in.p.warnf(st.args[0].pos, "%s %q %s; the line is ignored, as keepalived does", st.kw.text, st.args[0].text, problem)
		return false
	}
	return true
}

// needBlock reports an error unless st opens a block.
func (in *interp) needBlock(st *stmt, example string) bool {
	if !st.hasBlock {
		in.p.errorf(st.kw.pos, "%s needs a block, e.g. %s", st.kw.text, example)
		return false
	}
	return true
}

// noBlock reports an error if st opens a block.
func (in *interp) noBlock(st *stmt) bool {
	if st.hasBlock {
		in.p.errorf(st.lbrace, "%s does not open a block", st.kw.text)
		return false
	}
	return true
}

// noArgs reports an error if st has arguments.
func (in *interp) noArgs(st *stmt) bool {
	if len(st.args) > 0 {
		in.p.errorf(st.args[0].pos, "%s takes no value; unexpected %q", st.kw.text, st.args[0].text)
		return false
	}
	return true
}

// value returns the single argument of st, which must not open a block.
func (in *interp) value(st *stmt, example string) (token, bool) {
	okBlock := in.noBlock(st)
	if len(st.args) == 0 {
		in.p.errorf(st.kw.pos, "%s needs a value, e.g. %q", st.kw.text, example)
		return token{}, false
	}
	if len(st.args) > 1 {
		in.p.errorf(st.args[1].pos, "%s takes one value; unexpected %q", st.kw.text, st.args[1].text)
		return st.args[0], false
	}
	return st.args[0], okBlock
}

// number returns the single argument of st as a number in [lo, hi].
func (in *interp) number(st *stmt, what string, lo, hi int, example string) (int, bool) {
	t, ok := in.value(st, example)
	if t.pos.Line == 0 {
		return 0, false
	}
	n, numOK := parseNum(t.text, lo, hi)
	if !numOK {
		in.p.errorf(t.pos, "%s %q is not a number between %d and %d", what, t.text, lo, hi)
	}
	return n, ok && numOK
}

// seconds returns the single argument of st as decimal seconds, at least
// min and at most max whole seconds.
func (in *interp) seconds(st *stmt, what string, min time.Duration, max int, example string) (time.Duration, bool) {
	t, ok := in.value(st, example)
	if t.pos.Line == 0 {
		return 0, false
	}
	d, problem := parseSeconds(t.text, max)
	if problem == "" && d < min {
		if min == 0 {
			problem = "is negative"
		} else if min == time.Nanosecond {
			problem = "is not greater than 0"
		} else {
			problem = "is less than " + min.String()
		}
	}
	if problem != "" {
		in.p.errorf(t.pos, "%s %q %s", what, t.text, problem)
		return 0, false
	}
	return d, ok
}

// wholeSeconds returns the single argument of st as whole seconds in
// [lo, hi].
func (in *interp) wholeSeconds(st *stmt, what string, lo, hi int, example string) (time.Duration, bool) {
	t, ok := in.value(st, example)
	if t.pos.Line == 0 {
		return 0, false
	}
	n, numOK := parseNum(t.text, lo, hi)
	if !numOK {
		in.p.errorf(t.pos, "%s %q is not a whole number of seconds between %d and %d", what, t.text, lo, hi)
		return 0, false
	}
	return time.Duration(n) * time.Second, ok
}

// flag reads a keyword that is on when given alone and takes an optional
// true/on/yes or false/off/no.
func (in *interp) flag(st *stmt) (bool, bool) {
	okBlock := in.noBlock(st)
	switch len(st.args) {
	case 0:
		return true, okBlock
	case 1:
		v, ok := parseBool(st.args[0].text)
		if !ok {
			in.p.errorf(st.args[0].pos, "%s %q is not one of true, false, on, off, yes, no", st.kw.text, st.args[0].text)
		}
		return v, ok && okBlock
	}
	in.p.errorf(st.args[1].pos, "%s takes at most one value; unexpected %q", st.kw.text, st.args[1].text)
	return false, false
}

// bare reads a keyword that takes no value.
func (in *interp) bare(st *stmt) bool {
	okBlock := in.noBlock(st)
	return in.noArgs(st) && okBlock
}

// command reads a script and its arguments: every word after the
// keyword, a quoted one split at spaces.
func (in *interp) command(st *stmt, example string) (Command, bool) {
	okBlock := in.noBlock(st)
	if len(st.args) == 0 {
		in.p.errorf(st.kw.pos, "%s needs a command, e.g. %s", st.kw.text, example)
		return Command{}, false
	}
	c := Command{Pos: st.args[0].pos}
	for _, a := range st.args {
		if a.kind == tokString {
			c.Argv = append(c.Argv, splitCommand(a.text)...)
		} else {
			c.Argv = append(c.Argv, a.text)
		}
	}
	if len(c.Argv) == 0 {
		in.p.errorf(st.args[0].pos, "%s needs a command, e.g. %s", st.kw.text, example)
		return Command{}, false
	}
	return c, okBlock
}

// userGroup reads USER [GROUP].
func (in *interp) userGroup(st *stmt) (user, group string, ok bool) {
	okBlock := in.noBlock(st)
	switch len(st.args) {
	case 0:
		in.p.errorf(st.kw.pos, "%s needs a user name, e.g. %q", st.kw.text, st.kw.text+" keepalived_script")
		return "", "", false
	case 1:
		return st.args[0].text, "", okBlock
	case 2:
		return st.args[0].text, st.args[1].text, okBlock
	}
	in.p.errorf(st.args[2].pos, "%s takes a user and a group; unexpected %q", st.kw.text, st.args[2].text)
	return "", "", false
}

// ifName returns the single argument of st as an interface name.
func (in *interp) ifName(st *stmt, example string) (string, Pos, bool) {
	t, ok := in.value(st, example)
	if t.pos.Line == 0 {
		return "", Pos{}, false
	}
	if !validIfName(t.text) {
		in.p.errorf(t.pos, "%s %q is not a valid interface name (1 to %d bytes, without \"/\", \":\" or white space)", st.kw.text, t.text, maxIfNameLen)
		return "", Pos{}, false
	}
	return t.text, t.pos, ok
}

// hostAddr parses t as the address of a virtual or real server.
func (in *interp) hostAddr(t token, what string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(t.text)
	var problem string
	switch {
	case err != nil:
		problem = "is not an IP address"
	case a.Zone() != "":
		problem = "has a zone, which is not supported"
	case a.IsUnspecified():
		problem = "is the unspecified address"
	case a.IsMulticast():
		problem = "is a multicast address"
	}
	if problem != "" {
		in.p.errorf(t.pos, "%s %q %s", what, t.text, problem)
		return netip.Addr{}, false
	}
	return a, true
}

// addrValue returns the single argument of st as a unicast address.
func (in *interp) addrValue(st *stmt, example string) (netip.Addr, bool) {
	t, ok := in.value(st, example)
	if t.pos.Line == 0 {
		return netip.Addr{}, false
	}
	a, addrOK := in.hostAddr(t, st.kw.text)
	return a, ok && addrOK
}

// port parses t as a port number.
func (in *interp) port(t token, what string) (uint16, bool) {
	n, ok := parseNum(t.text, 1, 65535)
	if !ok {
		in.p.errorf(t.pos, "%s %q is not a number between 1 and 65535", what, t.text)
		return 0, false
	}
	return uint16(n), true
}

func (in *interp) globalDefs(st *stmt) {
	in.noArgs(st)
	if !in.needBlock(st, `"global_defs { router_id lb1 }"`) {
		return
	}
	g := &in.spec.Global
	if !in.globalSet {
		in.globalSet = true
		g.Pos = st.kw.pos
	}
	for _, s := range st.block {
		if in.garp(s, &g.GARP, "vrrp_") || in.mailKeyword(s, &g.Mail) {
			continue
		}
		switch s.kw.text {
		case "router_id":
			if t, ok := in.value(s, "router_id lb1"); ok {
				g.RouterID = t.text
			}
		case "lvs_timeouts":
			in.lvsTimeouts(s)
		case "lvs_sync_daemon":
			in.lvsSyncDaemon(s)
		case "vrrp_version":
			if n, ok := in.number(s, "vrrp_version", 2, 3, "vrrp_version 3"); ok {
				g.VRRPVersion = n
			}
		case "vrrp_mcast_group4":
			t, ok := in.value(s, "vrrp_mcast_group4 224.0.0.18")
			if !ok {
				break
			}
			a, err := netip.ParseAddr(t.text)
			if err != nil || !a.Is4() || !a.IsMulticast() {
				in.p.errorf(t.pos, "vrrp_mcast_group4 %q is not an IPv4 multicast address", t.text)
				break
			}
			g.VRRPMcastGroup4 = a
		case "script_user":
			if u, gr, ok := in.userGroup(s); ok {
				g.ScriptUser, g.ScriptGroup = u, gr
			}
		case "enable_script_security":
			if in.bare(s) {
				g.EnableScriptSecurity = true
			}
		case "vrrp_skip_check_adv_addr":
			if v, ok := in.flag(s); ok {
				g.VRRPSkipCheckAdvAddr = v
			}
		case "vrrp_lower_prio_no_advert":
			if v, ok := in.flag(s); ok {
				g.VRRPLowerPrioNoAdvert = v
			}
		default:
			in.other(s, notActedGlobal)
		}
	}
}

// garp reads the gratuitous ARP keywords, named prefix+"garp_…" (the
// global_defs forms are vrrp_garp_…). It returns false when s is not one.
func (in *interp) garp(s *stmt, g *GARP, prefix string) bool {
	kw, found := strings.CutPrefix(s.kw.text, prefix)
	if !found {
		return false
	}
	const maxSeconds = 4294 // UINT_MAX microseconds, as keepalived
	switch kw {
	case "garp_master_delay":
		if d, ok := in.wholeSeconds(s, s.kw.text, 0, maxSeconds, s.kw.text+" 5"); ok {
			g.MasterDelay, g.MasterDelaySet = d, true
		}
	case "garp_master_refresh":
		if d, ok := in.wholeSeconds(s, s.kw.text, 0, maxInt32, s.kw.text+" 60"); ok {
			g.MasterRefresh, g.MasterRefreshSet = d, true
		}
	case "garp_lower_prio_delay":
		if d, ok := in.wholeSeconds(s, s.kw.text, 0, maxSeconds, s.kw.text+" 5"); ok {
			g.LowerPrioDelay, g.LowerPrioDelaySet = d, true
		}
	case "garp_master_repeat", "garp_master_refresh_repeat":
		n, ok := in.number(s, s.kw.text, 0, maxInt32, s.kw.text+" 5")
		if !ok {
			break
		}
		if n == 0 {
			// keepalived takes 0 for compatibility, as 1.
			in.p.warnf(s.args[0].pos, "%s must be greater than 0; 1 is used", s.kw.text)
			n = 1
		}
		if kw == "garp_master_repeat" {
			g.MasterRepeat, g.MasterRepeatSet = n, true
		} else {
			g.MasterRefreshRepeat, g.MasterRefreshRepeatSet = n, true
		}
	case "garp_lower_prio_repeat":
		if n, ok := in.number(s, s.kw.text, 0, maxInt32, s.kw.text+" 5"); ok {
			g.LowerPrioRepeat, g.LowerPrioRepeatSet = n, true
		}
	default:
		return false
	}
	return true
}

func (in *interp) xvs(st *stmt) {
	in.noArgs(st)
	if !in.needBlock(st, `"xvs { wan_interface eth0 }"`) {
		return
	}
	x := &in.spec.XVS
	if x.Pos.Line != 0 {
		in.p.errorf(st.kw.pos, "xvs block is already defined at %s", x.Pos)
		return
	}
	x.Pos = st.kw.pos
	for _, s := range st.block {
		switch s.kw.text {
		case "wan_interface":
			if name, pos, ok := in.ifName(s, "wan_interface eth0"); ok {
				x.WANInterface, x.WANInterfacePos = name, pos
			}
		case "lan_interface":
			if name, pos, ok := in.ifName(s, "lan_interface eth1"); ok {
				x.LANInterface, x.LANInterfacePos = name, pos
			}
		case "queues":
			if n, ok := in.number(s, "queues", 1, maxQueues, "queues 4"); ok {
				x.Queues = n
			}
		case "cpus":
			if t, ok := in.value(s, "cpus 2-5,8"); ok {
				cpus, err := ParseCPUList(t.text)
				if err != nil {
					in.p.errorf(t.pos, "cpus %q: %v", t.text, err)
					break
				}
				x.CPUs, x.CPUsPos = cpus, t.pos
			}
		case "max_connections":
			if n, ok := in.number(s, "max_connections", 256, 1<<30, "max_connections 1000000"); ok {
				x.MaxConnections = n
			}
		case "udp_reschedule":
			t, ok := in.value(s, "udp_reschedule off")
			if !ok {
				break
			}
			switch strings.ToLower(t.text) {
			case "on":
				x.UDPKeepDeadDest = false
			case "off":
				x.UDPKeepDeadDest = true
			default:
				in.p.errorf(t.pos, "udp_reschedule %q is not one of on, off", t.text)
			}
		case "sloppy_tcp":
			if v, ok := in.flag(s); ok {
				x.SloppyTCP = v
			}
		case "sync_threshold":
			in.syncThreshold(s, x)
		default:
			in.other(s, nil)
		}
	}
}

// maxCPU is the highest CPU number the cpus keyword takes (the kernel's
// NR_CPUS limit on x86_64 distributions).
const maxCPU = 8191

// ParseCPUList reads a CPU list as taskset -c and the kernel's cpuset
// files write it: numbers and ranges separated by commas, e.g. "2-5,8".
// It returns the CPUs in increasing order, each once.
func ParseCPUList(s string) ([]int, error) {
	seen := map[int]bool{}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, okA := parseNum(lo, 0, maxCPU)
		b := a
		okB := true
		if isRange {
			b, okB = parseNum(hi, 0, maxCPU)
		}
		if !okA || !okB {
			return nil, fmt.Errorf("%q is not a CPU number (0-%d) or a range such as 2-5", part, maxCPU)
		}
		if b < a {
			return nil, fmt.Errorf("range %q runs backwards", part)
		}
		for c := a; c <= b; c++ {
			seen[c] = true
		}
	}
	out := make([]int, 0, len(seen))
	for c := range seen {
		out = append(out, c)
	}
	slices.Sort(out)
	return out, nil
}

// lvsTimeouts reads "lvs_timeouts tcp N tcpfin N udp N" (any subset, in any
// order, seconds), as ipvsadm --set sets them.
func (in *interp) lvsTimeouts(st *stmt) {
	p := in.p
	in.noBlock(st)
	if len(st.args) == 0 || len(st.args)%2 != 0 {
		p.errorf(st.kw.pos, `lvs_timeouts takes pairs of a name and seconds, e.g. "lvs_timeouts tcp 900 tcpfin 120 udp 300"`)
		return
	}
	t := &in.spec.Global.LVSTimeouts
	for i := 0; i < len(st.args); i += 2 {
		name, val := st.args[i], st.args[i+1]
		n, ok := parseNum(val.text, 1, maxPersistence)
		if !ok {
			p.errorf(val.pos, "lvs_timeouts %s %q is not a number of seconds between 1 and %d", name.text, val.text, maxPersistence)
			continue
		}
		d := time.Duration(n) * time.Second
		switch strings.ToLower(name.text) {
		case "tcp":
			t.TCP = d
		case "tcpfin":
			t.TCPFin = d
		case "udp":
			t.UDP = d
		default:
			p.errorf(name.pos, "lvs_timeouts %q is not one of tcp, tcpfin, udp", name.text)
		}
	}
}
