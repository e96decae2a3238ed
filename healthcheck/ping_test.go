package healthcheck

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// pingChecker returns a PING_CHECK of addr with the given socket mode.
func pingChecker(t *testing.T, addr string, mode pingMode, timeout time.Duration) *PingChecker {
	t.Helper()
	c := newChecker(t, PingConfig{Conn{ConnectTimeout: timeout}}, netip.AddrPortFrom(netip.MustParseAddr(addr), 0)).(*PingChecker)
	c.mode = mode
	return c
}

// skipUnlessPermitted skips the test when the result failed for lack of
// permission to open the ICMP socket.
func skipUnlessPermitted(t *testing.T, r Result, what string) {
	t.Helper()
	if !r.Healthy && errors.Is(r.Err, os.ErrPermission) {
		t.Skipf("%s not permitted here: %v", what, r.Err)
	}
}

// TestPingLoopback pings loopback addresses. The unprivileged datagram
// socket is tested in TestPingNetns, inside a namespace where ping sockets
// are allowed: on the host they depend on net.ipv4.ping_group_range.
func TestPingLoopback(t *testing.T) {
	tests := []struct {
		desc, addr string
		mode       pingMode
	}{
		{"auto, IPv4", "127.0.0.1", pingAuto},
		{"raw socket, IPv4", "127.0.0.1", pingRaw},
		{"raw socket, other loopback address", "127.0.0.2", pingRaw},
		{"auto, IPv6", "::1", pingAuto},
		{"raw socket, IPv6", "::1", pingRaw},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if netip.MustParseAddr(tt.addr).Is6() && !haveIPv6Loopback() {
				t.Skip("no IPv6 loopback address")
			}
			r, took := timedCheck(pingChecker(t, tt.addr, tt.mode, time.Second))
			skipUnlessPermitted(t, r, "this ICMP socket")
			assertResult(t, r, true, nil)
			if took > time.Second {
				t.Errorf("ping took %v", took)
			}
		})
	}
}

func haveIPv6Loopback() bool {
	c, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func TestICMPEcho(t *testing.T) {
	got := icmpEcho(false, 0x1234, 0x0001, []byte("ab"))
	want := []byte{8, 0, 0, 0, 0x12, 0x34, 0x00, 0x01, 'a', 'b'}
	binary.BigEndian.PutUint16(want[2:], 0xffff-(0x0800+0x1234+0x0001+0x6162))
	if string(got) != string(want) {
		t.Errorf("echo request % x, want % x", got, want)
	}
	if inetChecksum(got) != 0 {
		t.Errorf("checksum over a checksummed message is %#x, want 0", inetChecksum(got))
	}
	if v6 := icmpEcho(true, 1, 2, nil); v6[0] != icmpv6EchoRequest || v6[2]|v6[3] != 0 {
		t.Errorf("ICMPv6 echo request % x", v6)
	}
}

// netnsChildEnv marks the re-executed test binary running in a fresh
// network namespace.
const netnsChildEnv = "XVS_HEALTHCHECK_NETNS_CHILD"

// TestPingNetns re-runs itself in a new network namespace, where it may
// change that namespace's sysctls without touching the host's: it admits
// every group to ping sockets (net.ipv4.ping_group_range), checks the
// datagram-socket path, then makes the loopback stop answering echo
// requests (net.ipv4.icmp_echo_ignore_all) and checks that the ping
// fails within its timeout.
func TestPingNetns(t *testing.T) {
	if os.Getenv(netnsChildEnv) == "1" {
		pingInNetns(t)
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestPingNetns$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), netnsChildEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	out, err := cmd.CombinedOutput()
	if err != nil && errors.Is(err, os.ErrPermission) {
		t.Skipf("cannot create a network namespace: %v", err)
	}
	if err != nil {
		t.Fatalf("child in a new network namespace: %v\n%s", err, out)
	}
	t.Logf("child in a new network namespace:\n%s", out)
}

func pingInNetns(t *testing.T) {
	setLinkUp(t, "lo")
	writeSysctl(t, "net/ipv4/ping_group_range", "0 2147483647")

	r, _ := timedCheck(pingChecker(t, "127.0.0.1", pingDatagram, time.Second))
	assertResult(t, r, true, nil)
	r, _ = timedCheck(pingChecker(t, "127.0.0.1", pingAuto, time.Second))
	assertResult(t, r, true, nil)
	if haveIPv6Loopback() {
		r, _ = timedCheck(pingChecker(t, "::1", pingDatagram, time.Second))
		assertResult(t, r, true, nil)
	}

	writeSysctl(t, "net/ipv4/icmp_echo_ignore_all", "1")
	for _, mode := range []pingMode{pingDatagram, pingRaw} {
		r, took := timedCheck(pingChecker(t, "127.0.0.1", mode, shortTimeout))
		assertResult(t, r, false, ErrNoResponse)
		if took > shortTimeout+time.Second {
			t.Errorf("mode %d: failing ping took %v", mode, took)
		}
	}
}

func writeSysctl(t *testing.T, name, value string) {
	t.Helper()
	if err := os.WriteFile("/proc/sys/"+name, []byte(value), 0); err != nil {
		t.Fatalf("sysctl %s: %v", name, err)
	}
}

// setLinkUp sets IFF_UP on an interface with SIOCGIFFLAGS/SIOCSIFFLAGS.
func setLinkUp(t *testing.T, name string) {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	var ifr [40]byte // struct ifreq: name[16], then flags
	copy(ifr[:], name)
	ioctl := func(req uintptr) {
		if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), req, uintptr(unsafe.Pointer(&ifr[0]))); e != 0 {
			t.Fatalf("ioctl %#x on %s: %v", req, name, e)
		}
	}
	ioctl(syscall.SIOCGIFFLAGS)
	flags := binary.NativeEndian.Uint16(ifr[16:]) | syscall.IFF_UP
	binary.NativeEndian.PutUint16(ifr[16:], flags)
	ioctl(syscall.SIOCSIFFLAGS)
}
