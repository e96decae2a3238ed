package config

import (
	"net/netip"
	"strings"
	"time"
)

// level holds the checker settings that a virtual server, a real server
// or a checker gives, each inheriting the ones it does not set from the
// level above, as keepalived does.
type level struct {
	retry            int // -1: not set
	delayBeforeRetry time.Duration
	dbrSet           bool
	warmup           time.Duration
	warmupSet        bool
	connectTimeout   time.Duration // 0: not set
	delayLoop        time.Duration // 0: not set
	virtualHost      string
	alpha, alphaSet  bool
}

func newLevel() level { return level{retry: -1} }

// under returns l with what it does not set taken from up.
func (l level) under(up level) level {
	if l.retry < 0 {
		l.retry = up.retry
	}
	if !l.dbrSet {
		l.delayBeforeRetry, l.dbrSet = up.delayBeforeRetry, up.dbrSet
	}
	if !l.warmupSet {
		l.warmup, l.warmupSet = up.warmup, up.warmupSet
	}
	if l.connectTimeout == 0 {
		l.connectTimeout = up.connectTimeout
	}
	if l.delayLoop == 0 {
		l.delayLoop = up.delayLoop
	}
	if l.virtualHost == "" {
		l.virtualHost = up.virtualHost
	}
	if !l.alphaSet {
		l.alpha, l.alphaSet = up.alpha, up.alphaSet
	}
	return l
}

// levelKeyword reads the keywords that checkers inherit. minRetry is the
// smallest retry the level takes. It returns handled false when s is not
// one of them.
func (in *interp) levelKeyword(s *stmt, l *level, what string, minRetry int) (handled, ok bool) {
	switch s.kw.text {
	case "retry":
		l.retry, ok = in.number(s, what+"retry", minRetry, maxInt32, "retry 3")
		if !ok {
			l.retry = -1
		}
	case "delay_before_retry":
		l.delayBeforeRetry, ok = in.seconds(s, what+"delay_before_retry", 0, maxDelayLoop, "delay_before_retry 3")
		l.dbrSet = ok
	case "warmup":
		l.warmup, ok = in.seconds(s, what+"warmup", 0, maxDelayLoop, "warmup 5")
		l.warmupSet = ok
	case "connect_timeout":
		l.connectTimeout, ok = in.seconds(s, what+"connect_timeout", time.Nanosecond, maxDelayLoop, "connect_timeout 3")
	case "delay_loop":
		l.delayLoop, ok = in.seconds(s, what+"delay_loop", time.Nanosecond, maxDelayLoop, "delay_loop 6")
	case "virtualhost":
		var t token
		if t, ok = in.value(s, "virtualhost www.example.com"); ok {
			l.virtualHost = t.text
		}
	case "alpha":
		if l.alpha, ok = in.flag(s); ok {
			l.alphaSet = true
		}
	default:
		return false, true
	}
	return true, ok
}

// vsDraft is a virtual_server block as read, before the checks that need
// the whole configuration.
type vsDraft struct {
	vs        VirtualServer
	valid     bool
	group     token // the group name of "virtual_server group NAME"; zero otherwise
	reals     []rsExtra
	sorryPort bool // the sorry server takes the virtual server's port
}

// rsExtra is what is known about a real server beyond the Spec.
type rsExtra struct {
	portFromVS bool // real_server gave no port
}

// vsGroup is a virtual_server_group block.
type vsGroup struct {
	pos     Pos
	valid   bool
	entries []groupEntry
}

// groupEntry is one address (or range) and port of a virtual_server_group.
type groupEntry struct {
	pos   Pos
	addrs []netip.Addr
	port  uint16
}

