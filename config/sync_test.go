package config

import (
	"net/netip"
	"testing"
)

// vrrpVI1 is a vrrp_instance VI_1 with virtual_router_id 51 and a VIP;
// lines is put in its block. The VIP shares the first line, so that
// positions stay those of the instance without it.
func vrrpVI1(lines string) string {
	return "vrrp_instance VI_1 { virtual_ipaddress { 198.18.0.100 }\n virtual_router_id 51\n" + lines + "}\n"
}

func TestSyncValues(t *testing.T) {
	runValueCases(t, parseTest, []valueCase{
		{
			desc: "the full global form, before the instance it names",
			src:  "global_defs {\n lvs_sync_daemon eth1 VI_1 id 7 maxlen 1400 port 8849 ttl 2 group 239.1.2.3\n}\n" + vrrpVI1(""),
			get:  func(s *Spec) any { return [2]any{*s.Global.SyncDaemon, len(s.Warnings)} },
			want: [2]any{SyncDaemon{
				Pos: Pos{"t.conf", 2, 2}, Interface: "eth1", InterfacePos: Pos{"t.conf", 2, 18},
				Instance: "VI_1", InstancePos: Pos{"t.conf", 2, 23}, SyncID: 7, SyncIDSet: true,
				MaxLen: 1400, Port: 8849, TTL: 2, Group: netip.MustParseAddr("239.1.2.3"),
			}, 0},
		},
		{
			desc: "the options in any order, the bounds of their ranges",
			src:  vrrpVI1("") + "global_defs {\n lvs_sync_daemon eth1 group 224.0.0.81 ttl 255 port 65535 maxlen 65507 id 0 inst VI_1\n}\n",
			get:  func(s *Spec) any { return *s.Global.SyncDaemon },
			want: SyncDaemon{
				Pos: Pos{"t.conf", 5, 2}, Interface: "eth1", InterfacePos: Pos{"t.conf", 5, 18},
				Instance: "VI_1", InstancePos: Pos{"t.conf", 5, 82}, SyncID: 0, SyncIDSet: true,
				MaxLen: 65507, Port: 65535, TTL: 255, Group: netip.MustParseAddr("224.0.0.81"),
			},
		},
		{
			desc: "the sync id defaults to the instance's virtual_router_id",
			src:  "global_defs {\n lvs_sync_daemon eth1 VI_1\n}\n" + vrrpVI1(""),
			get:  func(s *Spec) any { sd := s.Global.SyncDaemon; return [3]any{sd.SyncID, sd.SyncIDSet, len(s.Warnings)} },
			want: [3]any{51, false, 0},
		},
		{
			desc: "inst NAME names the instance, after the instance is defined",
			src:  vrrpVI1("") + "global_defs {\n lvs_sync_daemon eth1 inst VI_1 port 8848\n}\n",
			get: func(s *Spec) any {
				sd := s.Global.SyncDaemon
				return [5]any{sd.Instance, sd.InstancePos, sd.SyncID, sd.Port, len(s.Warnings)}
			},
			want: [5]any{"VI_1", Pos{"t.conf", 5, 28}, 51, uint16(8848), 0},
		},
		{
			desc: "the old positional sync id is taken, with a warning",
			src:  "global_defs {\n lvs_sync_daemon eth1 VI_1 9\n}\n" + vrrpVI1(""),
			get: func(s *Spec) any {
				sd := s.Global.SyncDaemon
				return [3]any{sd.SyncID, sd.SyncIDSet, diagStrings(s.Warnings)}
			},
			want: [3]any{9, true, []string{
				`t.conf:2:28: warning: a sync id right after the instance name is keepalived's old form; write "lvs_sync_daemon eth1 VI_1 id 9", as keepalived asks`,
			}},
		},
		{
			desc: "lvs_sync_daemon_interface of a vrrp_instance drives sync from that instance, sync id 0, with a warning",
			src:  vrrpVI1(" lvs_sync_daemon_interface eth2\n"),
			get:  func(s *Spec) any { return [2]any{*s.Global.SyncDaemon, diagStrings(s.Warnings)} },
			want: [2]any{SyncDaemon{
				Pos: Pos{"t.conf", 3, 2}, Interface: "eth2", InterfacePos: Pos{"t.conf", 3, 28},
				Instance: "VI_1", InstancePos: Pos{"t.conf", 1, 15},
			}, []string{
				`t.conf:3:2: warning: lvs_sync_daemon_interface in a vrrp_instance is deprecated, as keepalived says; write "lvs_sync_daemon eth2 VI_1" in global_defs instead (this old form uses sync id 0, as keepalived does; the new one defaults it to the instance's virtual_router_id)`,
			}},
		},
		{
			desc: "lvs_sync_daemon with no instance starts nothing, with a warning rather than the not-acted-on one",
			src:  "global_defs {\n lvs_sync_daemon eth1 id 5 port 8848\n}\n" + vrrpVI1(""),
			get:  func(s *Spec) any { return [2]any{s.Global.SyncDaemon == nil, diagStrings(s.Warnings)} },
			want: [2]any{true, []string{
				`t.conf:2:2: warning: lvs_sync_daemon names no vrrp_instance, so connection sync is not started (keepalived does the same); add the instance whose state decides who sends, e.g. "lvs_sync_daemon eth1 VI_1"`,
			}},
		},
		{
			desc: "a second lvs_sync_daemon is ignored, with a warning; its errors are not looked at",
			src:  "global_defs {\n lvs_sync_daemon eth1 VI_1\n}\nglobal_defs {\n lvs_sync_daemon eth2 VI_1 id 999\n}\n" + vrrpVI1(""),
			get: func(s *Spec) any {
				return [2]any{s.Global.SyncDaemon.Interface, diagStrings(s.Warnings)}
			},
			want: [2]any{"eth1", []string{
				`t.conf:5:2: warning: lvs_sync_daemon is already set at t.conf:2:2; this one is ignored, as keepalived does`,
			}},
		},
		{
			desc: "lvs_sync_daemon after lvs_sync_daemon_interface is ignored, with a warning",
			src:  vrrpVI1(" lvs_sync_daemon_interface eth2\n") + "global_defs {\n lvs_sync_daemon eth1 VI_1 id 3\n}\n",
			get: func(s *Spec) any {
				sd := s.Global.SyncDaemon
				return [3]any{sd.Interface, sd.SyncID, diagStrings(s.Warnings)[1]}
			},
			want: [3]any{"eth2", 0,
				`t.conf:6:2: warning: lvs_sync_daemon is already set at t.conf:3:2; this one is ignored, as keepalived does`},
		},
		{
			desc: "lvs_sync_daemon_interface after lvs_sync_daemon is ignored, with a warning",
			src: "global_defs {\n lvs_sync_daemon eth1 VI_1\n}\n" + vrrpVI1("") +
				"vrrp_instance VI_2 { virtual_ipaddress { 198.18.0.101 }\n virtual_router_id 52\n lvs_sync_daemon_interface eth2\n}\n",
			get: func(s *Spec) any {
				sd := s.Global.SyncDaemon
				return [4]any{sd.Interface, sd.Instance, sd.SyncID, diagStrings(s.Warnings)}
			},
			want: [4]any{"eth1", "VI_1", 51, []string{
				`t.conf:9:2: warning: lvs_sync_daemon_interface in a vrrp_instance is deprecated, as keepalived says; write "lvs_sync_daemon eth2 VI_2" in global_defs instead (this old form uses sync id 0, as keepalived does; the new one defaults it to the instance's virtual_router_id)`,
				`t.conf:9:2: warning: lvs_sync_daemon is already set at t.conf:2:2; this one is ignored, as keepalived does`,
			}},
		},
		{
			desc: "Interfaces lists the sync interface last",
			src:  "xvs {\n wan_interface eth0\n}\nglobal_defs {\n lvs_sync_daemon eth9 VI_1\n}\n" + vrrpVI1(" interface eth0\n"),
			get:  func(s *Spec) any { return s.Interfaces() },
			want: []IfaceRef{{"eth0", Pos{"t.conf", 9, 12}}, {"eth0", Pos{"t.conf", 2, 16}}, {"eth9", Pos{"t.conf", 5, 18}}},
		},
		{
			desc: "no connection sync configured",
			src:  vrrpVI1(""),
			get:  func(s *Spec) any { return s.Global.SyncDaemon == nil },
			want: true,
		},
		// The xvs block.
		{
			desc: "sloppy_tcp alone turns it on",
			src:  "xvs {\n sloppy_tcp\n}\n",
			get:  func(s *Spec) any { return [2]any{s.XVS.SloppyTCP, len(s.Warnings)} },
			want: [2]any{true, 0},
		},
		{
			desc: "sloppy_tcp takes on/off words",
			src:  "xvs {\n sloppy_tcp yes\n sloppy_tcp off\n}\n",
			get:  func(s *Spec) any { return s.XVS.SloppyTCP },
			want: false,
		},
		{
			desc: "sloppy_tcp is off by default, sync_threshold not set",
			src:  "xvs {\n queues 2\n}\n",
			get: func(s *Spec) any {
				x := s.XVS
				return [4]any{x.SloppyTCP, x.SyncThreshold, x.SyncPeriod, x.SyncThresholdSet}
			},
			want: [4]any{false, 0, 0, false},
		},
		{
			desc: "sync_threshold THRESHOLD PERIOD",
			src:  "xvs {\n sync_threshold 3 50\n}\n",
			get:  func(s *Spec) any { x := s.XVS; return [3]any{x.SyncThreshold, x.SyncPeriod, x.SyncThresholdSet} },
			want: [3]any{3, 50, true},
		},
		{
			desc: "sync_threshold with period 0 may have any threshold",
			src:  "xvs {\n sync_threshold 65535 0\n}\n",
			get:  func(s *Spec) any { x := s.XVS; return [3]any{x.SyncThreshold, x.SyncPeriod, x.SyncThresholdSet} },
			want: [3]any{65535, 0, true},
		},
		{
			desc: "sync_threshold 0 0",
			src:  "xvs {\n sync_threshold 0 0\n}\n",
			get:  func(s *Spec) any { x := s.XVS; return [3]any{x.SyncThreshold, x.SyncPeriod, x.SyncThresholdSet} },
			want: [3]any{0, 0, true},
		},
	})
}

