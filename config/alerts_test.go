package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func boolp(b bool) *bool { return &b }

// TestMailForms parses the global_defs mail keywords in the forms
// keepalived accepts and checks the Mail they give.
func TestMailForms(t *testing.T) {
	pos := func(line, col int) Pos { return Pos{"t.conf", line, col} }
	tests := []struct {
		desc string
		src  string // the inside of global_defs, from line 2
		want Mail
	}{
		{desc: "nothing set", src: " router_id lb1\n", want: Mail{}},
		{
			desc: "keepalived's stock settings",
			src: " notification_email {\n   admin@example.com\n   \"My admin <admin2@example.com>\"\n }\n" +
				" notification_email_from \"Keepalived <ka@example.com>\"\n smtp_server 198.18.0.25\n smtp_connect_timeout 30\n",
			want: Mail{To: []string{"admin@example.com", "My admin <admin2@example.com>"}, ToPos: pos(2, 2),
				From: "Keepalived <ka@example.com>", Server: "198.18.0.25", ServerPos: pos(7, 14), ConnectTimeout: 30 * time.Second},
		},
		{
			desc: "several addresses on a line, several blocks add up, a host name and a port, a helo name",
			src: " notification_email { a@example.com b@example.com }\n notification_email {\n  c@example.com\n }\n" +
				" smtp_server mail.example.com 2525\n smtp_helo_name lb1.example.com\n",
			want: Mail{To: []string{"a@example.com", "b@example.com", "c@example.com"}, ToPos: pos(2, 2),
				Server: "mail.example.com", Port: 2525, ServerPos: pos(6, 14), HeloName: "lb1.example.com"},
		},
		{
			desc: "IPv6 server, a later smtp_server replaces an earlier one",
			src:  " notification_email { a@example.com }\n smtp_server 198.18.0.1\n smtp_server 2001:db8::25 587\n",
			want: Mail{To: []string{"a@example.com"}, ToPos: pos(2, 2), Server: "2001:db8::25", Port: 587, ServerPos: pos(4, 14)},
		},
		{
			desc: "the alert defaults, alone and with values",
			src:  " smtp_alert\n smtp_alert_vrrp off\n smtp_alert_checker yes\n no_email_faults\n no_checker_emails\n",
			want: Mail{Alert: boolp(true), AlertVRRP: boolp(false), AlertChecker: boolp(true), NoEmailFaults: true, NoCheckerEmails: true},
		},
		{
			desc: "no_checker_emails off and smtp_alert false",
			src:  " smtp_alert false\n no_checker_emails off\n",
			want: Mail{Alert: boolp(false)},
		},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			spec, err := Parse("t.conf", []byte("global_defs {\n"+tc.src+"}\n"))
			if err != nil {
				t.Fatal(err)
			}
			if got := spec.Global.Mail; !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Mail\n got %+v\nwant %+v", got, tc.want)
			}
			for _, w := range spec.Warnings {
				if strings.Contains(w.Msg, "not acted on") {
					t.Errorf("mail keyword reported as not acted on: %s", w)
				}
			}
		})
	}
}

// mailOf gives the Mail of global_defs.
func mailOf(s *Spec) any { return s.Global.Mail }

