package config

import (
	"strconv"
	"testing"
)

// vmacInst is a vrrp_instance on wan0 with VRID vrid, the given lines
// (from line 4 of its block) and a VIP.
func vmacInst(name string, vrid int, lines string) string {
	return "vrrp_instance " + name + " {\n interface wan0\n virtual_router_id " + strconv.Itoa(vrid) + "\n" + lines +
		" virtual_ipaddress {\n  198.18.0.100/24\n }\n}\n"
}

// vmacFields are an instance's use_vmac fields, and the diagnostics.
type vmacFields struct {
	Use      bool
	Name     string
	XmitBase bool
	Diags    []string
}

// vmacOf gives the first instance's vmacFields.
func vmacOf(s *Spec) any {
	vi := s.VRRPInstances[0]
	return vmacFields{Use: vi.UseVMAC, Name: vi.VMACName, XmitBase: vi.VMACXmitBase, Diags: diagStrings(s.Warnings)}
}

func TestVMACValues(t *testing.T) {
	runValueCases(t, parseTest, []valueCase{
		{"not given", vmacInst("V", 51, ""), vmacOf, vmacFields{}},
		{"use_vmac alone: keepalived's default name", vmacInst("V", 51, " use_vmac\n"), vmacOf, vmacFields{Use: true}},
		{"use_vmac with a name", vmacInst("V", 51, " use_vmac vmac51\n"), vmacOf, vmacFields{Use: true, Name: "vmac51"}},
		{"use_vmac name NAME, for a name that reads as a keyword", vmacInst("V", 51, " use_vmac name group\n"),
			vmacOf, vmacFields{Use: true, Name: "group"}},
		{"vmac_xmit_base", vmacInst("V", 51, " use_vmac vrrp.51\n vmac_xmit_base\n"), vmacOf, vmacFields{Use: true, Name: "vrrp.51", XmitBase: true}},
		{"vmac_xmit_base before use_vmac", vmacInst("V", 51, " vmac_xmit_base\n use_vmac\n"), vmacOf, vmacFields{Use: true, XmitBase: true}},
		{"netlink_notify_msg and group are noted, not acted on", vmacInst("V", 51, " use_vmac vrrp.51 netlink_notify_msg group 7\n"),
			vmacOf, vmacFields{Use: true, Name: "vrrp.51", Diags: []string{
				`t.conf:4:19: note: keyword "use_vmac netlink_notify_msg" is accepted but not acted on yet`,
				`t.conf:4:38: note: keyword "use_vmac group" is accepted but not acted on yet`}}},
		{"a second name is ignored, as keepalived does", vmacInst("V", 51, " use_vmac one\n use_vmac two\n"),
			vmacOf, vmacFields{Use: true, Name: "one", Diags: []string{
				`t.conf:5:11: warning: use_vmac names interface "one" already (at t.conf:4:11); "two" is ignored, as keepalived does`}}},
		{"vmac_xmit_base without use_vmac is cleared", vmacInst("V", 51, " vmac_xmit_base\n"),
			vmacOf, vmacFields{Diags: []string{
				`t.conf:4:2: warning: vmac_xmit_base is only acted on with use_vmac; it is ignored, as keepalived does (vrrp_instance "V")`}}},
		{"unicast_peer implies vmac_xmit_base", vmacInst("V", 51, " use_vmac\n unicast_peer {\n  198.18.0.2\n }\n"),
			vmacOf, vmacFields{Use: true, XmitBase: true, Diags: []string{
				`t.conf:4:2: warning: use_vmac with unicast_peer needs vmac_xmit_base, as keepalived's manual says; it is implied: adverts go to the peers with the interface's own MAC address (vrrp_instance "V")`}}},
		{"unicast_peer with vmac_xmit_base given: no warning", vmacInst("V", 51, " use_vmac\n vmac_xmit_base\n unicast_peer {\n  198.18.0.2\n }\n"),
			vmacOf, vmacFields{Use: true, XmitBase: true}},
		{"use_vmac_addr stays a note", vmacInst("V", 51, " use_vmac\n use_vmac_addr\n"),
			vmacOf, vmacFields{Use: true, Diags: []string{`t.conf:5:2: note: keyword "use_vmac_addr" is accepted but not acted on yet`}}},
	})
}

func TestVMACErrors(t *testing.T) {
	runErrorCases(t, parseTest, []errorCase{
		{"a MAC address of one's own", vmacInst("V", 51, " use_vmac 02:00:00:00:00:01\n"),
			`t.conf:4:11: use_vmac "02:00:00:00:00:01": a MAC address of one's own is not supported by xvs; it uses 00:00:5e:00:01:VRID (RFC 5798)`},
		{"a name too long", vmacInst("V", 51, " use_vmac name vrrp.51.too.long\n"),
			`t.conf:4:16: use_vmac "vrrp.51.too.long" is not a valid interface name (1 to 15 bytes, without "/", ":" or white space)`},
		{"name without a name", vmacInst("V", 51, " use_vmac name\n"),
			`t.conf:4:11: use_vmac name needs an interface name, e.g. "use_vmac name vrrp.51"`},
		{"group without a value", vmacInst("V", 51, " use_vmac group\n"),
			`t.conf:4:11: use_vmac group needs a value, e.g. "use_vmac group 10"`},
		{"use_vmac with a block", vmacInst("V", 51, " use_vmac {\n }\n"), `t.conf:4:11: use_vmac does not open a block`},
		{"vmac_xmit_base with a value", vmacInst("V", 51, " use_vmac\n vmac_xmit_base yes\n"),
			`t.conf:5:17: vmac_xmit_base takes no value; unexpected "yes"`},
		{"the name of an instance's interface", vmacInst("V", 51, " use_vmac wan0\n"),
			`t.conf:4:11: use_vmac "wan0" is the interface of vrrp_instance "V"; the VMAC interface needs a name of its own`},
		{"one name for two instances", vmacInst("V", 51, " use_vmac vmac\n") + vmacInst("W", 52, " use_vmac vmac\n"),
			`t.conf:12:11: use_vmac "vmac" is already the VMAC interface of vrrp_instance "V" (t.conf:4:11)`},
	})
}

// TestVMACTwoInstancesDefaultNames: two instances may both take the
// default name; telling them apart (vrrp.51, vrrp1.51) is the control
// plane's business, as the names depend on the VRIDs.
func TestVMACTwoInstancesDefaultNames(t *testing.T) {
	src := vmacInst("V", 51, " use_vmac\n") + "vrrp_instance W {\n interface lan0\n virtual_router_id 51\n use_vmac\n}\n"
	spec, err := parseTest(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, vi := range spec.VRRPInstances {
		if !vi.UseVMAC || vi.VMACName != "" {
			t.Errorf("%s: UseVMAC %v, VMACName %q", vi.Name, vi.UseVMAC, vi.VMACName)
		}
	}
}
