package control

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/xvs-project/xvs/healthcheck"
)

// TestHealthServiceSpecSMTP reads SMTP_CHECK blocks through the parser and
// the conversion, down to the checkers they build: one server, and
// keepalived's deprecated host blocks, every one of which is checked.
func TestHealthServiceSpecSMTP(t *testing.T) {
	spec := parse(t, `
virtual_server 198.18.0.100 25 {
    protocol TCP
    delay_loop 3
    real_server 198.18.1.11 25 {
        SMTP_CHECK {
            helo_name lb1.example.com
            connect_timeout 2
            retry 2
            delay_before_retry 1
        }
    }
    real_server 198.18.1.12 25 {
        SMTP_CHECK {
            host {
                connect_ip 198.18.1.12
            }
            host {
                connect_ip 198.18.2.12
                connect_port 587
                bindto 198.18.1.1
                connect_timeout 1
            }
        }
    }
}
`)
	ss, err := HealthServiceSpec(spec.VirtualServers[0], spec.Global)
	if err != nil {
		t.Fatal(err)
	}
	if len(ss.Servers) != 2 || len(ss.Servers[0].Checks) != 1 || len(ss.Servers[1].Checks) != 1 {
		t.Fatalf("servers %+v", ss.Servers)
	}
	rs1, rs2 := ss.Servers[0].Checks[0], ss.Servers[1].Checks[0]
	if want := (healthcheck.Policy{DelayLoop: 3 * time.Second, Retry: 2, DelayBeforeRetry: time.Second}); rs1.Policy != want {
		t.Errorf("rs1 policy %+v, want %+v", rs1.Policy, want)
	}
	if m, ok := rs1.Config.(healthcheck.SMTPConfig); !ok || m.HeloName != "lb1.example.com" || m.ConnectTimeout != 2*time.Second ||
		m.ConnectIP.IsValid() || m.ConnectPort != 0 || len(m.Hosts) != 0 {
		t.Errorf("rs1 check %#v", rs1.Config)
	}
	// No connection keyword at the block's level: the first host is the
	// checker's own connection, as in keepalived; the second is a further
	// host, with its own timeout.
	m, ok := rs2.Config.(healthcheck.SMTPConfig)
	if !ok || m.HeloName != "" || m.ConnectIP != netip.MustParseAddr("198.18.1.12") || m.ConnectTimeout != 0 || len(m.Hosts) != 1 ||
		m.Hosts[0] != (healthcheck.Conn{ConnectIP: netip.MustParseAddr("198.18.2.12"), ConnectPort: 587,
			BindTo: netip.MustParseAddr("198.18.1.1"), ConnectTimeout: time.Second}) {
		t.Errorf("rs2 check %#v", rs2.Config)
	}
	// The checkers the Runner gets.
	jobs, err := ss.Jobs()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, j := range jobs {
		got = append(got, fmt.Sprint(j.ID, " ", j.Checker))
	}
	want := []string{
		"TCP 198.18.0.100:25/198.18.1.11:25/0 SMTP_CHECK 198.18.1.11:25",
		"TCP 198.18.0.100:25/198.18.1.12:25/0 SMTP_CHECK 198.18.1.12:25 198.18.2.12:587",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("jobs\n got %q\nwant %q", got, want)
	}
}
