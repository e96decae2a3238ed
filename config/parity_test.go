package config

import "testing"

// TestKeepalivedAdjustments: what keepalived reports and goes on with is a
// warning in xvs too, with the same outcome (a value defaulted, a line or
// block ignored), so that xvs check and keepalived -t agree (see
// cmd/xvs/testdata/parity, compared with keepalived -t in CI).
func TestKeepalivedAdjustments(t *testing.T) {
	vi := func(lines string) string {
		return "vrrp_instance V {\n virtual_router_id 1\n virtual_ipaddress { 198.18.0.100 }\n" + lines + "}\n"
	}
	vs := func(lines string) string {
		return "virtual_server 198.18.0.100 80 {\n protocol TCP\n" + lines + "}\n"
	}
	runWarnCases(t, parseNamed("t.conf"), []warnCase{
		{"state other than MASTER or BACKUP is BACKUP", vi(" state SLAVE\n"),
			func(s *Spec) any { return s.VRRPInstances[0].State }, "BACKUP",
			[]string{`t.conf:4:8: warning: state "SLAVE" is not MASTER or BACKUP (in capitals); BACKUP is used, as keepalived does`}},
		{"state in lower case is BACKUP too", vi(" state master\n"),
			func(s *Spec) any { return s.VRRPInstances[0].State }, "BACKUP",
			[]string{`t.conf:4:8: warning: state "master" is not MASTER or BACKUP (in capitals); BACKUP is used, as keepalived does`}},
		{"nopreempt takes a value, and with BACKUP it holds", vi(" state BACKUP\n nopreempt 1\n"),
			func(s *Spec) any { return s.VRRPInstances[0].NoPreempt }, true, nil},
		{"nopreempt with state MASTER is cleared", vi(" state MASTER\n nopreempt\n"),
			func(s *Spec) any { return s.VRRPInstances[0].NoPreempt }, false,
			[]string{`t.conf:5:2: warning: nopreempt does not work with state MASTER; it is cleared, as keepalived does (write state BACKUP on every director for nopreempt)`}},
		{"an instance without a VIP", "vrrp_instance V {\n virtual_router_id 1\n}\n",
			func(s *Spec) any { return len(s.VRRPInstances) }, 1,
			[]string{`t.conf:1:1: warning: vrrp_instance "V" has no virtual_ipaddress; at least one is sensible, as keepalived says`}},
		{"a track_script naming nothing is dropped", vi(" track_script {\n  chk\n }\n"),
			func(s *Spec) any { return len(s.VRRPInstances[0].TrackScripts) }, 0,
			[]string{`t.conf:5:3: warning: track_script "chk" names no usable vrrp_script; the line is ignored, as keepalived does`}},
		{"a vrrp_script without script is removed, and so are its tracks",
			"vrrp_script chk {\n interval 2\n}\n" + vi(" track_script {\n  chk\n }\n"),
			func(s *Spec) any { return [2]int{len(s.VRRPScripts), len(s.VRRPInstances[0].TrackScripts)} }, [2]int{0, 0},
			[]string{`t.conf:1:1: warning: vrrp_script "chk" has no script, so it is removed, as keepalived does; give it one, e.g. "script \"/usr/local/bin/check.sh\""`,
				`t.conf:8:3: warning: track_script "chk" names no usable vrrp_script; the line is ignored, as keepalived does`}},
		{"an empty sync group is removed", "vrrp_sync_group G {\n group {\n }\n}\n" + vi(""),
			func(s *Spec) any { return len(s.VRRPSyncGroups) }, 0,
			[]string{`t.conf:1:1: warning: vrrp_sync_group "G" has no instances, so it is removed, as keepalived does; it needs a group block, e.g. "vrrp_sync_group VG_1 { group { VI_1 VI_2 } }"`}},
		{"a virtual_server without protocol is UDP", "virtual_server 198.18.0.100 53 {\n}\n",
			func(s *Spec) any { return s.VirtualServers[0].Protocol }, "UDP",
			[]string{`t.conf:1:1: warning: virtual_server has no protocol, so it is UDP, as keepalived does; write "protocol TCP" for TCP`}},
		{"lb_kind in lower case is NAT", vs(" lb_kind dr\n"),
			func(s *Spec) any { return s.VirtualServers[0].Kind }, "NAT",
			[]string{`t.conf:3:10: warning: lb_kind "dr" is not NAT, DR or TUN (in capitals); NAT is used, as keepalived does`}},
		{"an HTTP_GET without url is ignored", vs(" real_server 198.18.1.11 80 {\n  HTTP_GET {\n   connect_timeout 3\n  }\n  TCP_CHECK {\n  }\n }\n"),
			func(s *Spec) any { return len(s.VirtualServers[0].Reals[0].Checks) }, 1,
			[]string{`t.conf:4:3: warning: HTTP_GET has no url block, so this checker is ignored, as keepalived does; give it one, e.g. "url { path / }"`}},
		{"vrrp_garp_interval 0 is ignored", "global_defs {\n vrrp_garp_interval 0\n}\n",
			func(s *Spec) any { return len(s.Warnings) }, 1,
			[]string{`t.conf:2:21: warning: vrrp_garp_interval "0" is outside 0.000001 to 4294.967295 seconds; the line is ignored, as keepalived does`}},
		{"a valid garp_interval is a note", vi(" garp_interval 0.5\n"),
			func(s *Spec) any { return s.Warnings[0].Note }, true,
			[]string{`t.conf:4:2: note: keyword "garp_interval" is accepted but not acted on yet`}},
	})
}
