package header

import "encoding/binary"

const (
	tcpSrcPort    = 0
	tcpDstPort    = 2
	tcpSeqNum     = 4
	tcpAckNum     = 8
	tcpDataOffset = 12
	tcpFlags      = 13
	tcpChecksum   = 16
)

// TCPMinimumSize is the size of a TCP header without options.
const TCPMinimumSize = 20

// TCP flag bits, as returned by TCP.Flags.
const (
	// TCPFlagFin is the FIN flag.
	TCPFlagFin = 1 << 0
	// TCPFlagSyn is the SYN flag.
	TCPFlagSyn = 1 << 1
	// TCPFlagRst is the RST flag.
	TCPFlagRst = 1 << 2
	// TCPFlagPsh is the PSH flag.
	TCPFlagPsh = 1 << 3
	// TCPFlagAck is the ACK flag.
	TCPFlagAck = 1 << 4
	// TCPFlagUrg is the URG flag.
	TCPFlagUrg = 1 << 5
	// TCPFlagEce is the ECE flag (RFC 3168).
	TCPFlagEce = 1 << 6
	// TCPFlagCwr is the CWR flag (RFC 3168).
	TCPFlagCwr = 1 << 7
)

// TCP is a view of a TCP header (RFC 9293). The slice must be at least
// TCPMinimumSize bytes long. The checksum methods patch the checksum field
// incrementally and never read the payload.
type TCP []byte

// SourcePort returns the source port.
func (b TCP) SourcePort() uint16 { return binary.BigEndian.Uint16(b[tcpSrcPort:]) }

// DestinationPort returns the destination port.
func (b TCP) DestinationPort() uint16 { return binary.BigEndian.Uint16(b[tcpDstPort:]) }

// SequenceNumber returns the sequence number.
func (b TCP) SequenceNumber() uint32 { return binary.BigEndian.Uint32(b[tcpSeqNum:]) }

// AckNumber returns the acknowledgment number.
func (b TCP) AckNumber() uint32 { return binary.BigEndian.Uint32(b[tcpAckNum:]) }

// DataOffset returns the header length in bytes, options included.
func (b TCP) DataOffset() int { return int(b[tcpDataOffset]>>4) * 4 }

// Flags returns the flag byte (see TCPFlagFin and the other TCPFlag
// constants).
func (b TCP) Flags() uint8 { return b[tcpFlags] }

// Checksum returns the checksum field.
func (b TCP) Checksum() uint16 { return binary.BigEndian.Uint16(b[tcpChecksum:]) }

// SetChecksum sets the checksum field.
func (b TCP) SetChecksum(c uint16) { binary.BigEndian.PutUint16(b[tcpChecksum:], c) }

// SetSourcePortWithChecksumUpdate sets the source port and updates the
// checksum incrementally.
func (b TCP) SetSourcePortWithChecksumUpdate(p uint16) {
	old := b.SourcePort()
	binary.BigEndian.PutUint16(b[tcpSrcPort:], p)
	b.SetChecksum(ChecksumUpdate16(b.Checksum(), old, p))
}

// SetDestinationPortWithChecksumUpdate sets the destination port and
// updates the checksum incrementally.
func (b TCP) SetDestinationPortWithChecksumUpdate(p uint16) {
	old := b.DestinationPort()
	binary.BigEndian.PutUint16(b[tcpDstPort:], p)
	b.SetChecksum(ChecksumUpdate16(b.Checksum(), old, p))
}

// UpdateChecksumForAddress updates the checksum for a change of one
// address of the pseudo-header from old to new; call it alongside the IPv4
// setter that changes the address.
func (b TCP) UpdateChecksumForAddress(old, new [4]byte) {
	b.SetChecksum(ChecksumUpdate32(b.Checksum(), old, new))
}

// UpdateChecksumForIPv6Address updates the checksum for a change of one
// address of the IPv6 pseudo-header from old to new; IPv6's
// SetSourceAddressWithChecksumUpdate and
// SetDestinationAddressWithChecksumUpdate call it.
func (b TCP) UpdateChecksumForIPv6Address(old, new [16]byte) {
	b.SetChecksum(ChecksumUpdate128(b.Checksum(), old, new))
}
