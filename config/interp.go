package config

import (
	"net/netip"
	"strconv"
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
}

// top interprets the top-level statements.
func (in *interp) top(list []*stmt) {
	in.vsSeen = make(map[vsKey]Pos)
	in.vrrpSeen = make(map[string]Pos)
	for _, st := range list {
		switch st.kw.text {
		case "global_defs":
			in.globalDefs(st)
		case "virtual_server":
			in.virtualServer(st)
		case "vrrp_instance":
			in.vrrpInstance(st)
		case "xvs":
			in.xvs(st)
		default:
			in.other(st, notActedTop)
		}
	}
}

// other handles a keyword the current block does not act on.
func (in *interp) other(st *stmt, notActed map[string]bool) {
	kw := st.kw.text
	switch {
	case st.warning != "":
		in.p.warnf(st.kw.pos, "%s", st.warning)
	case placement[kw] != "":
		in.p.errorf(st.kw.pos, "%s is only allowed %s", kw, placement[kw])
	case notActed[kw]:
		in.p.warnf(st.kw.pos, "keyword %q is accepted but not acted on yet", kw)
	default:
		in.p.warnf(st.kw.pos, "unknown keyword %q", kw)
	}
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
func (in *interp) noBlock(st *stmt) {
	if st.hasBlock {
		in.p.errorf(st.lbrace, "%s does not open a block", st.kw.text)
	}
}

// noArgs reports an error if st has arguments.
func (in *interp) noArgs(st *stmt) {
	if len(st.args) > 0 {
		in.p.errorf(st.args[0].pos, "%s takes no value; unexpected %q", st.kw.text, st.args[0].text)
	}
}

// value returns the single argument of st, which must not open a block.
func (in *interp) value(st *stmt, example string) (token, bool) {
	in.noBlock(st)
	if len(st.args) == 0 {
		in.p.errorf(st.kw.pos, "%s needs a value, e.g. %q", st.kw.text, example)
		return token{}, false
	}
	if len(st.args) > 1 {
		in.p.errorf(st.args[1].pos, "%s takes one value; unexpected %q", st.kw.text, st.args[1].text)
	}
	return st.args[0], true
}

// number returns the single argument of st as a number in [lo, hi].
func (in *interp) number(st *stmt, what string, lo, hi int, example string) (int, bool) {
	t, ok := in.value(st, example)
	if !ok {
		return 0, false
	}
	n, ok := parseNum(t.text, lo, hi)
	if !ok {
		in.p.errorf(t.pos, "%s %q is not a number between %d and %d", what, t.text, lo, hi)
	}
	return n, ok
}

// ifName returns the single argument of st as an interface name.
func (in *interp) ifName(st *stmt, example string) (string, bool) {
	t, ok := in.value(st, example)
	if !ok {
		return "", false
	}
	if !validIfName(t.text) {
		in.p.errorf(t.pos, "%s %q is not a valid interface name (1 to %d bytes, without \"/\", \":\" or white space)", st.kw.text, t.text, maxIfNameLen)
		return "", false
	}
	return t.text, true
}

func (in *interp) globalDefs(st *stmt) {
	in.noArgs(st)
	if !in.needBlock(st, `"global_defs { router_id lb1 }"`) {
		return
	}
	if !in.globalSet {
		in.globalSet = true
		in.spec.Global.Pos = st.kw.pos
	}
	for _, s := range st.block {
		switch s.kw.text {
		case "router_id":
			if t, ok := in.value(s, "router_id lb1"); ok {
				in.spec.Global.RouterID = t.text
			}
		case "lvs_timeouts":
			in.lvsTimeouts(s)
		default:
			in.other(s, notActedGlobal)
		}
	}
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
			if name, ok := in.ifName(s, "wan_interface eth0"); ok {
				x.WANInterface = name
			}
		case "lan_interface":
			if name, ok := in.ifName(s, "lan_interface eth1"); ok {
				x.LANInterface = name
			}
		case "queues":
			if n, ok := in.number(s, "queues", 1, maxQueues, "queues 4"); ok {
				x.Queues = n
			}
		case "max_connections":
			if n, ok := in.number(s, "max_connections", 256, 1<<30, "max_connections 1000000"); ok {
				x.MaxConnections = n
			}
		default:
			in.other(s, nil)
		}
	}
}