func (in *interp) virtualServer(st *stmt) {
	const example = `"virtual_server 198.18.0.100 80 {"`
	p := in.p
	if len(st.args) > 0 && st.args[0].text == "fwmark" {
		p.errorf(st.args[0].pos, "fwmark services are not supported by xvs yet")
		return
	}
	d := &vsDraft{valid: true}
	vs := &d.vs
	*vs = VirtualServer{
		Pos:       st.kw.pos,
		Scheduler: "wlc",
		Kind:      "NAT",
		DelayLoop: defaultDelayLoop,
		Quorum:    1,
	}
	addrOK, portOK := false, false
	switch {
	case len(st.args) > 0 && st.args[0].text == "group":
		if len(st.args) < 2 {
			p.errorf(st.args[0].pos, `virtual_server group needs a group name, e.g. "virtual_server group VSG_1 {"`)
			d.valid = false
			break
		}
		d.group = st.args[1]
		vs.Group = st.args[1].text
		if len(st.args) > 2 {
			p.errorf(st.args[2].pos, "virtual_server group takes one name; unexpected %q", st.args[2].text)
			d.valid = false
		}
		if !st.hasBlock {
			p.errorf(st.kw.pos, "virtual_server needs a block, e.g. %s", example)
			d.valid = false
		}
	case len(st.args) < 2:
		p.errorf(st.kw.pos, "virtual_server needs an IP address and a port, e.g. %s", example)
		d.valid = false
	default:
		vs.Addr, addrOK = in.hostAddr(st.args[0], "virtual_server address")
		vs.Port, portOK = in.port(st.args[1], "virtual_server port")
		d.valid = addrOK && portOK
		if len(st.args) > 2 {
			p.errorf(st.args[2].pos, "virtual_server takes an IP address and a port; unexpected %q", st.args[2].text)
			d.valid = false
		}
		if !st.hasBlock {
			p.errorf(st.kw.pos, "virtual_server needs a block, e.g. %s", example)
			d.valid = false
		}
	}
	inGroup := d.group.pos.Line != 0
	lvl := newLevel()
	inhibit := false
	seen := make(map[netip.AddrPort]Pos)
	var levels [][]level // for each real server, its checkers' levels
	var rsLevels []level
	var rsInhibit []*bool
	for _, s := range st.block {
		ok := true
		if s.kw.text == "delay_loop" {
			if vs.DelayLoop, ok = in.seconds(s, "delay_loop", time.Nanosecond, maxDelayLoop, "delay_loop 6"); ok {
				lvl.delayLoop = vs.DelayLoop
			} else {
				vs.DelayLoop = defaultDelayLoop
			}
			d.valid = d.valid && ok
			continue
		}
		if handled, lok := in.levelKeyword(s, &lvl, "virtual_server ", 1); handled {
			if s.kw.text == "alpha" && lok {
				vs.Alpha = lvl.alpha
			}
			d.valid = d.valid && lok
			continue
		}
		switch s.kw.text {
		case "lb_algo", "lvs_sched":
			var t token
			if t, ok = in.value(s, s.kw.text+" wlc"); !ok {
				break
			}
			name := strings.ToLower(t.text)
			if !knownScheduler(name) {
				p.errorf(t.pos, "%s %q is not a known scheduler (%s)", s.kw.text, t.text, strings.Join(schedulers, ", "))
				ok = false
				break
			}
			vs.Scheduler = name
		case "lb_kind", "lvs_method":
			var t token
			if t, ok = in.value(s, s.kw.text+" NAT"); !ok {
				break
			}
			kind := t.text
			if kind != "NAT" && kind != "DR" && kind != "TUN" {
				// keepalived compares exactly: "unknown routing
				// method", and NAT is used.
				p.warnf(t.pos, "%s %q is not NAT, DR or TUN (in capitals); NAT is used, as keepalived does", s.kw.text, t.text)
				kind = "NAT"
			}
			vs.Kind = kind
		case "persistence_timeout":
			ok = in.noBlock(s)
			if len(s.args) == 0 {
				vs.PersistenceTimeout = defaultPersistence
				break
			}
			if len(s.args) > 1 {
				p.errorf(s.args[1].pos, "persistence_timeout takes one value; unexpected %q", s.args[1].text)
				ok = false
			}
			n, nOK := parseNum(s.args[0].text, 1, maxPersistence)
			if !nOK {
				p.errorf(s.args[0].pos, "persistence_timeout %q is not a number of seconds between 1 and %d, as keepalived requires (leave it out for no persistence)", s.args[0].text, maxPersistence)
				ok = false
				break
			}
			vs.PersistenceTimeout = time.Duration(n) * time.Second
		case "persistence_granularity":
			var t token
			if t, ok = in.value(s, "persistence_granularity 255.255.255.0"); !ok {
				break
			}
			bits, bOK := parseGranularity(t.text)
			if !bOK {
				p.errorf(t.pos, "persistence_granularity %q is not a netmask such as 255.255.255.0 or a prefix length such as 24", t.text)
				ok = false
				break
			}
			vs.PersistenceGranularity = bits
		case "protocol":
			var t token
			if t, ok = in.value(s, "protocol TCP"); !ok {
				break
			}
			proto := strings.ToUpper(t.text)
			if proto != "TCP" && proto != "UDP" {
				p.errorf(t.pos, "protocol %q is not supported (TCP or UDP)", t.text)
				ok = false
				break
			}
			vs.Protocol = proto
		case "flag-1", "flag-2", "flag-3", "sh-port", "sh-fallback", "mh-port", "mh-fallback":
			if ok = in.bare(s); ok {
				vs.SchedulerFlags = append(vs.SchedulerFlags, s.kw.text)
			}
		case "quorum":
			vs.Quorum, ok = in.number(s, "quorum", 1, maxInt32, "quorum 2")
			if !ok {
				vs.Quorum = 1
			}
		case "hysteresis":
			vs.Hysteresis, ok = in.number(s, "hysteresis", 0, maxInt32, "hysteresis 1")
		case "quorum_up":
			vs.QuorumUp, ok = in.command(s, `"quorum_up /etc/keepalived/quorum.sh up"`)
		case "quorum_down":
			vs.QuorumDown, ok = in.command(s, `"quorum_down /etc/keepalived/quorum.sh down"`)
		case "sorry_server":
			ok = in.sorryServer(s, d, addrOK, portOK)
		case "sorry_server_inhibit":
			if ok = in.bare(s); !ok {
				break
			}
			if vs.Sorry == nil {
				p.warnf(s.kw.pos, "sorry_server_inhibit before or without sorry_server is ignored, as keepalived does")
				break
			}
			vs.Sorry.Inhibit = true
		case "ha_suspend":
			if ok = in.bare(s); ok {
				vs.HASuspend = true
			}
		case "omega":
			if ok = in.bare(s); ok {
				vs.Omega = true
			}
		case "smtp_alert":
			in.smtpAlert(s, &vs.SMTPAlert)
		case "inhibit_on_failure":
			if ok = in.bare(s); ok {
				inhibit = true
			}
		case "real_server":
			rs, extra, rsLvl, inh, checkLevels, rsOK := in.realServer(s, vs, addrOK, portOK || inGroup)
			if !rsOK {
				ok = false
				break
			}
			key := netip.AddrPortFrom(rs.Addr, rs.Port)
			if first, dup := seen[key]; dup {
				p.errorf(s.kw.pos, "real_server %s %d is already defined at %s", rs.Addr, rs.Port, first)
				ok = false
				break
			}
			seen[key] = rs.Pos
			vs.Reals = append(vs.Reals, rs)
			d.reals = append(d.reals, extra)
			rsLevels = append(rsLevels, rsLvl)
			rsInhibit = append(rsInhibit, inh)
			levels = append(levels, checkLevels)
		default:
			in.other(s, notActedVS)
		}
		d.valid = d.valid && ok
	}
	if vs.Protocol == "" {
		// keepalived 2.2: "no protocol set - defaulting to UDP" (IPVS
		// takes protocol 0 as UDP).
		p.warnf(vs.Pos, "virtual_server has no protocol, so it is UDP, as keepalived does; write \"protocol TCP\" for TCP")
		vs.Protocol = "UDP"
	}
	// Checkers take what they do not set from their real server, and it
	// from the virtual server.
	lvl.delayLoop = vs.DelayLoop
	for i := range vs.Reals {
		rs := &vs.Reals[i]
		rs.InhibitOnFailure = inhibit
		if rsInhibit[i] != nil {
			rs.InhibitOnFailure = *rsInhibit[i]
		}
		up := rsLevels[i].under(lvl)
		for j := range rs.Checks {
			c := &rs.Checks[j]
			l := levels[i][j].under(up)
			c.Retry = l.retry
			c.DelayBeforeRetry = l.delayBeforeRetry
			c.Warmup = -1
			if l.warmupSet {
				c.Warmup = l.warmup
			}
			c.DelayLoop = l.delayLoop
			c.Alpha = l.alpha
			if c.Kind != "MISC_CHECK" {
				c.ConnectTimeout = l.connectTimeout
			}
			if c.Kind == "HTTP_GET" || c.Kind == "SSL_GET" {
				c.VirtualHost = l.virtualHost
			}
		}
	}
	in.vsDrafts = append(in.vsDrafts, d)
}

