//go:build linux

package lab

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestCPUMask(t *testing.T) {
	for _, tc := range []struct {
		cpus []int
		want string
	}{
		{nil, "0"}, {[]int{0}, "1"}, {[]int{1}, "2"}, {[]int{0, 1}, "3"},
		{[]int{4, 31}, "80000010"}, {[]int{32}, "1,00000000"}, {[]int{0, 33}, "2,00000001"},
	} {
		got, err := CPUMask(tc.cpus)
		if err != nil || got != tc.want {
			t.Errorf("CPUMask(%v) = %q, %v; want %q", tc.cpus, got, err, tc.want)
		}
	}
	if _, err := CPUMask([]int{-1}); err == nil {
		t.Error("CPUMask accepted CPU -1")
	}
}

// TestNetSysfsInNamespace checks that DoSysfs sees the lab namespace's
// devices (the root namespace's /sys does not), and the knobs the benchmark
// turns: RPS, threaded NAPI (refused without NAPI, taken with GRO on) and
// the segmentation offloads.
func TestNetSysfsInNamespace(t *testing.T) {
	l := upLab(t, Config{Servers: 1})
	mtu, err := ReadNetSysfs(l.LBNS, WANIf, "mtu")
	if err != nil || mtu != fmt.Sprint(MTU) {
		t.Fatalf("mtu of %s in %s = %q, %v", WANIf, l.LBNS, mtu, err)
	}
	if _, err := netSysfs("../x", "mtu"); err == nil {
		t.Error("an interface name with a slash was accepted")
	}
	if _, err := netSysfs("wan0", "../../x"); err == nil {
		t.Error("an attribute leaving the directory was accepted")
	}

	if err := SetRPS(l.ClientNS, HostIf, []int{0}); err != nil {
		t.Fatal(err)
	}
	for q := 0; q < DefaultQueues; q++ {
		if got, err := ReadNetSysfs(l.ClientNS, HostIf, fmt.Sprintf("queues/rx-%d/rps_cpus", q)); err != nil || strings.TrimLeft(got, "0,") != "1" {
			t.Errorf("rps_cpus of rx-%d = %q, %v", q, got, err)
		}
	}
	if err := SetRPS(l.ClientNS, HostIf, nil); err != nil {
		t.Fatal(err)
	}

	if err := SetThreadedNAPI(l.LBNS, WANIf, true); !errors.Is(err, ErrNoNAPI) {
		t.Errorf("threaded NAPI without NAPI: %v, want ErrNoNAPI", err)
	}
	if err := Do(l.LBNS, func() error { return SetGRO(WANIf, true) }); err != nil {
		t.Fatal(err)
	}
	if err := SetThreadedNAPI(l.LBNS, WANIf, true); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadNetSysfs(l.LBNS, WANIf, "threaded"); err != nil || got != "1" {
		t.Errorf("threaded = %q, %v", got, err)
	}
	if err := SetThreadedNAPI(l.LBNS, WANIf, false); err != nil {
		t.Error(err)
	}

	if err := SetSegmentationOffloads(l.ClientNS, HostIf, false); err != nil {
		t.Fatal(err)
	}
	tso, gso, gro, err := SegmentationOffloads(l.ClientNS, HostIf)
	if err != nil || tso || gso || gro {
		t.Errorf("offloads after turning them off: tso %v gso %v gro %v, %v", tso, gso, gro, err)
	}
}

// TestDiscard uploads to a lab server's DiscardPath and checks the count.
func TestDiscard(t *testing.T) {
	l := upLab(t, Config{Servers: 1})
	ns := l.ServerNS[0]
	c, err := Serve(ns, "sink")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	before := DiscardedBytes(ns)
	const size = 3<<20 + 17
	var resp string
	err = Do(ns, func() error {
		conn, err := net.DialTimeout("tcp4", fmt.Sprintf("127.0.0.1:%d", HTTPPort), 2*time.Second)
		if err != nil {
			return err
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		// Announce more than is sent, then half-close: the server counts
		// what arrived.
		if _, err := fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", DiscardPath, 1<<40); err != nil {
			return err
		}
		if _, err := conn.Write(make([]byte, size)); err != nil {
			return err
		}
		conn.(*net.TCPConn).CloseWrite()
		r, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(r.Body)
		resp = r.Status + " " + strings.TrimSpace(string(b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := DiscardedBytes(ns) - before; got != size || resp != fmt.Sprintf("200 OK %d", size) {
		t.Errorf("discarded %d bytes, answer %q; want %d", got, resp, size)
	}
}
