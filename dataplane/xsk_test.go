package dataplane

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/xvs-project/xvs/dataplane/xsk"
	"github.com/xvs-project/xvs/internal/header"
	"github.com/xvs-project/xvs/lab"
	"golang.org/x/sys/unix"
)

// TestSocketOnVeth drives one AF_XDP socket on a real veth in a lab
// namespace: the classifier redirects a frame to a virtual service into it,
// the frame is received and recycled, a frame is transmitted back to the
// client, and a kick while the link is down is counted, not a panic.
func TestSocketOnVeth(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces and attaches XDP")
	}
	var rb [3]byte
	rand.Read(rb[:])
	l, err := lab.Up(lab.Config{Prefix: "xd" + hex.EncodeToString(rb[:]), Servers: 1, Queues: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Down() })

	var prog *Program
	var sock *xsk.Socket
	var wanIdx int
	var wanMAC [6]byte
	err = lab.Do(l.LBNS, func() error {
		wan, err := netlink.LinkByName(l.WANIf)
		if err != nil {
			return err
		}
		wanIdx, wanMAC = wan.Attrs().Index, [6]byte(wan.Attrs().HardwareAddr)
		if prog, err = LoadProgram(); err != nil {
			return err
		}
		if sock, err = xsk.Open(wanIdx, 0, xsk.Options{Frames: 64, Copy: true}); err != nil {
			return err
		}
		if err := prog.RegisterSocket(RoleWAN, 0, sock.FD()); err != nil {
			return err
		}
		if err := prog.SetServices([]ServiceKey{{Addr: vip, Port: 53, Proto: header.ProtocolUDP}}, nil); err != nil {
			return err
		}
		mode, _, err := prog.Attach(wanIdx, RoleWAN)
		if err == nil && mode != "native" {
			return fmt.Errorf("veth should take native XDP, got %s", mode)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sock.Close()
		prog.Close()
	})

	// A raw socket in the client namespace to inject and capture frames.
	var fd, cliIdx int
	var cliHW [6]byte
	err = lab.Do(l.ClientNS, func() error {
		eth0, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		cliIdx, cliHW = eth0.Attrs().Index, [6]byte(eth0.Attrs().HardwareAddr)
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		tv := unix.Timeval{Usec: 200000}
		return unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)

	frame := udpFrame(t, [4]byte(l.ClientAddr.AsSlice()), vip, 4000, 53, cliHW, wanMAC)
	if err := unix.Sendto(fd, frame, 0, &unix.SockaddrLinklayer{Ifindex: cliIdx, Halen: 6}); err != nil {
		t.Fatal(err)
	}
	var descs [8]xsk.Desc
	n := 0
	for deadline := time.Now().Add(3 * time.Second); n == 0 && time.Now().Before(deadline); {
		pfd := []unix.PollFd{{Fd: int32(sock.FD()), Events: unix.POLLIN}}
		unix.Poll(pfd, 100)
		n = sock.Receive(descs[:])
	}
	if n != 1 {
		t.Fatalf("received %d frames, want 1", n)
	}
	got := sock.Frame(descs[0])
	if string(got) != string(frame) {
		t.Fatalf("received frame differs:\n got %x\nwant %x", got, frame)
	}
	sock.Refill(descs[0].Addr)
	sock.Flush()
	if c, err := prog.Counters(); err != nil || c.Redirected != 1 {
		t.Fatalf("classifier counters %+v, %v", c, err)
	}

	// Transmit a frame back to the client.
	reply := udpFrame(t, vip, [4]byte(l.ClientAddr.AsSlice()), 53, 4000, wanMAC, cliHW)
	free := sock.FreeTx()
	addr, buf, ok := sock.TxFrame()
	if !ok {
		t.Fatal("no free transmit frame")
	}
	copy(buf, reply)
	sock.Send(addr, len(reply))
	if err := sock.Kick(); err != nil {
		t.Fatalf("kick: %v", err)
	}
	rbuf := make([]byte, 2048)
	seen := false
	for deadline := time.Now().Add(3 * time.Second); !seen && time.Now().Before(deadline); {
		n, _, err := unix.Recvfrom(fd, rbuf, 0)
		if err == nil && string(rbuf[:n]) == string(reply) {
			seen = true
		}
	}
	if !seen {
		t.Fatal("the transmitted frame never reached the client")
	}
	for deadline := time.Now().Add(time.Second); sock.FreeTx() != free && time.Now().Before(deadline); {
		sock.Complete()
		time.Sleep(10 * time.Millisecond)
	}
	if sock.FreeTx() != free {
		t.Fatalf("transmit frame not completed: %d free, want %d", sock.FreeTx(), free)
	}

	// With the link down a kick fails with an errno, counted, no panic.
	setLink := func(up bool) {
		t.Helper()
		if err := lab.Do(l.LBNS, func() error {
			wan, err := netlink.LinkByIndex(wanIdx)
			if err != nil {
				return err
			}
			if up {
				return netlink.LinkSetUp(wan)
			}
			return netlink.LinkSetDown(wan)
		}); err != nil {
			t.Fatal(err)
		}
	}
	setLink(false)
	addr, buf, _ = sock.TxFrame()
	copy(buf, reply)
	sock.Send(addr, len(reply))
	err = sock.Kick()
	if !errors.Is(err, unix.ENETDOWN) {
		t.Fatalf("kick on a down link: %v, want ENETDOWN", err)
	}
	if st := sock.Stats(); st.KickErrors == 0 || st.LastKickErr != unix.ENETDOWN {
		t.Fatalf("stats %+v", st)
	}
	setLink(true)
	for deadline := time.Now().Add(3 * time.Second); sock.Pending() > 0 && time.Now().Before(deadline); {
		sock.Kick()
		time.Sleep(20 * time.Millisecond)
	}
	if sock.Pending() != 0 {
		t.Fatalf("%d frames still pending after the link came back", sock.Pending())
	}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
