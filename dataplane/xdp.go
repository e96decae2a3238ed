package dataplane

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
)

// Role says which side of the director an interface is on.
type Role uint32

// Interface roles, as the XDP program's ifaces map holds them.
const (
	RoleWAN Role = 1 // clients reach the VIPs here
	RoleLAN Role = 2 // the real servers are here
)

// xskLANBase is added to a LAN queue's index to form its key in the xsks
// map; it matches XSK_LAN_BASE in bpf/xvs.c.
const xskLANBase = 128

// Counter indices of the XDP program's per-CPU counters (bpf/xvs.c).
const (
	xdpCntPass = iota
	xdpCntRedirect
	xdpCntRedirectMalformed
	xdpCntRedirectVRRP
	xdpCntARPReply
	xdpCntEchoReply
	xdpCntNoSocket
	xdpCntMax
)

// ServiceKey names a virtual service (on WAN) or a real server (on LAN) for
// the XDP classifier.
type ServiceKey struct {
	Addr  [4]byte
	Port  uint16
	Proto uint8
}

// Program is the loaded XDP classifier and its links to interfaces.
// Its methods are for the control plane; none is called per frame.
type Program struct {
	objs  xvsObjects
	links []link.Link
}

// LoadProgram loads the classifier and its maps into the kernel.
func LoadProgram() (*Program, error) {
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("raising the memlock limit: %w", err)
	}
	p := &Program{}
	if err := loadXvsObjects(&p.objs, nil); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("loading XDP program: %+v", ve)
		}
		return nil, fmt.Errorf("loading XDP program: %w", err)
	}
	return p, nil
}

// Attach attaches the classifier to the interface with the given index,
// in native (driver) mode where the driver has it (veth does) and in
// generic mode otherwise, as a bpf_link: the kernel removes it when the
// link is closed or the process dies. It returns the mode it got,
// "native" or "generic", and for generic why native was refused (veth,
// for one, refuses native XDP while it has fewer receive channels than
// its peer has transmit channels).
func (p *Program) Attach(ifindex int, role Role) (mode string, nativeErr, err error) {
	if err := p.objs.Ifaces.Put(uint32(ifindex), uint32(role)); err != nil {
		return "", nil, fmt.Errorf("registering ifindex %d: %w", ifindex, err)
	}
	l, nerr := link.AttachXDP(link.XDPOptions{Program: p.objs.XvsClassify, Interface: ifindex, Flags: link.XDPDriverMode})
	mode = "native"
	if nerr != nil {
		var gerr error
		l, gerr = link.AttachXDP(link.XDPOptions{Program: p.objs.XvsClassify, Interface: ifindex, Flags: link.XDPGenericMode})
		if gerr != nil {
			return "", nerr, fmt.Errorf("attaching XDP to ifindex %d: native: %w; generic: %w", ifindex, nerr, gerr)
		}
		mode = "generic"
	}
	p.links = append(p.links, l)
	return mode, nerr, nil
}

// RegisterSocket directs frames of the queue of the role's interface to the
// AF_XDP socket fd.
func (p *Program) RegisterSocket(role Role, queue, fd int) error {
	k := uint32(queue)
	if role == RoleLAN {
		k += xskLANBase
	}
	if err := p.objs.Xsks.Put(k, uint32(fd)); err != nil {
		return fmt.Errorf("registering AF_XDP socket for queue %d: %w", queue, err)
	}
	return nil
}

// svcKey converts a key to the map's layout, address and port in network
// byte order in memory.
func svcKey(k ServiceKey) xvsSvcKey {
	var port [2]byte
	binary.BigEndian.PutUint16(port[:], k.Port)
	return xvsSvcKey{
		Addr:  binary.NativeEndian.Uint32(k.Addr[:]),
		Port:  binary.NativeEndian.Uint16(port[:]),
		Proto: k.Proto,
	}
}

