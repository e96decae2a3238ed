package config

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// parseTest parses src as t.conf with the configuration id "lb1".
func parseTest(src string) (*Spec, error) {
	return ParseWith("t.conf", []byte(src), Options{ConfigID: "lb1"})
}

func TestFeatureValues(t *testing.T) {
	runValueCases(t, parseTest, []valueCase{
		{
			desc: "advert_int in hundredths with VRRP version 3",
			src:  "vrrp_instance V {\n version 3\n virtual_router_id 1\n advert_int 0.01\n}",
			get:  func(s *Spec) any { return s.VRRPInstances[0].AdvertInterval },
			want: 10 * time.Millisecond,
		},
		{
			desc: "vrrp_version given after the instance decides what advert_int may be",
			src:  "vrrp_instance V {\n virtual_router_id 1\n advert_int 0.25\n}\nglobal_defs {\n vrrp_version 3\n}",
			get:  func(s *Spec) any { return s.VRRPInstances[0].AdvertInterval },
			want: 250 * time.Millisecond,
		},
		{
			desc: "preempt after nopreempt turns it off again",
			src:  "vrrp_instance V {\n virtual_router_id 1\n nopreempt\n preempt\n}",
			get:  func(s *Spec) any { return s.VRRPInstances[0].NoPreempt },
			want: false,
		},
		{
			desc: "auth_pass longer than 8 characters is cut, with a warning",
			src:  "vrrp_instance V {\n virtual_router_id 1\n authentication {\n  auth_type AH\n  auth_pass 0123456789\n }\n}",
			get: func(s *Spec) any {
				return [3]any{s.VRRPInstances[0].AuthType, s.VRRPInstances[0].AuthPass, s.Warnings[0].String()}
			},
			want: [3]any{"AH", "01234567", `t.conf:5:13: warning: auth_pass is longer than 8 characters; only "01234567" is used, as keepalived does`},
		},
		{
			desc: "garp_master_repeat 0 is taken as 1, with a warning",
			src:  "vrrp_instance V {\n virtual_router_id 1\n garp_master_repeat 0\n}",
			get:  func(s *Spec) any { return [2]any{s.VRRPInstances[0].GARP.MasterRepeat, s.Warnings[0].String()} },
			want: [2]any{1, "t.conf:3:21: warning: garp_master_repeat must be greater than 0; 1 is used"},
		},
		{
			desc: "instances take the global vrrp_lower_prio_no_advert, even from a later global_defs",
			src:  "vrrp_instance A {\n virtual_router_id 1\n}\nvrrp_instance B {\n virtual_router_id 2\n lower_prio_no_advert off\n}\nglobal_defs {\n vrrp_lower_prio_no_advert\n}",
			get: func(s *Spec) any {
				return [2]bool{s.VRRPInstances[0].LowerPrioNoAdvert, s.VRRPInstances[1].LowerPrioNoAdvert}
			},
			want: [2]bool{true, false},
		},
		{
			desc: "track_script may name a vrrp_script defined later",
			src:  "vrrp_instance V {\n virtual_router_id 1\n track_script {\n  chk weight -2\n }\n}\nvrrp_script chk {\n script /bin/true\n}",
			get:  func(s *Spec) any { return s.VRRPInstances[0].TrackScripts },
			want: []Track{{Pos: Pos{"t.conf", 4, 3}, Name: "chk", Weight: -2, WeightSet: true}},
		},
		{
			desc: "a track line given twice is used once, with a warning",
			src:  "vrrp_instance V {\n virtual_router_id 1\n track_interface {\n  eth1\n  eth1 weight 5\n }\n}",
			get:  func(s *Spec) any { return [2]any{len(s.VRRPInstances[0].TrackInterfaces), s.Warnings[0].Msg} },
			want: [2]any{1, "track_interface eth1 is already listed at t.conf:4:3; this line is ignored, as keepalived does"},
		},
		{
			desc: "mcast_src_ip is the old name of unicast_src_ip",
			src:  "vrrp_instance V {\n virtual_router_id 1\n mcast_src_ip 198.18.0.9\n}",
			get:  func(s *Spec) any { return s.VRRPInstances[0].UnicastSrcIP },
			want: netip.MustParseAddr("198.18.0.9"),
		},
		{
			desc: "a notify command is every word after the keyword, quoted words split",
			src:  "vrrp_instance V {\n virtual_router_id 1\n notify_master \"/bin/n.sh 'a b' c\" d \"\"\n}",
			get:  func(s *Spec) any { return s.VRRPInstances[0].NotifyMaster },
			want: Command{Pos: Pos{"t.conf", 3, 16}, Argv: []string{"/bin/n.sh", "a b", "c", "d"}},
		},
		{
			desc: "checkers take retry, delay_before_retry and connect_timeout from the virtual server; warmup stays unset",
			src:  "virtual_server 198.18.0.1 80 {\n retry 5\n delay_before_retry 1.5\n connect_timeout 2\n real_server 198.18.1.1 80 {\n  TCP_CHECK {\n  }\n }\n}",
			get: func(s *Spec) any {
				c := s.VirtualServers[0].Reals[0].Checks[0]
				return [5]any{c.Retry, c.DelayBeforeRetry, c.ConnectTimeout, c.Warmup, c.DelayLoop}
			},
			want: [5]any{5, 1500 * time.Millisecond, 2 * time.Second, time.Duration(-1), 60 * time.Second},
		},
		{
			desc: "nb_get_retry is the old name of retry in HTTP_GET",
			src:  "virtual_server 198.18.0.1 80 {\n real_server 198.18.1.1 80 {\n  HTTP_GET {\n   nb_get_retry 7\n   url {\n    path /\n   }\n  }\n }\n}",
			get:  func(s *Spec) any { return s.VirtualServers[0].Reals[0].Checks[0].Retry },
			want: 7,
		},
		{
			desc: "a real server's inhibit_on_failure overrides the virtual server's",
			src:  "virtual_server 198.18.0.1 80 {\n inhibit_on_failure\n real_server 198.18.1.1 80 {\n  inhibit_on_failure false\n }\n real_server 198.18.1.2 80\n}",
			get: func(s *Spec) any {
				return [2]bool{s.VirtualServers[0].Reals[0].InhibitOnFailure, s.VirtualServers[0].Reals[1].InhibitOnFailure}
			},
			want: [2]bool{false, true},
		},
		{
			desc: "sorry_server without a port uses the virtual server's",
			src:  "virtual_server 198.18.0.1 8080 {\n sorry_server 198.18.1.9\n sorry_server_inhibit\n}",
			get:  func(s *Spec) any { return *s.VirtualServers[0].Sorry },
			want: SorryServer{Pos: Pos{"t.conf", 2, 2}, Addr: netip.MustParseAddr("198.18.1.9"), Port: 8080, Inhibit: true},
		},
		{
			desc: "udp_reschedule off keeps UDP flows on a dead real server",
			src:  "xvs {\n udp_reschedule off\n}",
			get:  func(s *Spec) any { return s.XVS.UDPKeepDeadDest },
			want: true,
		},
		{
			desc: "cpus takes a CPU list as taskset writes it",
			src:  "xvs {\n cpus 8,2-5,3\n}",
			get:  func(s *Spec) any { return fmt.Sprint(s.XVS.CPUs, s.XVS.CPUsPos) },
			want: "[2 3 4 5 8] t.conf:2:7",
		},
		{
			desc: "an IPv6 group range counts the last 16 bits in hex",
			src:  "virtual_server_group g {\n ::ffff:198.18.0.9-b 80\n}\nvirtual_server group g {\n real_server ::ffff:198.18.1.1\n}",
			get: func(s *Spec) any {
				var got []string
				for _, vs := range s.VirtualServers {
					got = append(got, netip.AddrPortFrom(vs.Addr, vs.Reals[0].Port).String()+" "+vs.Group)
				}
				return got
			},
			want: []string{"[::ffff:198.18.0.9]:80 g", "[::ffff:198.18.0.10]:80 g", "[::ffff:198.18.0.11]:80 g"},
		},
		{
			desc: "keywords not acted on and unknown keywords are reported once each",
			src:  "virtual_server 198.18.0.1 80 { protocol TCP\n snmp_name a\n frob\n real_server 198.18.1.1 80 {\n  snmp_name a\n  frob\n }\n}\nvirtual_server 198.18.0.2 80 { protocol TCP\n snmp_name a\n}",
			get: func(s *Spec) any {
				var got []string
				for _, w := range s.Warnings {
					got = append(got, w.String())
				}
				return got
			},
			want: []string{
				`t.conf:2:2: note: keyword "snmp_name" is accepted but not acted on yet`,
				`t.conf:3:2: warning: unknown keyword "frob"`,
			},
		},
		{
			desc: "Interfaces lists every interface named, where it is named",
			src: "xvs {\n wan_interface eth0\n lan_interface eth1\n}\nvrrp_instance V {\n interface eth0\n virtual_router_id 1\n" +
				" virtual_ipaddress {\n  198.18.0.1 dev eth2\n  198.18.0.2\n }\n track_interface {\n  eth3 weight 1\n }\n}",
			get: func(s *Spec) any { return s.Interfaces() },
			want: []IfaceRef{
				{"eth0", Pos{"t.conf", 6, 12}}, {"eth2", Pos{"t.conf", 9, 18}}, {"eth3", Pos{"t.conf", 13, 3}},
				{"eth0", Pos{"t.conf", 2, 16}}, {"eth1", Pos{"t.conf", 3, 16}},
			},
		},
		{
			desc: "connect_timeout is not a MISC_CHECK keyword",
			src:  "virtual_server 198.18.0.1 80 {\n real_server 198.18.1.1 80 {\n  MISC_CHECK {\n   misc_path /bin/true\n   connect_timeout 0\n  }\n }\n}",
			get:  func(s *Spec) any { return s.Warnings[0].String() },
			want: `t.conf:5:4: warning: unknown keyword "connect_timeout"`,
		},
		// The language.
		{
			desc: "$NAME is replaced only before white space, a comma, a bracket or the end of the line; ${NAME} anywhere",
			src:  "$ID=lb\nglobal_defs {\n router_id ${ID}-$ID\n}\nvirtual_server 198.18.0.1 80 {\n quorum_up \"/bin/q $ID\" x$ID ${ID}x\n}",
			get:  func(s *Spec) any { return [2]any{s.Global.RouterID, s.VirtualServers[0].QuorumUp.Argv} },
			want: [2]any{"lb-lb", []string{"/bin/q", "$ID", "xlb", "lbx"}},
		},
		{
			desc: "a definition is read when used, so it may use one made later",
			src:  "$A=${B}1\n$B=x\nglobal_defs {\n router_id $A\n}\n$B=y\n",
			get:  func(s *Spec) any { return s.Global.RouterID },
			want: "x1",
		},
		{
			desc: "a name that is not defined is left as it is",
			src:  "global_defs {\n router_id $NOPE\n}",
			get:  func(s *Spec) any { return s.Global.RouterID },
			want: "$NOPE",
		},
		{
			desc: "a multi-line definition gives lines of its own, at the position of its use",
			src:  "$R=real_server 198.18.1.1 80 \\\n  real_server 198.18.1.2 80\nvirtual_server 198.18.0.1 80 {\n  $R\n}",
			get: func(s *Spec) any {
				r := s.VirtualServers[0].Reals
				return [2]Pos{r[0].Pos, r[1].Pos}
			},
			want: [2]Pos{{"t.conf", 4, 3}, {"t.conf", 4, 3}},
		},
		{
			desc: "a multi-line definition is not used in the middle of a line",
			src:  "$R=a \\\n b\nglobal_defs {\n router_id $R.x\n}",
			get:  func(s *Spec) any { return s.Global.RouterID },
			want: "$R.x",
		},
		{
			desc: "lines for this configuration id are used, lines for others are not",
			src:  "global_defs {\n@lb2 router_id two\n@lb1 router_id one\n@^lb1 vrrp_version 3\n@^lb2 lvs_timeouts udp 5\n@lb1\n}",
			get:  func(s *Spec) any { return [3]any{s.Global.RouterID, s.Global.VRRPVersion, s.Global.LVSTimeouts.UDP} },
			want: [3]any{"one", 0, 5 * time.Second},
		},
		{
			desc: `\# and \! are not comments`,
			src:  "global_defs {\n router_id a\\#b\\!c#d\n}",
			get:  func(s *Spec) any { return s.Global.RouterID },
			want: "a#b!c",
		},
		{
			desc: "${_INSTANCE} is the configuration id",
			src:  "global_defs {\n router_id ${_INSTANCE}\n}",
			get:  func(s *Spec) any { return s.Global.RouterID },
			want: "lb1",
		},
	})
}

