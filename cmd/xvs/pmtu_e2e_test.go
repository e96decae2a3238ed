package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xvs-project/xvs/lab"
)

// ipCmd runs ip(8) with the given arguments, failing the test on error.
func ipCmd(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestPathMTUThroughDirector shows path-MTU discovery working through xvs:
// a real server sits behind a router whose link to it has an MTU of 1400.
// A client's large request (20 KB of header, sent in 1500-byte frames)
// makes the router answer "fragmentation needed" to the client; that ICMP
// error reaches the director on its LAN side, is matched to the flow and
// rewritten to come from the VIP, the client lowers its path MTU, and the
// request gets through. Without the ICMP mapping the connection stalls.
func TestPathMTUThroughDirector(t *testing.T) {
	l := upBareLab(t)
	rt, rs4 := l.Prefix+"-rt", l.Prefix+"-rs4"
	for _, ns := range []string{rt, rs4} {
		ipCmd(t, "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	}
	// Router: up0 on the lab's LAN switch, dn0 (MTU 1400) to rs4.
	ipCmd(t, "-n", rt, "link", "add", "up0", "type", "veth", "peer", "name", "rtport", "netns", l.SwitchNS)
	ipCmd(t, "-n", l.SwitchNS, "link", "set", "rtport", "master", "br0", "up")
	ipCmd(t, "-n", rt, "link", "add", "dn0", "mtu", "1400", "type", "veth", "peer", "name", "eth0", "netns", rs4)
	ipCmd(t, "-n", rt, "addr", "add", "198.18.1.20/24", "dev", "up0")
	ipCmd(t, "-n", rt, "addr", "add", "198.18.2.1/24", "dev", "dn0")
	for _, dev := range []string{"lo", "up0", "dn0"} {
		ipCmd(t, "-n", rt, "link", "set", dev, "up")
	}
	ipCmd(t, "-n", rt, "route", "add", "198.18.0.0/24", "via", "198.18.1.1")
	if err := lab.Do(rt, func() error {
		return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644)
	}); err != nil {
		t.Fatal(err)
	}
	ipCmd(t, "-n", rs4, "addr", "add", "198.18.2.14/24", "dev", "eth0")
	ipCmd(t, "-n", rs4, "link", "set", "lo", "up")
	ipCmd(t, "-n", rs4, "link", "set", "eth0", "up")
	ipCmd(t, "-n", rs4, "route", "add", "default", "via", "198.18.2.1")
	if err := lab.SetTxChecksum(rs4, "eth0", false); err != nil {
		t.Fatal(err)
	}
	// The director reaches 198.18.2.0/24 through the router.
	ipCmd(t, "-n", l.LBNS, "route", "add", "198.18.2.0/24", "via", "198.18.1.20")
	srv, err := lab.Serve(rs4, "rs4")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })

	conf := filepath.Join(t.TempDir(), "keepalived.conf")
	os.WriteFile(conf, []byte("virtual_server 198.18.0.100 80 {\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n    real_server 198.18.2.14 80 {\n        weight 1\n    }\n}\n"), 0o644)
	directorT(t, l, "-f", conf)

	var conn net.Conn
	if err := lab.Do(l.ClientNS, func() error {
		var err error
		conn, err = net.DialTimeout("tcp4", "198.18.0.100:80", 3*time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(15 * time.Second))
	req := "GET / HTTP/1.0\r\nX-Pad: " + strings.Repeat("x", 20000) + "\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatalf("sending the large request: %v", err)
	}
	resp, err := io.ReadAll(bufio.NewReader(conn))
	if err != nil {
		t.Fatalf("no answer to the large request (path MTU not learnt?): %v", err)
	}
	if !strings.Contains(string(resp), "200 OK") || !strings.HasSuffix(string(resp), "rs4\n") {
		t.Fatalf("unexpected answer: %q", resp)
	}
	out, err := exec.Command("ip", "-n", l.ClientNS, "route", "get", "198.18.0.100").CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "mtu 1400") {
		t.Errorf("the client did not learn the path MTU from the VIP: %s", out)
	}
	m, err := scrape(l.LBNS, "127.0.0.1:9333")
	if err == nil {
		t.Logf("director: %v frames forwarded; client route: %s", m["xvs_frames_forwarded_total"], strings.TrimSpace(string(out)))
	}
}

// TestDirectorsOwnICMPErrors checks that ICMP errors about the director's
// own packets stay with its kernel: a UDP socket in the director's
// namespace that sends to a real server's service port where nothing
// listens gets ECONNREFUSED (from the real server's port unreachable), even
// though that port is a configured real server the classifier watches.
func TestDirectorsOwnICMPErrors(t *testing.T) {
	l := upBareLab(t)
	conf := filepath.Join(t.TempDir(), "keepalived.conf")
	os.WriteFile(conf, []byte("virtual_server 198.18.0.100 5353 {\n    lb_algo rr\n    protocol UDP\n    real_server 198.18.1.11 5353 {\n        weight 1\n    }\n}\n"), 0o644)
	d, err := startDirector(l, t.TempDir(), "-f", conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Stop() })
	err = lab.Do(l.LBNS, func() error {
		c, err := net.Dial("udp4", "198.18.1.11:5353")
		if err != nil {
			return err
		}
		defer c.Close()
		buf := make([]byte, 16)
		for try := 0; try < 5; try++ {
			c.Write([]byte("anyone?"))
			c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			_, err = c.Read(buf)
			if err != nil && strings.Contains(err.Error(), "connection refused") {
				return nil
			}
		}
		return fmt.Errorf("no ICMP port unreachable reached the director's socket: last read %v", err)
	})
	if err != nil {
		t.Fatal(err)
	}
}