// TestMailDiagnostics: the adjustments keepalived makes with a report are
// warnings, settings that send nothing are noted.
func TestMailDiagnostics(t *testing.T) {
	runWarnCases(t, parseNamed("t.conf"), []warnCase{
		{
			desc: "smtp_connect_timeout 0 is 1 s",
			src:  "global_defs {\n smtp_connect_timeout 0\n}\n",
			get:  mailOf,
			want: Mail{ConnectTimeout: time.Second},
			warn: []string{`t.conf:2:23: warning: smtp_connect_timeout must be greater than 0; 1 is used, as keepalived does`},
		},
		{
			desc: "an empty notification_email block",
			src:  "global_defs {\n notification_email {\n }\n}\n",
			get:  mailOf,
			want: Mail{ToPos: Pos{"t.conf", 2, 2}},
			warn: []string{`t.conf:2:2: warning: notification_email block is empty; it adds no address, as in keepalived`},
		},
		{
			desc: "addresses without a server",
			src:  "global_defs {\n notification_email {\n  a@example.com\n }\n}\n",
			get:  mailOf,
			want: Mail{To: []string{"a@example.com"}, ToPos: Pos{"t.conf", 2, 2}},
			warn: []string{`t.conf:2:2: note: notification_email without smtp_server: no mail is sent, as in keepalived`},
		},
		{
			desc: "a server without addresses",
			src:  "global_defs {\n smtp_server 198.18.0.25\n}\n",
			get:  mailOf,
			want: Mail{Server: "198.18.0.25", ServerPos: Pos{"t.conf", 2, 14}},
			warn: []string{`t.conf:2:14: note: smtp_server without notification_email addresses: no mail is sent, as in keepalived`},
		},
	})
}

// TestMailErrors: only a block where none belongs (or none where one
// does) stops the file.
func TestMailErrors(t *testing.T) {
	g := func(lines string) string { return "global_defs {\n" + lines + "}\n" }
	runErrorCases(t, parseNamed("t.conf"), []errorCase{
		{"notification_email without a block", g(" notification_email admin@example.com\n"),
			"t.conf:2:21: notification_email takes no value; unexpected \"admin@example.com\"\n" +
				`t.conf:2:2: notification_email needs a block, e.g. "notification_email { admin@example.com }"`},
		{"a block inside notification_email", g(" notification_email {\n  a@example.com {\n  }\n }\n"),
			`t.conf:3:17: a notification_email line does not open a block`},
		{"smtp_server with a block", g(" smtp_server 198.18.0.25 {\n }\n"),
			`t.conf:2:26: smtp_server does not open a block`},
		{"smtp_alert with a block", g(" smtp_alert {\n }\n"), `t.conf:2:13: smtp_alert does not open a block`},
		{"real_server smtp_alert with a block", "virtual_server 198.18.0.1 80 {\n protocol TCP\n real_server 198.18.1.1 80 {\n  smtp_alert {\n  }\n }\n}\n",
			`t.conf:4:14: smtp_alert does not open a block`},
	})
}

