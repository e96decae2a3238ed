//go:build linux

package lab

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ethtoolValue is struct ethtool_value from <linux/ethtool.h>.
type ethtoolValue struct {
	cmd  uint32
	data uint32
}

// ifreqPtr is struct ifreq with the union holding a pointer (ifr_data).
type ifreqPtr struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [24 - unsafe.Sizeof(uintptr(0))]byte
}

// ethtoolValueIoctl issues a SIOCETHTOOL request carrying an ethtool_value
// for interface ifName in the calling thread's network namespace (call it
// inside Do) and returns the data field the kernel left in it.
func ethtoolValueIoctl(ifName string, cmd, data uint32) (uint32, error) {
	if len(ifName) >= unix.IFNAMSIZ {
		return 0, fmt.Errorf("lab: interface name %q too long", ifName)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("lab: ethtool socket: %w", err)
	}
	defer unix.Close(fd)
	v := &ethtoolValue{cmd: cmd, data: data}
	var ifr ifreqPtr
	copy(ifr.name[:], ifName)
	ifr.data = unsafe.Pointer(v)
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(unix.SIOCETHTOOL), uintptr(unsafe.Pointer(&ifr)))
	runtime.KeepAlive(v)
	runtime.KeepAlive(&ifr)
	if errno != 0 {
		return 0, fmt.Errorf("lab: ethtool cmd %#x on %s: %w", cmd, ifName, errno)
	}
	return v.data, nil
}

// setTxChecksum turns TX checksum offload of ifName on or off, the
// equivalent of `ethtool -K IF tx on|off`. Call it inside Do.
func setTxChecksum(ifName string, on bool) error {
	var d uint32
	if on {
		d = 1
	}
	_, err := ethtoolValueIoctl(ifName, unix.ETHTOOL_STXCSUM, d)
	return err
}

// txChecksum reports whether TX checksum offload of ifName is on. Call it
// inside Do.
func txChecksum(ifName string) (bool, error) {
	d, err := ethtoolValueIoctl(ifName, unix.ETHTOOL_GTXCSUM, 0)
	return d != 0, err
}

// SetTxChecksum turns TX checksum offload of interface ifName in namespace
// ns on or off, for hosts a test adds to the lab: frames a namespace's own
// stack sends through a veth otherwise carry only a partial checksum.
func SetTxChecksum(ns, ifName string, on bool) error {
	return Do(ns, func() error { return setTxChecksum(ifName, on) })
}
