package ipvsadm

import (
	"bytes"
	"errors"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// testServices covers every forwarding method, TCP, UDP and SCTP, IPv4 and
// IPv6 fwmark services, persistence with and without a mask, a persistence
// engine, one-packet scheduling, scheduler flags named for sh, mh and other
// schedulers, thresholds, and counters on both sides of each K/M/G/T step.
// The services and real servers are deliberately out of order, so that
// the listings show ipvsadm's sorting.
func testServices() []Service {
	a := netip.MustParseAddr
	return []Service{
		{
			Protocol: "UDP", Addr: a("198.18.0.1"), Port: 53, Scheduler: "rr", OnePacket: true,
			Reals: []Real{
				{Addr: a("198.18.1.21"), Port: 53, Forward: ForwardRoute, Weight: 1, InActConn: 12},
				{Addr: a("198.18.1.20"), Port: 53, Forward: ForwardRoute, Weight: 1, InActConn: 9},
			},
			Stats: Stats{Conns: 99_999_999, InPkts: 100_000_000, OutPkts: 999_999_999, InBytes: 1_000_000_000, OutBytes: 99_999_999_999},
			Rate:  Rate{CPS: 1200, InPPS: 1200, OutPPS: 1150, InBPS: 96_000, OutBPS: 180_000},
		},
		{
			Protocol: "TCP", Addr: a("198.18.0.1"), Port: 80, Scheduler: "wlc",
			Reals: []Real{
				{
					Addr: a("198.18.1.11"), Port: 8080, Forward: ForwardMasq, Weight: 100,
					ActiveConn: 1234, InActConn: 56, UThreshold: 5000, LThreshold: 4000,
					Stats: Stats{Conns: 4_000_000, InPkts: 250_000_000, OutPkts: 320_000_000, InBytes: 30_000_000_000, OutBytes: 420_000_000_000},
					Rate:  Rate{CPS: 40, InPPS: 2500, OutPPS: 3100, InBPS: 300_000_000, OutBPS: 4_200_000_000},
				},
				{
					Addr: a("198.18.1.10"), Port: 8080, Forward: ForwardMasq, Weight: 0,
					ActiveConn: 0, InActConn: 3,
				},
			},
			Stats: Stats{Conns: 4_000_000, InPkts: 250_000_000, OutPkts: 320_000_000, InBytes: 30_000_000_000, OutBytes: 420_000_000_000},
			Rate:  Rate{CPS: 40, InPPS: 2500, OutPPS: 3100, InBPS: 300_000_000, OutBPS: 4_200_000_000},
		},
		{
			Protocol: "TCP", Addr: a("198.18.0.2"), Port: 443, Scheduler: "sh",
			SchedFlags: SchedFlag1 | SchedFlag2, Persistent: 300 * time.Second, Netmask: 24,
			Reals: []Real{
				{Addr: a("198.18.2.10"), Port: 443, Forward: ForwardTunnel, Weight: 2, ActiveConn: 17, InActConn: 4, PersistConn: 9},
				{Addr: a("198.18.0.2"), Port: 443, Forward: ForwardLocal, Weight: 1, ActiveConn: 2, PersistConn: 1},
			},
			Stats: Stats{Conns: 100_000_000_000_000, InPkts: 18446744073709551615},
		},
		{
			FWMark: 9, Addr: netip.IPv6Unspecified(), Scheduler: "mh", SchedFlags: SchedFlag2,
			Persistent: 600 * time.Second, Netmask: 64,
			Reals: []Real{
				{Addr: a("::ffff:198.19.3.10"), Port: 0, Forward: ForwardMasq, Weight: 1, ActiveConn: 1},
			},
		},
		{
			FWMark: 7, Scheduler: "wrr", SchedFlags: SchedFlag1 | SchedFlag3, Persistent: 1800 * time.Second,
			Reals: []Real{
				{Addr: a("198.18.4.10"), Forward: ForwardMasq, Weight: 5, ActiveConn: 7, InActConn: 70},
				{Addr: a("198.18.4.9"), Forward: ForwardMasq, Weight: 5, ActiveConn: 8, InActConn: 80, UThreshold: 100},
			},
		},
		{
			Protocol: "UDP", Addr: a("198.18.0.3"), Port: 5060, Scheduler: "lc",
			Persistent: 360 * time.Second, PE: "sip",
			Reals: []Real{
				{Addr: a("198.18.5.10"), Port: 5060, Forward: ForwardMasq, Weight: 1, PersistConn: 42},
			},
		},
		{
			Protocol: "SCTP", Addr: a("198.19.0.4"), Port: 3868, Scheduler: "wrr",
			Reals: []Real{
				{Addr: a("198.19.6.10"), Port: 3868, Forward: ForwardMasq, Weight: 65535, ActiveConn: 4294967295},
			},
		},
	}
}

// fakeResolver stands for gethostbyaddr and getservbyport.
type fakeResolver struct{}

func (fakeResolver) HostName(a netip.Addr) string {
	return map[string]string{
		"198.18.0.1":  "vip1.lb.test",
		"198.18.0.2":  "a-rather-long-virtual-service-name.lb.test",
		"198.18.1.10": "web10.lb.test",
		"198.18.1.11": "web11-with-a-long-name.lb.test",
		"198.19.6.10": "dra.lb.test",
	}[a.String()]
}

func (fakeResolver) ServiceName(port uint16, proto string) string {
	return map[string]string{
		"80/tcp":    "http",
		"443/tcp":   "https",
		"8080/tcp":  "http-alt",
		"53/udp":    "domain",
		"5060/udp":  "sip",
		"3868/sctp": "diameter",
	}[itoa(int(port))+"/"+proto]
}

func testConns() []Conn {
	ap := netip.MustParseAddrPort
	return []Conn{
		{Protocol: "TCP", Expires: 14*time.Minute + 59*time.Second + 400*time.Millisecond, State: "ESTABLISHED",
			Client: ap("198.19.100.1:51000"), Virtual: ap("198.18.0.1:80"), Dest: ap("198.18.1.11:8080")},
		{Protocol: "TCP", Expires: 58 * time.Second, State: "SYN_RECV",
			Client: ap("198.19.100.2:60000"), Virtual: ap("198.18.0.1:80"), Dest: ap("198.18.1.10:8080")},
		{Protocol: "TCP", Expires: 2 * time.Minute, State: "TIME_WAIT",
			Client: ap("198.19.100.3:33000"), Virtual: ap("198.18.0.2:443"), Dest: ap("198.18.2.10:443")},
		{Protocol: "UDP", Expires: 4 * time.Minute, State: "UDP",
			Client: ap("198.19.100.4:50000"), Virtual: ap("198.18.0.1:53"), Dest: ap("198.18.1.20:53")},
		{Protocol: "UDP", Expires: 3*time.Minute + 5*time.Second, State: "UDP",
			Client: ap("198.19.100.5:5060"), Virtual: ap("198.18.0.3:5060"), Dest: ap("198.18.5.10:5060"),
			PEName: "sip", PEData: "a84b4c76e66710@pc33.lb.test"},
		{Protocol: "TCP", Expires: 101*time.Minute + 1*time.Second, State: "NONE",
			Client: ap("198.19.100.6:0"), Virtual: ap("198.18.0.2:0"), Dest: ap("198.18.2.10:0")},
		{Protocol: "SCTP", Expires: -time.Second, State: "ESTABLISHED",
			Client: ap("198.19.100.7:52000"), Virtual: ap("198.19.0.4:3868"), Dest: ap("198.19.6.10:3868")},
	}
}

// TestGolden compares each listing with testdata/NAME.golden; run
// `go test ./internal/ipvsadm -update` to rewrite them after a deliberate
// change, and check the diff against ipvsadm.c.
//
// Where each kind of line comes from in ipvsadm.c (ipvsadm 1.31):
//   - "IP Virtual Server version ..." : list_all, "IP Virtual Server version %d.%d.%d (size=%d)\n".
//   - title lines: print_title; the default pair is a fixed string, the
//     others are "%-33s %8s %8s %8s %8s %8s" (--stats, --rate),
//     "%-33s %-10s %-10s %-10s %-10s" (--thresholds) and
//     "%-33s %-9s %-11s %-10s %-10s" (--persistent-conn), each followed by
//     "  -> RemoteAddress:Port".
//   - service lines: print_service_entry; the name is "%-4s %s" (protocol,
//     addrport_to_anyname, cut to 33 bytes unless IPv6) or "FWM  %u" /
//     "FWM  %u IPv6"; then "%s %s" with " (%s)" (print_sched_flags),
//     " persistent %u", " mask %s" / " mask %i", " pe %s", " ops" by
//     default, or "%-33s" and print_largenum x5 with --stats and --rate.
//   - real server lines: print_service_entry; "  -> %-28s %-7s %-6d %-10u %-10u"
//     by default, "  -> %-28s" and print_largenum x5 with --stats,
//     "  -> %-28s %8llu %8llu %8llu" and print_largenum x2 with --rate,
//     "  -> %-28s %-10u %-10u %-10u %-10u" with --thresholds and
//     "  -> %-28s %-9u %-11u %-10u %-10u" with --persistent-conn; the name
//     is cut to 28 bytes unless IPv6.
//   - counters: print_largenum, "%9llu" or "%8llu" and K/M/G/T, or "%*llu"
//     with --exact.
//   - connection listing: list_conn, "IPVS connection entries" and
//     "pro expire %-11s %-18s %-18s %s" (or with "%-18s %-16s %s" for
//     --persistent-conn); print_conn, "%-3s %-6s %-11s %-18s %-18s %s" (or
//     "%-3s %-6s %-11s %-18s %-18s %-16s %-18s %s" with PE data) and the
//     expiry as "%02d:%02d".
func TestGolden(t *testing.T) {
	svcs := testServices()
	tests := []struct {
		name  string // testdata/<name>.golden
		write func(*bytes.Buffer) error
	}{
		// ipvsadm -L -n: list_all, print_title default pair,
		// print_service_entry "%s %s"..., reals "  -> %-28s %-7s %-6d %-10u %-10u".
		{"list_numeric", func(b *bytes.Buffer) error {
			return WriteServices(b, svcs, Options{Numeric: true})
		}},
		// ipvsadm -L: as list_numeric with names from addrport_to_anyname,
		// service names cut at 33 bytes and real names at 28.
		{"list_names", func(b *bytes.Buffer) error {
			return WriteServices(b, svcs, Options{Resolver: fakeResolver{}, Version: "1.2.1", ConnTableSize: 1 << 20})
		}},
		// ipvsadm -L -n --nosort: as list_numeric, in the order given.
		{"list_nosort", func(b *bytes.Buffer) error {
			return WriteServices(b, svcs, Options{Numeric: true, NoSort: true})
		}},
		// ipvsadm -L -n --stats: print_title FMT_STATS, services "%-33s" and
		// reals "  -> %-28s", each with print_largenum x5 (K/M/G/T).
		{"stats", func(b *bytes.Buffer) error {
			return WriteServices(b, svcs, Options{Numeric: true, Stats: true})
		}},
		// ipvsadm -L -n --stats --exact: print_largenum with FMT_EXACT, "%*llu".
		{"stats_exact", func(b *bytes.Buffer) error {
			return WriteServices(b, svcs, Options{Numeric: true, Stats: true, Exact: true})
		}},
		// ipvsadm -L -n --rate: print_title FMT_RATE; services "%-33s" with
		// print_largenum x5; reals "  -> %-28s %8llu %8llu %8llu" then
		// print_largenum x2.
		{"rate", func(b *bytes.Buffer) error {
			return WriteServices(b, svcs, Options{Numeric: true, Rate: true})
		}},
		// ipvsadm -L -n --rate --exact: as rate, print_largenum "%*llu".
		{"rate_exact", func(b *bytes.Buffer) error {
			return WriteServices(b, svcs, Options{Numeric: true, Rate: true, Exact: true})
		}},
		// ipvsadm -L -n --thresholds: print_title FMT_THRESHOLDS, services as
		// by default, reals "  -> %-28s %-10u %-10u %-10u %-10u".
		{"thresholds", func(b *bytes.Buffer) error {
			return WriteServices(b, svcs, Options{Numeric: true, Thresholds: true})
		}},
		// ipvsadm -L -n --persistent-conn: print_title FMT_PERSISTENTCONN,
		// services as by default, reals "  -> %-28s %-9u %-11u %-10u %-10u".
		{"persistent_conn", func(b *bytes.Buffer) error {
			return WriteServices(b, svcs, Options{Numeric: true, PersistentConn: true})
		}},
		// ipvsadm -L -t 198.18.0.2:https: list_service, print_title and
		// print_service_entry without the version line.
		{"service", func(b *bytes.Buffer) error {
			return WriteService(b, svcs[2], Options{Resolver: fakeResolver{}})
		}},
		// ipvsadm -L -c -n: list_conn "pro expire %-11s %-18s %-18s %s",
		// print_conn "%-3s %-6s %-11s %-18s %-18s %s", expiry "%02d:%02d".
		{"conns_numeric", func(b *bytes.Buffer) error {
			return WriteConns(b, testConns(), Options{Numeric: true})
		}},
		// ipvsadm -L -c: as conns_numeric with names (addrport_to_anyname).
		{"conns_names", func(b *bytes.Buffer) error {
			return WriteConns(b, testConns(), Options{Resolver: fakeResolver{}})
		}},
		// ipvsadm -L -c -n --persistent-conn: list_conn's pe title line;
		// print_conn's PE format only for the entry with PE name and data.
		{"conns_pe", func(b *bytes.Buffer) error {
			return WriteConns(b, testConns(), Options{Numeric: true, PersistentConn: true})
		}},
		// --json: WriteJSON's documented fields.
		{"json", func(b *bytes.Buffer) error {
			return WriteJSON(b, svcs)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got bytes.Buffer
			if err := tt.write(&got); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", tt.name+".golden")
			if *update {
				if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("output differs from %s:\n%s", path, lineDiff(string(want), got.String()))
			}
		})
	}
}

// lineDiff shows the lines that differ, with trailing spaces made visible.
func lineDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	var sb strings.Builder
	for i := range max(len(wl), len(gl)) {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			sb.WriteString("line " + itoa(i+1) + ":\n  want |" + w + "|\n  got  |" + g + "|\n")
		}
	}
	return sb.String()
}