// TestMailWarnings: what keepalived reports and goes on with is a
// warning at the value's position, with keepalived's outcome (the line
// ignored, extra values ignored); addresses that cannot work are left
// out with a warning.
func TestMailWarnings(t *testing.T) {
	g := func(lines string) string { return "global_defs {\n" + lines + "}\n" }
	ignored := "; the line is ignored, as keepalived does"
	tests := []struct {
		desc, src string
		want      []string
		mail      Mail // what is left; positions are not compared
	}{
		{"an address with a trailing comma", g(" notification_email {\n  a@example.com, b@example.com\n }\n smtp_server 198.18.0.25\n"),
			[]string{`t.conf:3:3: warning: notification_email "a@example.com," is not an e-mail address, e.g. "admin@example.com" or "Admin <admin@example.com>" (quoted); it is left out (keepalived would send it and the server refuse every mail)`},
			Mail{To: []string{"b@example.com"}, Server: "198.18.0.25"}},
		{"unbalanced angle brackets", g(" notification_email {\n  ok@example.com <a@example.com a@example.com>\n }\n smtp_server 198.18.0.25\n"),
			[]string{
				`t.conf:3:18: warning: notification_email "<a@example.com" is not an e-mail address, e.g. "admin@example.com" or "Admin <admin@example.com>" (quoted); it is left out (keepalived would send it and the server refuse every mail)`,
				`t.conf:3:33: warning: notification_email "a@example.com>" is not an e-mail address, e.g. "admin@example.com" or "Admin <admin@example.com>" (quoted); it is left out (keepalived would send it and the server refuse every mail)`,
			},
			Mail{To: []string{"ok@example.com"}, Server: "198.18.0.25"}},
		{"empty angle brackets in the sender", g(" notification_email_from \"Keepalived <>\"\n"),
			[]string{`t.conf:2:26: warning: notification_email_from "Keepalived <>" is not an e-mail address, e.g. "admin@example.com" or "Admin <admin@example.com>" (quoted); the line is ignored (keepalived would send it and the server refuse every mail)`},
			Mail{}},
		{"notification_email_from without a value", g(" notification_email_from\n"),
			[]string{`t.conf:2:2: warning: notification_email_from needs a value, e.g. "notification_email_from keepalived@example.com"` + ignored},
			Mail{}},
		{"notification_email_from with two values: the first counts", g(" notification_email_from a@example.com b@example.com\n"),
			[]string{`t.conf:2:40: warning: notification_email_from takes one value; "b@example.com" and what follows are ignored, as keepalived does`},
			Mail{From: "a@example.com"}},
		{"smtp_server without a host", g(" smtp_server\n"),
			[]string{`t.conf:2:2: warning: smtp_server needs a host and optionally a port, e.g. "smtp_server 198.18.0.25 25"` + ignored}, Mail{}},
		{"smtp_server that is no host", g(" smtp_server mail/example\n"),
			[]string{`t.conf:2:14: warning: smtp_server "mail/example" is not an IP address or a host name, e.g. "smtp_server 198.18.0.25 25"` + ignored}, Mail{}},
		{"smtp_server with a bad address keeps the earlier one", g(" smtp_server 198.18.0.25\n smtp_server 198.18.0.300\n notification_email { a@example.com }\n"),
			[]string{`t.conf:3:14: warning: smtp_server "198.18.0.300" is not an IP address or a host name, e.g. "smtp_server 198.18.0.25 25"` + ignored},
			Mail{To: []string{"a@example.com"}, Server: "198.18.0.25"}},
		{"smtp_server multicast", g(" smtp_server 224.0.0.1\n"),
			[]string{`t.conf:2:14: warning: smtp_server "224.0.0.1" is not a unicast address, e.g. "smtp_server 198.18.0.25 25"` + ignored}, Mail{}},
		{"smtp_server port 0", g(" smtp_server 198.18.0.25 0\n"),
			[]string{`t.conf:2:26: warning: smtp_server port "0" is not a number between 1 and 65535` + ignored}, Mail{}},
		{"smtp_server port by name", g(" smtp_server 198.18.0.25 smtp\n"),
			[]string{`t.conf:2:26: warning: smtp_server port "smtp" is not a number between 1 and 65535` + ignored}, Mail{}},
		{"smtp_server with three values", g(" smtp_server 198.18.0.25 25 x\n notification_email { a@example.com }\n"),
			[]string{`t.conf:2:29: warning: smtp_server takes a host and a port; "x" and what follows are ignored, as keepalived does`},
			Mail{To: []string{"a@example.com"}, Server: "198.18.0.25", Port: 25}},
		{"smtp_helo_name with a space", g(" smtp_helo_name \"lb 1\"\n"),
			[]string{`t.conf:2:17: warning: smtp_helo_name "lb 1" is not a host name, e.g. "lb1.example.com"` + ignored}, Mail{}},
		{"smtp_helo_name without a value", g(" smtp_helo_name\n"),
			[]string{`t.conf:2:2: warning: smtp_helo_name needs a value, e.g. "smtp_helo_name lb1.example.com"` + ignored}, Mail{}},
		{"smtp_connect_timeout too long", g(" smtp_connect_timeout 4295\n"),
			[]string{`t.conf:2:23: warning: smtp_connect_timeout "4295" is not a whole number of seconds between 0 and 4294` + ignored}, Mail{}},
		{"smtp_connect_timeout in decimals", g(" smtp_connect_timeout 1.5\n"),
			[]string{`t.conf:2:23: warning: smtp_connect_timeout "1.5" is not a whole number of seconds between 0 and 4294` + ignored}, Mail{}},
		{"smtp_connect_timeout 0 is 1 s", g(" smtp_connect_timeout 0\n"),
			[]string{`t.conf:2:23: warning: smtp_connect_timeout must be greater than 0; 1 is used, as keepalived does`},
			Mail{ConnectTimeout: time.Second}},
		{"smtp_alert that is no bool", g(" smtp_alert maybe\n"),
			[]string{`t.conf:2:13: warning: smtp_alert "maybe" is not one of true, false, on, off, yes, no (in small letters)` + ignored}, Mail{}},
		{"smtp_alert in capitals", g(" smtp_alert_checker TRUE\n"),
			[]string{`t.conf:2:21: warning: smtp_alert_checker "TRUE" is not one of true, false, on, off, yes, no (in small letters)` + ignored}, Mail{}},
		{"smtp_alert_vrrp with two values: the first counts", g(" smtp_alert_vrrp on off\n"),
			[]string{`t.conf:2:21: warning: smtp_alert_vrrp takes at most one value; "off" and what follows are ignored, as keepalived does`},
			Mail{AlertVRRP: boolp(true)}},
		{"no_email_faults with a value", g(" no_email_faults false\n"),
			[]string{`t.conf:2:18: warning: no_email_faults takes no value; "false" is ignored, as keepalived does`},
			Mail{NoEmailFaults: true}},
		{"no_checker_emails that is no bool", g(" no_checker_emails 1\n"),
			[]string{`t.conf:2:20: warning: no_checker_emails "1" is not one of true, false, on, off, yes, no (in small letters)` + ignored}, Mail{}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			spec, err := Parse("t.conf", []byte(tc.src))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, w := range spec.Warnings {
				if w.Warning {
					got = append(got, w.String())
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("warnings\n got %q\nwant %q", got, tc.want)
			}
			m := spec.Global.Mail
			m.ToPos, m.ServerPos = Pos{}, Pos{}
			if !reflect.DeepEqual(m, tc.mail) {
				t.Errorf("Mail\n got %+v\nwant %+v", m, tc.mail)
			}
		})
	}
}

