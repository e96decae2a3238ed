package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xvs-project/xvs/lab"
)

// smtpLabServer is a small SMTP server listening in a real server's
// namespace, which the test stops and starts again: it greets with 220,
// answers HELO with 250 and QUIT with 221, as a mail server does.
type smtpLabServer struct {
	t     *testing.T
	ns    string
	addr  netip.AddrPort
	name  string
	helos atomic.Int64 // HELO lines received

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

// serveSMTPLab starts an SMTP server on addr in namespace ns; it is
// stopped when the test ends.
func serveSMTPLab(t *testing.T, ns string, addr netip.AddrPort, name string) *smtpLabServer {
	t.Helper()
	s := &smtpLabServer{t: t, ns: ns, addr: addr, name: name, conns: map[net.Conn]bool{}}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *smtpLabServer) start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var ln net.Listener
	if err := lab.Do(s.ns, func() error {
		var err error
		ln, err = net.Listen("tcp4", s.addr.String())
		return err
	}); err != nil {
		s.t.Fatalf("SMTP server %s: %v", s.addr, err)
	}
	s.ln = ln
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns[c] = true
			s.mu.Unlock()
			s.wg.Go(func() {
				defer func() {
					s.mu.Lock()
					delete(s.conns, c)
					s.mu.Unlock()
					c.Close()
				}()
				s.serve(c)
			})
		}
	})
}

// serve holds one SMTP dialogue.
func (s *smtpLabServer) serve(c net.Conn) {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "220 %s ESMTP xvs lab\r\n", s.name)
	br := bufio.NewReader(c)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.TrimRight(line, "\r\n")
		switch {
		case strings.HasPrefix(strings.ToUpper(cmd), "HELO "):
			s.helos.Add(1)
			fmt.Fprintf(c, "250 %s\r\n", s.name)
		case strings.EqualFold(cmd, "QUIT"):
			io.WriteString(c, "221 2.0.0 bye\r\n")
			return
		default:
			io.WriteString(c, "500 5.5.1 unknown command\r\n")
		}
	}
}

// stop closes the listener and every open connection, as a mail server
// that dies, and waits for its goroutines.
func (s *smtpLabServer) stop() {
	s.mu.Lock()
	if s.ln != nil {
		s.ln.Close()
		s.ln = nil
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
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
	smtp1 := serveSMTPLab(t, l.ServerNS[0], netip.MustParseAddrPort("198.18.1.11:25"), "rs1")
	smtp2 := serveSMTPLab(t, l.ServerNS[1], netip.MustParseAddrPort("198.18.1.12:25"), "rs2")
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
	for deadline := time.Now().Add(10 * time.Second); smtp1.helos.Load() == 0 || smtp2.helos.Load() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no HELO from the director within 10 s: rs1 %d, rs2 %d", smtp1.helos.Load(), smtp2.helos.Load())
		}
	}
	if got := listedReals(t, d, service); fmt.Sprint(got) != fmt.Sprint(all) {
		t.Fatalf("xvs list with every SMTP server up: %v, want %v", got, all)
	}
	traffic("every SMTP server up", map[string]int{"rs1": 10, "rs2": 10, "rs3": 10})

	stopped := time.Now()
	smtp2.stop()
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
	helos := smtp2.helos.Load()
	smtp2.start()
	up := waitLog(t, d, 1, "pool changed", poolField("198.18.1.11:80/1", "198.18.1.12:80/1", "198.18.1.13:80/1")).Sub(restarted)
	t.Logf("rs2 back in the pool %v after its SMTP server started again", up.Round(time.Millisecond))
	if smtp2.helos.Load() == helos {
		t.Error("rs2 came back without a HELO to its SMTP server")
	}
	if got := listedReals(t, d, service); fmt.Sprint(got) != fmt.Sprint(all) {
		t.Errorf("xvs list with rs2's SMTP server back: %v, want %v", got, all)
	}
	traffic("rs2's SMTP server back", map[string]int{"rs1": 10, "rs2": 10, "rs3": 10})
}
