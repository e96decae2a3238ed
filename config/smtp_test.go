package config

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

// smtpRS wraps lines in a virtual server 198.18.0.1:25 (retry 4,
// connect_timeout 7 at that level) with one real server 198.18.1.1:25,
// whose block starts on line 5.
func smtpRS(lines string) string {
	return "virtual_server 198.18.0.1 25 {\n retry 4\n connect_timeout 7\n real_server 198.18.1.1 25 {\n" + lines + " }\n protocol TCP\n}\n"
}

// TestSMTPCheckForms parses every form of SMTP_CHECK keepalived 2.2
// accepts and checks the Check it gives.
func TestSMTPCheckForms(t *testing.T) {
	ip := netip.MustParseAddr
	pos := func(line, col int) Pos { return Pos{"t.conf", line, col} }
	tests := []struct {
		desc string
		src  string
		want Check // Pos, Kind, DelayLoop and Warmup are filled in when zero
	}{
		{
			desc: "empty block: the real server's address and port, inherited retry and connect_timeout",
			src:  smtpRS("  SMTP_CHECK {\n  }\n"),
			want: Check{Retry: 4, ConnectTimeout: 7 * time.Second},
		},
		{
			desc: "no block at all",
			src:  smtpRS("  SMTP_CHECK\n"),
			want: Check{Retry: 4, ConnectTimeout: 7 * time.Second},
		},
		{
			desc: "one server through connect_ip and connect_port, with helo_name and its own timings",
			src: smtpRS("  SMTP_CHECK {\n   connect_ip 198.18.1.99\n   connect_port 587\n   bindto 198.18.1.254\n   bind_port 40025\n" +
				"   helo_name \"mx1.example.com\"\n   connect_timeout 2.5\n   retry 0\n   delay_before_retry 3\n   warmup 0\n   delay_loop 9\n" +
				"   alpha\n   log_all_failures\n  }\n"),
			want: Check{ConnectIP: ip("198.18.1.99"), ConnectPort: 587, BindTo: ip("198.18.1.254"), BindPort: 40025,
				HeloName: "mx1.example.com", ConnectTimeout: 2500 * time.Millisecond, Retry: 0, DelayBeforeRetry: 3 * time.Second,
				Warmup: 0, DelayLoop: 9 * time.Second, Alpha: true, LogAllFailures: true},
		},
		{
			desc: "host blocks alone: the first host is the checker's own connection, the others are SMTPHosts",
			src: smtpRS("  SMTP_CHECK {\n   helo_name mx.example.com\n   host {\n    connect_ip 198.18.1.1\n   }\n" +
				"   host {\n    connect_ip 198.18.2.10\n    connect_port 2525\n    bindto 198.18.2.1\n    bind_port 40000\n    connect_timeout 1\n   }\n" +
				"   host {\n   }\n  }\n"),
			want: Check{ConnectIP: ip("198.18.1.1"), HeloName: "mx.example.com", Retry: 4, ConnectTimeout: 7 * time.Second,
				SMTPHosts: []SMTPHost{
					{Pos: pos(10, 4), ConnectIP: ip("198.18.2.10"), ConnectPort: 2525, BindTo: ip("198.18.2.1"), BindPort: 40000, ConnectTimeout: time.Second},
					{Pos: pos(17, 4)},
				}},
		},
		{
			desc: "a single host block with its own connect_timeout",
			src:  smtpRS("  SMTP_CHECK {\n   host {\n    connect_ip 198.18.2.10\n    connect_timeout 2\n   }\n  }\n"),
			want: Check{ConnectIP: ip("198.18.2.10"), Retry: 4, ConnectTimeout: 2 * time.Second},
		},
		{
			desc: "connection keywords at the block's level and host blocks: both are checked",
			src:  smtpRS("  SMTP_CHECK {\n   connect_port 25\n   host {\n    connect_ip 198.18.2.10\n   }\n  }\n"),
			want: Check{ConnectPort: 25, Retry: 4, ConnectTimeout: 7 * time.Second,
				SMTPHosts: []SMTPHost{{Pos: pos(7, 4), ConnectIP: ip("198.18.2.10")}}},
		},
		{
			desc: "connect_timeout at the block's level counts as a connection keyword (keepalived 2.2)",
			src:  smtpRS("  SMTP_CHECK {\n   connect_timeout 3\n   host {\n    connect_ip 198.18.2.10\n   }\n  }\n"),
			want: Check{Retry: 4, ConnectTimeout: 3 * time.Second,
				SMTPHosts: []SMTPHost{{Pos: pos(7, 4), ConnectIP: ip("198.18.2.10")}}},
		},
		{
			desc: "bind_if at the block's level counts too, though it is not acted on",
			src:  smtpRS("  SMTP_CHECK {\n   bind_if eth0\n   host {\n    connect_ip 198.18.2.10\n   }\n  }\n"),
			want: Check{Retry: 4, ConnectTimeout: 7 * time.Second,
				SMTPHosts: []SMTPHost{{Pos: pos(7, 4), ConnectIP: ip("198.18.2.10")}}},
		},
		{
			desc: "retry, delay_before_retry and log_all_failures in a host block set the whole checker's",
			src: smtpRS("  SMTP_CHECK {\n   host {\n    connect_ip 198.18.2.10\n    retry 2\n    delay_before_retry 4\n    log_all_failures\n   }\n" +
				"   host {\n    connect_ip 198.18.2.11\n   }\n  }\n"),
			want: Check{ConnectIP: ip("198.18.2.10"), Retry: 2, DelayBeforeRetry: 4 * time.Second, LogAllFailures: true,
				ConnectTimeout: 7 * time.Second, SMTPHosts: []SMTPHost{{Pos: pos(12, 4), ConnectIP: ip("198.18.2.11")}}},
		},
		{
			desc: "the checker's retry overrides the real server's and the virtual server's",
			src:  "virtual_server 198.18.0.1 25 {\n real_server 198.18.1.1 25 {\n  retry 6\n  SMTP_CHECK {\n   retry 1\n  }\n }\n protocol TCP\n}\n",
			want: Check{Pos: pos(4, 3), Retry: 1},
		},
		{
			desc: "a later helo_name replaces an earlier one",
			src:  smtpRS("  SMTP_CHECK {\n   helo_name a.example.com\n   helo_name b.example.com\n  }\n"),
			want: Check{HeloName: "b.example.com", Retry: 4, ConnectTimeout: 7 * time.Second},
		},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			spec, err := parseTest(tc.src)
			if err != nil {
				t.Fatal(err)
			}
			// TestSMTPCheckDiagnostics has the warnings; no keyword
			// is unknown here, and SMTP_CHECK is acted on.
			for _, w := range spec.Warnings {
				if strings.Contains(w.Msg, "unknown keyword") || strings.Contains(w.Msg, `"SMTP_CHECK"`) {
					t.Errorf("warning: %s", w)
				}
			}
			checks := spec.VirtualServers[0].Reals[0].Checks
			if len(checks) != 1 {
				t.Fatalf("%d checks, want 1: %+v", len(checks), checks)
			}
			want := tc.want
			if want.Pos == (Pos{}) {
				want.Pos = pos(5, 3)
			}
			want.Kind = "SMTP_CHECK"
			if want.DelayLoop == 0 {
				want.DelayLoop = 60 * time.Second
			}
			if want.Warmup == 0 && !strings.Contains(tc.src, "warmup") {
				want.Warmup = -1
			}
			if !reflect.DeepEqual(checks[0], want) {
				t.Errorf("check\n got %+v\nwant %+v", checks[0], want)
			}
		})
	}
}

