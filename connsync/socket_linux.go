package connsync

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// openSender opens the master's socket, set up as IPVS sets up its
// (make_send_sock): UDP over IPv4, bound to the interface, multicast out of
// it with the configured TTL, without looping its messages back, and
// without the DF bit (IP_PMTUDISC_DONT), so that a message longer than the
// path's MTU is fragmented rather than lost. Messages are sent to
// group:port with WriteToUDPAddrPort; the socket is not connected, so that
// it can be opened while the interface is down.
func openSender(ifc *net.Interface, cfg *Config) (*net.UDPConn, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return nil, fmt.Errorf("connsync: sender socket: %w", err)
	}
	opts := []struct {
		name string
		set  func() error
	}{
		{"SO_BINDTODEVICE", func() error { return unix.BindToDevice(fd, ifc.Name) }},
		{"IP_MULTICAST_IF", func() error {
			return unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, &unix.IPMreqn{Ifindex: int32(ifc.Index)})
		}},
		{"IP_MULTICAST_TTL", func() error { return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_TTL, int(cfg.TTL)) }},
		{"IP_MULTICAST_LOOP", func() error { return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, 0) }},
		{"IP_MTU_DISCOVER", func() error {
			return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DONT)
		}},
	}
	for _, o := range opts {
		if err := o.set(); err != nil {
			_ = unix.Close(fd)
			return nil, fmt.Errorf("connsync: sender socket on %s: %s: %w", ifc.Name, o.name, err)
		}
	}
	return udpConn(fd, "sender")
}

// openReceiver opens the backup's socket, set up as IPVS sets up its
// (make_receive_sock): UDP over IPv4 with SO_REUSEADDR, bound to the
// interface and to group:port (so that it receives only the group's
// datagrams), a member of the group on the interface, with a generous
// receive buffer.
func openReceiver(ifc *net.Interface, cfg *Config) (*net.UDPConn, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return nil, fmt.Errorf("connsync: receiver socket: %w", err)
	}
	group := cfg.Group.As4()
	opts := []struct {
		name string
		set  func() error
	}{
		{"SO_REUSEADDR", func() error { return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1) }},
		{"SO_BINDTODEVICE", func() error { return unix.BindToDevice(fd, ifc.Name) }},
		{"SO_RCVBUF", func() error {
			// SO_RCVBUFFORCE passes net.core.rmem_max with
			// CAP_NET_ADMIN; without it, take what SO_RCVBUF gives.
			if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvBuf) == nil {
				return nil
			}
			return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvBuf)
		}},
		{"bind", func() error {
			return unix.Bind(fd, &unix.SockaddrInet4{Port: int(cfg.Port), Addr: group})
		}},
		{"IP_ADD_MEMBERSHIP", func() error {
			return unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP,
				&unix.IPMreqn{Multiaddr: group, Ifindex: int32(ifc.Index)})
		}},
	}
	for _, o := range opts {
		if err := o.set(); err != nil {
			_ = unix.Close(fd)
			return nil, fmt.Errorf("connsync: receiver socket on %s, %v:%d: %s: %w", ifc.Name, cfg.Group, cfg.Port, o.name, err)
		}
	}
	return udpConn(fd, "receiver")
}

// udpConn turns the UDP socket fd into a *net.UDPConn served by the
// runtime's poller, which closing it wakes. fd is closed either way.
func udpConn(fd int, name string) (*net.UDPConn, error) {
	f := os.NewFile(uintptr(fd), "connsync-"+name)
	c, err := net.FilePacketConn(f) // a dup of fd
	_ = f.Close()
	if err != nil {
		return nil, fmt.Errorf("connsync: %s socket: %w", name, err)
	}
	uc, ok := c.(*net.UDPConn)
	if !ok {
		_ = c.Close()
		return nil, fmt.Errorf("connsync: %s socket is a %T", name, c)
	}
	return uc, nil
}
