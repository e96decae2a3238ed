package config

import (
	"fmt"
	"net/netip"
)

// Connection sync: global_defs' lvs_sync_daemon, the deprecated
// lvs_sync_daemon_interface of a vrrp_instance, and the xvs block's
// sync_threshold.

const (
	maxSyncMaxLen = 65535 - 20 - 8 // the largest UDP payload over IPv4, as keepalived
	maxSyncCount  = 65535          // sync_threshold's bound on packet counts
)

// syncdOptions are the options of lvs_sync_daemon that take a value,
// with the example their messages give.
var syncdOptions = map[string]string{
	"inst":   "inst VI_1",
	"id":     "id 5",
	"maxlen": "maxlen 1400",
	"port":   "port 8848",
	"ttl":    "ttl 1",
	"group":  "group 224.0.0.81",
}

// syncdDraft is lvs_sync_daemon as read, before its instance is looked up.
type syncdDraft struct {
	sd SyncDaemon
	// legacy is set for lvs_sync_daemon_interface, whose sync id is 0
	// unless given, as in keepalived, rather than the instance's
	// virtual_router_id.
	legacy bool
}

// syncdAlreadySet warns that connection sync was set before, at
// in.syncdAt, and reports whether it was.
func (in *interp) syncdAlreadySet(at Pos) bool {
	if in.syncdAt.Line == 0 {
		in.syncdAt = at
		return false
	}
	in.p.warnf(at, "lvs_sync_daemon is already set at %s; this one is ignored, as keepalived does", in.syncdAt)
	return true
}

// lvsSyncDaemon reads
//
//	lvs_sync_daemon INTERFACE [VRRP_INSTANCE | inst NAME] [id SYNCID]
//	    [maxlen N] [port N] [ttl N] [group ADDR]
//
// and, keepalived's old form, lvs_sync_daemon INTERFACE VRRP_INSTANCE
// SYNCID. The instance is looked up once the whole configuration is read.
func (in *interp) lvsSyncDaemon(st *stmt) {
	p := in.p
	if in.syncdAlreadySet(st.kw.pos) {
		return
	}
	ok := in.noBlock(st)
	if len(st.args) == 0 {
		p.errorf(st.kw.pos, "lvs_sync_daemon needs an interface and the vrrp_instance whose state decides who sends, e.g. %q", "lvs_sync_daemon eth1 VI_1")
		return
	}
	ifTok := st.args[0]
	if !validIfName(ifTok.text) {
		p.errorf(ifTok.pos, "lvs_sync_daemon interface %q is not a valid interface name (1 to %d bytes, without \"/\", \":\" or white space)", ifTok.text, maxIfNameLen)
		ok = false
	}
	sd := SyncDaemon{Pos: st.kw.pos, Interface: ifTok.text, InterfacePos: ifTok.pos}
	given := make(map[string]Pos) // the options given, with where
	args := st.args
	for i := 1; i < len(args); i++ {
		opt := args[i]
		example, isOpt := syncdOptions[opt.text]
		if !isOpt {
			switch {
			case i == 1:
				// The old positional instance name; a later "inst" is
				// then given twice.
				given["inst"] = opt.pos
				sd.Instance, sd.InstancePos = opt.text, opt.pos
			case i == 2 && isDigits(opt.text):
				// The old positional sync id, after the instance name.
				n, numOK := parseNum(opt.text, 0, 255)
				if !numOK {
					p.errorf(opt.pos, "lvs_sync_daemon id %q is not a number between 0 and 255, e.g. %q", opt.text, "id 5")
					ok = false
					continue
				}
				given["id"] = opt.pos
				sd.SyncID, sd.SyncIDSet = n, true
				p.warnf(opt.pos, "a sync id right after the instance name is keepalived's old form; write %q, as keepalived asks",
					fmt.Sprintf("lvs_sync_daemon %s %s id %s", sd.Interface, sd.Instance, opt.text))
			default:
				p.errorf(opt.pos, "lvs_sync_daemon option %q is unknown; the options are inst, id, maxlen, port, ttl and group, e.g. %q",
					opt.text, "lvs_sync_daemon eth1 VI_1 id 5 port 8848")
				ok = false
				// Whether it takes a value is unknown, so the rest of
				// the line is not read.
				i = len(args)
			}
			continue
		}
		if i+1 >= len(args) {
			p.errorf(opt.pos, "lvs_sync_daemon %s needs a value, e.g. %q", opt.text, example)
			ok = false
			continue
		}
		i++
		v := args[i]
		if first, dup := given[opt.text]; dup {
			if opt.text == "inst" {
				p.errorf(v.pos, "lvs_sync_daemon names a second vrrp_instance %q; it names %q at %s already", v.text, sd.Instance, first)
			} else {
				p.errorf(opt.pos, "lvs_sync_daemon %s is given twice (first at %s)", opt.text, first)
			}
			ok = false
			continue
		}
		given[opt.text] = opt.pos
		number := func(lo, hi int) (int, bool) {
			n, numOK := parseNum(v.text, lo, hi)
			if !numOK {
				p.errorf(v.pos, "lvs_sync_daemon %s %q is not a number between %d and %d, e.g. %q", opt.text, v.text, lo, hi, example)
				ok = false
			}
			return n, numOK
		}
		switch opt.text {
		case "inst":
			sd.Instance, sd.InstancePos = v.text, v.pos
		case "id":
			if n, numOK := number(0, 255); numOK {
				sd.SyncID, sd.SyncIDSet = n, true
			}
		case "maxlen":
			sd.MaxLen, _ = number(1, maxSyncMaxLen)
		case "port":
			n, _ := number(1, 65535)
			sd.Port = uint16(n)
		case "ttl":
			sd.TTL, _ = number(1, 255)
		case "group":
			a, err := netip.ParseAddr(v.text)
			switch {
			case err == nil && a.Is6() && !a.Is4In6():
				p.errorf(v.pos, "lvs_sync_daemon group %q is an IPv6 address; IPv6 connection sync is not supported yet, use an IPv4 multicast group, e.g. %q", v.text, example)
				ok = false
			case err != nil || !a.Is4() || !a.IsMulticast():
				p.errorf(v.pos, "lvs_sync_daemon group %q is not an IPv4 multicast address, e.g. %q", v.text, example)
				ok = false
			default:
				sd.Group = a
			}
		}
	}
	if !ok {
		return
	}
	if sd.InstancePos.Line == 0 {
		p.warnf(st.kw.pos, "lvs_sync_daemon names no vrrp_instance, so connection sync is not started (keepalived does the same); add the instance whose state decides who sends, e.g. %q",
			fmt.Sprintf("lvs_sync_daemon %s VI_1", sd.Interface))
		return
	}
	in.syncd = &syncdDraft{sd: sd}
}