func (in *interp) virtualServer(st *stmt) {
	const example = `"virtual_server 198.18.0.100 80 {"`
	p := in.p
	if len(st.args) > 0 && (st.args[0].text == "fwmark" || st.args[0].text == "group") {
		p.warnf(st.kw.pos, "keyword %q is accepted but not acted on yet", "virtual_server "+st.args[0].text)
		return
	}
	vs := VirtualServer{
		Pos:       st.kw.pos,
		Protocol:  "TCP",
		Scheduler: "wlc",
		Kind:      "NAT",
		DelayLoop: defaultDelayLoop,
	}
	addrOK, portOK := false, false
	if len(st.args) < 2 {
		p.errorf(st.kw.pos, "virtual_server needs an IP address and a port, e.g. %s", example)
	} else {
		vs.Addr, addrOK = in.hostAddr(st.args[0], "virtual_server address")
		vs.Port, portOK = in.port(st.args[1], "virtual_server port")
		if len(st.args) > 2 {
			p.errorf(st.args[2].pos, "virtual_server takes an IP address and a port; unexpected %q", st.args[2].text)
		}
		if !st.hasBlock {
			p.errorf(st.kw.pos, "virtual_server needs a block, e.g. %s", example)
		}
	}
	seen := make(map[netip.AddrPort]Pos)
	valid := addrOK && portOK && len(st.args) == 2 && st.hasBlock
	for _, s := range st.block {
		switch s.kw.text {
		case "delay_loop":
			t, ok := in.value(s, "delay_loop 6")
			if !ok {
				valid = false
				break
			}
			d, problem := parseSeconds(t.text, maxDelayLoop)
			if problem == "" && d == 0 {
				problem = "is not greater than 0"
			}
			if problem != "" {
				p.errorf(t.pos, "delay_loop %q %s", t.text, problem)
				valid = false
				break
			}
			vs.DelayLoop = d
		case "lb_algo", "lvs_sched":
			t, ok := in.value(s, s.kw.text+" wlc")
			if !ok {
				valid = false
				break
			}
			name := strings.ToLower(t.text)
			if !knownScheduler(name) {
				p.errorf(t.pos, "%s %q is not a known scheduler (%s)", s.kw.text, t.text, strings.Join(schedulers, ", "))
				valid = false
				break
			}
			vs.Scheduler = name
		case "lb_kind", "lvs_method":
			t, ok := in.value(s, s.kw.text+" NAT")
			if !ok {
				valid = false
				break
			}
			kind := strings.ToUpper(t.text)
			if kind != "NAT" && kind != "DR" && kind != "TUN" {
				p.errorf(t.pos, "%s %q is not one of NAT, DR, TUN", s.kw.text, t.text)
				valid = false
				break
			}
			vs.Kind = kind
		case "persistence_timeout":
			in.noBlock(s)
			if len(s.args) == 0 {
				vs.PersistenceTimeout = defaultPersistence
				break
			}
			if len(s.args) > 1 {
				p.errorf(s.args[1].pos, "persistence_timeout takes one value; unexpected %q", s.args[1].text)
				valid = false
			}
			n, ok := parseNum(s.args[0].text, 0, maxPersistence)
			if !ok {
				p.errorf(s.args[0].pos, "persistence_timeout %q is not a number of seconds between 0 and %d", s.args[0].text, maxPersistence)
				valid = false
				break
			}
			vs.PersistenceTimeout = time.Duration(n) * time.Second
		case "persistence_granularity":
			t, ok := in.value(s, "persistence_granularity 255.255.255.0")
			if !ok {
				valid = false
				break
			}
			bits, ok := parseGranularity(t.text)
			if !ok {
				p.errorf(t.pos, "persistence_granularity %q is not a netmask such as 255.255.255.0 or a prefix length such as 24", t.text)
				valid = false
				break
			}
			vs.PersistenceGranularity = bits
		case "protocol":
			t, ok := in.value(s, "protocol TCP")
			if !ok {
				valid = false
				break
			}
			proto := strings.ToUpper(t.text)
			if proto != "TCP" && proto != "UDP" {
				p.errorf(t.pos, "protocol %q is not supported (TCP or UDP)", t.text)
				valid = false
				break
			}
			vs.Protocol = proto
		case "real_server":
			rs, ok := in.realServer(s, &vs, addrOK, portOK)
			if !ok {
				valid = false
				break
			}
			key := netip.AddrPortFrom(rs.Addr, rs.Port)
			if first, dup := seen[key]; dup {
				p.errorf(s.kw.pos, "real_server %s %d is already defined at %s", rs.Addr, rs.Port, first)
				valid = false
				break
			}
			seen[key] = rs.Pos
			vs.Reals = append(vs.Reals, rs)
		case "flag-1", "flag-2", "flag-3", "sh-port", "sh-fallback", "mh-port", "mh-fallback":
			in.noBlock(s)
			if len(s.args) > 0 {
				p.errorf(s.args[0].pos, "%s takes no value; unexpected %q", s.kw.text, s.args[0].text)
				valid = false
				break
			}
			vs.SchedulerFlags = append(vs.SchedulerFlags, s.kw.text)
		default:
			in.other(s, notActedVS)
		}
	}
	if !valid {
		return
	}
	key := vsKey{vs.Addr, vs.Port, vs.Protocol}
	if first, dup := in.vsSeen[key]; dup {
		p.errorf(st.kw.pos, "virtual_server %s %d %s is already defined at %s", vs.Addr, vs.Port, vs.Protocol, first)
		return
	}
	in.vsSeen[key] = vs.Pos
	in.spec.VirtualServers = append(in.spec.VirtualServers, vs)
}

