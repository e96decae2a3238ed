//go:build linux

package lab

import "golang.org/x/sys/unix"

// SetGRO turns generic receive offload of ifName on or off, the equivalent
// of `ethtool -K IF gro on|off`. Call it inside Do. On a veth, GRO on (or an
// XDP program attached) is what lets the interface receive frames its peer
// sends with XDP_TX or XDP_REDIRECT; the benchmark's kernel-NAT contender
// needs it on the director's wan0.
func SetGRO(ifName string, on bool) error {
	var d uint32
	if on {
		d = 1
	}
	_, err := ethtoolValueIoctl(ifName, unix.ETHTOOL_SGRO, d)
	return err
}

// GRO reports whether generic receive offload of ifName is on. Call it
// inside Do.
func GRO(ifName string) (bool, error) {
	d, err := ethtoolValueIoctl(ifName, unix.ETHTOOL_GGRO, 0)
	return d != 0, err
}