// vrrpSyncDaemonInterface reads lvs_sync_daemon_interface IF in the
// vrrp_instance st: the deprecated form of global_defs' lvs_sync_daemon
// IF INSTANCE.
func (in *interp) vrrpSyncDaemonInterface(s, st *stmt) bool {
	name, ifText := "VI_1", "eth1"
	if len(st.args) > 0 {
		name = st.args[0].text
	}
	if len(s.args) > 0 {
		ifText = s.args[0].text
	}
	in.p.warnf(s.kw.pos, "lvs_sync_daemon_interface in a vrrp_instance is deprecated, as keepalived says; write %q in global_defs instead (this old form uses sync id 0, as keepalived does; the new one defaults it to the instance's virtual_router_id)",
		fmt.Sprintf("lvs_sync_daemon %s %s", ifText, name))
	if in.syncdAlreadySet(s.kw.pos) {
		return true
	}
	ifn, pos, ok := in.ifName(s, "lvs_sync_daemon_interface eth1")
	if !ok || len(st.args) == 0 {
		return ok
	}
	in.syncd = &syncdDraft{legacy: true, sd: SyncDaemon{
		Pos: s.kw.pos, Interface: ifn, InterfacePos: pos,
		Instance: st.args[0].text, InstancePos: st.args[0].pos,
	}}
	return true
}

// finishSyncDaemon looks up the instance lvs_sync_daemon names, which may
// be defined after global_defs, takes its virtual_router_id as the sync
// id when none is given, and sets Global.SyncDaemon.
func (in *interp) finishSyncDaemon() {
	d := in.syncd
	if d == nil {
		return
	}
	sd := d.sd
	var vi *VRRPInstance
	for i := range in.spec.VRRPInstances {
		if in.spec.VRRPInstances[i].Name == sd.Instance {
			vi = &in.spec.VRRPInstances[i]
			break
		}
	}
	if vi == nil {
		// An instance defined with errors has been reported already.
		if _, defined := in.vrrpSeen[sd.Instance]; !defined {
			in.p.errorf(sd.InstancePos, "lvs_sync_daemon names vrrp_instance %q, which is not defined", sd.Instance)
		}
		return
	}
	if !sd.SyncIDSet && !d.legacy {
		sd.SyncID = vi.VirtualRouterID
	}
	in.spec.Global.SyncDaemon = &sd
}

// syncThreshold reads sync_threshold THRESHOLD PERIOD in the xvs block.
func (in *interp) syncThreshold(s *stmt, x *XVS) {
	const example = "sync_threshold 3 50"
	p := in.p
	ok := in.noBlock(s)
	switch {
	case len(s.args) < 2:
		p.errorf(s.kw.pos, "sync_threshold needs two numbers, a packet threshold and a period, e.g. %q", example)
		return
	case len(s.args) > 2:
		p.errorf(s.args[2].pos, "sync_threshold takes two numbers; unexpected %q", s.args[2].text)
		return
	}
	tt, pt := s.args[0], s.args[1]
	threshold, tOK := parseNum(tt.text, 0, maxSyncCount)
	if !tOK {
		p.errorf(tt.pos, "sync_threshold threshold %q is not a number between 0 and %d, e.g. %q", tt.text, maxSyncCount, example)
	}
	period, pOK := parseNum(pt.text, 0, maxSyncCount)
	if !pOK {
		p.errorf(pt.pos, "sync_threshold period %q is not a number between 0 and %d, e.g. %q", pt.text, maxSyncCount, example)
	}
	if !ok || !tOK || !pOK {
		return
	}
	if period != 0 && threshold >= period {
		p.errorf(tt.pos, "sync_threshold %d is not below the period %d, which the kernel requires unless the period is 0, e.g. %q", threshold, period, example)
		return
	}
	x.SyncThreshold, x.SyncPeriod, x.SyncThresholdSet = threshold, period, true
}
