package main

import (
	"bufio"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xvs-project/xvs/lab"
)

// mailCatcher is an SMTP server in a lab namespace that keeps every
// message it is sent, for the mail alert test: the director talks to it
// as to keepalived's smtp_server.
type mailCatcher struct {
	t  *testing.T
	ln net.Listener
	wg sync.WaitGroup

	mu    sync.Mutex
	conns []net.Conn
	got   []caughtMail
}

// caughtMail is one message: its envelope and its parsed headers and body.
type caughtMail struct {
	helo, from string
	rcpt       []string
	headers    map[string]string
	body       string
}

// catchMail listens on addr inside namespace ns until the test ends.
func catchMail(t *testing.T, ns string, addr netip.AddrPort) *mailCatcher {
	t.Helper()
	c := &mailCatcher{t: t}
	if err := lab.Do(ns, func() error {
		var err error
		c.ln, err = net.Listen("tcp4", addr.String())
		return err
	}); err != nil {
		t.Fatalf("mail server on %s: %v", addr, err)
	}
	c.wg.Go(func() {
		for {
			conn, err := c.ln.Accept()
			if err != nil {
				return
			}
			c.mu.Lock()
			c.conns = append(c.conns, conn)
			c.mu.Unlock()
			c.wg.Go(func() { c.serve(conn) })
		}
	})
	t.Cleanup(func() {
		c.ln.Close()
		c.mu.Lock()
		for _, conn := range c.conns {
			conn.Close()
		}
		c.mu.Unlock()
		c.wg.Wait()
	})
	return c
}

func (c *mailCatcher) serve(conn net.Conn) {
	defer conn.Close()
	r := bufio.NewReader(conn)
	say := func(l string) { conn.Write([]byte(l + "\r\n")) }
	say("220 catcher ESMTP")
	var m caughtMail
	for {
		conn.SetDeadline(time.Now().Add(time.Minute))
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
		switch verb {
		case "HELO":
			m.helo = arg
			say("250 catcher")
		case "MAIL":
			m.from = arg
			say("250 ok")
		case "RCPT":
			m.rcpt = append(m.rcpt, arg)
			say("250 ok")
		case "DATA":
			say("354 go ahead")
			m.headers = map[string]string{}
			var body []string
			inBody := false
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				l = strings.TrimSuffix(l, "\r\n")
				if l == "." {
					break
				}
				l = strings.TrimPrefix(l, ".")
				switch {
				case inBody:
					body = append(body, l)
				case l == "":
					inBody = true
				case !strings.HasPrefix(l, " "):
					k, v, _ := strings.Cut(l, ": ")
					m.headers[k] = v
				}
			}
			m.body = strings.Join(body, "\n")
			c.mu.Lock()
			c.got = append(c.got, m)
			c.mu.Unlock()
			say("250 queued")
			m = caughtMail{helo: m.helo}
		case "QUIT":
			say("221 bye")
			return
		default:
			say("500 unknown command")
		}
	}
}

// mails returns "subject | body" of every message caught so far.
func (c *mailCatcher) mails() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, m := range c.got {
		out = append(out, m.headers["Subject"]+" | "+m.body)
	}
	return out
}

// wait waits until every one of want has been caught (in any order
// among the others) and fails the test after within.
func (c *mailCatcher) wait(within time.Duration, want ...string) {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := c.mails()
		missing := slices.DeleteFunc(slices.Clone(want), func(w string) bool { return slices.Contains(got, w) })
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("mails not received within %v: %q\nreceived: %q", within, missing, got)
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
	catcher.wait(within,
		"[lab] VRRP Instance VI_1 - Entering BACKUP state | => VRRP Instance is no longer owning VRRP VIPs <=",
		"[lab] VRRP Instance VI_1 - Entering MASTER state | => VRRP Instance is now owning VRRP VIPs <=")
	catcher.mu.Lock()
	m := catcher.got[0]
	catcher.mu.Unlock()
	if m.helo != "director.example.com" || m.from != "FROM:<xvs@example.com>" ||
		!slices.Equal(m.rcpt, []string{"TO:<admin@example.com>", "TO:<ops@example.com>"}) ||
		m.headers["From"] != "xvs@example.com" || m.headers["X-Mailer"] != "xvs" {
		t.Errorf("first mail: HELO %q, MAIL %q, RCPT %q, headers %q", m.helo, m.from, m.rcpt, m.headers)
	}
	if _, err := time.Parse(time.RFC1123Z, m.headers["Date"]); err != nil {
		t.Errorf("Date header %q: %v", m.headers["Date"], err)
	}

	servers[1].stop()
	catcher.wait(within,
		"[lab] Realserver [198.18.1.12]:tcp:80 of virtual server [198.18.0.100]:tcp:80 - DOWN | => CHECK failed on service : HTTP/SSL request failed <=",
		"[lab] Realserver [198.18.1.12]:udp:53 of virtual server [198.18.0.100]:udp:53 - DOWN | => UDP CHECK failed on service <=")
	waitLog(t, d, 1, "real server down", serverField("198.18.1.12:80"))
	servers[1].start()
	catcher.wait(within,
		"[lab] Realserver [198.18.1.12]:tcp:80 of virtual server [198.18.0.100]:tcp:80 - UP | => CHECK succeed on service <=",
		"[lab] Realserver [198.18.1.12]:udp:53 of virtual server [198.18.0.100]:udp:53 - UP | => UDP CHECK succeed on service <=")

	if err := d.Stop(); err != nil {
		t.Fatalf("director: %v", err)
	}
	catcher.wait(5*time.Second, "[lab] VRRP Instance VI_1 - Stopping | => VRRP Instance stopping <=")
	// Nothing about the servers that did not change, and each change once.
	got := catcher.mails()
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
