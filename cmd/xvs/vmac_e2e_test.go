package main

import (
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/xvs-project/xvs/control"
	"github.com/xvs-project/xvs/lab"
	"github.com/xvs-project/xvs/vrrp"
	"golang.org/x/sys/unix"
)

// neighMAC returns the MAC address of addr in the neighbour table of
// ifName in namespace ns, and the entry's state; nil when there is none.
func neighMAC(t *testing.T, ns, ifName string, addr netip.Addr) (net.HardwareAddr, string) {
	t.Helper()
	var mac net.HardwareAddr
	var state string
	err := lab.Do(ns, func() error {
		l, err := netlink.LinkByName(ifName)
		if err != nil {
			return err
		}
		neighs, err := netlink.NeighList(l.Attrs().Index, netlink.FAMILY_V4)
		if err != nil {
			return err
		}
		for _, n := range neighs {
			if a, ok := netip.AddrFromSlice(n.IP.To4()); ok && a == addr {
				mac, state = n.HardwareAddr, neighStateName(n.State)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("neighbours of %s in %s: %v", ifName, ns, err)
	}
	return mac, state
}

func neighStateName(s int) string {
	for _, x := range []struct {
		bit  int
		name string
	}{{netlink.NUD_REACHABLE, "REACHABLE"}, {netlink.NUD_STALE, "STALE"}, {netlink.NUD_DELAY, "DELAY"},
		{netlink.NUD_PROBE, "PROBE"}, {netlink.NUD_FAILED, "FAILED"}, {netlink.NUD_INCOMPLETE, "INCOMPLETE"},
		{netlink.NUD_PERMANENT, "PERMANENT"}, {netlink.NUD_NOARP, "NOARP"}} {
		if s&x.bit != 0 {
			return x.name
		}
	}
	return fmt.Sprintf("0x%x", s)
}

// macvlans lists the macvlan interfaces in namespace ns, as "NAME MAC on
// PARENT", sorted.
func macvlans(t *testing.T, ns string) []string {
	t.Helper()
	var out []string
	err := lab.Do(ns, func() error {
		links, err := netlink.LinkList()
		if err != nil {
			return err
		}
		for _, l := range links {
			if l.Type() != "macvlan" {
				continue
			}
			parent := "?"
			if p, err := netlink.LinkByIndex(l.Attrs().ParentIndex); err == nil {
				parent = p.Attrs().Name
			}
			up := "down"
			if l.Attrs().Flags&net.FlagUp != 0 {
				up = "up"
			}
			out = append(out, fmt.Sprintf("%s %s on %s %s", l.Attrs().Name, l.Attrs().HardwareAddr, parent, up))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("interfaces in %s: %v", ns, err)
	}
	sort.Strings(out)
	return out
}

// ucAddrs returns the unicast address list of ifName in namespace ns:
// the addresses its NIC filter passes besides its own, which macvlans add
// to while they are up (bridge fdb show dev IF: the "self" entries).
func ucAddrs(t *testing.T, ns, ifName string) []string {
	t.Helper()
	var out []string
	err := lab.Do(ns, func() error {
		l, err := netlink.LinkByName(ifName)
		if err != nil {
			return err
		}
		fdb, err := netlink.NeighList(l.Attrs().Index, unix.AF_BRIDGE)
		if err != nil {
			return err
		}
		for _, n := range fdb {
			if n.HardwareAddr[0]&1 == 0 && n.Flags&netlink.NTF_SELF != 0 {
				out = append(out, n.HardwareAddr.String())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("address list of %s in %s: %v", ifName, ns, err)
	}
	sort.Strings(out)
	return out
}

// advertMACs captures the VRRP adverts on the lab's bridges (br1, WAN;
// br0, LAN) for d and returns, per VRID, the source MAC addresses of those
// with a non-zero priority, with their counts.
func advertMACs(t *testing.T, l *lab.Lab, d time.Duration) map[uint8]map[string]int {
	t.Helper()
	got := map[uint8]map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, br := range []string{"br1", lab.BridgeIf} {
		fd := -1
		err := lab.Do(l.SwitchNS, func() error {
			ifc, err := net.InterfaceByName(br)
			if err != nil {
				return err
			}
			if fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_IP))); err != nil {
				return err
			}
			return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP), Ifindex: ifc.Index})
		})
		if err != nil {
			if fd >= 0 {
				unix.Close(fd)
			}
			t.Fatalf("capturing on %s: %v", br, err)
		}
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 100000})
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer unix.Close(fd)
			buf := make([]byte, 2048)
			for end := time.Now().Add(d); time.Now().Before(end); {
				n, _, err := unix.Recvfrom(fd, buf, 0)
				if err != nil {
					continue
				}
				msg, err := vrrp.ParseFrame(buf[:n], &vrrp.ParseOptions{V3ChecksumCompat: true})
				if err != nil || msg.Advert.Priority == 0 {
					continue
				}
				mu.Lock()
				if got[msg.Advert.VRID] == nil {
					got[msg.Advert.VRID] = map[string]int{}
				}
				got[msg.Advert.VRID][net.HardwareAddr(buf[6:12]).String()]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return got
}

// TestVRRPUseVMAC runs a pair with use_vmac on both instances (VRID 51 on
// wan0, 52 on lan0): each director has the macvlans vrrp.51 and vrrp.52
// with the VMACs; the MASTER's adverts come from the VMACs; the client's
// neighbour entry for the VIP, and a real server's for its gateway, are
// the VMACs; kill -9 of the MASTER hands over and the entries stay as they
// were, since the new MASTER answers with the same MACs. A kill -9 leaves
// the macvlans behind (nothing runs to remove them, as with keepalived);
// the next start replaces them; a clean stop removes them.
func TestVRRPUseVMAC(t *testing.T) {
	l := upPairLab(t)
	const vmacWAN, vmacLAN = "00:00:5e:00:01:33", "00:00:5e:00:01:34"
	wantLinks := []string{"vrrp.51 " + vmacWAN + " on wan0 up", "vrrp.52 " + vmacLAN + " on lan0 up"}
	master := pairConf{state: "MASTER", priority: 150, advert: "1", version: 3, inst: "    use_vmac\n"}
	backup := pairConf{state: "BACKUP", priority: 100, advert: "1", version: 3, inst: "    use_vmac\n"}
	lb1 := startPairDirector(t, l.LBNS, master)
	lb2 := startPairDirector(t, l.LB2NS, backup)
	waitState(t, lb1, "MASTER", 10*time.Second)
	waitState(t, lb2, "BACKUP", 10*time.Second)
	for _, ns := range []string{l.LBNS, l.LB2NS} {
		if got := macvlans(t, ns); strings.Join(got, "; ") != strings.Join(wantLinks, "; ") {
			t.Errorf("macvlans in %s: %q, want %q", ns, got, wantLinks)
		}
	}
	// The VMACs are in the NICs' unicast filters, on both directors.
	for _, ns := range []string{l.LBNS, l.LB2NS} {
		for ifName, want := range map[string]string{lab.WANIf: vmacWAN, lab.LANIf: vmacLAN} {
			if got := ucAddrs(t, ns, ifName); strings.Join(got, " ") != want {
				t.Errorf("unicast addresses of %s in %s: %v, want %s only", ifName, ns, got, want)
			}
		}
	}
	var st []control.VRRPStatus
	if err := adminGet(lb1.Admin, "/v1/vrrp", &st); err != nil {
		t.Fatal(err)
	}
	for _, s := range st {
		if want := map[int]string{51: vmacWAN + " on vrrp.51", 52: vmacLAN + " on vrrp.52"}[s.VRID]; s.VMAC != want {
			t.Errorf("xvs vrrp: %s VMAC %q, want %q", s.Name, s.VMAC, want)
		}
	}

	p := startProber(t, l, 5*time.Millisecond)
	p.flowing(t)
	macs := advertMACs(t, l, 2500*time.Millisecond)
	t.Logf("adverts by source MAC: %v", macs)
	if len(macs[51]) != 1 || macs[51][vmacWAN] == 0 || len(macs[52]) != 1 || macs[52][vmacLAN] == 0 {
		t.Errorf("adverts came from %v; want VRID 51 from %s and 52 from %s only", macs, vmacWAN, vmacLAN)
	}
	checkNeigh := func(when string) {
		t.Helper()
		mac, state := neighMAC(t, l.ClientNS, lab.HostIf, l.VIP)
		t.Logf("%s: the client's neighbour entry for %s is %s (%s)", when, l.VIP, mac, state)
		if mac.String() != vmacWAN {
			t.Errorf("%s: the client has %s for the VIP %s, want the VMAC %s", when, mac, l.VIP, vmacWAN)
		}
		mac, state = neighMAC(t, l.ServerNS[0], lab.HostIf, l.LANAddr)
		t.Logf("%s: %s's neighbour entry for its gateway %s is %s (%s)", when, l.ServerNames[0], l.LANAddr, mac, state)
		if mac.String() != vmacLAN {
			t.Errorf("%s: %s has %s for its gateway %s, want the VMAC %s", when, l.ServerNames[0], mac, l.LANAddr, vmacLAN)
		}
	}
	checkNeigh("lb1 MASTER")

	// kill -9 of the MASTER: lb2 takes over with the same MACs.
	t0 := time.Now()
	if err := lb1.Kill(); err == nil {
		t.Fatal("the killed director exited cleanly")
	}
	out := p.waitResumed(t, t0, 15*time.Second)
	t.Logf("kill -9 of the MASTER: traffic resumed through lb2 after %v", out.Round(time.Millisecond))
	if bound := 3*time.Second + vrrp.SkewTime(3, 100, time.Second) + 100*time.Millisecond; out > bound {
		t.Errorf("outage %v after kill -9, more than %v", out, bound)
	}
	waitState(t, lb2, "MASTER", time.Second)
	p.flowing(t)
	checkNeigh("lb2 MASTER after kill -9 of lb1")
	// Nothing ran to remove lb1's macvlans: they stay, silent (no address,
	// arp_ignore 1, no IPv6), as keepalived's do after SIGKILL.
	left := macvlans(t, l.LBNS)
	t.Logf("left in lb1's namespace after kill -9: %q", left)
	if strings.Join(left, "; ") != strings.Join(wantLinks, "; ") {
		t.Errorf("after kill -9, lb1 has macvlans %q; want the leftovers %q", left, wantLinks)
	}

	// lb1 returns: it replaces the leftovers and, preempting, is MASTER.
	lb1 = startPairDirector(t, l.LBNS, master)
	waitState(t, lb1, "MASTER", 15*time.Second)
	waitState(t, lb2, "BACKUP", 2*time.Second)
	if log := lb1.Log(); strings.Count(log, "replacing a VMAC interface left behind") != 2 {
		t.Errorf("lb1 did not log replacing both leftovers:\n%s", log)
	}
	if got := macvlans(t, l.LBNS); strings.Join(got, "; ") != strings.Join(wantLinks, "; ") {
		t.Errorf("macvlans in lb1's namespace after the restart: %q, want %q", got, wantLinks)
	}
	p.flowing(t)
	checkNeigh("lb1 MASTER again")

	// A clean stop removes the macvlans; lb2 takes over.
	t1 := time.Now()
	if err := lb1.Stop(); err != nil {
		t.Fatalf("stopping lb1: %v", err)
	}
	if got := macvlans(t, l.LBNS); len(got) != 0 {
		t.Errorf("after a clean stop, lb1 left macvlans %q", got)
	}
	for _, ifName := range []string{lab.WANIf, lab.LANIf} {
		if got := ucAddrs(t, l.LBNS, ifName); len(got) != 0 {
			t.Errorf("after a clean stop, lb1's %s still passes %v", ifName, got)
		}
	}
	if log := lb1.Log(); strings.Count(log, "VMAC interface removed") != 2 {
		t.Errorf("lb1 did not log removing both VMAC interfaces:\n%s", log)
	}
	out = p.waitResumed(t, t1, 10*time.Second)
	t.Logf("clean stop of lb1: traffic resumed through lb2 after %v", out.Round(time.Millisecond))
	waitState(t, lb2, "MASTER", time.Second)
	p.flowing(t)
	checkNeigh("lb2 MASTER after a clean stop of lb1")
}
