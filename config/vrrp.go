package config

import (
	"net/netip"
	"strings"
	"time"
)

const (
	maxTrackWeight  = 253
	maxPreemptDelay = 1000 // seconds
	maxAuthPass     = 8    // bytes of auth_pass keepalived uses
)

// vrrpExtra is what is known about a VRRP instance beyond the Spec, for
// the checks made once the whole configuration is read.
type vrrpExtra struct {
	advert  token // advert_int's value; zero when not set
	lpnaSet bool  // lower_prio_no_advert given
	scaaSet bool  // skip_check_adv_addr given
	// nopreemptPos is where nopreempt is; zero when not given.
	nopreemptPos Pos
	// vmac is what use_vmac and vmac_xmit_base said (vmac.go).
	vmac vmacExtra
}

func (in *interp) vrrpInstance(st *stmt) {
	const example = `"vrrp_instance VI_1 {"`
	p := in.p
	vi := VRRPInstance{Pos: st.kw.pos, State: "BACKUP", Priority: defaultPriority}
	var extra vrrpExtra
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
		if in.garp(s, &vi.GARP, "") {
			continue
		}
		ok := true
		switch s.kw.text {
		case "state":
			var t token
			if t, ok = in.value(s, "state BACKUP"); !ok {
				break
			}
			state := t.text
			if state != "MASTER" && state != "BACKUP" {
				// keepalived compares exactly and goes on as BACKUP.
				p.warnf(t.pos, "state %q is not MASTER or BACKUP (in capitals); BACKUP is used, as keepalived does", t.text)
				state = "BACKUP"
			}
			vi.State = state
		case "interface":
			vi.Interface, vi.InterfacePos, ok = in.ifName(s, "interface eth0")
		case "virtual_router_id":
			vi.VirtualRouterID, ok = in.number(s, "virtual_router_id", 1, 255, "virtual_router_id 51")
			idSet = true
		case "priority":
			vi.Priority, ok = in.number(s, "priority", 1, 255, "priority 100")
		case "version":
			vi.Version, ok = in.number(s, "version", 2, 3, "version 3")
		case "advert_int":
			ok = in.advertInt(s, &vi, &extra)
		case "nopreempt":
			// keepalived ignores any value ("nopreempt 1" is common).
			if ok = in.noBlock(s); ok {
				vi.NoPreempt = true
				extra.nopreemptPos = s.kw.pos
			}
		case "preempt":
			if ok = in.bare(s); ok {
				vi.NoPreempt = false
			}
		case "preempt_delay":
			vi.PreemptDelay, ok = in.seconds(s, "preempt_delay", 0, maxPreemptDelay, "preempt_delay 30")
		case "authentication":
			ok = in.authentication(s, &vi)
		case "unicast_src_ip", "mcast_src_ip":
			vi.UnicastSrcIP, ok = in.addrValue(s, s.kw.text+" 198.18.0.1")
		case "unicast_peer":
			var peers []netip.Addr
			peers, ok = in.unicastPeers(s)
			vi.UnicastPeers = append(vi.UnicastPeers, peers...)
		case "track_interface":
			var tracks []Track
			tracks, ok = in.tracks(s, true)
			vi.TrackInterfaces = append(vi.TrackInterfaces, tracks...)
		case "track_script":
			var tracks []Track
			tracks, ok = in.tracks(s, false)
			vi.TrackScripts = append(vi.TrackScripts, tracks...)
		case "notify_master", "notify_backup", "notify_fault", "notify_stop", "notify":
			ok = in.notify(s, &vi.NotifyMaster, &vi.NotifyBackup, &vi.NotifyFault, &vi.NotifyStop, &vi.Notify)
		case "lower_prio_no_advert":
			if vi.LowerPrioNoAdvert, ok = in.flag(s); ok {
				extra.lpnaSet = true
			}
		case "skip_check_adv_addr":
			if vi.SkipCheckAdvAddr, ok = in.flag(s); ok {
				extra.scaaSet = true
			}
		case "lvs_sync_daemon_interface":
			ok = in.vrrpSyncDaemonInterface(s, st)
		case "smtp_alert":
			in.smtpAlert(s, &vi.SMTPAlert)
		case "use_vmac":
			ok = in.useVMAC(s, &vi, &extra.vmac)
		case "vmac_xmit_base":
			if ok = in.bare(s); ok {
				vi.VMACXmitBase = true
				extra.vmac.xmitBasePos = s.kw.pos
			}
		case "virtual_ipaddress":
			in.noArgs(s)
			if !in.needBlock(s, `"virtual_ipaddress { 198.18.0.100/24 dev eth0 }"`) {
				ok = false
				break
			}
			for _, line := range s.block {
				if line.warning != "" {
					in.other(line, nil)
					continue
				}
				vip, vipOK := in.virtualIP(line)
				if !vipOK {
					ok = false
					continue
				}
				if first, dup := vipSeen[vip.Prefix.Addr()]; dup {
					p.warnf(vip.Pos, "virtual_ipaddress %s is already listed at %s; this line is ignored", vip.Prefix.Addr(), first)
					continue
				}
				vipSeen[vip.Prefix.Addr()] = vip.Pos
				vi.VirtualIPs = append(vi.VirtualIPs, vip)
			}
		default:
			in.other(s, notActedVRRP)
		}
		valid = valid && ok
	}
	if vi.Name == "" {
		return
	}
	if !in.defineOnce(in.vrrpSeen, "vrrp_instance", vi.Name, st.args[0].pos, vi.Pos) {
		return
	}
	if !idSet {
		p.errorf(st.kw.pos, "vrrp_instance %q needs a virtual_router_id, e.g. \"virtual_router_id 51\"", vi.Name)
		return
	}
	if valid {
		in.spec.VRRPInstances = append(in.spec.VRRPInstances, vi)
		in.vrrpExtra = append(in.vrrpExtra, extra)
	}
}

