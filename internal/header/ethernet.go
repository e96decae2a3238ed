package header

import "encoding/binary"

const (
	ethDst  = 0
	ethSrc  = 6
	ethType = 12
)

// EthernetSize is the size of an untagged Ethernet II header.
const EthernetSize = 14

// EtherType values used by xvs.
const (
	// EtherTypeIPv4 is the EtherType of IPv4.
	EtherTypeIPv4 = 0x0800
	// EtherTypeARP is the EtherType of ARP.
	EtherTypeARP = 0x0806
	// EtherTypeIPv6 is the EtherType of IPv6.
	EtherTypeIPv6 = 0x86DD
	// EtherTypeVLAN is the EtherType (TPID) of an IEEE 802.1Q tag.
	EtherTypeVLAN = 0x8100
)

// Ethernet is a view of an Ethernet II header. The slice must be at least
// EthernetSize bytes long.
type Ethernet []byte

// Destination returns the destination MAC address.
func (b Ethernet) Destination() [6]byte { return [6]byte(b[ethDst : ethDst+6]) }

// Source returns the source MAC address.
func (b Ethernet) Source() [6]byte { return [6]byte(b[ethSrc : ethSrc+6]) }

// SetDestination sets the destination MAC address.
func (b Ethernet) SetDestination(mac [6]byte) { copy(b[ethDst:ethDst+6], mac[:]) }

// SetSource sets the source MAC address.
func (b Ethernet) SetSource(mac [6]byte) { copy(b[ethSrc:ethSrc+6], mac[:]) }

// Type returns the EtherType. For a VLAN-tagged frame it is EtherTypeVLAN
// and the tag follows the header; this view does not look past it.
func (b Ethernet) Type() uint16 { return binary.BigEndian.Uint16(b[ethType:]) }

// SetType sets the EtherType.
func (b Ethernet) SetType(t uint16) { binary.BigEndian.PutUint16(b[ethType:], t) }