func TestSyncErrors(t *testing.T) {
	global := func(line string) string { return "global_defs {\n " + line + "\n}\n" + vrrpVI1("") }
	xvs := func(line string) string { return "xvs {\n " + line + "\n}\n" }
	runErrorCases(t, parseTest, []errorCase{
		{"lvs_sync_daemon without an interface", global("lvs_sync_daemon"),
			`t.conf:2:2: lvs_sync_daemon needs an interface and the vrrp_instance whose state decides who sends, e.g. "lvs_sync_daemon eth1 VI_1"`},
		{"interface name too long", global("lvs_sync_daemon eth0123456789abc VI_1"),
			`t.conf:2:18: lvs_sync_daemon interface "eth0123456789abc" is not a valid interface name (1 to 15 bytes, without "/", ":" or white space)`},
		{"interface name with a colon", global("lvs_sync_daemon eth0:1 VI_1"),
			`t.conf:2:18: lvs_sync_daemon interface "eth0:1" is not a valid interface name (1 to 15 bytes, without "/", ":" or white space)`},
		{"instance not defined", global("lvs_sync_daemon eth1 VI_9"),
			`t.conf:2:23: lvs_sync_daemon names vrrp_instance "VI_9", which is not defined`},
		{"instance given with inst not defined", global("lvs_sync_daemon eth1 id 4 inst VI_9"),
			`t.conf:2:33: lvs_sync_daemon names vrrp_instance "VI_9", which is not defined`},
		{"two instances", global("lvs_sync_daemon eth1 VI_1 inst VI_2"),
			`t.conf:2:33: lvs_sync_daemon names a second vrrp_instance "VI_2"; it names "VI_1" at t.conf:2:23 already`},
		{"id given twice, once in the old form", global("lvs_sync_daemon eth1 VI_1 5 id 6"),
			`t.conf:2:30: lvs_sync_daemon id is given twice (first at t.conf:2:28)`},
		{"id out of range", global("lvs_sync_daemon eth1 VI_1 id 256"),
			`t.conf:2:31: lvs_sync_daemon id "256" is not a number between 0 and 255, e.g. "id 5"`},
		{"id not a number", global("lvs_sync_daemon eth1 VI_1 id five"),
			`t.conf:2:31: lvs_sync_daemon id "five" is not a number between 0 and 255, e.g. "id 5"`},
		{"old positional id out of range", global("lvs_sync_daemon eth1 VI_1 300"),
			`t.conf:2:28: lvs_sync_daemon id "300" is not a number between 0 and 255, e.g. "id 5"`},
		{"maxlen of zero", global("lvs_sync_daemon eth1 VI_1 maxlen 0"),
			`t.conf:2:35: lvs_sync_daemon maxlen "0" is not a number between 1 and 65507, e.g. "maxlen 1400"`},
		{"maxlen larger than a UDP datagram", global("lvs_sync_daemon eth1 VI_1 maxlen 65508"),
			`t.conf:2:35: lvs_sync_daemon maxlen "65508" is not a number between 1 and 65507, e.g. "maxlen 1400"`},
		{"port of zero", global("lvs_sync_daemon eth1 VI_1 port 0"),
			`t.conf:2:33: lvs_sync_daemon port "0" is not a number between 1 and 65535, e.g. "port 8848"`},
		{"port too large", global("lvs_sync_daemon eth1 VI_1 port 65536"),
			`t.conf:2:33: lvs_sync_daemon port "65536" is not a number between 1 and 65535, e.g. "port 8848"`},
		{"ttl of zero", global("lvs_sync_daemon eth1 VI_1 ttl 0"),
			`t.conf:2:32: lvs_sync_daemon ttl "0" is not a number between 1 and 255, e.g. "ttl 1"`},
		{"ttl too large", global("lvs_sync_daemon eth1 VI_1 ttl 256"),
			`t.conf:2:32: lvs_sync_daemon ttl "256" is not a number between 1 and 255, e.g. "ttl 1"`},
		{"group not multicast", global("lvs_sync_daemon eth1 VI_1 group 198.18.0.1"),
			`t.conf:2:34: lvs_sync_daemon group "198.18.0.1" is not an IPv4 multicast address, e.g. "group 224.0.0.81"`},
		{"group not an address", global("lvs_sync_daemon eth1 VI_1 group sync.example"),
			`t.conf:2:34: lvs_sync_daemon group "sync.example" is not an IPv4 multicast address, e.g. "group 224.0.0.81"`},
		{"IPv6 group", global("lvs_sync_daemon eth1 VI_1 group ff02::8848"),
			`t.conf:2:34: lvs_sync_daemon group "ff02::8848" is an IPv6 address; IPv6 connection sync is not supported yet, use an IPv4 multicast group, e.g. "group 224.0.0.81"`},
		{"option without a value", global("lvs_sync_daemon eth1 VI_1 port"),
			`t.conf:2:28: lvs_sync_daemon port needs a value, e.g. "port 8848"`},
		{"inst without a value", global("lvs_sync_daemon eth1 inst"),
			`t.conf:2:23: lvs_sync_daemon inst needs a value, e.g. "inst VI_1"`},
		{"unknown option", global("lvs_sync_daemon eth1 VI_1 mcast 224.0.0.81"),
			`t.conf:2:28: lvs_sync_daemon option "mcast" is unknown; the options are inst, id, maxlen, port, ttl and group, e.g. "lvs_sync_daemon eth1 VI_1 id 5 port 8848"`},
		{"a word after the old positional id", global("lvs_sync_daemon eth1 VI_1 5 6"),
			`t.conf:2:30: lvs_sync_daemon option "6" is unknown; the options are inst, id, maxlen, port, ttl and group, e.g. "lvs_sync_daemon eth1 VI_1 id 5 port 8848"`},
		{"lvs_sync_daemon with a block", "global_defs {\n lvs_sync_daemon eth1 VI_1 {\n }\n}\n" + vrrpVI1(""),
			`t.conf:2:28: lvs_sync_daemon does not open a block`},
		{"several errors on one line, each at its value", global("lvs_sync_daemon eth1 VI_1 ttl 0 port x"),
			"t.conf:2:32: lvs_sync_daemon ttl \"0\" is not a number between 1 and 255, e.g. \"ttl 1\"\n" +
				`t.conf:2:39: lvs_sync_daemon port "x" is not a number between 1 and 65535, e.g. "port 8848"`},
		{"lvs_sync_daemon_interface without a value", vrrpVI1(" lvs_sync_daemon_interface\n"),
			`t.conf:3:2: lvs_sync_daemon_interface needs a value, e.g. "lvs_sync_daemon_interface eth1"`},
		{"lvs_sync_daemon_interface with a bad name", vrrpVI1(" lvs_sync_daemon_interface eth/1\n"),
			`t.conf:3:28: lvs_sync_daemon_interface "eth/1" is not a valid interface name (1 to 15 bytes, without "/", ":" or white space)`},
		// The xvs block.
		{"sync_threshold with one number", xvs("sync_threshold 3"),
			`t.conf:2:2: sync_threshold needs two numbers, a packet threshold and a period, e.g. "sync_threshold 3 50"`},
		{"sync_threshold with three numbers", xvs("sync_threshold 3 50 7"),
			`t.conf:2:22: sync_threshold takes two numbers; unexpected "7"`},
		{"sync_threshold threshold not a number", xvs("sync_threshold -1 50"),
			`t.conf:2:17: sync_threshold threshold "-1" is not a number between 0 and 65535, e.g. "sync_threshold 3 50"`},
		{"sync_threshold period too large", xvs("sync_threshold 3 65536"),
			`t.conf:2:19: sync_threshold period "65536" is not a number between 0 and 65535, e.g. "sync_threshold 3 50"`},
		{"sync_threshold not below the period", xvs("sync_threshold 50 50"),
			`t.conf:2:17: sync_threshold 50 is not below the period 50, which the kernel requires unless the period is 0, e.g. "sync_threshold 3 50"`},
		{"sloppy_tcp with a word other than on/off", xvs("sloppy_tcp maybe"),
			`t.conf:2:13: sloppy_tcp "maybe" is not one of true, false, on, off, yes, no`},
	})
}