// advertInt reads advert_int: 0.01 to 255 seconds here; whether the
// value suits the VRRP version is checked once the whole configuration is
// read, since vrrp_version may come later.
func (in *interp) advertInt(s *stmt, vi *VRRPInstance, extra *vrrpExtra) bool {
	d, ok := in.seconds(s, "advert_int", 0, 255, "advert_int 1")
	if !ok {
		return false
	}
	if d < 10*time.Millisecond {
		in.p.errorf(s.args[0].pos, "advert_int %q is less than 0.01 seconds", s.args[0].text)
		return false
	}
	vi.AdvertInterval = d
	extra.advert = s.args[0]
	return true
}

// authentication reads authentication { auth_type PASS|AH auth_pass SECRET }.
func (in *interp) authentication(s *stmt, vi *VRRPInstance) bool {
	in.noArgs(s)
	if !in.needBlock(s, `"authentication { auth_type PASS auth_pass secret }"`) {
		return false
	}
	ok := true
	for _, a := range s.block {
		switch a.kw.text {
		case "auth_type":
			t, tOK := in.value(a, "auth_type PASS")
			if !tOK {
				ok = false
				break
			}
			if t.text != "PASS" && t.text != "AH" {
				in.p.errorf(t.pos, "auth_type %q is not one of PASS, AH", t.text)
				ok = false
				break
			}
			vi.AuthType = t.text
		case "auth_pass":
			t, tOK := in.value(a, "auth_pass secret")
			if !tOK {
				ok = false
				break
			}
			pass := t.text
			if len(pass) > maxAuthPass {
				pass = pass[:maxAuthPass]
				in.p.warnf(t.pos, "auth_pass is longer than %d characters; only %q is used, as keepalived does", maxAuthPass, pass)
			}
			vi.AuthPass = pass
		default:
			in.other(a, nil)
		}
	}
	return ok
}

// unicastPeers reads unicast_peer { ADDR [min_ttl N] [max_ttl N] ... }.
func (in *interp) unicastPeers(s *stmt) ([]netip.Addr, bool) {
	in.noArgs(s)
	if !in.needBlock(s, `"unicast_peer { 198.18.0.2 }"`) {
		return nil, false
	}
	var peers []netip.Addr
	ok := true
	for _, line := range s.block {
		if line.warning != "" {
			in.other(line, nil)
			continue
		}
		if line.hasBlock {
			in.p.errorf(line.lbrace, "a unicast_peer line does not open a block")
			ok = false
			continue
		}
		a, aOK := in.hostAddr(line.kw, "unicast_peer")
		if !aOK {
			ok = false
			continue
		}
		peers = append(peers, a)
		for i := 0; i < len(line.args); i++ {
			opt := line.args[i]
			switch opt.text {
			case "min_ttl", "max_ttl":
				in.notActed(opt.pos, "unicast_peer "+opt.text)
				i++
			default:
				in.p.warnOnce(opt.pos, "unknown keyword %q", opt.text)
				i = len(line.args)
			}
		}
	}
	return peers, ok
}