// smtpDiags gives every diagnostic, in order, as "file:line:col:
// message"; the one that says an SMTP_CHECK checks its real server too
// is given with its kind, so that it is checked to be a note: keepalived
// -t says nothing about it, so it must not fail xvs check.
func smtpDiags(s *Spec) any {
	var got []string
	for _, w := range s.Warnings {
		d := w.Pos.String() + ": " + w.Msg
		if strings.Contains(w.Msg, "SMTP_CHECK of real server") {
			d = w.String()
		}
		got = append(got, d)
	}
	return got
}

// TestSMTPCheckDiagnostics checks that SMTP_CHECK is acted on (no "not
// acted on" warning any more) and what its blocks still warn about.
func TestSMTPCheckDiagnostics(t *testing.T) {
	runValueCases(t, parseTest, []valueCase{
		{"SMTP_CHECK is acted on", smtpRS("  SMTP_CHECK {\n   helo_name mx.example.com\n  }\n"), smtpDiags, []string(nil)},
		{"fwmark and bind_if are accepted but not acted on, in a host block too",
			smtpRS("  SMTP_CHECK {\n   connect_ip 198.18.1.1\n   fwmark 7\n   host {\n    bind_if eth0\n   }\n  }\n"),
			smtpDiags, []string{`t.conf:7:4: keyword "fwmark" is accepted but not acted on yet`,
				`t.conf:9:5: keyword "bind_if" is accepted but not acted on yet`}},
		{"connect_timeout beside host blocks: the real server is checked too",
			smtpRS("  SMTP_CHECK {\n   retry 2\n   connect_timeout 3\n   bindto 198.18.1.254\n   host {\n    connect_ip 198.18.2.10\n   }\n  }\n"),
			smtpDiags, []string{`t.conf:7:4: note: SMTP_CHECK of real server 198.18.1.1 has host blocks and sets connect_timeout itself, so it checks the real server's ` +
				`own address and port too, as keepalived 2.2 does; put connect_timeout in each host block to check the hosts alone`}},
		{"connect_port beside host blocks says where the checker's own dialogue goes: no warning",
			smtpRS("  SMTP_CHECK {\n   connect_timeout 3\n   connect_port 25\n   host {\n    connect_ip 198.18.2.10\n   }\n  }\n"), smtpDiags, []string(nil)},
		{"connect_timeout without host blocks: no warning", smtpRS("  SMTP_CHECK {\n   connect_timeout 3\n  }\n"), smtpDiags, []string(nil)},
		{"bind_to is not a keepalived keyword", smtpRS("  SMTP_CHECK {\n   bind_to 198.18.1.254\n  }\n"),
			smtpDiags, []string{`t.conf:6:4: unknown keyword "bind_to"`}},
		{"virtualhost is not an SMTP_CHECK keyword", smtpRS("  SMTP_CHECK {\n   host {\n    virtualhost www.example.com\n   }\n  }\n"),
			smtpDiags, []string{`t.conf:7:5: unknown keyword "virtualhost"`}},
		{"host is only an SMTP_CHECK keyword", smtpRS("  TCP_CHECK {\n   host {\n   }\n  }\n"),
			smtpDiags, []string{`t.conf:6:4: unknown keyword "host"`}},
	})
}

