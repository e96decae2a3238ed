package control

import (
	"bytes"
	"net"
	"net/netip"
	"os"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/xvs-project/xvs/config"
	"github.com/xvs-project/xvs/dataplane"
	"github.com/xvs-project/xvs/vrrp"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

func TestVMACNames(t *testing.T) {
	insts := []config.VRRPInstance{
		{Name: "A", VirtualRouterID: 51, UseVMAC: true},
		{Name: "B", VirtualRouterID: 51, UseVMAC: true}, // the same VRID on the other interface
		{Name: "C", VirtualRouterID: 52, UseVMAC: true, VMACName: "vrrp.53"},
		{Name: "D", VirtualRouterID: 53, UseVMAC: true}, // its default is C's
		{Name: "E", VirtualRouterID: 54},
		{Name: "F", VirtualRouterID: 55, UseVMAC: true, VMACName: "vrrp1.51"},
	}
	got := VMACNames(insts)
	want := map[string]string{"A": "vrrp.51", "B": "vrrp2.51", "C": "vrrp.53", "D": "vrrp1.53", "F": "vrrp1.51"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("VMACNames = %v, want %v", got, want)
	}
}

// vmacTestInstance is an instance of VRID 51 on wan0 (ifindex 7, MAC
// 02:00:00:00:00:01) from 198.18.0.2, owning 198.18.0.100, VRRPv3.
func vmacTestInstance(t *testing.T, spec config.VRRPInstance, unicast bool) *vrrpInstance {
	t.Helper()
	spec.VirtualRouterID = 51
	spec.VirtualIPs = []config.VirtualIP{{Prefix: netip.MustParsePrefix("198.18.0.100/24")}}
	src := netip.MustParseAddr("198.18.0.2")
	m, err := vrrp.NewMachine(vrrp.Config{VRID: 51, Version: 3, Priority: 150, AdvertInterval: time.Second,
		PrimaryAddr: src, VIPs: []netip.Prefix{spec.VirtualIPs[0].Prefix}})
	if err != nil {
		t.Fatal(err)
	}
	inst := &vrrpInstance{spec: spec, m: m, src: src, unicast: unicast, dst: []netip.Addr{vrrp.MulticastGroup},
		mac:  [6]byte{0x02, 0, 0, 0, 0, 0x01},
		link: &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: "wan0", Index: 7}}}
	if unicast {
		inst.dst = []netip.Addr{netip.MustParseAddr("198.18.0.3")}
	}
	if spec.UseVMAC {
		inst.setVMAC("vrrp.51")
	}
	return inst
}

// goldenVMACAdvert is the VRRPv3 advert of VRID 51 at priority 150 from
// 198.18.0.2 for 198.18.0.100, IPv4 ID 1, sent with use_vmac (checksums
// computed apart from the code).
var goldenVMACAdvert = []byte{
	0x01, 0x00, 0x5e, 0x00, 0x00, 0x12, // to 224.0.0.18's MAC
	0x00, 0x00, 0x5e, 0x00, 0x01, 0x33, // from the VMAC, 00:00:5e:00:01:VRID
	0x08, 0x00, // IPv4
	0x45, 0xc0, 0x00, 0x20, // version 4, IHL 5; TOS 0xc0; total length 32
	0x00, 0x01, 0x00, 0x00, // ID 1; no flags, offset 0
	0xff, 0x70, 0x14, 0x86, // TTL 255; protocol 112; header checksum
	0xc6, 0x12, 0x00, 0x02, // 198.18.0.2
	0xe0, 0x00, 0x00, 0x12, // 224.0.0.18
	0x31, 0x33, 0x96, 0x01, // version 3, type 1; VRID 51; priority 150; 1 address
	0x00, 0x64, 0xcb, 0x4c, // interval 100 cs; checksum
	0xc6, 0x12, 0x00, 0x64, // 198.18.0.100
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // padding to 60 bytes
}

// goldenVMACGARP is the gratuitous ARP for 198.18.0.100 with use_vmac.
var goldenVMACGARP = []byte{
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // broadcast
	0x00, 0x00, 0x5e, 0x00, 0x01, 0x33, // from the VMAC
	0x08, 0x06, // ARP
	0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, // Ethernet, IPv4, request
	0x00, 0x00, 0x5e, 0x00, 0x01, 0x33, // sender hardware address: the VMAC
	0xc6, 0x12, 0x00, 0x64, // sender protocol address: the VIP
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // target hardware address
	0xc6, 0x12, 0x00, 0x64, // target protocol address: the VIP
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // padding to 60 bytes
}

