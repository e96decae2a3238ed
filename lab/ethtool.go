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

// SetSegmentationOffloads turns TCP segmentation offload, generic
// segmentation offload and generic receive offload of interface ifName in
// namespace ns on or off together (`ethtool -K IF tso X gso X gro X`). Off,
// a host's TCP sends and receives frames of at most the MTU, as the lab's
// bulk TCP benchmark wants: no stack merges or splits them on the way.
func SetSegmentationOffloads(ns, ifName string, on bool) error {
	var d uint32
	if on {
		d = 1
	}
	return Do(ns, func() error {
		for _, c := range []struct {
			cmd  uint32
			name string
		}{{unix.ETHTOOL_STSO, "tso"}, {unix.ETHTOOL_SGSO, "gso"}, {unix.ETHTOOL_SGRO, "gro"}} {
			if _, err := ethtoolValueIoctl(ifName, c.cmd, d); err != nil {
				return fmt.Errorf("lab: %s on %s in %s: %w", c.name, ifName, ns, err)
			}
		}
		return nil
	})
}

// SegmentationOffloads reports whether TSO, GSO and GRO of interface ifName
// in namespace ns are on.
func SegmentationOffloads(ns, ifName string) (tso, gso, gro bool, err error) {
	err = Do(ns, func() error {
		var vals [3]uint32
		for i, cmd := range []uint32{unix.ETHTOOL_GTSO, unix.ETHTOOL_GGSO, unix.ETHTOOL_GGRO} {
			v, err := ethtoolValueIoctl(ifName, cmd, 0)
			if err != nil {
				return err
			}
			vals[i] = v
		}
		tso, gso, gro = vals[0] != 0, vals[1] != 0, vals[2] != 0
		return nil
	})
	return tso, gso, gro, err
}