// sorryServer reads sorry_server ADDR [PORT].
func (in *interp) sorryServer(s *stmt, d *vsDraft, vsAddrOK, vsPortOK bool) bool {
	p := in.p
	vs := &d.vs
	in.noBlock(s)
	if len(s.args) == 0 {
		p.errorf(s.kw.pos, `sorry_server needs an IP address and a port, e.g. "sorry_server 198.18.1.99 80"`)
		return false
	}
	if len(s.args) > 2 {
		p.errorf(s.args[2].pos, "sorry_server takes an IP address and a port; unexpected %q", s.args[2].text)
		return false
	}
	a, ok := in.hostAddr(s.args[0], "sorry_server address")
	if !ok {
		return false
	}
	if vsAddrOK && a.Is4() != vs.Addr.Is4() {
		p.errorf(s.args[0].pos, "sorry_server address %s is %s but virtual_server address %s is %s", a, family(a), vs.Addr, family(vs.Addr))
		return false
	}
	sorry := &SorryServer{Pos: s.kw.pos, Addr: a}
	if len(s.args) == 2 {
		if sorry.Port, ok = in.port(s.args[1], "sorry_server port"); !ok {
			return false
		}
		d.sorryPort = false
	} else {
		sorry.Port = vs.Port
		d.sorryPort = true
	}
	vs.Sorry = sorry
	return vsPortOK || d.group.pos.Line != 0 || len(s.args) == 2
}