// tracks reads track_interface { IF [weight N [reverse]] } or
// track_script { NAME [weight N [reverse]] }.
func (in *interp) tracks(s *stmt, ifaces bool) ([]Track, bool) {
	in.noArgs(s)
	example := `"track_script { chk_http weight -20 }"`
	if ifaces {
		example = `"track_interface { eth0 weight -20 }"`
	}
	if !in.needBlock(s, example) {
		return nil, false
	}
	var tracks []Track
	seen := make(map[string]Pos)
	ok := true
	for _, line := range s.block {
		if line.warning != "" {
			in.other(line, nil)
			continue
		}
		if line.hasBlock {
			in.p.errorf(line.lbrace, "a %s line does not open a block", s.kw.text)
			ok = false
			continue
		}
		tr := Track{Pos: line.kw.pos, Name: line.kw.text}
		if ifaces && !validIfName(tr.Name) {
			in.p.errorf(line.kw.pos, "track_interface %q is not a valid interface name (1 to %d bytes, without \"/\", \":\" or white space)", tr.Name, maxIfNameLen)
			ok = false
			continue
		}
		args := line.args
		if len(args) > 0 {
			if args[0].text != "weight" {
				in.p.errorf(args[0].pos, "%s %s: unexpected %q, expected \"weight N\"", s.kw.text, tr.Name, args[0].text)
				ok = false
				continue
			}
			if len(args) < 2 {
				in.p.errorf(args[0].pos, "weight needs a value, e.g. \"weight -20\"")
				ok = false
				continue
			}
			w, wOK := parseSigned(args[1].text, -maxTrackWeight, maxTrackWeight)
			if !wOK {
				in.p.errorf(args[1].pos, "%s weight %q is not a number between %d and %d", s.kw.text, args[1].text, -maxTrackWeight, maxTrackWeight)
				ok = false
				continue
			}
			tr.Weight, tr.WeightSet = w, true
			if len(args) > 2 {
				if args[2].text == "reverse" {
					in.notActed(args[2].pos, "weight reverse")
				} else {
					in.p.errorf(args[2].pos, "%s %s: unexpected %q after the weight", s.kw.text, tr.Name, args[2].text)
					ok = false
					continue
				}
				if len(args) > 3 {
					in.p.errorf(args[3].pos, "%s %s: unexpected %q after the weight", s.kw.text, tr.Name, args[3].text)
					ok = false
					continue
				}
			}
		}
		if first, dup := seen[tr.Name]; dup {
			in.p.warnf(tr.Pos, "%s %s is already listed at %s; this line is ignored, as keepalived does", s.kw.text, tr.Name, first)
			continue
		}
		seen[tr.Name] = tr.Pos
		tracks = append(tracks, tr)
	}
	return tracks, ok
}

// notify reads the notify keywords of an instance or a sync group.
func (in *interp) notify(s *stmt, master, backup, fault, stop, any *Command) bool {
	c, ok := in.command(s, `"`+s.kw.text+` /etc/keepalived/notify.sh"`)
	if !ok {
		return false
	}
	switch s.kw.text {
	case "notify_master":
		*master = c
	case "notify_backup":
		*backup = c
	case "notify_fault":
		*fault = c
	case "notify_stop":
		*stop = c
	case "notify":
		*any = c
	}
	return true
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
				vip.Dev, vip.DevPos = v.text, v.pos
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
				p.warnOnce(opt.pos, "unknown keyword %q", opt.text)
				return vip, valid
			}
			in.notActed(opt.pos, opt.text)
			if takesValue {
				i++
			}
		}
	}
	return vip, valid
}

