package main

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xvs-project/xvs/internal/smtptest"
	"github.com/xvs-project/xvs/lab"
)

// listenIn opens a TCP listener on addr inside namespace ns, for a server
// on a lab host, such as an smtptest.Server.
func listenIn(t *testing.T, ns string, addr netip.AddrPort) net.Listener {
	t.Helper()
	var ln net.Listener
	if err := lab.Do(ns, func() error {
		var err error
		ln, err = net.Listen("tcp4", addr.String())
		return err
	}); err != nil {
		t.Fatalf("listening on %s in %s: %v", addr, ns, err)
	}
	return ln
}

// listedReals returns the real servers `xvs list -n` shows for service
// (e.g. "TCP  198.18.0.100:80"), each with its weight.
func listedReals(t *testing.T, d *lab.Director, service string) map[string]int {
	t.Helper()
	var out, errb bytes.Buffer
	if code := Main([]string{"list", "-n", "--admin", d.Admin}, &out, &errb); code != 0 {
		t.Fatalf("xvs list -n: exit %d: %s", code, errb.String())
	}
	reals := map[string]int{}
	in := false
	for line := range strings.SplitSeq(out.String(), "\n") {
		if !strings.HasPrefix(line, "  ") {
			in = strings.HasPrefix(line, service+" ")
			continue
		}
		f := strings.Fields(line)
		if !in || len(f) < 4 || f[0] != "->" || f[1] == "RemoteAddress:Port" {
			continue
		}
		w, err := strconv.Atoi(f[3])
		if err != nil {
			t.Fatalf("xvs list -n: weight in %q:\n%s", line, out.String())
		}
		reals[f[1]] = w
	}
	return reals
}

// TestHealthSMTPCheck is SMTP_CHECK in the lab: rs1 and rs2 are checked by
// an SMTP dialogue with a Go SMTP server on port 25 of their address, in
// their namespace (rs1 through keepalived's deprecated host block, rs2
// through connect_port). rs2's SMTP server stops: rs2 leaves the pool
// (xvs list no longer shows it) and new connections go to rs1 and rs3
// only; it starts again: rs2 is back at its weight and gets its share.
func TestHealthSMTPCheck(t *testing.T) {
	l := upBareLab(t)
	serveRestartable(t, l)
	if got := fmt.Sprint(l.ServerAddrs); got != "[198.18.1.11 198.18.1.12 198.18.1.13]" {
		t.Fatalf("lab real servers %s, want 198.18.1.11-13", got)
	}
	addr2 := netip.MustParseAddrPort("198.18.1.12:25")
	smtp1 := smtptest.Serve(t, listenIn(t, l.ServerNS[0], netip.MustParseAddrPort("198.18.1.11:25")), smtptest.Good())
	smtp2 := smtptest.Serve(t, listenIn(t, l.ServerNS[1], addr2), smtptest.Good())
	// Timed as the other health lab tests: see healthWindow. rs1's
	// connect_timeout is in its host block: at the SMTP_CHECK's own level
	// it would make keepalived (and xvs, which warns) check rs1:80 too.
	const conf = `virtual_server 198.18.0.100 80 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    delay_loop 1
    real_server 198.18.1.11 80 {
        weight 1
        SMTP_CHECK {
            helo_name lb.xvs.test
            retry 1
            delay_before_retry 1
            host {
                connect_ip 198.18.1.11
                connect_port 25
                connect_timeout 1
            }
        }
    }
    real_server 198.18.1.12 80 {
        weight 1
        SMTP_CHECK {
            connect_port 25
            helo_name lb.xvs.test
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }
    real_server 198.18.1.13 80 {
        weight 1
    }
}
`
	d := healthDirector(t, l, conf)
	if n := logCount(d, "SMTP_CHECK"); n != 0 {
		t.Errorf("the director says something about SMTP_CHECK %d times:\n%s", n, d.Log())
	}
	const service = "TCP  198.18.0.100:80"
	all := map[string]int{"198.18.1.11:80": 1, "198.18.1.12:80": 1, "198.18.1.13:80": 1}
	traffic := func(step string, want map[string]int) {
		t.Helper()
		res, err := lab.RunTraffic(l.ClientNS, lab.TrafficConfig{VIP: l.VIP, Requests: 30})
		if err != nil {
			t.Fatal(err)
		}
		if res.TCP.Failed != 0 || fmt.Sprint(res.TCP.PerServer) != fmt.Sprint(want) {
			t.Fatalf("%s: want %v: %s", step, want, res.String())
		}
	}

	// Both checkers hold their dialogues (the checks start up, so the
	// pool is whole from the start).
	for deadline := time.Now().Add(10 * time.Second); smtp1.Count("HELO") == 0 || smtp2.Count("HELO") == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no HELO from the director within 10 s: rs1 %d, rs2 %d", smtp1.Count("HELO"), smtp2.Count("HELO"))
		}
	}
	if got := listedReals(t, d, service); fmt.Sprint(got) != fmt.Sprint(all) {
		t.Fatalf("xvs list with every SMTP server up: %v, want %v", got, all)
	}
	traffic("every SMTP server up", map[string]int{"rs1": 10, "rs2": 10, "rs3": 10})

	stopped := time.Now()
	smtp2.Stop()
	down := waitLog(t, d, 1, "real server down", serverField("198.18.1.12:80")).Sub(stopped)
	t.Logf("rs2 declared down %v after its SMTP server stopped; configured window %v, allowed %v",
		down.Round(time.Millisecond), healthWindow, healthWindow+healthMargin)
	if down > healthWindow+healthMargin {
		t.Errorf("rs2 was declared down %v after its SMTP server stopped: window %v + margin %v", down, healthWindow, healthMargin)
	}
	if logCount(d, "health check down", "SMTP server 198.18.1.12:25") == 0 {
		t.Errorf("the log does not say which SMTP server failed:\n%s", d.Log())
	}
	waitLog(t, d, 1, "pool changed", poolField("198.18.1.11:80/1", "198.18.1.13:80/1"))
	if got, want := listedReals(t, d, service), map[string]int{"198.18.1.11:80": 1, "198.18.1.13:80": 1}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("xvs list with rs2's SMTP server down: %v, want %v", got, want)
	}
	traffic("rs2's SMTP server down", map[string]int{"rs1": 15, "rs3": 15})
	if logCount(d, "real server down", serverField("198.18.1.11:80")) != 0 {
		t.Errorf("rs1 went down too:\n%s", d.Log())
	}

	restarted := time.Now()
	helos := smtp2.Count("HELO")
	smtp2.StartOn(listenIn(t, l.ServerNS[1], addr2))
	up := waitLog(t, d, 1, "pool changed", poolField("198.18.1.11:80/1", "198.18.1.12:80/1", "198.18.1.13:80/1")).Sub(restarted)
	t.Logf("rs2 back in the pool %v after its SMTP server started again", up.Round(time.Millisecond))
	if smtp2.Count("HELO") == helos {
		t.Error("rs2 came back without a HELO to its SMTP server")
	}
	if got := listedReals(t, d, service); fmt.Sprint(got) != fmt.Sprint(all) {
		t.Errorf("xvs list with rs2's SMTP server back: %v, want %v", got, all)
	}
	traffic("rs2's SMTP server back", map[string]int{"rs1": 10, "rs2": 10, "rs3": 10})
}