// realServer interprets a real_server of vs. vsAddrOK and vsPortOK say
// whether vs.Addr and vs.Port are valid.
func (in *interp) realServer(st *stmt, vs *VirtualServer, vsAddrOK, vsPortOK bool) (RealServer, bool) {
	p := in.p
	rs := RealServer{Pos: st.kw.pos, Weight: 1}
	valid := true
	switch len(st.args) {
	case 0:
		p.errorf(st.kw.pos, `real_server needs an IP address and a port, e.g. "real_server 198.18.0.11 80 {"`)
		valid = false
	case 1:
		rs.Port = vs.Port
		valid = vsPortOK
	default:
		var ok bool
		rs.Port, ok = in.port(st.args[1], "real_server port")
		valid = valid && ok
		if len(st.args) > 2 {
			p.errorf(st.args[2].pos, "real_server takes an IP address and a port; unexpected %q", st.args[2].text)
			valid = false
		}
	}
	if len(st.args) > 0 {
		var ok bool
		rs.Addr, ok = in.hostAddr(st.args[0], "real_server address")
		valid = valid && ok
		if ok && vsAddrOK && rs.Addr.Is4() != vs.Addr.Is4() {
			p.errorf(st.args[0].pos, "real_server address %s is %s but virtual_server address %s is %s",
				rs.Addr, family(rs.Addr), vs.Addr, family(vs.Addr))
			valid = false
		}
	}
	for _, s := range st.block {
		switch s.kw.text {
		case "weight":
			n, ok := in.number(s, "real_server weight", 0, 65535, "weight 1")
			if !ok {
				valid = false
				break
			}
			rs.Weight = n
		case "uthreshold", "lthreshold":
			n, ok := in.number(s, "real_server "+s.kw.text, 0, 65535, s.kw.text+" 1000")
			if !ok {
				valid = false
				break
			}
			if s.kw.text == "uthreshold" {
				rs.UThreshold = n
			} else {
				rs.LThreshold = n
			}
		default:
			in.other(s, notActedRS)
		}
	}
	return rs, valid
}

