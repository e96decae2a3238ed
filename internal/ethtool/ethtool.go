//go:build linux

// Package ethtool issues the few SIOCETHTOOL requests xvs needs: reading
// and setting a NIC's channels (ethtool -l / -L) and the on/off features
// that take an ethtool_value (ethtool -K). Every call acts on the network
// namespace of the calling thread.
//
// It is not a general ethtool client; nothing here is on the fast path.
package ethtool

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ifreqData is struct ifreq with the union holding a pointer (ifr_data).
type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [24 - unsafe.Sizeof(uintptr(0))]byte
}

// ioctl sends a SIOCETHTOOL request for interface name whose ethtool
// structure is at data (its first field is the command).
func ioctl(name string, cmd uint32, data unsafe.Pointer) error {
	if len(name) >= unix.IFNAMSIZ {
		return fmt.Errorf("interface name %q too long", name)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("ethtool socket: %w", err)
	}
	defer unix.Close(fd)
	var ifr ifreqData
	copy(ifr.name[:], name)
	ifr.data = data
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(unix.SIOCETHTOOL), uintptr(unsafe.Pointer(&ifr)))
	runtime.KeepAlive(&ifr)
	if errno != 0 {
		return fmt.Errorf("ethtool command %#x on %s: %w", cmd, name, errno)
	}
	return nil
}

// Channels is struct ethtool_channels: the maximum and current numbers of
// receive-only, transmit-only, other and combined channels.
type Channels struct {
	Cmd                                     uint32
	MaxRx, MaxTx, MaxOther, MaxCombined     uint32
	RxCount, TxCount, OtherCount, CombCount uint32
}

// ActiveRx is the number of channels that receive: rx-only plus combined.
func (c Channels) ActiveRx() int { return int(c.RxCount + c.CombCount) }

// ActiveTx is the number of channels that transmit: tx-only plus combined.
func (c Channels) ActiveTx() int { return int(c.TxCount + c.CombCount) }

// GetChannels reads the interface's channels (ETHTOOL_GCHANNELS, ethtool
// -l). Drivers without channels answer EOPNOTSUPP.
func GetChannels(name string) (Channels, error) {
	ch := &Channels{Cmd: unix.ETHTOOL_GCHANNELS}
	err := ioctl(name, ch.Cmd, unsafe.Pointer(ch))
	return *ch, err
}

// SetChannels sets the interface's rx-only and tx-only channel counts
// (ETHTOOL_SCHANNELS, ethtool -L IF rx N tx N), keeping the others.
func SetChannels(name string, rx, tx int) error {
	ch, err := GetChannels(name)
	if err != nil {
		return err
	}
	ch.Cmd, ch.RxCount, ch.TxCount = unix.ETHTOOL_SCHANNELS, uint32(rx), uint32(tx)
	return ioctl(name, ch.Cmd, unsafe.Pointer(&ch))
}

// value is struct ethtool_value.
type value struct {
	cmd  uint32
	data uint32
}

// Value sends an ethtool_value request (e.g. ETHTOOL_STXCSUM with 0 or 1,
// ETHTOOL_GTXCSUM) and returns the data the kernel left in it.
func Value(name string, cmd, data uint32) (uint32, error) {
	v := &value{cmd: cmd, data: data}
	err := ioctl(name, cmd, unsafe.Pointer(v))
	return v.data, err
}
