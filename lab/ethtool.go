//go:build linux

package lab

import (
	"fmt"

	"github.com/xvs-project/xvs/internal/ethtool"
	"golang.org/x/sys/unix"
)

// ethtoolValueIoctl issues a SIOCETHTOOL request carrying an ethtool_value
// for interface ifName in the calling thread's network namespace (call it
// inside Do) and returns the data field the kernel left in it.
func ethtoolValueIoctl(ifName string, cmd, data uint32) (uint32, error) {
	v, err := ethtool.Value(ifName, cmd, data)
	if err != nil {
		return 0, fmt.Errorf("lab: %w", err)
	}
	return v, nil
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