// realServer interprets a real_server of vs. vsAddrOK and vsPortOK say
// whether vs.Addr and vs.Port are valid (for a group, vs.Addr is never
// valid and the port comes later). It returns the real server, its own
// checker settings, its inhibit_on_failure (nil when not given) and each
// checker's own settings.
func (in *interp) realServer(st *stmt, vs *VirtualServer, vsAddrOK, vsPortOK bool) (RealServer, rsExtra, level, *bool, []level, bool) {
	p := in.p
	rs := RealServer{Pos: st.kw.pos, Weight: 1}
	var extra rsExtra
	lvl := newLevel()
	var inhibit *bool
	var checkLevels []level
	valid := true
	switch len(st.args) {
	case 0:
		p.errorf(st.kw.pos, `real_server needs an IP address and a port, e.g. "real_server 198.18.0.11 80 {"`)
		valid = false
	case 1:
		rs.Port = vs.Port
		extra.portFromVS = true
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
		if handled, ok := in.levelKeyword(s, &lvl, "real_server ", 1); handled {
			valid = valid && ok
			continue
		}
		ok := true
		switch s.kw.text {
		case "weight":
			rs.Weight, ok = in.number(s, "real_server weight", 0, 65535, "weight 1")
		case "uthreshold", "lthreshold":
			var n int
			if n, ok = in.number(s, "real_server "+s.kw.text, 0, 65535, s.kw.text+" 1000"); !ok {
				break
			}
			if s.kw.text == "uthreshold" {
				rs.UThreshold = n
			} else {
				rs.LThreshold = n
			}
		case "inhibit_on_failure":
			var v bool
			if v, ok = in.flag(s); ok {
				inhibit = &v
			}
		case "smtp_alert":
			in.smtpAlert(s, &rs.SMTPAlert)
		case "notify_up":
			rs.NotifyUp, ok = in.command(s, `"notify_up /etc/keepalived/rs.sh up"`)
		case "notify_down":
			rs.NotifyDown, ok = in.command(s, `"notify_down /etc/keepalived/rs.sh down"`)
		case "TCP_CHECK", "HTTP_GET", "SSL_GET", "MISC_CHECK", "UDP_CHECK", "PING_CHECK", "DNS_CHECK", "SMTP_CHECK":
			var c Check
			var cl level
			c, cl, ok = in.checker(s, rs.Addr)
			if ok && !c.ignored {
				rs.Checks = append(rs.Checks, c)
				checkLevels = append(checkLevels, cl)
			}
		default:
			in.other(s, notActedRS)
		}
		valid = valid && ok
	}
	return rs, extra, lvl, inhibit, checkLevels, valid
}

