package main

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xvs-project/xvs/internal/smtptest"
)

// catchMail runs an SMTP server that keeps every message it is sent on
// addr inside namespace ns until the test ends, for the mail alert test:
// the director talks to it as to keepalived's smtp_server.
func catchMail(t *testing.T, ns string, addr netip.AddrPort) *smtptest.Server {
	t.Helper()
	return smtptest.Serve(t, listenIn(t, ns, addr), smtptest.Good())
}

// mails returns "subject | body" of every message c caught so far.
func mails(c *smtptest.Server) []string {
	var out []string
	for _, m := range c.Messages() {
		out = append(out, m.Header("Subject")+" | "+m.Body())
	}
	return out
}

// waitMails waits until every one of want has been caught by c (in any
// order among the others) and fails the test after within.
func waitMails(t *testing.T, c *smtptest.Server, within time.Duration, want ...string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := mails(c)
		missing := slices.DeleteFunc(slices.Clone(want), func(w string) bool { return slices.Contains(got, w) })
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("mails not received within %v: %q\nreceived: %q", within, missing, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMailAlerts runs the director with keepalived's mail settings and a
// mail server on rs3's address (port 2525, which the director reaches
// through its LAN as it reaches the real servers): the vrrp_instance's
// state changes (BACKUP at start, MASTER, Stopping at the end) and rs2
// going down and coming back (HTTP_GET on TCP :80, UDP_CHECK on UDP :53)
// arrive as keepalived's mails, from the configured sender to the
// configured addresses.
func TestMailAlerts(t *testing.T) {
	l := upBareLab(t)
	servers := serveRestartable(t, l)
	catcher := catchMail(t, l.ServerNS[2], netip.MustParseAddrPort("198.18.1.13:2525"))
	conf := `global_defs {
    router_id lab
    notification_email {
        admin@example.com
        "Ops <ops@example.com>"
    }
    notification_email_from xvs@example.com
    smtp_server 198.18.1.13 2525
    smtp_helo_name director.example.com
    smtp_connect_timeout 5
    smtp_alert_vrrp
}
vrrp_instance VI_1 {
    state MASTER
    interface wan0
    virtual_router_id 51
    priority 150
    advert_int 1
    virtual_ipaddress {
        198.18.0.200/32 dev wan0
    }
}
` + checkedConf()
	d := healthDirector(t, l, conf)

	const within = 30 * time.Second
	waitMails(t, catcher, within,
		"[lab] VRRP Instance VI_1 - Entering BACKUP state | => VRRP Instance is no longer owning VRRP VIPs <=",
		"[lab] VRRP Instance VI_1 - Entering MASTER state | => VRRP Instance is now owning VRRP VIPs <=")
	m := catcher.Messages()[0]
	if h := m.Headers(); m.Helo != "director.example.com" || m.From != "FROM:<xvs@example.com>" ||
		!slices.Equal(m.Rcpt, []string{"TO:<admin@example.com>", "TO:<ops@example.com>"}) ||
		h["From"] != "xvs@example.com" || h["X-Mailer"] != "xvs" {
		t.Errorf("first mail: HELO %q, MAIL %q, RCPT %q, headers %q", m.Helo, m.From, m.Rcpt, h)
	}
	if _, err := time.Parse(time.RFC1123Z, m.Header("Date")); err != nil {
		t.Errorf("Date header %q: %v", m.Header("Date"), err)
	}

	servers[1].stop()
	waitMails(t, catcher, within,
		"[lab] Realserver [198.18.1.12]:tcp:80 of virtual server [198.18.0.100]:tcp:80 - DOWN | => CHECK failed on service : HTTP/SSL request failed <=",
		"[lab] Realserver [198.18.1.12]:udp:53 of virtual server [198.18.0.100]:udp:53 - DOWN | => UDP CHECK failed on service <=")
	waitLog(t, d, 1, "real server down", serverField("198.18.1.12:80"))
	servers[1].start()
	waitMails(t, catcher, within,
		"[lab] Realserver [198.18.1.12]:tcp:80 of virtual server [198.18.0.100]:tcp:80 - UP | => CHECK succeed on service <=",
		"[lab] Realserver [198.18.1.12]:udp:53 of virtual server [198.18.0.100]:udp:53 - UP | => UDP CHECK succeed on service <=")

	if err := d.Stop(); err != nil {
		t.Fatalf("director: %v", err)
	}
	waitMails(t, catcher, 5*time.Second, "[lab] VRRP Instance VI_1 - Stopping | => VRRP Instance stopping <=")
	// Nothing about the servers that did not change, and each change once.
	got := mails(catcher)
	t.Logf("mails received:\n%s", strings.Join(got, "\n"))
	for _, s := range got {
		if strings.Contains(s, "198.18.1.11") || strings.Contains(s, "[198.18.1.13]") {
			t.Errorf("mail about a server that never changed: %q", s)
		}
	}
	if n := len(got); n != 7 {
		t.Errorf("%d mails, want 7 (BACKUP, MASTER, 2 DOWN, 2 UP, Stopping):\n%s", n, strings.Join(got, "\n"))
	}
	if t.Failed() {
		t.Logf("director log:\n%s", d.Log())
	}
}
