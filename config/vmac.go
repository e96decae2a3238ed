package config

import "strings"

// vmacExtra is what is known about an instance's use_vmac and
// vmac_xmit_base beyond the Spec, for the checks made once every instance
// is read.
type vmacExtra struct {
	pos         Pos // the first use_vmac keyword; zero when not given
	namePos     Pos // the interface name; zero when not given
	xmitBasePos Pos // vmac_xmit_base; zero when not given
}

// useVMAC reads use_vmac [[name] IFNAME] [netlink_notify_msg] [group
// GROUP] as keepalived does: a word with a ':' would be keepalived's MAC
// address of one's own, which xvs does not support; "name" is there for
// interface names that would read as a keyword.
func (in *interp) useVMAC(s *stmt, vi *VRRPInstance, extra *vmacExtra) bool {
	p := in.p
	ok := in.noBlock(s)
	args := s.args
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch a.text {
		case "netlink_notify_msg":
			in.notActed(a.pos, "use_vmac netlink_notify_msg")
			continue
		case "group":
			if i+1 >= len(args) {
				p.errorf(a.pos, "use_vmac group needs a value, e.g. %q", "use_vmac group 10")
				ok = false
				continue
			}
			in.notActed(a.pos, "use_vmac group")
			i++
			continue
		case "name":
			if i+1 >= len(args) {
				p.errorf(a.pos, "use_vmac name needs an interface name, e.g. %q", "use_vmac name vrrp.51")
				ok = false
				continue
			}
			i++
			a = args[i]
		default:
			if strings.Contains(a.text, ":") {
				p.errorf(a.pos, "use_vmac %q: a MAC address of one's own is not supported by xvs; it uses 00:00:5e:00:01:VRID (RFC 5798)", a.text)
				ok = false
				continue
			}
		}
		if !validIfName(a.text) {
			p.errorf(a.pos, "use_vmac %q is not a valid interface name (1 to %d bytes, without \"/\", \":\" or white space)", a.text, maxIfNameLen)
			ok = false
			continue
		}
		if vi.VMACName != "" {
			p.warnf(a.pos, "use_vmac names interface %q already (at %s); %q is ignored, as keepalived does", vi.VMACName, extra.namePos, a.text)
			continue
		}
		vi.VMACName, extra.namePos = a.text, a.pos
	}
	vi.UseVMAC = true
	if extra.pos.Line == 0 {
		extra.pos = s.kw.pos
	}
	return ok
}

// finishVMAC checks use_vmac and vmac_xmit_base once every instance is
// read: vmac_xmit_base without use_vmac is cleared, as keepalived clears
// it; use_vmac with unicast_peer implies vmac_xmit_base, as keepalived's
// manual says it needs it (a unicast advert would need the peer's MAC
// address); and a VMAC interface name may be neither an instance's
// interface nor another instance's VMAC interface.
func (in *interp) finishVMAC() {
	p := in.p
	ifaces := map[string]string{} // interface → an instance on it
	for _, vi := range in.spec.VRRPInstances {
		if _, seen := ifaces[vi.Interface]; vi.Interface != "" && !seen {
			ifaces[vi.Interface] = vi.Name
		}
	}
	names := map[string]int{} // VMAC interface → instance index
	for i := range in.spec.VRRPInstances {
		vi := &in.spec.VRRPInstances[i]
		x := in.vrrpExtra[i].vmac
		if !vi.UseVMAC {
			if vi.VMACXmitBase {
				p.warnf(x.xmitBasePos, "vmac_xmit_base is only acted on with use_vmac; it is ignored, as keepalived does (vrrp_instance %q)", vi.Name)
				vi.VMACXmitBase = false
			}
			continue
		}
		if len(vi.UnicastPeers) > 0 && !vi.VMACXmitBase {
			p.warnf(x.pos, "use_vmac with unicast_peer needs vmac_xmit_base, as keepalived's manual says; it is implied: adverts go to the peers with the interface's own MAC address (vrrp_instance %q)", vi.Name)
			vi.VMACXmitBase = true
		}
		if vi.VMACName == "" {
			continue
		}
		if owner, taken := ifaces[vi.VMACName]; taken {
			p.errorf(x.namePos, "use_vmac %q is the interface of vrrp_instance %q; the VMAC interface needs a name of its own", vi.VMACName, owner)
			continue
		}
		if j, dup := names[vi.VMACName]; dup {
			p.errorf(x.namePos, "use_vmac %q is already the VMAC interface of vrrp_instance %q (%s)", vi.VMACName, in.spec.VRRPInstances[j].Name, in.vrrpExtra[j].vmac.namePos)
			continue
		}
		names[vi.VMACName] = i
	}
}