func (in *interp) vrrpInstance(st *stmt) {
	const example = `"vrrp_instance VI_1 {"`
	p := in.p
	vi := VRRPInstance{Pos: st.kw.pos, State: "BACKUP", Priority: defaultPriority}
	valid := true
	if len(st.args) == 0 {
		p.errorf(st.kw.pos, "vrrp_instance needs a name, e.g. %s", example)
		valid = false
	} else {
		vi.Name = st.args[0].text
		if len(st.args) > 1 {
			p.errorf(st.args[1].pos, "vrrp_instance takes one name; unexpected %q", st.args[1].text)
			valid = false
		}
		if !in.needBlock(st, example) {
			return
		}
	}
	idSet := false
	vipSeen := make(map[netip.Addr]Pos)
	for _, s := range st.block {
		switch s.kw.text {
		case "state":
			t, ok := in.value(s, "state BACKUP")
			if !ok {
				valid = false
				break
			}
			state := strings.ToUpper(t.text)
			if state != "MASTER" && state != "BACKUP" {
				p.errorf(t.pos, "state %q is not one of MASTER, BACKUP", t.text)
				valid = false
				break
			}
			vi.State = state
		case "interface":
			name, ok := in.ifName(s, "interface eth0")
			valid = valid && ok
			vi.Interface = name
		case "virtual_router_id":
			n, ok := in.number(s, "virtual_router_id", 1, 255, "virtual_router_id 51")
			valid = valid && ok
			vi.VirtualRouterID, idSet = n, true
		case "priority":
			n, ok := in.number(s, "priority", 1, 255, "priority 100")
			valid = valid && ok
			vi.Priority = n
		case "virtual_ipaddress":
			in.noArgs(s)
			if !in.needBlock(s, `"virtual_ipaddress { 198.18.0.100/24 dev eth0 }"`) {
				valid = false
				break
			}
			for _, line := range s.block {
				if line.warning != "" {
					in.other(line, nil)
					continue
				}
				vip, ok := in.virtualIP(line)
				if !ok {
					valid = false
					continue
				}
				if first, dup := vipSeen[vip.Prefix.Addr()]; dup {
					p.errorf(vip.Pos, "virtual_ipaddress %s is already listed at %s", vip.Prefix.Addr(), first)
					valid = false
					continue
				}
				vipSeen[vip.Prefix.Addr()] = vip.Pos
				vi.VirtualIPs = append(vi.VirtualIPs, vip)
			}
		default:
			in.other(s, notActedVRRP)
		}
	}
	if vi.Name == "" {
		return
	}
	if first, dup := in.vrrpSeen[vi.Name]; dup {
		p.errorf(st.args[0].pos, "vrrp_instance %q is already defined at %s", vi.Name, first)
		return
	}
	in.vrrpSeen[vi.Name] = vi.Pos
	if !idSet {
		p.errorf(st.kw.pos, "vrrp_instance %q needs a virtual_router_id, e.g. \"virtual_router_id 51\"", vi.Name)
		return
	}
	if valid {
		in.spec.VRRPInstances = append(in.spec.VRRPInstances, vi)
	}
}