// vrrpScript reads vrrp_script NAME { script ... interval N ... }.
func (in *interp) vrrpScript(st *stmt) {
	const example = `"vrrp_script chk_http { script \"/usr/bin/curl -sf http://127.0.0.1/\" }"`
	p := in.p
	if len(st.args) == 0 {
		p.errorf(st.kw.pos, "vrrp_script needs a name, e.g. %s", example)
		return
	}
	vs := VRRPScript{Pos: st.kw.pos, Name: st.args[0].text, Interval: time.Second, Rise: 1, Fall: 1}
	valid := true
	if len(st.args) > 1 {
		p.errorf(st.args[1].pos, "vrrp_script takes one name; unexpected %q", st.args[1].text)
		valid = false
	}
	if !in.needBlock(st, example) {
		return
	}
	scriptSet := false
	for _, s := range st.block {
		ok := true
		switch s.kw.text {
		case "script":
			vs.Script, ok = in.command(s, `"script \"/usr/bin/curl -sf http://127.0.0.1/\""`)
			scriptSet = scriptSet || ok
		case "interval", "timeout":
			var d time.Duration
			d, ok = in.wholeSeconds(s, "vrrp_script "+s.kw.text, 0, 4294, s.kw.text+" 2")
			if !ok {
				break
			}
			if d == 0 {
				in.p.warnf(s.args[0].pos, "vrrp_script %s must be greater than 0; 1 is used, as keepalived does", s.kw.text)
				d = time.Second
			}
			if s.kw.text == "interval" {
				vs.Interval = d
			} else {
				vs.Timeout = d
			}
		case "weight":
			ok = in.noBlock(s)
			if len(s.args) == 0 {
				p.errorf(s.kw.pos, "weight needs a value, e.g. \"weight -20\"")
				ok = false
				break
			}
			w, wOK := parseSigned(s.args[0].text, -maxTrackWeight, maxTrackWeight)
			if !wOK {
				p.errorf(s.args[0].pos, "vrrp_script weight %q is not a number between %d and %d", s.args[0].text, -maxTrackWeight, maxTrackWeight)
				ok = false
				break
			}
			vs.Weight = w
			if len(s.args) > 1 {
				if s.args[1].text == "reverse" && len(s.args) == 2 {
					in.notActed(s.args[1].pos, "weight reverse")
				} else {
					p.errorf(s.args[1].pos, "vrrp_script weight takes a number and \"reverse\"; unexpected %q", s.args[1].text)
					ok = false
				}
			}
		case "rise":
			vs.Rise, ok = in.number(s, "vrrp_script rise", 1, maxInt32, "rise 2")
		case "fall":
			vs.Fall, ok = in.number(s, "vrrp_script fall", 1, maxInt32, "fall 2")
		case "user":
			vs.User, vs.Group, ok = in.userGroup(s)
		default:
			in.other(s, notActedScript)
		}
		valid = valid && ok
	}
	if !in.defineOnce(in.scriptSeen, "vrrp_script", vs.Name, st.args[0].pos, vs.Pos) {
		return
	}
	if !scriptSet {
		if valid {
			p.warnf(st.kw.pos, "vrrp_script %q has no script, so it is removed, as keepalived does; give it one, e.g. %s", vs.Name, `"script \"/usr/local/bin/check.sh\""`)
		}
		return
	}
	if valid {
		in.spec.VRRPScripts = append(in.spec.VRRPScripts, vs)
	}
}

// defineOnce records that the block kind named name is defined at def,
// or, if seen has it already, reports the name's position at as a
// redefinition and returns false.
func (in *interp) defineOnce(seen map[string]Pos, kind, name string, at, def Pos) bool {
	if first, dup := seen[name]; dup {
		in.p.errorf(at, "%s %q is already defined at %s", kind, name, first)
		return false
	}
	seen[name] = def
	return true
}

// syncMember is an instance named by a vrrp_sync_group.
type syncMember struct {
	name string
	pos  Pos
}

// vrrpSyncGroup reads vrrp_sync_group NAME { group { VI_1 VI_2 } ... }.
func (in *interp) vrrpSyncGroup(st *stmt) {
	const example = `"vrrp_sync_group VG_1 { group { VI_1 VI_2 } }"`
	p := in.p
	if len(st.args) == 0 {
		p.errorf(st.kw.pos, "vrrp_sync_group needs a name, e.g. %s", example)
		return
	}
	sg := VRRPSyncGroup{Pos: st.kw.pos, Name: st.args[0].text}
	valid := true
	if len(st.args) > 1 {
		p.errorf(st.args[1].pos, "vrrp_sync_group takes one name; unexpected %q", st.args[1].text)
		valid = false
	}
	if !in.needBlock(st, example) {
		return
	}
	var members []syncMember
	groupSeen := false
	for _, s := range st.block {
		ok := true
		switch s.kw.text {
		case "group":
			in.noArgs(s)
			if !in.needBlock(s, `"group { VI_1 VI_2 }"`) {
				ok = false
				break
			}
			if groupSeen {
				p.errorf(s.kw.pos, "vrrp_sync_group %q has a group block already", sg.Name)
				ok = false
				break
			}
			groupSeen = true
			for _, line := range s.block {
				if line.warning != "" {
					in.other(line, nil)
					continue
				}
				if line.hasBlock {
					p.errorf(line.lbrace, "a group line does not open a block")
					ok = false
				}
				for _, t := range append([]token{line.kw}, line.args...) {
					members = append(members, syncMember{t.text, t.pos})
				}
			}
		case "notify_master", "notify_backup", "notify_fault", "notify_stop", "notify":
			ok = in.notify(s, &sg.NotifyMaster, &sg.NotifyBackup, &sg.NotifyFault, &sg.NotifyStop, &sg.Notify)
		case "track_script":
			var tracks []Track
			tracks, ok = in.tracks(s, false)
			sg.TrackScripts = append(sg.TrackScripts, tracks...)
		case "smtp_alert":
			in.smtpAlert(s, &sg.SMTPAlert)
		default:
			in.other(s, notActedSync)
		}
		valid = valid && ok
	}
	if !in.defineOnce(in.syncSeen, "vrrp_sync_group", sg.Name, st.args[0].pos, sg.Pos) {
		return
	}
	if len(members) == 0 {
		if valid {
			p.warnf(st.kw.pos, "vrrp_sync_group %q has no instances, so it is removed, as keepalived does; it needs a group block, e.g. %s", sg.Name, example)
		}
		return
	}
	for _, m := range members {
		sg.Group = append(sg.Group, m.name)
	}
	if valid {
		in.spec.VRRPSyncGroups = append(in.spec.VRRPSyncGroups, sg)
		in.syncMembers = append(in.syncMembers, members)
	}
}