func TestFeatureErrors(t *testing.T) {
	vrrp := func(lines string) string { return "vrrp_instance V {\n virtual_router_id 1\n" + lines + "}\n" }
	rs := func(lines string) string {
		return "virtual_server 198.18.0.1 80 {\n real_server 198.18.1.1 80 {\n" + lines + " }\n}\n"
	}
	runErrorCases(t, parseTest, []errorCase{
		{"version other than 2 or 3", vrrp(" version 4\n"), `t.conf:3:10: version "4" is not a number between 2 and 3`},
		{"advert_int not whole seconds with VRRP version 2", vrrp(" advert_int 0.5\n"),
			`t.conf:3:13: advert_int "0.5" is not whole seconds between 1 and 255, as VRRP version 2 needs (vrrp_instance "V")`},
		{"advert_int too long for VRRP version 3", vrrp(" version 3\n advert_int 41\n"),
			`t.conf:4:13: advert_int "41" is not hundredths of a second between 0.01 and 40.95, as VRRP version 3 needs (vrrp_instance "V")`},
		{"advert_int finer than hundredths", "global_defs {\n vrrp_version 3\n}\n" + vrrp(" advert_int 0.015\n"),
			`t.conf:6:13: advert_int "0.015" is not hundredths of a second between 0.01 and 40.95, as VRRP version 3 needs (vrrp_instance "V")`},
		{"advert_int of zero", vrrp(" advert_int 0\n"), `t.conf:3:13: advert_int "0" is less than 0.01 seconds`},
		{"preempt_delay too long", vrrp(" preempt_delay 1000.5\n"), `t.conf:3:16: preempt_delay "1000.5" is more than 1000 seconds`},
		{"unknown auth_type", vrrp(" authentication {\n  auth_type MD5\n }\n"), `t.conf:4:13: auth_type "MD5" is not one of PASS, AH`},
		{"track weight out of range", vrrp(" track_interface {\n  eth0 weight 254\n }\n"),
			`t.conf:4:15: track_interface weight "254" is not a number between -253 and 253`},
		{"track line with something other than a weight", vrrp(" track_interface {\n  eth0 prio 2\n }\n"),
			`t.conf:4:8: track_interface eth0: unexpected "prio", expected "weight N"`},
		{"notify without a command", vrrp(" notify_master\n"),
			`t.conf:3:2: notify_master needs a command, e.g. "notify_master /etc/keepalived/notify.sh"`},
		{"unicast_peer that is not an address", vrrp(" unicast_peer {\n  peer1\n }\n"), `t.conf:4:3: unicast_peer "peer1" is not an IP address`},
		{"vrrp_script weight out of range", "vrrp_script chk {\n script /bin/true\n weight -254\n}\n",
			`t.conf:3:9: vrrp_script weight "-254" is not a number between -253 and 253`},
		{"vrrp_script rise of zero", "vrrp_script chk {\n script /bin/true\n rise 0\n}\n",
			`t.conf:3:7: vrrp_script rise "0" is not a number between 1 and 2147483647`},
		{"vrrp_script defined twice", "vrrp_script chk {\n script /bin/true\n}\nvrrp_script chk {\n script /bin/false\n}\n",
			`t.conf:4:13: vrrp_script "chk" is already defined at t.conf:1:1`},
		{"sync group naming no instance", "vrrp_sync_group G {\n group {\n  V\n  W\n }\n}\n" + vrrp(""),
			`t.conf:4:3: vrrp_sync_group "G" names vrrp_instance "W", which is not defined`},
		{"instance in two sync groups", vrrp("") + "vrrp_sync_group G {\n group { V }\n}\nvrrp_sync_group H {\n group { V }\n}\n",
			`t.conf:8:10: vrrp_instance "V" is already in vrrp_sync_group "G"; an instance may be in one group only`},
		{"vrrp_mcast_group4 that is not multicast", "global_defs {\n vrrp_mcast_group4 198.18.0.1\n}\n",
			`t.conf:2:20: vrrp_mcast_group4 "198.18.0.1" is not an IPv4 multicast address`},
		{"script_user with three words", "global_defs {\n script_user a b c\n}\n", `t.conf:2:18: script_user takes a user and a group; unexpected "c"`},
		{"on/off value that is neither", "global_defs {\n vrrp_skip_check_adv_addr maybe\n}\n",
			`t.conf:2:27: vrrp_skip_check_adv_addr "maybe" is not one of true, false, on, off, yes, no`},
		// Checkers and pools.
		{"url without a path", rs("  SSL_GET {\n   url {\n    digest 640205b7b0fc66c1ea91c463fac6334d\n   }\n  }\n"),
			`t.conf:4:4: url needs a path, e.g. "path /healthz"`},
		{"digest that is not MD5", rs("  HTTP_GET {\n   url {\n    path /\n    digest 1234\n   }\n  }\n"),
			`t.conf:6:12: digest "1234" is not an MD5 digest (32 hex digits)`},
		{"status_code out of range", rs("  HTTP_GET {\n   url {\n    path /\n    status_code 200 99-200\n   }\n  }\n"),
			`t.conf:6:21: status_code "99-200" is not an HTTP status code or range of them (100 to 599)`},
		{"http_protocol unknown", rs("  HTTP_GET {\n   http_protocol 2\n   url {\n    path /\n   }\n  }\n"),
			`t.conf:4:18: http_protocol "2" is not one of 1.0, 1.1, 1.0C, 1.0K`},
		{"MISC_CHECK without misc_path", rs("  MISC_CHECK {\n   misc_timeout 5\n  }\n"),
			`t.conf:3:3: MISC_CHECK needs a misc_path, e.g. "misc_path \"/usr/local/bin/check.sh\""`},
		{"payload with half a byte", rs("  UDP_CHECK {\n   payload 0a0\n  }\n"), `t.conf:4:12: payload "0a0" is not hex digits in whole bytes`},
		{"require_reply that is not hex", rs("  UDP_CHECK {\n   require_reply zz\n  }\n"),
			`t.conf:4:18: require_reply "zz" is not hex digits (or x for any digit) in whole bytes`},
		{"DNS_CHECK type unknown", rs("  DNS_CHECK {\n   type PTR\n  }\n"), `t.conf:4:9: DNS_CHECK type "PTR" is not one of A, NS, CNAME, SOA, MX, TXT, AAAA`},
		{"connect_port 0", rs("  TCP_CHECK {\n   connect_port 0\n  }\n"), `t.conf:4:17: connect_port "0" is not a number between 1 and 65535`},
		{"bindto of the other family", rs("  TCP_CHECK {\n   bindto ::ffff:198.18.0.1\n  }\n"),
			`t.conf:3:3: TCP_CHECK bindto ::ffff:198.18.0.1 is IPv6 but it connects to 198.18.1.1, which is IPv4`},
		{"checker delay_loop of zero", rs("  PING_CHECK {\n   delay_loop 0\n  }\n"), `t.conf:4:15: PING_CHECK delay_loop "0" is not greater than 0`},
		{"real server retry of zero", rs("  retry 0\n"), `t.conf:3:9: real_server retry "0" is not a number between 1 and 2147483647`},
		{"quorum of zero", "virtual_server 198.18.0.1 80 {\n quorum 0\n}\n", `t.conf:2:9: quorum "0" is not a number between 1 and 2147483647`},
		{"sorry_server of the other family", "virtual_server 198.18.0.1 80 {\n sorry_server ::ffff:198.18.1.1 80\n}\n",
			`t.conf:2:15: sorry_server address ::ffff:198.18.1.1 is IPv6 but virtual_server address 198.18.0.1 is IPv4`},
		{"cpus range backwards", "xvs {\n cpus 5-2\n}\n", `t.conf:2:7: cpus "5-2": range "5-2" runs backwards`},
		{"cpus not a number", "xvs {\n cpus 1,x\n}\n", `t.conf:2:7: cpus "1,x": "x" is not a CPU number (0-8191) or a range such as 2-5`},
		{"udp_reschedule neither on nor off", "xvs {\n udp_reschedule later\n}\n", `t.conf:2:17: udp_reschedule "later" is not one of on, off`},
		{"checker outside a real server", "virtual_server 198.18.0.1 80 {\n TCP_CHECK {\n }\n}\n", `t.conf:2:2: TCP_CHECK is only allowed inside a real_server block`},
		// Groups.
		{"virtual_server group naming no group", "virtual_server group web {\n}\n", `t.conf:1:22: virtual_server group "web" names no virtual_server_group`},
		{"fwmark in a group", "virtual_server_group g {\n 198.18.0.1 80\n fwmark 3\n}\n", `t.conf:3:2: fwmark services are not supported by xvs yet`},
		{"group address without a port", "virtual_server_group g {\n 198.18.0.1\n}\n",
			`t.conf:2:2: virtual_server_group g needs a port after 198.18.0.1; xvs does not balance all ports`},
		{"group range ending before it starts", "virtual_server_group g {\n 198.18.0.10-9 80\n}\n",
			`t.conf:2:2: virtual_server_group address "198.18.0.10-9" does not end after it starts`},
		{"group prefix with host bits", "virtual_server_group g {\n 198.18.0.1/24 80\n}\n",
			`t.conf:2:2: virtual_server_group address "198.18.0.1/24" has host bits set after its prefix length`},
		{"group prefix too large", "virtual_server_group g {\n 198.18.0.0/16 80\n}\n",
			`t.conf:2:2: virtual_server_group address "198.18.0.0/16" covers more than 1024 addresses`},
		{"group real server of the other family", "virtual_server_group g {\n ::ffff:198.18.0.1 80\n}\nvirtual_server group g {\n real_server 198.18.1.1 80\n}\n",
			`t.conf:5:2: real_server address 198.18.1.1 is IPv4 but virtual_server_group "g" has IPv6 address ::ffff:198.18.0.1`},
		{"group address taken by another virtual server", "virtual_server 198.18.0.2 80 { protocol TCP\n}\nvirtual_server_group g {\n 198.18.0.1-2 80\n}\nvirtual_server group g { protocol TCP\n}\n",
			`t.conf:6:1: virtual_server group g: 198.18.0.2 80 TCP is already defined at t.conf:1:1`},
		// The language.
		{"a definition that uses itself", "$A=x$A\nglobal_defs {\n router_id $A\n}\n", `t.conf:3:12: replacing definitions does not end (does a definition use itself?)`},
		{"$_RANDOM", "global_defs {\n router_id ${_RANDOM 1 9}\n}\n",
			`t.conf:2:12: $_RANDOM is not supported by xvs: the same files must always give the same configuration`},
		{"~SEQ", "~SEQ(N, 1, 3) real_server 198.18.1.$N 80\n", `t.conf:1:1: ~SEQ is not supported by xvs`},
	})
}

// TestDefinitionsAcrossIncludes checks that definitions are shared by
// every file, in reading order, as keepalived shares them.
func TestDefinitionsAcrossIncludes(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"keepalived.conf": "include defs.conf\nvirtual_server $VIP 80 {\n}\n",
		"defs.conf":       "$VIP=198.18.0.7\n",
	})
	spec, err := ParseFileWith(filepath.Join(dir, "keepalived.conf"), Options{ConfigID: "lb1"})
	if err != nil {
		t.Fatal(err)
	}
	if got := spec.VirtualServers[0].Addr.String(); got != "198.18.0.7" {
		t.Errorf("virtual server address %s, want 198.18.0.7", got)
	}
}

// TestConfigIDDefault checks that Parse uses the host name's first label.
func TestConfigIDDefault(t *testing.T) {
	id := hostConfigID()
	if id == "" || strings.Contains(id, ".") {
		t.Skipf("host name gives config id %q", id)
	}
	spec, err := Parse("t.conf", []byte("global_defs {\n@"+id+" router_id mine\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if spec.Global.RouterID != "mine" {
		t.Errorf("RouterID = %q, want %q", spec.Global.RouterID, "mine")
	}
}
