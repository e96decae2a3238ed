package connsync

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/xvs-project/xvs/nat"
)

// Reasons RecordFromEntry refuses an entry that Decode accepted: nat has no
// service such an entry could be for.
var (
	// ErrIPv6Entry: the entry's addresses are IPv6 (IPv4-mapped ones
	// included); nat's connections are IPv4 only.
	ErrIPv6Entry = errors.New("connsync: ipv6 entry")
	// ErrFwMarkEntry: the entry is of a firewall-mark service (FwMark not
	// 0); nat has no such services.
	ErrFwMarkEntry = errors.New("connsync: firewall-mark entry")
)

// EntryFromRecord fills e with the wire entry of the sync record r, field
// for field as nat.SyncRecord documents: Protocol, Flags, State, the ports
// (DPort is RPort), the IPv4 addresses (DAddr is Real) and Timeout; FwMark
// 0 and no options. Persist and PersistBits are not on the wire. It does
// not allocate.
func EntryFromRecord(r *nat.SyncRecord, e *Entry) {
	*e = Entry{
		Protocol: r.Proto,
		Flags:    r.Flags,
		State:    r.State,
		CPort:    r.CPort,
		VPort:    r.VPort,
		DPort:    r.RPort,
		Timeout:  r.Timeout,
		CAddr:    netip.AddrFrom4(r.Client),
		VAddr:    netip.AddrFrom4(r.VIP),
		DAddr:    netip.AddrFrom4(r.Real),
	}
}

// RecordFromEntry returns the sync record of a received entry, the inverse
// of EntryFromRecord, with Persist and PersistBits 0. It refuses an IPv6
// entry (ErrIPv6Entry), a firewall-mark entry (ErrFwMarkEntry), and an
// entry whose addresses are missing or of mixed families (an error wrapping
// ErrInvalidEntry; Decode never produces one). The entry's options are
// ignored: nat neither adjusts TCP sequence numbers nor has persistence
// engines. Whether the protocol, state and flags make sense is for
// nat.Table.InstallSynced to judge. It does not allocate unless it returns
// ErrInvalidEntry.
func RecordFromEntry(e *Entry) (nat.SyncRecord, error) {
	if e.IsIPv6() {
		return nat.SyncRecord{}, ErrIPv6Entry
	}
	if !e.CAddr.Is4() || !e.VAddr.Is4() || !e.DAddr.Is4() {
		return nat.SyncRecord{}, fmt.Errorf("%w: addresses %v, %v, %v", ErrInvalidEntry, e.CAddr, e.VAddr, e.DAddr)
	}
	if e.FwMark != 0 {
		return nat.SyncRecord{}, ErrFwMarkEntry
	}
	return nat.SyncRecord{
		Client:  e.CAddr.As4(),
		VIP:     e.VAddr.As4(),
		Real:    e.DAddr.As4(),
		CPort:   e.CPort,
		VPort:   e.VPort,
		RPort:   e.DPort,
		Proto:   e.Protocol,
		State:   e.State,
		Flags:   e.Flags,
		Timeout: e.Timeout,
	}, nil
}
