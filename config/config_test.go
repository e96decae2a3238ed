package config

import (
	"net/netip"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestStrings(t *testing.T) {
	tests := []struct {
		desc string
		got  string
		want string
	}{
		{"position", Pos{"a.conf", 3, 7}.String(), "a.conf:3:7"},
		{"position without a file", Pos{Line: 3, Col: 7}.String(), "3:7"},
		{"error diagnostic", Diagnostic{Pos: Pos{"a.conf", 1, 2}, Msg: "bad"}.String(), "a.conf:1:2: bad"},
		{"warning diagnostic", Diagnostic{Pos: Pos{"a.conf", 1, 2}, Msg: "odd", Warning: true}.String(), "a.conf:1:2: warning: odd"},
		{"error with two diagnostics", (&Error{Diags: []Diagnostic{
			{Pos: Pos{"a.conf", 1, 2}, Msg: "bad"},
			{Pos: Pos{"a.conf", 3, 4}, Msg: "worse"},
		}}).Error(), "a.conf:1:2: bad\na.conf:3:4: worse"},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.desc, tc.got, tc.want)
		}
	}
}

// TestStockLVSNAT checks that keepalived's own LVS-NAT example loads with
// only "accepted but not acted on" warnings and those about its
// deprecated lvs_sync_daemon_interface, and what it loads to.
func TestStockLVSNAT(t *testing.T) {
	spec, err := ParseFile(filepath.Join("testdata", "lvs_nat.conf"))
	if err != nil {
		t.Fatalf("ParseFile: %v", err)
	}
	if len(spec.Warnings) == 0 {
		t.Errorf("no warnings, want one per keyword xvs does not act on")
	}
	for _, w := range spec.Warnings {
		if !(w.Warning || w.Note) || !strings.HasSuffix(w.Msg, "is accepted but not acted on yet") &&
			!strings.HasPrefix(w.Msg, "lvs_sync_daemon_interface in a vrrp_instance is deprecated") &&
			!strings.HasPrefix(w.Msg, "lvs_sync_daemon is already set at") {
			t.Errorf("unexpected diagnostic %v", w)
		}
	}
	wantSync := &SyncDaemon{
		Pos: Pos{filepath.Join("testdata", "lvs_nat.conf"), 30, 5}, Interface: "eth0",
		InterfacePos: Pos{filepath.Join("testdata", "lvs_nat.conf"), 30, 31},
		Instance:     "VI_1", InstancePos: Pos{filepath.Join("testdata", "lvs_nat.conf"), 27, 15},
	}
	if !reflect.DeepEqual(spec.Global.SyncDaemon, wantSync) {
		t.Errorf("SyncDaemon\n got: %+v\nwant: %+v", spec.Global.SyncDaemon, wantSync)
	}
	if len(spec.VirtualServers) != 1 {
		t.Fatalf("got %d virtual servers, want 1", len(spec.VirtualServers))
	}
	vs := spec.VirtualServers[0]
	// The checkers are compared on their own, below.
	checks := [][]Check{vs.Reals[0].Checks, vs.Reals[1].Checks}
	vs.Reals = append([]RealServer(nil), vs.Reals...)
	vs.Reals[0].Checks, vs.Reals[1].Checks = nil, nil
	want := VirtualServer{
		Pos:                Pos{filepath.Join("testdata", "lvs_nat.conf"), 61, 1},
		Addr:               netip.MustParseAddr("198.18.0.100"),
		Port:               80,
		Protocol:           "TCP",
		Scheduler:          "rr",
		Kind:               "NAT",
		DelayLoop:          6 * time.Second,
		PersistenceTimeout: 50 * time.Second,
		Reals: []RealServer{
			{Pos: Pos{filepath.Join("testdata", "lvs_nat.conf"), 68, 5}, Addr: netip.MustParseAddr("198.19.0.11"), Port: 80, Weight: 1},
			{Pos: Pos{filepath.Join("testdata", "lvs_nat.conf"), 75, 5}, Addr: netip.MustParseAddr("198.19.0.12"), Port: 80, Weight: 2, InhibitOnFailure: true},
		},
		Quorum: 1,
	}
	if !reflect.DeepEqual(vs, want) {
		t.Errorf("virtual server\n got: %+v\nwant: %+v", vs, want)
	}
	wantChecks := [][]Check{
		{{Pos: Pos{filepath.Join("testdata", "lvs_nat.conf"), 70, 9}, Kind: "TCP_CHECK", ConnectPort: 80,
			ConnectTimeout: 3 * time.Second, Retry: -1, DelayLoop: 6 * time.Second, Warmup: -1}},
		{{Pos: Pos{filepath.Join("testdata", "lvs_nat.conf"), 78, 9}, Kind: "HTTP_GET",
			ConnectTimeout: 3 * time.Second, Retry: 3, DelayBeforeRetry: 3 * time.Second, DelayLoop: 6 * time.Second, Warmup: -1,
			URLs: []URL{
				{Pos: Pos{filepath.Join("testdata", "lvs_nat.conf"), 79, 13}, Path: "/", Digest: "640205b7b0fc66c1ea91c463fac6334d"},
				{Pos: Pos{filepath.Join("testdata", "lvs_nat.conf"), 83, 13}, Path: "/status", StatusCode: "200"},
			}}},
	}
	if !reflect.DeepEqual(checks, wantChecks) {
		t.Errorf("checkers\n got: %+v\nwant: %+v", checks, wantChecks)
	}
	if spec.Global.RouterID != "LVS_DEVEL" {
		t.Errorf("RouterID = %q", spec.Global.RouterID)
	}
	if n := len(spec.VRRPInstances); n != 2 {
		t.Fatalf("got %d VRRP instances, want 2", n)
	}
	vi := spec.VRRPInstances[0]
	if vi.Name != "VI_1" || vi.State != "MASTER" || vi.Interface != "eth0" || vi.VirtualRouterID != 51 || vi.Priority != 150 {
		t.Errorf("VI_1 = %+v", vi)
	}
	wantVIP := VirtualIP{Pos: Pos{filepath.Join("testdata", "lvs_nat.conf"), 40, 9}, Prefix: netip.MustParsePrefix("198.18.0.100/24"),
		Dev: "eth0", DevPos: Pos{filepath.Join("testdata", "lvs_nat.conf"), 40, 29}, Label: "eth0:1"}
	if len(vi.VirtualIPs) != 1 || vi.VirtualIPs[0] != wantVIP {
		t.Errorf("VI_1 virtual IPs = %+v, want %+v", vi.VirtualIPs, wantVIP)
	}
}