// TestSMTPAlertInvalidPerObject: an invalid smtp_alert of an object is
// ignored with a warning; the object is kept.
func TestSMTPAlertInvalidPerObject(t *testing.T) {
	src := "vrrp_instance V {\n virtual_router_id 1\n virtual_ipaddress { 198.18.0.1 }\n smtp_alert 1\n}\n" +
		"virtual_server 198.18.0.1 80 {\n protocol TCP\n real_server 198.18.1.1 80 {\n  smtp_alert please\n }\n}\n"
	spec, err := Parse("t.conf", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range spec.Warnings {
		got = append(got, w.String())
	}
	want := []string{
		`t.conf:4:13: warning: smtp_alert "1" is not one of true, false, on, off, yes, no (in small letters); the line is ignored, as keepalived does`,
		`t.conf:9:14: warning: smtp_alert "please" is not one of true, false, on, off, yes, no (in small letters); the line is ignored, as keepalived does`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("warnings\n got %q\nwant %q", got, want)
	}
	if len(spec.VRRPInstances) != 1 || spec.VRRPInstances[0].SMTPAlert != nil || len(spec.VirtualServers) != 1 || spec.VirtualServers[0].Reals[0].SMTPAlert != nil {
		t.Errorf("objects with an invalid smtp_alert: %+v %+v", spec.VRRPInstances, spec.VirtualServers)
	}
}

// TestSMTPAlertPerObject reads smtp_alert in the four blocks that have it
// and checks how Mail resolves them with the global defaults, as
// keepalived does.
func TestSMTPAlertPerObject(t *testing.T) {
	src := `vrrp_instance A {
 virtual_router_id 1
 virtual_ipaddress { 198.18.0.1 }
 smtp_alert
}
vrrp_instance B {
 virtual_router_id 2
 virtual_ipaddress { 198.18.0.2 }
 smtp_alert off
}
vrrp_instance C {
 virtual_router_id 3
 virtual_ipaddress { 198.18.0.3 }
}
vrrp_sync_group G {
 group { A B }
 smtp_alert yes
}
virtual_server 198.18.0.1 80 {
 protocol TCP
 smtp_alert
 real_server 198.18.1.1 80 {
  smtp_alert false
 }
 real_server 198.18.1.2 80
}
virtual_server_group VSG {
 198.18.0.10-11 80
}
virtual_server group VSG {
 protocol TCP
 real_server 198.18.1.1 80 {
  smtp_alert on
 }
}
`
	spec, err := Parse("t.conf", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range spec.Warnings {
		if strings.Contains(w.Msg, "smtp_alert") {
			t.Errorf("smtp_alert reported: %s", w)
		}
	}
	vi := spec.VRRPInstances
	if !reflect.DeepEqual([]*bool{vi[0].SMTPAlert, vi[1].SMTPAlert, vi[2].SMTPAlert}, []*bool{boolp(true), boolp(false), nil}) {
		t.Errorf("vrrp_instance smtp_alert: %v %v %v", vi[0].SMTPAlert, vi[1].SMTPAlert, vi[2].SMTPAlert)
	}
	if sg := spec.VRRPSyncGroups[0]; sg.SMTPAlert == nil || !*sg.SMTPAlert {
		t.Errorf("vrrp_sync_group smtp_alert: %v", sg.SMTPAlert)
	}
	vs := spec.VirtualServers
	if len(vs) != 3 {
		t.Fatalf("%d virtual servers, want 3", len(vs))
	}
	if vs[0].SMTPAlert == nil || !*vs[0].SMTPAlert || vs[0].Reals[0].SMTPAlert == nil || *vs[0].Reals[0].SMTPAlert || vs[0].Reals[1].SMTPAlert != nil {
		t.Errorf("virtual_server %v, real servers %v %v", vs[0].SMTPAlert, vs[0].Reals[0].SMTPAlert, vs[0].Reals[1].SMTPAlert)
	}
	for _, g := range vs[1:] {
		if g.SMTPAlert != nil || g.Reals[0].SMTPAlert == nil || !*g.Reals[0].SMTPAlert {
			t.Errorf("group virtual server %s: %v, real server %v", g.Addr, g.SMTPAlert, g.Reals[0].SMTPAlert)
		}
	}

	// How the object's own setting combines with the global ones.
	for _, tc := range []struct {
		desc                 string
		m                    Mail
		own                  *bool
		vrrp, vserver, rserv bool
	}{
		{"nothing set: VRRP and virtual servers off, real servers on", Mail{}, nil, false, false, true},
		{"smtp_alert off turns real servers off too", Mail{Alert: boolp(false)}, nil, false, false, false},
		{"smtp_alert on", Mail{Alert: boolp(true)}, nil, true, true, true},
		{"the specific defaults win over smtp_alert", Mail{Alert: boolp(true), AlertVRRP: boolp(false), AlertChecker: boolp(false)}, nil, false, false, false},
		{"smtp_alert_vrrp alone", Mail{AlertVRRP: boolp(true)}, nil, true, false, true},
		{"smtp_alert_checker alone", Mail{AlertChecker: boolp(false)}, nil, false, false, false},
		{"the object's own setting wins (on)", Mail{Alert: boolp(false), AlertVRRP: boolp(false), AlertChecker: boolp(false)}, boolp(true), true, true, true},
		{"the object's own setting wins (off)", Mail{Alert: boolp(true)}, boolp(false), false, false, false},
	} {
		if got := [3]bool{tc.m.VRRPAlert(tc.own), tc.m.VirtualServerAlert(tc.own), tc.m.RealServerAlert(tc.own)}; got != [3]bool{tc.vrrp, tc.vserver, tc.rserv} {
			t.Errorf("%s: VRRP, virtual server, real server = %v, want %v", tc.desc, got, [3]bool{tc.vrrp, tc.vserver, tc.rserv})
		}
	}
	if (Mail{Server: "x"}).Enabled() || (Mail{To: []string{"a"}}).Enabled() || !(Mail{Server: "x", To: []string{"a"}}).Enabled() {
		t.Error("Enabled needs a server and an address")
	}
}