// virtualIP interprets one line of a virtual_ipaddress block:
// ADDR[/LEN] [dev IF] [label LABEL] [other options].
func (in *interp) virtualIP(st *stmt) (VirtualIP, bool) {
	p := in.p
	vip := VirtualIP{Pos: st.kw.pos}
	valid := true
	if st.hasBlock {
		p.errorf(st.lbrace, "a virtual_ipaddress line does not open a block")
		valid = false
	}
	prefix, ok := parseVIP(st.kw.text)
	if !ok {
		p.errorf(st.kw.pos, "virtual_ipaddress %q is not an IP address or prefix, e.g. \"198.18.0.100/24\"", st.kw.text)
		valid = false
	}
	vip.Prefix = prefix
	args := st.args
	for i := 0; i < len(args); i++ {
		opt := args[i]
		switch opt.text {
		case "dev", "label":
			if i+1 >= len(args) {
				p.errorf(opt.pos, "%s needs a value, e.g. %q", opt.text, opt.text+" eth0")
				return vip, false
			}
			i++
			v := args[i]
			if opt.text == "dev" {
				if !validIfName(v.text) {
					p.errorf(v.pos, "dev %q is not a valid interface name (1 to %d bytes, without \"/\", \":\" or white space)", v.text, maxIfNameLen)
					valid = false
				}
				vip.Dev = v.text
			} else {
				if v.text == "" || len(v.text) > maxIfNameLen || strings.ContainsAny(v.text, "/ \t") {
					p.errorf(v.pos, "label %q is not a valid address label (1 to %d bytes, without \"/\" or white space)", v.text, maxIfNameLen)
					valid = false
				}
				vip.Label = v.text
			}
		default:
			takesValue, known := vipOptions[opt.text]
			if !known {
				// Whether it takes a value is unknown, so the rest of
				// the line is skipped.
				p.warnf(opt.pos, "unknown keyword %q", opt.text)
				return vip, valid
			}
			p.warnf(opt.pos, "keyword %q is accepted but not acted on yet", opt.text)
			if takesValue {
				i++
			}
		}
	}
	return vip, valid
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

// port parses t as a port number.
func (in *interp) port(t token, what string) (uint16, bool) {
	n, ok := parseNum(t.text, 1, 65535)
	if !ok {
		in.p.errorf(t.pos, "%s %q is not a number between 1 and 65535", what, t.text)
		return 0, false
	}
	return uint16(n), true
}

// parseVIP parses ADDR or ADDR/LEN. A missing length means /32 or /128.
func parseVIP(s string) (netip.Prefix, bool) {
	var pfx netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if pfx, err = netip.ParsePrefix(s); err != nil {
			return netip.Prefix{}, false
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, false
		}
		pfx = netip.PrefixFrom(a, a.BitLen())
	}
	if a := pfx.Addr(); a.IsUnspecified() || a.IsMulticast() {
		return netip.Prefix{}, false
	}
	return pfx, true
}

// isDigits reports whether s is a non-empty run of decimal digits.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseNum parses s, which must be only decimal digits (no sign), as a
// number in [lo, hi].
func parseNum(s string, lo, hi int) (int, bool) {
	if !isDigits(s) {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
		if n > hi {
			return 0, false
		}
	}
	return n, n >= lo
}

// parseSeconds parses a decimal number of seconds such as "6" or "1.5",
// with at most nine decimals and at most max whole seconds. On failure it
// returns the problem as the end of a sentence.
func parseSeconds(s string, max int) (time.Duration, string) {
	whole, frac, hasDot := strings.Cut(s, ".")
	if (whole == "" && frac == "") || (whole != "" && !isDigits(whole)) || (frac != "" && !isDigits(frac)) {
		return 0, `is not a number of seconds, e.g. "6" or "1.5"`
	}
	if len(frac) > 9 {
		return 0, "has more than 9 decimals"
	}
	if whole == "" {
		whole = "0"
	}
	w, ok := parseNum(whole, 0, max)
	if !ok {
		return 0, "is more than " + strconv.Itoa(max) + " seconds"
	}
	f := 0
	if hasDot {
		f, _ = parseNum((frac + "000000000")[:9], 0, 999999999)
	}
	return time.Duration(w)*time.Second + time.Duration(f), ""
}

func knownScheduler(name string) bool {
	for _, s := range schedulers {
		if s == name {
			return true
		}
	}
	return false
}

func family(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// validIfName reports whether s can be a Linux network interface name.
func validIfName(s string) bool {
	if s == "" || len(s) > maxIfNameLen || s == "." || s == ".." {
		return false
	}
	return !strings.ContainsAny(s, "/: \t\n\r\v\f")
}

// parseGranularity reads a persistence netmask, dotted (255.255.255.0) or
// as a prefix length (24, or /24), and returns its length in bits.
func parseGranularity(s string) (int, bool) {
	if n, ok := parseNum(strings.TrimPrefix(s, "/"), 0, 128); ok {
		return n, true
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return 0, false
	}
	m := a.As4()
	v := uint32(m[0])<<24 | uint32(m[1])<<16 | uint32(m[2])<<8 | uint32(m[3])
	bits := 0
	for v&0x80000000 != 0 {
		bits++
		v <<= 1
	}
	if v != 0 {
		return 0, false // not contiguous
	}
	return bits, true
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