func TestValues(t *testing.T) {
	runValueCases(t, parseNamed("t.conf"), []valueCase{
		{
			desc: "delay_loop with decimals",
			src:  "virtual_server 198.18.0.1 80 {\n delay_loop 0.25\n}",
			get:  func(s *Spec) any { return s.VirtualServers[0].DelayLoop },
			want: 250 * time.Millisecond,
		},
		{
			desc: "delay_loop with nine decimals",
			src:  "virtual_server 198.18.0.1 80 {\n delay_loop 2.000000001\n}",
			get:  func(s *Spec) any { return s.VirtualServers[0].DelayLoop },
			want: 2*time.Second + time.Nanosecond,
		},
		{
			desc: "persistence_timeout without a value",
			src:  "virtual_server 198.18.0.1 80 {\n persistence_timeout\n}",
			get:  func(s *Spec) any { return s.VirtualServers[0].PersistenceTimeout },
			want: 360 * time.Second,
		},
		{
			desc: "the last of a repeated setting wins",
			src:  "virtual_server 198.18.0.1 80 {\n lb_algo rr\n lb_algo LC\n}",
			get:  func(s *Spec) any { return s.VirtualServers[0].Scheduler },
			want: "lc",
		},
		{
			desc: "the same address and port with another protocol is another virtual server",
			src:  "virtual_server 198.18.0.1 80 { protocol TCP\n}\nvirtual_server 198.18.0.1 80 {\n protocol UDP\n}",
			get:  func(s *Spec) any { return len(s.VirtualServers) },
			want: 2,
		},
		{
			desc: "a real server without a port uses the virtual server's",
			src:  "virtual_server 198.18.0.1 443 {\n real_server 198.18.0.2\n}",
			get:  func(s *Spec) any { return s.VirtualServers[0].Reals[0].Port },
			want: uint16(443),
		},
		{
			desc: "braces and comment characters in quotes are text",
			src:  "global_defs {\n router_id \"a{b}#c!d\"\n}",
			get:  func(s *Spec) any { return s.Global.RouterID },
			want: "a{b}#c!d",
		},
		{
			desc: "comments end words",
			src:  "global_defs {\n router_id lb1#comment }\n}",
			get:  func(s *Spec) any { return s.Global.RouterID },
			want: "lb1",
		},
		{
			desc: "later global_defs settings replace earlier ones",
			src:  "global_defs {\n router_id a\n}\nglobal_defs {\n router_id b\n}",
			get:  func(s *Spec) any { return s.Global },
			want: Global{RouterID: "b", Pos: Pos{"t.conf", 1, 1}},
		},
		{
			desc: "an IPv6 virtual IP without a length is a /128",
			src:  "vrrp_instance V {\n virtual_router_id 3\n virtual_ipaddress {\n  ::ffff:198.18.0.7\n }\n}",
			get:  func(s *Spec) any { return s.VRRPInstances[0].VirtualIPs[0].Prefix },
			want: netip.MustParsePrefix("::ffff:198.18.0.7/128"),
		},
		{
			desc: "a byte order mark is skipped",
			src:  "\uFEFFglobal_defs {\n router_id bom\n}",
			get:  func(s *Spec) any { return s.Global },
			want: Global{RouterID: "bom", Pos: Pos{"t.conf", 1, 1}},
		},
		{
			desc: "CRLF line ends",
			src:  "xvs {\r\n queues 8\r\n wan_interface eth0\r\n}\r\n",
			get:  func(s *Spec) any { return s.XVS },
			want: XVS{WANInterface: "eth0", WANInterfacePos: Pos{"t.conf", 3, 16}, Queues: 8, Pos: Pos{"t.conf", 1, 1}},
		},
		{
			desc: "an unknown virtual_ipaddress option skips the rest of its line",
			src:  "vrrp_instance V {\n virtual_router_id 3\n virtual_ipaddress {\n  198.18.0.7 frob x dev eth0\n }\n}",
			get:  func(s *Spec) any { return [2]any{s.VRRPInstances[0].VirtualIPs[0].Dev, s.Warnings[0].String()} },
			want: [2]any{"", `t.conf:4:14: warning: unknown keyword "frob"`},
		},
	})
}