// virtualServerGroup reads virtual_server_group NAME { ADDR[-LAST] PORT ... }.
func (in *interp) virtualServerGroup(st *stmt) {
	const example = `"virtual_server_group VSG_1 { 198.18.0.100-102 80 }"`
	p := in.p
	if len(st.args) == 0 {
		p.errorf(st.kw.pos, "virtual_server_group needs a name, e.g. %s", example)
		return
	}
	name := st.args[0].text
	g := &vsGroup{pos: st.kw.pos, valid: true}
	if len(st.args) > 1 {
		p.errorf(st.args[1].pos, "virtual_server_group takes one name; unexpected %q", st.args[1].text)
		g.valid = false
	}
	if !in.needBlock(st, example) {
		return
	}
	for _, line := range st.block {
		if line.warning != "" {
			in.other(line, nil)
			continue
		}
		if line.hasBlock {
			p.errorf(line.lbrace, "a virtual_server_group line does not open a block")
			g.valid = false
			continue
		}
		if line.kw.text == "fwmark" {
			p.errorf(line.kw.pos, "fwmark services are not supported by xvs yet")
			g.valid = false
			continue
		}
		addrs, problem := expandRange(line.kw.text)
		if problem != "" {
			p.errorf(line.kw.pos, "virtual_server_group address %q %s", line.kw.text, problem)
			g.valid = false
			continue
		}
		if len(line.args) == 0 {
			p.errorf(line.kw.pos, "virtual_server_group %s needs a port after %s; xvs does not balance all ports", name, line.kw.text)
			g.valid = false
			continue
		}
		port, ok := in.port(line.args[0], "virtual_server_group port")
		if !ok {
			g.valid = false
			continue
		}
		if len(line.args) > 1 {
			p.errorf(line.args[1].pos, "a virtual_server_group line takes an address and a port; unexpected %q", line.args[1].text)
			g.valid = false
			continue
		}
		g.entries = append(g.entries, groupEntry{pos: line.kw.pos, addrs: addrs, port: port})
	}
	if first, dup := in.groups[name]; dup {
		p.errorf(st.args[0].pos, "virtual_server_group %q is already defined at %s", name, first.pos)
		return
	}
	in.groups[name] = g
	if len(g.entries) == 0 && g.valid {
		p.errorf(st.kw.pos, "virtual_server_group %q has no addresses, e.g. %s", name, example)
		g.valid = false
	}
}