// TestSMTPCheckErrors checks the errors of SMTP_CHECK blocks, with their
// positions.
func TestSMTPCheckErrors(t *testing.T) {
	runErrorCases(t, parseTest, []errorCase{
		{"helo_name without a value", smtpRS("  SMTP_CHECK {\n   helo_name\n  }\n"),
			`t.conf:6:4: helo_name needs a value, e.g. "helo_name mx1.example.com"`},
		{"helo_name of two words", smtpRS("  SMTP_CHECK {\n   helo_name mx1 example.com\n  }\n"),
			`t.conf:6:18: helo_name takes one value; unexpected "example.com"`},
		{"helo_name quoted with a space", smtpRS("  SMTP_CHECK {\n   helo_name \"mx1 example.com\"\n  }\n"),
			`t.conf:6:14: helo_name "mx1 example.com" is not a single word; HELO takes a domain name, e.g. "helo_name mx1.example.com"`},
		{"helo_name empty", smtpRS("  SMTP_CHECK {\n   helo_name \"\"\n  }\n"),
			`t.conf:6:14: helo_name "" is not a single word; HELO takes a domain name, e.g. "helo_name mx1.example.com"`},
		{"connect_ip that is not an address", smtpRS("  SMTP_CHECK {\n   connect_ip mail.example.com\n  }\n"),
			`t.conf:6:15: connect_ip "mail.example.com" is not an IP address`},
		{"connect_port 0", smtpRS("  SMTP_CHECK {\n   connect_port 0\n  }\n"),
			`t.conf:6:17: connect_port "0" is not a number between 1 and 65535`},
		{"bindto of the other family", smtpRS("  SMTP_CHECK {\n   bindto ::ffff:198.18.0.1\n  }\n"),
			`t.conf:5:3: SMTP_CHECK bindto ::ffff:198.18.0.1 is IPv6 but it connects to 198.18.1.1, which is IPv4`},
		{"connect_timeout of zero", smtpRS("  SMTP_CHECK {\n   connect_timeout 0\n  }\n"),
			`t.conf:6:20: SMTP_CHECK connect_timeout "0" is not greater than 0`},
		{"SMTP_CHECK with a value", smtpRS("  SMTP_CHECK mx {\n  }\n"),
			`t.conf:5:14: SMTP_CHECK takes no value; unexpected "mx"`},
		{"host without a block", smtpRS("  SMTP_CHECK {\n   host\n  }\n"),
			`t.conf:6:4: host needs a block, e.g. "host { connect_ip 198.18.1.1 connect_port 25 }"`},
		{"host with a value", smtpRS("  SMTP_CHECK {\n   host 198.18.2.1 {\n   }\n  }\n"),
			`t.conf:6:9: host takes no value; unexpected "198.18.2.1"`},
		{"host connect_ip that is not an address", smtpRS("  SMTP_CHECK {\n   host {\n    connect_ip 198.18.2.300\n   }\n  }\n"),
			`t.conf:7:16: connect_ip "198.18.2.300" is not an IP address`},
		{"host connect_port too large", smtpRS("  SMTP_CHECK {\n   host {\n    connect_port 65536\n   }\n  }\n"),
			`t.conf:7:18: connect_port "65536" is not a number between 1 and 65535`},
		{"host bind_port not a number", smtpRS("  SMTP_CHECK {\n   host {\n    bind_port any\n   }\n  }\n"),
			`t.conf:7:15: bind_port "any" is not a number between 1 and 65535`},
		{"host connect_timeout negative", smtpRS("  SMTP_CHECK {\n   host {\n    connect_timeout -1\n   }\n  }\n"),
			`t.conf:7:21: SMTP_CHECK host connect_timeout "-1" is not a number of seconds, e.g. "6" or "1.5"`},
		{"host bindto of the other family than its connect_ip", smtpRS("  SMTP_CHECK {\n   host {\n    connect_ip ::ffff:198.18.2.1\n    bindto 198.18.1.254\n   }\n  }\n"),
			`t.conf:6:4: SMTP_CHECK host bindto 198.18.1.254 is IPv4 but it connects to ::ffff:198.18.2.1, which is IPv6`},
		{"host bindto of the other family than the real server", smtpRS("  SMTP_CHECK {\n   host {\n    bindto ::ffff:198.18.1.254\n   }\n  }\n"),
			`t.conf:6:4: SMTP_CHECK host bindto ::ffff:198.18.1.254 is IPv6 but it connects to 198.18.1.1, which is IPv4`},
		{"host retry that is not a number", smtpRS("  SMTP_CHECK {\n   host {\n    retry x\n   }\n  }\n"),
			`t.conf:7:11: SMTP_CHECK retry "x" is not a number between 0 and 2147483647`},
		{"SMTP_CHECK outside a real server", "virtual_server 198.18.0.1 25 {\n SMTP_CHECK {\n }\n protocol TCP\n}\n",
			`t.conf:2:2: SMTP_CHECK is only allowed inside a real_server block`},
	})
}