func TestDeterministic(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.conf"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, f := range files {
		a, errA := ParseFile(f)
		b, errB := ParseFile(f)
		if !reflect.DeepEqual(a, b) || !reflect.DeepEqual(errA, errB) {
			t.Errorf("%s: two parses differ", f)
		}
	}
}

func TestSchedulerFlagsAndThresholds(t *testing.T) {
	src := `virtual_server 198.18.0.100 80 {
    lb_algo mh
    mh-port
    flag-1
    real_server 198.18.1.11 80 {
        weight 2
        uthreshold 100
        lthreshold 50
    }
}
`
	spec, err := Parse("f.conf", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	vs := spec.VirtualServers[0]
	if len(vs.SchedulerFlags) != 2 || vs.SchedulerFlags[0] != "mh-port" || vs.SchedulerFlags[1] != "flag-1" {
		t.Fatalf("flags %q", vs.SchedulerFlags)
	}
	if rs := vs.Reals[0]; rs.UThreshold != 100 || rs.LThreshold != 50 {
		t.Fatalf("thresholds %d %d", rs.UThreshold, rs.LThreshold)
	}
	_, err = Parse("f.conf", []byte("virtual_server 198.18.0.100 80 {\n  sh-port yes\n}\n"))
	if err == nil || !strings.Contains(err.Error(), `f.conf:2:11: sh-port takes no value; unexpected "yes"`) {
		t.Fatalf("error %v", err)
	}
}

func TestLVSTimeouts(t *testing.T) {
	spec, err := Parse("f.conf", []byte("global_defs {\n    lvs_timeouts tcp 7200 udp 60 tcpfin 30\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	lt := spec.Global.LVSTimeouts
	if lt.TCP != 7200*time.Second || lt.TCPFin != 30*time.Second || lt.UDP != 60*time.Second {
		t.Fatalf("timeouts %+v", lt)
	}
	for src, want := range map[string]string{
		"global_defs {\n lvs_timeouts tcp\n}\n":      "f.conf:2:2: lvs_timeouts takes pairs",
		"global_defs {\n lvs_timeouts sctp 5\n}\n":   `f.conf:2:15: lvs_timeouts "sctp" is not one of tcp, tcpfin, udp`,
		"global_defs {\n lvs_timeouts tcp soon\n}\n": `f.conf:2:19: lvs_timeouts tcp "soon" is not a number of seconds`,
	} {
		_, err := Parse("f.conf", []byte(src))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", src, err, want)
		}
	}
}
