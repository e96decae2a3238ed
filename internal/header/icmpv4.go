package header

import "encoding/binary"

const (
	icmpv4Type     = 0
	icmpv4Code     = 1
	icmpv4Checksum = 2
)

// ICMPv4MinimumSize is the size of the fixed part of an ICMPv4 message:
// type, code, checksum and the 4-byte rest of header.
const ICMPv4MinimumSize = 8

// ICMPv4 message types that xvs handles.
const (
	// ICMPv4EchoReply is the echo reply type.
	ICMPv4EchoReply = 0
	// ICMPv4DestinationUnreachable is the destination unreachable type.
	ICMPv4DestinationUnreachable = 3
	// ICMPv4EchoRequest is the echo request type.
	ICMPv4EchoRequest = 8
	// ICMPv4TimeExceeded is the time exceeded type.
	ICMPv4TimeExceeded = 11
)

// ICMPv4 is a view of an ICMPv4 message header (RFC 792). The slice must be
// at least ICMPv4MinimumSize bytes long. The checksum covers the whole ICMP
// message and no pseudo-header; see TransportChecksumValid and
// ComputeTransportChecksum with ProtocolICMP.
type ICMPv4 []byte

// Type returns the message type.
func (b ICMPv4) Type() uint8 { return b[icmpv4Type] }

// Code returns the message code.
func (b ICMPv4) Code() uint8 { return b[icmpv4Code] }

// Checksum returns the checksum field.
func (b ICMPv4) Checksum() uint16 { return binary.BigEndian.Uint16(b[icmpv4Checksum:]) }

// SetChecksum sets the checksum field.
func (b ICMPv4) SetChecksum(c uint16) { binary.BigEndian.PutUint16(b[icmpv4Checksum:], c) }