// TestVMACFrames: with use_vmac, adverts (as whole frames for the packet
// socket), gratuitous ARPs and the owned map's entries carry the VMAC;
// vmac_xmit_base and unicast peers take adverts back to the interface's
// MAC and the raw IP socket, but not the GARPs or the owned map.
func TestVMACFrames(t *testing.T) {
	ifMAC := [6]byte{0x02, 0, 0, 0, 0, 0x01}
	vmac := vrrp.VirtualMAC(51)
	for _, tc := range []struct {
		desc                string
		spec                config.VRRPInstance
		unicast             bool
		fromVMAC            bool    // adverts as frames from the VMAC
		advertSrc, vipSrc   [6]byte // the adverts' and the VIP's (GARP, owned) MAC
		advertGolden, garpG []byte
	}{
		{"use_vmac", config.VRRPInstance{UseVMAC: true}, false, true, vmac, vmac, goldenVMACAdvert, goldenVMACGARP},
		{"use_vmac with vmac_xmit_base", config.VRRPInstance{UseVMAC: true, VMACXmitBase: true}, false, false, ifMAC, vmac, nil, goldenVMACGARP},
		{"use_vmac with unicast peers", config.VRRPInstance{UseVMAC: true}, true, false, ifMAC, vmac, nil, goldenVMACGARP},
		{"no use_vmac", config.VRRPInstance{}, false, false, ifMAC, ifMAC, nil, nil},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			inst := vmacTestInstance(t, tc.spec, tc.unicast)
			inst.ipID = 1
			if got := inst.advertsFromVMAC(); got != tc.fromVMAC {
				t.Errorf("advertsFromVMAC = %v, want %v", got, tc.fromVMAC)
			}
			adv := inst.m.Advert(150)
			frame, err := inst.advertFrame(nil, &adv, inst.dst[0])
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(frame[6:12], tc.advertSrc[:]) {
				t.Errorf("advert from %x, want %x", frame[6:12], tc.advertSrc)
			}
			if tc.advertGolden != nil && !bytes.Equal(frame, tc.advertGolden) {
				t.Errorf("advert frame\n got % x\nwant % x", frame, tc.advertGolden)
			}
			if msg, err := vrrp.ParseFrame(frame, nil); err != nil || msg.Advert.VRID != 51 || msg.Src != inst.src {
				t.Errorf("the advert does not parse back: %v %+v", err, msg)
			}
			garp, err := inst.garpFrame([]byte{0xaa}, netip.MustParseAddr("198.18.0.100"))
			if err != nil {
				t.Fatal(err)
			}
			garp = garp[1:]
			if !bytes.Equal(garp[6:12], tc.vipSrc[:]) || !bytes.Equal(garp[22:28], tc.vipSrc[:]) {
				t.Errorf("gratuitous ARP from %x, sender hardware address %x; want %x", garp[6:12], garp[22:28], tc.vipSrc)
			}
			if tc.garpG != nil && !bytes.Equal(garp, tc.garpG) {
				t.Errorf("gratuitous ARP\n got % x\nwant % x", garp, tc.garpG)
			}
			var owned []dataplane.Owned
			r := &vrrpRunner{insts: []*vrrpInstance{inst}, onOwned: func(l []dataplane.Owned) { owned = l }}
			inst.owned = true
			r.publishOwned()
			want := []dataplane.Owned{{Addr: [4]byte{198, 18, 0, 100}, Ifindex: 7, MAC: tc.vipSrc}}
			if !reflect.DeepEqual(owned, want) {
				t.Errorf("owned %+v, want %+v", owned, want)
			}
		})
	}
}

// inNewNetns runs fn on a thread of its own in a new network namespace;
// the thread is never given back to the runtime, so it ends with fn.
func inNewNetns(t *testing.T, fn func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("making network namespaces and interfaces needs root")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			t.Errorf("unshare: %v", err)
			return
		}
		fn()
	}()
	<-done
}

// mkVeth adds a veth pair, name and name+"p", both up, in the calling
// thread's namespace, and returns name's link; nil after a test error.
func mkVeth(t *testing.T, name string) netlink.Link {
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: name + "p"}); err != nil {
		t.Errorf("adding %s: %v", name, err)
		return nil
	}
	for _, n := range []string{name + "p", name} {
		l, err := netlink.LinkByName(n)
		if err == nil {
			err = netlink.LinkSetUp(l)
		}
		if err != nil {
			t.Errorf("%s: %v", n, err)
			return nil
		}
		if n == name {
			return l
		}
	}
	return nil
}

