//go:build linux

package lab

import "github.com/xvs-project/xvs/internal/ethtool"

// SetChannels sets the active receive and transmit channels of interface
// ifName in namespace ns, as `ethtool -L IF rx N tx N` does. A veth
// created with numrxqueues/numtxqueues Q takes 1..Q, also while up, which
// is how the lab plays a NIC that allocates more queues than it runs.
func SetChannels(ns, ifName string, rx, tx int) error {
	return Do(ns, func() error { return ethtool.SetChannels(ifName, rx, tx) })
}

// Channels returns the active receive and transmit channels of interface
// ifName in namespace ns, as `ethtool -l IF` shows them.
func Channels(ns, ifName string) (rx, tx int, err error) {
	err = Do(ns, func() error {
		ch, err := ethtool.GetChannels(ifName)
		rx, tx = ch.ActiveRx(), ch.ActiveTx()
		return err
	})
	return rx, tx, err
}