// TestInputUnchanged checks that sorting for the listing leaves the
// caller's slices alone.
func TestInputUnchanged(t *testing.T) {
	svcs := testServices()
	if err := WriteServices(&bytes.Buffer{}, svcs, Options{}); err != nil {
		t.Fatal(err)
	}
	if err := WriteJSON(&bytes.Buffer{}, svcs); err != nil {
		t.Fatal(err)
	}
	want := testServices()
	for i := range svcs {
		if svcs[i].Addr != want[i].Addr || svcs[i].Port != want[i].Port || svcs[i].FWMark != want[i].FWMark {
			t.Fatalf("service %d moved", i)
		}
		for j := range svcs[i].Reals {
			if svcs[i].Reals[j].Addr != want[i].Reals[j].Addr {
				t.Fatalf("real %d of service %d moved", j, i)
			}
		}
	}
}

// TestOptionPrecedence checks that when several listing options are given
// the first of --stats, --rate, --thresholds, --persistent-conn wins, as in
// print_title and print_service_entry.
func TestOptionPrecedence(t *testing.T) {
	svcs := testServices()
	list := func(o Options) string {
		var b bytes.Buffer
		if err := WriteServices(&b, svcs, o); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	all := Options{Numeric: true, Stats: true, Rate: true, Thresholds: true, PersistentConn: true}
	if list(all) != list(Options{Numeric: true, Stats: true}) {
		t.Error("--stats does not win over --rate, --thresholds, --persistent-conn")
	}
	all.Stats = false
	if list(all) != list(Options{Numeric: true, Rate: true}) {
		t.Error("--rate does not win over --thresholds, --persistent-conn")
	}
	all.Rate = false
	if list(all) != list(Options{Numeric: true, Thresholds: true}) {
		t.Error("--thresholds does not win over --persistent-conn")
	}
	// Without a Resolver, names are numeric with or without -n.
	if list(Options{}) != list(Options{Numeric: true}) {
		t.Error("a nil Resolver does not list numerically")
	}
	// -n wins over a Resolver.
	if list(Options{Numeric: true, Resolver: fakeResolver{}}) != list(Options{Numeric: true}) {
		t.Error("Numeric does not win over Resolver")
	}
}

// TestLargeNum checks print_largenum at each step; the expected strings
// were worked out from its printf formats by hand.
func TestLargeNum(t *testing.T) {
	tests := []struct {
		v            uint64
		human, exact string
	}{
		{0, "        0", "        0"},
		{99_999_999, " 99999999", " 99999999"},
		{100_000_000, "  100000K", " 100000000"},
		{999_999_999, "  999999K", " 999999999"},
		{1_000_000_000, "    1000M", " 1000000000"},
		{99_999_999_999, "   99999M", " 99999999999"},
		{100_000_000_000, "     100G", " 100000000000"},
		{99_999_999_999_999, "   99999G", " 99999999999999"},
		{100_000_000_000_000, "     100T", " 100000000000000"},
		{18446744073709551615, "18446744T", " 18446744073709551615"},
	}
	for _, tt := range tests {
		if got := string(appendLargeNum(nil, tt.v, false)); got != tt.human {
			t.Errorf("print_largenum(%d) = %q, want %q", tt.v, got, tt.human)
		}
		if got := string(appendLargeNum(nil, tt.v, true)); got != tt.exact {
			t.Errorf("print_largenum(%d, exact) = %q, want %q", tt.v, got, tt.exact)
		}
	}
}

// TestAddrPort checks addrport_to_anyname's forms, IPv6 brackets included.
func TestAddrPort(t *testing.T) {
	a := netip.MustParseAddr
	num := &Options{Numeric: true}
	names := &Options{Resolver: fakeResolver{}}
	tests := []struct {
		desc  string
		addr  netip.Addr
		port  uint16
		proto string
		o     *Options
		want  string
	}{
		{"numeric IPv4", a("198.18.0.1"), 80, "TCP", num, "198.18.0.1:80"},
		{"named IPv4", a("198.18.0.1"), 80, "TCP", names, "vip1.lb.test:http"},
		{"unnamed host, named port", a("198.18.9.9"), 53, "UDP", names, "198.18.9.9:domain"},
		{"port looked up per protocol", a("198.18.9.9"), 80, "UDP", names, "198.18.9.9:80"},
		{"no port look-up without protocol (fwmark)", a("198.18.9.9"), 80, "", names, "198.18.9.9:80"},
		{"IPv6 in brackets", a("::ffff:198.18.0.1"), 443, "TCP", num, "[::ffff:198.18.0.1]:443"},
		{"named IPv6 keeps brackets", a("::ffff:198.18.0.1"), 443, "TCP", names, "[::ffff:198.18.0.1]:https"},
		{"zero address", netip.Addr{}, 0, "TCP", num, "0.0.0.0:0"},
	}
	for _, tt := range tests {
		if got := addrPort(tt.addr, tt.port, tt.proto, tt.o); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.desc, got, tt.want)
		}
	}
}

// TestIPv4Mask checks the dotted masks of " mask %s".
func TestIPv4Mask(t *testing.T) {
	for bits, want := range map[int]string{0: "0.0.0.0", 1: "128.0.0.0", 16: "255.255.0.0", 24: "255.255.255.0", 31: "255.255.255.254", 32: "255.255.255.255"} {
		if got := ipv4Mask(bits); got != want {
			t.Errorf("ipv4Mask(%d) = %s, want %s", bits, got, want)
		}
	}
}

type failWriter struct{}

var errWrite = errors.New("disk full")

func (failWriter) Write([]byte) (int, error) { return 0, errWrite }

// TestWriteError checks that write errors are returned wrapped.
func TestWriteError(t *testing.T) {
	svcs := testServices()
	for name, err := range map[string]error{
		"WriteServices": WriteServices(failWriter{}, svcs, Options{}),
		"WriteService":  WriteService(failWriter{}, svcs[0], Options{}),
		"WriteConns":    WriteConns(failWriter{}, testConns(), Options{}),
		"WriteJSON":     WriteJSON(failWriter{}, svcs),
	} {
		if !errors.Is(err, errWrite) {
			t.Errorf("%s: got %v, want it to wrap %v", name, err, errWrite)
		}
	}
}
