package control

import (
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/xvs-project/xvs/vrrp"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// The VRRP sockets: a raw IPv4 socket and a packet socket per interface,
// and the sending of adverts and gratuitous ARPs through them.

// vrrpSocket sends VRRP adverts (a raw IPv4 socket with the header
// included, bound to the interface) and gratuitous ARPs (a packet socket)
// on one interface. Adverts are received through the XDP classifier and
// the control queue, never from these sockets: the raw socket has a
// filter that takes nothing, and the packet socket listens to no protocol.
type vrrpSocket struct {
	ip, pkt int
	ifindex int
	buf     []byte
}

func openVRRPSocket(l netlink.Link) (*vrrpSocket, error) {
	s := &vrrpSocket{ip: -1, pkt: -1, ifindex: l.Attrs().Index, buf: make([]byte, 0, 2048)}
	fail := func(what string, err error) (*vrrpSocket, error) {
		s.Close()
		return nil, fmt.Errorf("VRRP socket on %s: %s: %w", l.Attrs().Name, what, err)
	}
	var err error
	if s.ip, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, vrrp.ProtocolNumber); err != nil {
		return fail("socket", err)
	}
	if err := unix.SetsockoptInt(s.ip, unix.IPPROTO_IP, unix.IP_HDRINCL, 1); err != nil {
		return fail("IP_HDRINCL", err)
	}
	if err := unix.SetsockoptString(s.ip, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, l.Attrs().Name); err != nil {
		return fail("SO_BINDTODEVICE", err)
	}
	if err := unix.SetsockoptInt(s.ip, unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, 0); err != nil {
		return fail("IP_MULTICAST_LOOP", err)
	}
	if err := unix.SetsockoptIPMreqn(s.ip, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, &unix.IPMreqn{Ifindex: int32(s.ifindex)}); err != nil {
		return fail("IP_MULTICAST_IF", err)
	}
	// Joining the group programs the NIC's multicast filter, so that
	// adverts reach the XDP classifier on hardware that filters.
	if err := unix.SetsockoptIPMreqn(s.ip, unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP,
		&unix.IPMreqn{Multiaddr: vrrp.MulticastGroup.As4(), Ifindex: int32(s.ifindex)}); err != nil {
		return fail("IP_ADD_MEMBERSHIP", err)
	}
	dropAll := []unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: 0}}
	if err := unix.SetsockoptSockFprog(s.ip, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &unix.SockFprog{Len: 1, Filter: &dropAll[0]}); err != nil {
		return fail("SO_ATTACH_FILTER", err)
	}
	if s.pkt, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0); err != nil {
		return fail("packet socket", err)
	}
	if err := unix.Bind(s.pkt, &unix.SockaddrLinklayer{Ifindex: s.ifindex}); err != nil {
		return fail("bind packet socket", err)
	}
	return s, nil
}

// sendIP sends an advert frame built by vrrp.AppendAdvertFrame: its IPv4
// datagram, without the Ethernet header and padding (the kernel sets the
// IPv4 total length from the size it is given).
func (s *vrrpSocket) sendIP(frame []byte, dst netip.Addr) error {
	ip := frame[14:]
	tl := int(ip[2])<<8 | int(ip[3])
	if tl > len(ip) {
		return fmt.Errorf("advert frame shorter than its IPv4 total length")
	}
	return unix.Sendto(s.ip, ip[:tl], 0, &unix.SockaddrInet4{Addr: dst.As4()})
}

// sendFrame sends a whole Ethernet frame.
func (s *vrrpSocket) sendFrame(frame []byte) error {
	var dst [8]byte
	copy(dst[:], frame[:6])
	return unix.Sendto(s.pkt, frame, 0, &unix.SockaddrLinklayer{Ifindex: s.ifindex, Halen: 6, Addr: dst})
}

// Close closes both sockets.
func (s *vrrpSocket) Close() {
	if s.ip >= 0 {
		unix.Close(s.ip)
	}
	if s.pkt >= 0 {
		unix.Close(s.pkt)
	}
}

// sendAdvert sends an advertisement to the group or to each unicast peer.
func (r *vrrpRunner) sendAdvert(inst *vrrpInstance, prio uint8) {
	sock := r.socks[inst.link.Attrs().Index]
	if sock == nil {
		return
	}
	adv := inst.m.Advert(prio)
	for _, dst := range inst.dst {
		inst.ipID++
		frame, err := inst.advertFrame(sock.buf[:0], &adv, dst)
		if err != nil {
			r.log.Error("building a VRRP advert", zap.String("instance", inst.spec.Name), zap.Error(err))
			return
		}
		if inst.advertsFromVMAC() {
			err = sock.sendFrame(frame) // from the VMAC (vmac.go)
		} else {
			err = sock.sendIP(frame, dst)
		}
		if err != nil {
			r.log.Warn("sending a VRRP advert", zap.String("instance", inst.spec.Name), zap.Stringer("to", dst), zap.Error(err))
			continue
		}
		r.sent.Add(1)
	}
}

// sendGARPs sends n gratuitous ARPs for each VIP of inst.
func (r *vrrpRunner) sendGARPs(inst *vrrpInstance, n int) {
	sock := r.socks[inst.link.Attrs().Index]
	if sock == nil {
		return
	}
	for _, v := range inst.spec.VirtualIPs {
		frame, err := inst.garpFrame(r.garpBuf[:0], v.Prefix.Addr())
		if err != nil {
			continue
		}
		r.garpBuf = frame
		for i := 0; i < n; i++ {
			if err := sock.sendFrame(frame); err != nil {
				r.log.Warn("sending a gratuitous ARP", zap.String("instance", inst.spec.Name), zap.Error(err))
				break
			}
		}
	}
}
