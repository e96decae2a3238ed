package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/xvs-project/xvs/lab"
)

// confWith writes a TCP :80 and UDP :53 service over the given real
// servers (last octets of 198.18.1.x) to path.
func confWith(t *testing.T, path string, octets ...int) {
	t.Helper()
	src := ""
	for _, svc := range []struct {
		port  int
		proto string
	}{{80, "TCP"}, {53, "UDP"}} {
		src += fmt.Sprintf("virtual_server 198.18.0.100 %d {\n    lb_algo rr\n    protocol %s\n", svc.port, svc.proto)
		for _, o := range octets {
			src += fmt.Sprintf("    real_server 198.18.1.%d %d {\n        weight 1\n    }\n", o, svc.port)
		}
		src += "}\n"
	}
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}

// keepAliveGet sends one request on an open keep-alive connection and
// returns the name of the server that answered.
func keepAliveGet(c net.Conn, br *bufio.Reader) (string, error) {
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: vip\r\n\r\n"); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b)), err
}

// TestReloadWithoutLoss is the operating issue's reload check: a reload
// that removes rs2 and adds rs3 loses no established connection (those on
// rs2 carry on until they end), new connections follow the new pool, and a
// broken configuration is refused with file:line:col while the running
// one stays.
func TestReloadWithoutLoss(t *testing.T) {
	l := upBareLab(t)
	for i, ns := range l.ServerNS {
		c, err := lab.ServeWith(ns, l.ServerNames[i], lab.ServeOptions{KeepAlive: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
	}
	conf := filepath.Join(t.TempDir(), "keepalived.conf")
	confWith(t, conf, 11, 12)
	d := directorT(t, l, "-f", conf)

	// Established keep-alive connections, spread over rs1 and rs2.
	type ka struct {
		c      net.Conn
		br     *bufio.Reader
		server string
	}
	var conns []*ka
	if err := lab.Do(l.ClientNS, func() error {
		for i := 0; i < 6; i++ {
			c, err := net.DialTimeout("tcp4", "198.18.0.100:80", 3*time.Second)
			if err != nil {
				return err
			}
			conns = append(conns, &ka{c: c, br: bufio.NewReader(c)})
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	onRS2 := 0
	for _, k := range conns {
		defer k.c.Close()
		var err error
		if k.server, err = keepAliveGet(k.c, k.br); err != nil {
			t.Fatal(err)
		}
		if k.server == "rs2" {
			onRS2++
		}
	}
	if onRS2 == 0 {
		t.Fatal("no connection went to rs2: the test cannot show it survives its removal")
	}

	reload := func() (int, string) {
		var out, errb bytes.Buffer
		code := Main([]string{"reload", "--admin", d.Admin}, &out, &errb)
		return code, out.String() + errb.String()
	}
	confWith(t, conf, 11, 13)
	if code, out := reload(); code != 0 {
		t.Fatalf("reload: exit %d: %s", code, out)
	}
	for round := 0; round < 5; round++ {
		for _, k := range conns {
			got, err := keepAliveGet(k.c, k.br)
			if err != nil || got != k.server {
				t.Fatalf("established connection to %s after the reload: %q, %v", k.server, got, err)
			}
		}
	}
	res, err := lab.RunTraffic(l.ClientNS, lab.TrafficConfig{VIP: l.VIP, Requests: 60, Datagrams: 60})
	if err != nil {
		t.Fatal(err)
	}
	if res.TCP.Failed+res.UDP.Failed != 0 || res.TCP.PerServer["rs2"]+res.UDP.PerServer["rs2"] != 0 ||
		res.TCP.PerServer["rs3"] == 0 || res.UDP.PerServer["rs3"] == 0 {
		t.Fatalf("new connections after the reload: %s", res.String())
	}

	// A broken file is refused and the running configuration stays.
	os.WriteFile(conf, []byte("virtual_server 198.18.0.100 80 {\n    lb_algo nope\n}\n"), 0o644)
	code, out := reload()
	if code == 0 || !strings.Contains(out, conf+":2:13: ") {
		t.Fatalf("broken reload: exit %d, output %q", code, out)
	}
	res, err = lab.RunTraffic(l.ClientNS, lab.TrafficConfig{VIP: l.VIP, Requests: 30, Datagrams: 30})
	if err != nil {
		t.Fatal(err)
	}
	if res.TCP.Failed+res.UDP.Failed != 0 || res.TCP.PerServer["rs3"] == 0 || res.TCP.PerServer["rs2"] != 0 {
		t.Fatalf("after a refused reload: %s", res.String())
	}
	for _, k := range conns {
		if got, err := keepAliveGet(k.c, k.br); err != nil || got != k.server {
			t.Fatalf("established connection to %s after a refused reload: %q, %v", k.server, got, err)
		}
	}
}

// TestReloadTenTimesUnderLoad is the operating issue's reload check: under
// steady load (new TCP connections and UDP datagrams through the VIP, and
// long-lived keep-alive connections that keep sending), the configuration
// is changed and reloaded ten times, by SIGHUP and by xvs reload in turn,
// adding and removing a real server and changing weights. No request
// fails and no long-lived connection breaks or moves; a broken file sent
// by SIGHUP is refused and traffic carries on.
func TestReloadTenTimesUnderLoad(t *testing.T) {
	l := upBareLab(t)
	for i, ns := range l.ServerNS {
		c, err := lab.ServeWith(ns, l.ServerNames[i], lab.ServeOptions{KeepAlive: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
	}
	conf := filepath.Join(t.TempDir(), "keepalived.conf")
	confWith(t, conf, 11, 12, 13)
	d := directorT(t, l, "-f", conf)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var longBroken, longRequests, newFailed, newOK atomic.Int64
	var firstErr atomic.Value
	// Long-lived connections: each sends a request every 20 ms and must
	// always be answered by the same server.
	var conns []net.Conn
	if err := lab.Do(l.ClientNS, func() error {
		for i := 0; i < 8; i++ {
			c, err := net.DialTimeout("tcp4", "198.18.0.100:80", 3*time.Second)
			if err != nil {
				return err
			}
			conns = append(conns, c)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			br := bufio.NewReader(c)
			server, err := keepAliveGet(c, br)
			if err != nil {
				longBroken.Add(1)
				firstErr.CompareAndSwap(nil, fmt.Sprintf("first request: %v", err))
				return
			}
			for {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				got, err := keepAliveGet(c, br)
				longRequests.Add(1)
				if err != nil || got != server {
					longBroken.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("long-lived connection to %s: %q, %v", server, got, err))
					return
				}
			}
		}()
	}
	// New connections and datagrams, in rounds, until told to stop.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			res, err := lab.RunTraffic(l.ClientNS, lab.TrafficConfig{VIP: l.VIP, Requests: 40, Datagrams: 40, Concurrency: 4})
			if err != nil {
				newFailed.Add(1)
				firstErr.CompareAndSwap(nil, fmt.Sprintf("traffic: %v", err))
				continue
			}
			newOK.Add(int64(res.TCP.OK + res.UDP.OK))
			if f := res.TCP.Failed + res.UDP.Failed; f > 0 {
				newFailed.Add(int64(f))
				firstErr.CompareAndSwap(nil, "new connections: "+res.String())
			}
		}
	}()

	configs := [][]int{{11, 13}, {11, 12, 13}, {12, 13}, {11, 12}, {11, 12, 13}}
	for i := 0; i < 10; i++ {
		time.Sleep(300 * time.Millisecond)
		confWith(t, conf, configs[i%len(configs)]...)
		if i%2 == 0 {
			if err := syscall.Kill(d.Pid(), syscall.SIGHUP); err != nil {
				t.Fatal(err)
			}
		} else {
			var out bytes.Buffer
			if code := Main([]string{"reload", "--admin", d.Admin}, &out, &out); code != 0 {
				t.Fatalf("reload %d: exit %d: %s", i+1, code, out.String())
			}
		}
	}
	time.Sleep(300 * time.Millisecond)
	// A broken file by SIGHUP: refused, traffic carries on.
	os.WriteFile(conf, []byte("virtual_server 198.18.0.100 80 {\n    lb_algo nope\n}\n"), 0o644)
	if err := syscall.Kill(d.Pid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()

	log := d.Log()
	reloaded := strings.Count(log, "configuration reloaded")
	t.Logf("10 reloads under load: %d reloads applied; %d new connections and datagrams answered, %d failed; %d requests on 8 long-lived connections, %d broken",
		reloaded, newOK.Load(), newFailed.Load(), longRequests.Load(), longBroken.Load())
	if reloaded != 10 {
		t.Errorf("%d reloads applied, want 10", reloaded)
	}
	if !strings.Contains(log, "reload refused; the running configuration stays") || !strings.Contains(log, conf+":2:13") {
		t.Errorf("the broken file sent by SIGHUP was not refused with its position")
	}
	if newFailed.Load() != 0 || longBroken.Load() != 0 {
		t.Errorf("failures under reload: %v", firstErr.Load())
	}
	if newOK.Load() == 0 || longRequests.Load() == 0 {
		t.Error("no traffic went through: the test showed nothing")
	}
}

// TestRuntimeEdits: xvs edit adds, edits and deletes real servers in the
// running director as ipvsadm -a/-e/-d do; xvs list shows the result, new
// connections follow it, and a reload brings the file's configuration
// back.
func TestRuntimeEdits(t *testing.T) {
	l := upLab(t)
	conf := filepath.Join(t.TempDir(), "keepalived.conf")
	confWith(t, conf, 11, 12)
	d := directorT(t, l, "-f", conf)
	run := func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if code := Main(append(args, "--admin", d.Admin), &out, &errb); code != 0 {
			t.Fatalf("xvs %s: exit %d: %s", strings.Join(args, " "), code, errb.String())
		}
		return out.String()
	}
	split := func() map[string]int {
		t.Helper()
		res, err := lab.RunTraffic(l.ClientNS, lab.TrafficConfig{VIP: l.VIP, Requests: 60})
		if err != nil {
			t.Fatal(err)
		}
		if res.TCP.Failed != 0 {
			t.Fatalf("failures: %s", res.String())
		}
		return res.TCP.PerServer
	}
	run("edit", "-a", "-t", "198.18.0.100:80", "-r", "198.18.1.13:80", "-w", "2")
	run("edit", "-e", "-t", "198.18.0.100:80", "-r", "198.18.1.11:80", "-w", "0")
	run("edit", "-d", "-t", "198.18.0.100:80", "-r", "198.18.1.12:80")
	list := run("list", "-n")
	t.Logf("after the edits:\n%s", list)
	for _, want := range []string{"  -> 198.18.1.11:80               Masq    0 ", "  -> 198.18.1.13:80               Masq    2 "} {
		if !strings.Contains(list, want) {
			t.Errorf("xvs list lacks %q", want)
		}
	}
	if strings.Contains(list, "198.18.1.12:80") {
		t.Error("the deleted real server is still listed")
	}
	if got := split(); got["rs3"] != 60 {
		t.Errorf("new connections after the edits went to %v, want all 60 to rs3", got)
	}
	// Refused edits say why and change nothing.
	var out, errb bytes.Buffer
	if code := Main([]string{"edit", "-d", "-t", "198.18.0.100:80", "-r", "198.18.1.99:80", "--admin", d.Admin}, &out, &errb); code == 0 ||
		!strings.Contains(errb.String(), "no such real server") {
		t.Errorf("deleting an unknown real server: exit %d, %q", code, errb.String())
	}
	// A reload reads the file again: rs1 and rs2 at weight 1.
	run("reload")
	if got := split(); got["rs1"] != 30 || got["rs2"] != 30 {
		t.Errorf("after the reload new connections went to %v, want rs1 and rs2 30 each", got)
	}
}