// SetServices makes the maps hold exactly the given virtual services (WAN)
// and real servers (LAN), removing what is no longer there.
func (p *Program) SetServices(services, reals []ServiceKey) error {
	if err := syncKeys(p.objs.Services, services, svcKey); err != nil {
		return fmt.Errorf("updating services map: %w", err)
	}
	if err := syncKeys(p.objs.Vips, services, addrKey); err != nil {
		return fmt.Errorf("updating vips map: %w", err)
	}
	if err := syncKeys(p.objs.Reals, reals, svcKey); err != nil {
		return fmt.Errorf("updating reals map: %w", err)
	}
	if err := syncKeys(p.objs.RealAddrs, reals, addrKey); err != nil {
		return fmt.Errorf("updating real_addrs map: %w", err)
	}
	return nil
}

func addrKey(k ServiceKey) uint32 { return binary.NativeEndian.Uint32(k.Addr[:]) }

// syncKeys puts every wanted key (value 1) and deletes the others.
func syncKeys[K comparable](m *ebpf.Map, want []ServiceKey, conv func(ServiceKey) K) error {
	entries := make(map[K]uint32, len(want))
	for _, k := range want {
		entries[conv(k)] = 1
	}
	return syncMap(m, entries)
}

// syncMap makes m hold exactly the entries of want: it puts each and
// deletes every other key.
func syncMap[K comparable, V any](m *ebpf.Map, want map[K]V) error {
	for k, v := range want {
		if err := m.Put(k, v); err != nil {
			return err
		}
	}
	var stale []K
	it := m.Iterate()
	var k K
	var v V
	for it.Next(&k, &v) {
		if _, ok := want[k]; !ok {
			stale = append(stale, k)
		}
	}
	if err := it.Err(); err != nil {
		return err
	}
	for _, k := range stale {
		if err := m.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return err
		}
	}
	return nil
}

// SetLocals makes the classifier's locals map hold exactly the director's
// own addresses, so that ICMP errors about its own packets stay with the
// kernel.
func (p *Program) SetLocals(addrs [][4]byte) error {
	keys := make([]ServiceKey, len(addrs))
	for i, a := range addrs {
		keys[i] = ServiceKey{Addr: a}
	}
	if err := syncKeys(p.objs.Locals, keys, addrKey); err != nil {
		return fmt.Errorf("updating locals map: %w", err)
	}
	return nil
}

// Owned is a VIP this director answers ARP and ICMP echo for: the address,
// the interface it is owned on and that interface's MAC.
type Owned struct {
	Addr    [4]byte
	Ifindex int
	MAC     [6]byte
}

// SetOwned makes the classifier's owned map hold exactly the given VIPs:
// it answers ARP requests and ICMP echo requests for them on their
// interface, from its MAC, until they are taken out again.
func (p *Program) SetOwned(list []Owned) error {
	want := make(map[uint32]xvsOwnedAddr, len(list))
	for _, o := range list {
		want[binary.NativeEndian.Uint32(o.Addr[:])] = xvsOwnedAddr{Ifindex: uint32(o.Ifindex), Mac: o.MAC}
	}
	if err := syncMap(p.objs.Owned, want); err != nil {
		return fmt.Errorf("updating owned map: %w", err)
	}
	return nil
}

// XDPCounters are the classifier's own counts, summed over CPUs.
type XDPCounters struct {
	Passed, Redirected, RedirectedMalformed, RedirectedVRRP uint64
	// ARPReplies and EchoReplies are the answers it sent for owned VIPs.
	ARPReplies, EchoReplies uint64
	// NoSocket are frames xvs owns that arrived on a queue with no AF_XDP
	// socket (a channel the dataplane does not serve yet): dropped.
	NoSocket uint64
}

// Counters reads the classifier's counters.
func (p *Program) Counters() (XDPCounters, error) {
	var c XDPCounters
	dst := []*uint64{&c.Passed, &c.Redirected, &c.RedirectedMalformed, &c.RedirectedVRRP, &c.ARPReplies, &c.EchoReplies, &c.NoSocket}
	for i := uint32(0); i < xdpCntMax; i++ {
		var per []uint64
		if err := p.objs.Counters.Lookup(i, &per); err != nil {
			return c, fmt.Errorf("reading XDP counters: %w", err)
		}
		for _, v := range per {
			*dst[i] += v
		}
	}
	return c, nil
}

// Close detaches the classifier from every interface and frees it.
func (p *Program) Close() error {
	var errs []error
	for _, l := range p.links {
		errs = append(errs, l.Close())
	}
	p.links = nil
	errs = append(errs, p.objs.Close())
	return errors.Join(errs...)
}
