package header

import "encoding/binary"

const (
	arpHType = 0
	arpPType = 2
	arpHLen  = 4
	arpPLen  = 5
	arpOp    = 6
	arpSHA   = 8
	arpSPA   = 14
	arpTHA   = 18
	arpTPA   = 24
)

// ARPSize is the size of an ARP message for IPv4 over Ethernet.
const ARPSize = 28

// ARP operation codes.
const (
	// ARPRequest is the ARP request operation.
	ARPRequest = 1
	// ARPReply is the ARP reply operation.
	ARPReply = 2
)

// ARP is a view of an ARP message for IPv4 over Ethernet (RFC 826). The
// slice must be at least ARPSize bytes long; the address accessors assume
// the layout that IsValid checks.
type ARP []byte

// IsValid reports whether b is long enough and describes IPv4 over
// Ethernet: hardware type 1, protocol type EtherTypeIPv4, address sizes 6
// and 4. Unlike the accessors, it may be called on a slice of any length.
func (b ARP) IsValid() bool {
	return len(b) >= ARPSize &&
		binary.BigEndian.Uint16(b[arpHType:]) == 1 &&
		binary.BigEndian.Uint16(b[arpPType:]) == EtherTypeIPv4 &&
		b[arpHLen] == 6 && b[arpPLen] == 4
}

// SetIPv4OverEthernet writes the hardware type, protocol type and address
// sizes of IPv4 over Ethernet, so that IsValid holds.
func (b ARP) SetIPv4OverEthernet() {
	binary.BigEndian.PutUint16(b[arpHType:], 1)
	binary.BigEndian.PutUint16(b[arpPType:], EtherTypeIPv4)
	b[arpHLen] = 6
	b[arpPLen] = 4
}

// Op returns the operation code, such as ARPRequest or ARPReply.
func (b ARP) Op() uint16 { return binary.BigEndian.Uint16(b[arpOp:]) }

// SetOp sets the operation code.
func (b ARP) SetOp(op uint16) { binary.BigEndian.PutUint16(b[arpOp:], op) }

// SenderHardwareAddress returns the sender's MAC address.
func (b ARP) SenderHardwareAddress() [6]byte { return [6]byte(b[arpSHA : arpSHA+6]) }

// SenderProtocolAddress returns the sender's IPv4 address.
func (b ARP) SenderProtocolAddress() [4]byte { return [4]byte(b[arpSPA : arpSPA+4]) }

// TargetHardwareAddress returns the target's MAC address.
func (b ARP) TargetHardwareAddress() [6]byte { return [6]byte(b[arpTHA : arpTHA+6]) }

// TargetProtocolAddress returns the target's IPv4 address.
func (b ARP) TargetProtocolAddress() [4]byte { return [4]byte(b[arpTPA : arpTPA+4]) }

// SetSenderHardwareAddress sets the sender's MAC address.
func (b ARP) SetSenderHardwareAddress(mac [6]byte) { copy(b[arpSHA:arpSHA+6], mac[:]) }

// SetSenderProtocolAddress sets the sender's IPv4 address.
func (b ARP) SetSenderProtocolAddress(a [4]byte) { copy(b[arpSPA:arpSPA+4], a[:]) }

// SetTargetHardwareAddress sets the target's MAC address.
func (b ARP) SetTargetHardwareAddress(mac [6]byte) { copy(b[arpTHA:arpTHA+6], mac[:]) }

// SetTargetProtocolAddress sets the target's IPv4 address.
func (b ARP) SetTargetProtocolAddress(a [4]byte) { copy(b[arpTPA:arpTPA+4], a[:]) }