// finishVirtualServers expands the virtual servers of groups and adds
// every virtual server to the Spec, in order.
func (in *interp) finishVirtualServers() {
	p := in.p
	for _, d := range in.vsDrafts {
		if d.group.pos.Line == 0 {
			if d.valid {
				in.addVS(d.vs, "")
			}
			continue
		}
		g := in.groups[d.group.text]
		if g == nil {
			p.errorf(d.group.pos, "virtual_server group %q names no virtual_server_group", d.group.text)
			continue
		}
		if !d.valid || !g.valid {
			continue
		}
		// A real server of the other address family is reported once.
		famErr := make(map[int]bool)
		for _, e := range g.entries {
			for _, a := range e.addrs {
				vs := cloneVS(d.vs)
				vs.Addr, vs.Port = a, e.port
				ok := true
				for i := range vs.Reals {
					rs := &vs.Reals[i]
					if d.reals[i].portFromVS {
						rs.Port = e.port
					}
					if rs.Addr.Is4() != a.Is4() {
						if !famErr[i] {
							p.errorf(rs.Pos, "real_server address %s is %s but virtual_server_group %q has %s address %s", rs.Addr, family(rs.Addr), d.group.text, family(a), a)
							famErr[i] = true
						}
						ok = false
					}
				}
				if vs.Sorry != nil {
					if d.sorryPort {
						vs.Sorry.Port = e.port
					}
					if vs.Sorry.Addr.Is4() != a.Is4() {
						if !famErr[-1] {
							p.errorf(vs.Sorry.Pos, "sorry_server address %s is %s but virtual_server_group %q has %s address %s", vs.Sorry.Addr, family(vs.Sorry.Addr), d.group.text, family(a), a)
							famErr[-1] = true
						}
						ok = false
					}
				}
				if ok {
					in.addVS(vs, d.group.text)
				}
			}
		}
	}
}

// addVS adds vs to the Spec unless its address, port and protocol are
// taken already.
func (in *interp) addVS(vs VirtualServer, group string) {
	key := vsKey{vs.Addr, vs.Port, vs.Protocol}
	if first, dup := in.vsSeen[key]; dup {
		if group != "" {
			in.p.errorf(vs.Pos, "virtual_server group %s: %s %d %s is already defined at %s", group, vs.Addr, vs.Port, vs.Protocol, first)
		} else {
			in.p.errorf(vs.Pos, "virtual_server %s %d %s is already defined at %s", vs.Addr, vs.Port, vs.Protocol, first)
		}
		return
	}
	in.vsSeen[key] = vs.Pos
	in.spec.VirtualServers = append(in.spec.VirtualServers, vs)
}

// cloneVS copies vs so that no slice is shared with the copy.
func cloneVS(vs VirtualServer) VirtualServer {
	vs.SchedulerFlags = append([]string(nil), vs.SchedulerFlags...)
	vs.QuorumUp.Argv = append([]string(nil), vs.QuorumUp.Argv...)
	vs.QuorumDown.Argv = append([]string(nil), vs.QuorumDown.Argv...)
	if vs.Sorry != nil {
		s := *vs.Sorry
		vs.Sorry = &s
	}
	reals := make([]RealServer, len(vs.Reals))
	for i, rs := range vs.Reals {
		rs.NotifyUp.Argv = append([]string(nil), rs.NotifyUp.Argv...)
		rs.NotifyDown.Argv = append([]string(nil), rs.NotifyDown.Argv...)
		checks := make([]Check, len(rs.Checks))
		for j, c := range rs.Checks {
			c.URLs = append([]URL(nil), c.URLs...)
			c.MiscPath.Argv = append([]string(nil), c.MiscPath.Argv...)
			c.Payload = append([]byte(nil), c.Payload...)
			checks[j] = c
		}
		if rs.Checks == nil {
			checks = nil
		}
		rs.Checks = checks
		reals[i] = rs
	}
	if vs.Reals == nil {
		reals = nil
	}
	vs.Reals = reals
	return vs
}