// finishVRRP checks what refers to other blocks or to global_defs.
func (in *interp) finishVRRP() {
	p := in.p
	g := in.spec.Global
	version := g.VRRPVersion
	if version == 0 {
		version = 2
	}
	for i := range in.spec.VRRPInstances {
		vi := &in.spec.VRRPInstances[i]
		extra := in.vrrpExtra[i]
		if t := extra.advert; t.pos.Line != 0 {
			v := vi.Version
			if v == 0 {
				v = version
			}
			d := vi.AdvertInterval
			switch {
			case v == 2 && (d%time.Second != 0 || d < time.Second):
				p.errorf(t.pos, "advert_int %q is not whole seconds between 1 and 255, as VRRP version 2 needs (vrrp_instance %q)", t.text, vi.Name)
			case v == 3 && (d%(10*time.Millisecond) != 0 || d > 4095*10*time.Millisecond):
				p.errorf(t.pos, "advert_int %q is not hundredths of a second between 0.01 and 40.95, as VRRP version 3 needs (vrrp_instance %q)", t.text, vi.Name)
			}
		}
		if !extra.lpnaSet {
			vi.LowerPrioNoAdvert = g.VRRPLowerPrioNoAdvert
		}
		if !extra.scaaSet {
			vi.SkipCheckAdvAddr = g.VRRPSkipCheckAdvAddr
		}
		if vi.NoPreempt && vi.State == "MASTER" {
			p.warnf(extra.nopreemptPos, "nopreempt does not work with state MASTER; it is cleared, as keepalived does (write state BACKUP on every director for nopreempt)")
			vi.NoPreempt = false
		}
		if len(vi.VirtualIPs) == 0 {
			// keepalived warns (and with version 3 drops the
			// instance); xvs runs it, owning nothing.
			p.warnf(vi.Pos, "vrrp_instance %q has no virtual_ipaddress; at least one is sensible, as keepalived says", vi.Name)
		}
		vi.TrackScripts = in.checkTrackScripts(vi.TrackScripts)
	}
	in.finishVMAC()
	for i := range in.spec.VRRPSyncGroups {
		sg := &in.spec.VRRPSyncGroups[i]
		sg.TrackScripts = in.checkTrackScripts(sg.TrackScripts)
	}
	inGroup := make(map[string]string)
	for i, members := range in.syncMembers {
		name := in.spec.VRRPSyncGroups[i].Name
		for _, m := range members {
			if _, ok := in.vrrpSeen[m.name]; !ok {
				p.errorf(m.pos, "vrrp_sync_group %q names vrrp_instance %q, which is not defined", name, m.name)
				continue
			}
			if other, dup := inGroup[m.name]; dup {
				p.errorf(m.pos, "vrrp_instance %q is already in vrrp_sync_group %q; an instance may be in one group only", m.name, other)
				continue
			}
			inGroup[m.name] = name
		}
	}
}

// checkTrackScripts returns the track_script lines that name a usable
// vrrp_script; the others are reported and left out, as keepalived does
// ("track script ... not found, ignoring"). A vrrp_script defined without
// a script was removed with its own warning, and its tracks go the same way.
func (in *interp) checkTrackScripts(tracks []Track) []Track {
	var kept []Track
	for _, t := range tracks {
		if in.scriptFound(t.Name) {
			kept = append(kept, t)
			continue
		}
		in.p.warnf(t.Pos, "track_script %q names no usable vrrp_script; the line is ignored, as keepalived does", t.Name)
	}
	return kept
}

// scriptFound reports whether a vrrp_script of that name made it into the
// spec.
func (in *interp) scriptFound(name string) bool {
	for _, s := range in.spec.VRRPScripts {
		if s.Name == name {
			return true
		}
	}
	return false
}
