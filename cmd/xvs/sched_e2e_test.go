package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/xvs-project/xvs/lab"
)

// upBareLab builds a lab without real servers running; the test starts
// them with the options it needs.
func upBareLab(t *testing.T) *lab.Lab { return buildLab(t, "xs", false, false) }

// buildLab builds a lab whose prefix is prefix and random hex, Pair or not,
// removed when the test ends, failed or not; with servers, it starts the
// standard real servers.
func buildLab(t *testing.T, prefix string, pair, servers bool) *lab.Lab {
	t.Helper()
	return buildLabWith(t, prefix, servers, func(c *lab.Config) { c.Pair = pair })
}

// buildLabWith is buildLab with the lab's configuration edited by edit.
func buildLabWith(t *testing.T, prefix string, servers bool, edit func(*lab.Config)) *lab.Lab {
	t.Helper()
	requireRoot(t)
	var b [3]byte
	rand.Read(b[:])
	cfg := lab.Default()
	cfg.Prefix = prefix + hex.EncodeToString(b[:])
	edit(&cfg)
	l, err := lab.Up(cfg)
	if err != nil {
		t.Fatalf("lab up: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Down(); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	if servers {
		if err := l.StartServers(); err != nil {
			t.Fatalf("starting real servers: %v", err)
		}
	}
	return l
}

func serve(t *testing.T, l *lab.Lab, delays map[string]time.Duration) {
	t.Helper()
	for i, ns := range l.ServerNS {
		c, err := lab.ServeWith(ns, l.ServerNames[i], lab.ServeOptions{Delay: delays[l.ServerNames[i]]})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
	}
}

// writeConf writes a configuration with one TCP :80 and one UDP :53
// service on the lab VIP over rs1..rs3, using lb_algo algo and the given
// extra virtual_server lines.
func writeConf(t *testing.T, algo, extra string) string {
	t.Helper()
	conf := ""
	for _, svc := range []struct {
		port  int
		proto string
	}{{80, "TCP"}, {53, "UDP"}} {
		conf += fmt.Sprintf("virtual_server 198.18.0.100 %d {\n    lb_algo %s\n    lb_kind NAT\n    protocol %s\n%s", svc.port, algo, svc.proto, extra)
		for i := 11; i <= 13; i++ {
			conf += fmt.Sprintf("    real_server 198.18.1.%d %d {\n        weight 1\n    }\n", i, svc.port)
		}
		conf += "}\n"
	}
	p := filepath.Join(t.TempDir(), "keepalived.conf")
	if err := os.WriteFile(p, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestLeastConnectionSlowServer is the schedulers issue's lab check for
// lc: a real server that answers slowly keeps its connections established
// longer, so least-connection gives it fewer new ones.
func TestLeastConnectionSlowServer(t *testing.T) {
	l := upBareLab(t)
	serve(t, l, map[string]time.Duration{"rs1": 200 * time.Millisecond})
	d, err := startDirector(l, t.TempDir(), "-f", writeConf(t, "lc", ""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Stop() })
	res, err := lab.RunTraffic(l.ClientNS, lab.TrafficConfig{VIP: l.VIP, Requests: 400, Concurrency: 16, Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res.String())
	if res.TCP.Failed != 0 {
		t.Fatalf("failures: %s", res.String())
	}
	slow, a, b := res.TCP.PerServer["rs1"], res.TCP.PerServer["rs2"], res.TCP.PerServer["rs3"]
	if 2*slow >= a || 2*slow >= b {
		t.Fatalf("lc gave the slow server %d connections against %d and %d: want fewer than half of each", slow, a, b)
	}
}

// udpMapping sends one datagram from each source port in ports and
// returns which real server answered each.
func udpMapping(t *testing.T, l *lab.Lab, ports []int) map[int]string {
	t.Helper()
	out := map[int]string{}
	err := lab.Do(l.ClientNS, func() error {
		buf := make([]byte, 64)
		for _, p := range ports {
			c, err := net.ListenUDP("udp4", &net.UDPAddr{Port: p})
			if err != nil {
				return err
			}
			got := ""
			for try := 0; try < 3 && got == ""; try++ {
				c.WriteToUDP([]byte("which"), &net.UDPAddr{IP: net.IP(l.VIP.AsSlice()), Port: 53})
				c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
				if n, _, err := c.ReadFromUDP(buf); err == nil {
					got = string(buf[:n])
				}
			}
			c.Close()
			out[p] = got
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestMaglevSameServerAcrossRestart is the schedulers issue's lab check
// for mh: with mh-port, the same client port lands on the same real server
// before and after the director restarts (its connection table is gone,
// so only the Maglev table decides), and the ports spread over the pool.
func TestMaglevSameServerAcrossRestart(t *testing.T) {
	l := upBareLab(t)
	serve(t, l, nil)
	conf := writeConf(t, "mh", "    mh-port\n")
	var ports []int
	for p := 31000; p < 31120; p++ {
		ports = append(ports, p)
	}
	var maps [2]map[int]string
	for run := range maps {
		d, err := startDirector(l, t.TempDir(), "-f", conf)
		if err != nil {
			t.Fatal(err)
		}
		maps[run] = udpMapping(t, l, ports)
		if err := d.Stop(); err != nil {
			t.Fatalf("director: %v", err)
		}
	}
	used := map[string]int{}
	for _, p := range ports {
		a, b := maps[0][p], maps[1][p]
		if a == "" || b == "" {
			t.Fatalf("port %d got no answer (%q, %q)", p, a, b)
		}
		if a != b {
			t.Fatalf("port %d went to %s, then to %s after the restart", p, a, b)
		}
		used[a]++
	}
	if len(used) != 3 {
		t.Fatalf("mh-port spread %d ports over %v: want all three servers", len(ports), used)
	}
	t.Logf("split of %d client ports: %v, identical across the restart", len(ports), used)
}