// TestSetupVMAC makes VMAC interfaces in a namespace of its own: a private
// macvlan with the VMAC on the parent, up, with arp_ignore 1 and no IPv6
// address; one left behind is replaced; an interface of the name that is
// not a VMAC, and another macvlan with the VMAC, are errors and are left
// alone; removeVMAC removes it.
func TestSetupVMAC(t *testing.T) {
	inNewNetns(t, func() {
		log := zap.NewNop()
		vmac := vrrp.VirtualMAC(51)
		parent := mkVeth(t, "wan0")
		if parent == nil {
			return
		}
		l, err := setupVMAC(log, "VI", "vrrp.51", parent, vmac)
		if err != nil {
			t.Errorf("setupVMAC: %v", err)
			return
		}
		check := func(l netlink.Link) {
			got, err := netlink.LinkByName("vrrp.51")
			if err != nil {
				t.Errorf("the VMAC interface: %v", err)
				return
			}
			mv, ok := got.(*netlink.Macvlan)
			a := got.Attrs()
			if !ok || mv.Mode != netlink.MACVLAN_MODE_PRIVATE || a.ParentIndex != parent.Attrs().Index ||
				!bytes.Equal(a.HardwareAddr, vmac[:]) || a.Flags&net.FlagUp == 0 || a.Index != l.Attrs().Index {
				t.Errorf("VMAC interface %T %+v, want a private macvlan on wan0 with %x, up", got, a, vmac)
			}
			if b, err := os.ReadFile("/proc/sys/net/ipv4/conf/vrrp.51/arp_ignore"); err != nil || strings.TrimSpace(string(b)) != "1" {
				t.Errorf("arp_ignore %q, %v; want 1", b, err)
			}
			if b, err := os.ReadFile("/proc/sys/net/ipv6/conf/vrrp.51/disable_ipv6"); err == nil && strings.TrimSpace(string(b)) != "1" {
				t.Errorf("disable_ipv6 %q, want 1", b)
			}
			if addrs, err := netlink.AddrList(got, netlink.FAMILY_ALL); err != nil || len(addrs) != 0 {
				t.Errorf("addresses on the VMAC interface: %v %v", addrs, err)
			}
		}
		check(l)

		// Left behind (a kill -9): replaced.
		l2, err := setupVMAC(log, "VI", "vrrp.51", parent, vmac)
		if err != nil {
			t.Errorf("setupVMAC over a leftover: %v", err)
			return
		}
		if l2.Attrs().Index == l.Attrs().Index {
			t.Error("the leftover was not replaced")
		}
		check(l2)

		// Another macvlan with the VMAC on the parent: an error, kept.
		if _, err := setupVMAC(log, "VI", "vmac51", parent, vmac); err == nil || !strings.Contains(err.Error(), "macvlan vrrp.51 on wan0 has the address 00:00:5e:00:01:33 already") {
			t.Errorf("a second VMAC on wan0: %v", err)
		}
		removeVMAC(log, "VI", l2)
		if _, err := netlink.LinkByName("vrrp.51"); err == nil {
			t.Error("removeVMAC left the interface")
		}

		// Not a VMAC: an error, and kept.
		if mkVeth(t, "vrrp.52") == nil {
			return
		}
		if _, err := setupVMAC(log, "VI", "vrrp.52", parent, vrrp.VirtualMAC(52)); err == nil || !strings.Contains(err.Error(), "is not a VMAC of this instance") {
			t.Errorf("a veth of the name: %v", err)
		}
		if _, err := netlink.LinkByName("vrrp.52"); err != nil {
			t.Errorf("the veth vrrp.52 was removed: %v", err)
		}
	})
}

// TestVMACRemade: a runner remakes a VMAC interface removed behind its
// back once, and reports it down (FAULT) when it cannot.
func TestVMACRemade(t *testing.T) {
	inNewNetns(t, func() {
		parent := mkVeth(t, "wan0")
		if parent == nil {
			return
		}
		inst := &vrrpInstance{spec: config.VRRPInstance{Name: "VI", VirtualRouterID: 51, UseVMAC: true}, link: parent}
		inst.setVMAC("vrrp.51")
		r := &vrrpRunner{log: zap.NewNop(), insts: []*vrrpInstance{inst}}
		defer r.removeVMACs()
		if err := r.setupVMACs(); err != nil {
			t.Errorf("setupVMACs: %v", err)
			return
		}
		if !r.vmacUp(inst) {
			t.Error("a new VMAC interface is not up")
		}
		netlink.LinkDel(inst.vmacLink)
		if !r.vmacUp(inst) {
			t.Error("the VMAC interface was not made again")
		}
		if _, err := netlink.LinkByName("vrrp.51"); err != nil {
			t.Errorf("after remaking: %v", err)
		}
		netlink.LinkSetDown(inst.vmacLink)
		if r.vmacUp(inst) {
			t.Error("a VMAC interface set down counts as up")
		}
	})
}
