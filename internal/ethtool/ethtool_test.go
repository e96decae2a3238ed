//go:build linux

package ethtool

import (
	"errors"
	"os"
	"runtime"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// inNewNetns runs fn on a thread moved into a new network namespace; the
// thread is never unlocked, so it ends with the goroutine and the namespace
// with it, also when fn fails.
func inNewNetns(t *testing.T, fn func() error) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates a network namespace and a veth")
	}
	done := make(chan error)
	go func() {
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			done <- err
			return
		}
		done <- fn()
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestChannelsOnVeth: a veth made with 2 queues each way reports 2 active
// of 2, takes 1 and 2 again as ethtool -L would, and refuses 3.
func TestChannelsOnVeth(t *testing.T) {
	inNewNetns(t, func() error {
		la := netlink.NewLinkAttrs()
		la.Name, la.NumRxQueues, la.NumTxQueues = "t0", 2, 2
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: "t1", PeerNumRxQueues: 2, PeerNumTxQueues: 2}); err != nil {
			return err
		}
		ch, err := GetChannels("t0")
		if err != nil {
			return err
		}
		if ch.MaxRx != 2 || ch.ActiveRx() != 2 || ch.ActiveTx() != 2 {
			t.Errorf("new veth: %+v, want 2 of 2 each way", ch)
		}
		if err := SetChannels("t0", 1, 1); err != nil {
			return err
		}
		if ch, err = GetChannels("t0"); err != nil || ch.ActiveRx() != 1 || ch.ActiveTx() != 1 {
			t.Errorf("after rx 1 tx 1: %+v, %v", ch, err)
		}
		if err := SetChannels("t0", 3, 3); !errors.Is(err, unix.EINVAL) {
			t.Errorf("rx 3 on a veth of 2 queues: %v, want EINVAL", err)
		}
		if _, err := GetChannels("no-such-if"); !errors.Is(err, unix.ENODEV) {
			t.Errorf("unknown interface: %v, want ENODEV", err)
		}
		return nil
	})
}

// TestValueTxChecksum turns TX checksum offload off and on through
// ethtool_value requests.
func TestValueTxChecksum(t *testing.T) {
	inNewNetns(t, func() error {
		la := netlink.NewLinkAttrs()
		la.Name = "t0"
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: "t1"}); err != nil {
			return err
		}
		for _, want := range []uint32{0, 1} {
			if _, err := Value("t0", unix.ETHTOOL_STXCSUM, want); err != nil {
				return err
			}
			got, err := Value("t0", unix.ETHTOOL_GTXCSUM, 0)
			if err != nil {
				return err
			}
			if got != want {
				t.Errorf("tx checksum %d after setting %d", got, want)
			}
		}
		return nil
	})
}
