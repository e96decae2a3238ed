package header

// IPv6MaxExtensionHeaders is the most extension headers UpperLayer walks
// before it gives up with ErrTooManyExtensionHeaders. RFC 8200 §4.1's
// recommended order has at most six kinds, one of them (Destination
// Options) twice, and of those UpperLayer walks at most four (Hop-by-Hop,
// Destination Options, Routing, Destination Options); eight leaves room
// without letting a packet make the walk long.
const IPv6MaxExtensionHeaders = 8

// Extension header types that UpperLayer recognises but cannot walk
// (IANA "IPv6 Extension Header Types", RFC 7045): reporting them as
// upper-layer protocols would be a mis-parse.
const (
	protocolMobility      = 135 // RFC 6275
	protocolHIP           = 139 // RFC 7401
	protocolShim6         = 140 // RFC 5533
	protocolExperimental1 = 253 // RFC 3692
	protocolExperimental2 = 254 // RFC 3692
)

// UpperLayer walks the extension headers that follow the fixed header and
// returns the upper-layer protocol and the offset of its header in b.
//
// It reads nothing past len(b): the caller cuts b to the packet's end (as
// ParseIPv6 does, from the payload length) or, for a packet quoted in an
// ICMPv6 error, to the end of the quote. It walks at most
// IPv6MaxExtensionHeaders headers, each at least 8 bytes long, so its cost
// is bounded whatever the lengths say.
//
// Walked and skipped: Hop-by-Hop Options (only right after the fixed
// header, as RFC 8200 §4.1 requires), Destination Options, and Routing
// headers whose Segments Left is 0. The options inside them are not
// examined. Every other next header value ends the walk:
//
//   - ErrFragment: a Fragment header. Even an atomic fragment (offset 0,
//     M clear) is reported, so no fragment ever reaches a transport view.
//   - ErrESP: ESP; nothing after it is readable.
//   - ErrAH: an Authentication Header. Its length is as bounded as the
//     others', but its integrity check covers the addresses, so a packet
//     that a NAT rewrites fails authentication at the receiver: it is
//     reported rather than walked.
//   - ErrNoNextHeader: next header 59, nothing follows.
//   - ErrUnknownNextHeader: an extension header of another type (Mobility,
//     HIP, Shim6, the experimental 253 and 254), which cannot be skipped
//     safely.
//   - ErrRoutingHeader: a Routing header with Segments Left not 0. The
//     destination address is then not the final one, which the
//     pseudo-header of the upper-layer checksum uses (RFC 8200 §8.1).
//   - ErrHopByHopPosition: a Hop-by-Hop header after an extension header.
//   - ErrTooManyExtensionHeaders: more than IPv6MaxExtensionHeaders
//     headers to walk.
//   - ErrTruncated: an extension header runs past the end of b, or b is
//     shorter than the fixed header.
//   - ErrJumbogram: the payload length is 0 and a Hop-by-Hop header
//     follows, the mark of a jumbogram (RFC 2675).
//
// Any other value, whether or not this package knows the protocol, is the
// upper layer: UpperLayer returns it with a nil error and leaves it to the
// caller to accept (TCP, UDP, ICMPv6) or drop it. off may equal len(b) (an
// upper layer with no bytes); the caller checks that its header fits.
//
// On error proto and off describe the header that ended the walk: its type
// (the next header value naming it) and where it starts, or would start.
func (b IPv6) UpperLayer() (proto uint8, off int, err error) {
	if len(b) < IPv6FixedHeaderSize {
		return 0, 0, ErrTruncated
	}
	nh := b.NextHeader()
	off = IPv6FixedHeaderSize
	if nh == ProtocolIPv6HopByHop && b.PayloadLength() == 0 {
		return nh, off, ErrJumbogram
	}
	for n := 0; ; n++ {
		switch nh {
		case ProtocolIPv6HopByHop:
			if off != IPv6FixedHeaderSize {
				return nh, off, ErrHopByHopPosition
			}
		case ProtocolIPv6Routing, ProtocolIPv6DestinationOptions:
		case ProtocolIPv6Fragment:
			return nh, off, ErrFragment
		case ProtocolESP:
			return nh, off, ErrESP
		case ProtocolAH:
			return nh, off, ErrAH
		case ProtocolIPv6NoNextHeader:
			return nh, off, ErrNoNextHeader
		case protocolMobility, protocolHIP, protocolShim6, protocolExperimental1, protocolExperimental2:
			return nh, off, ErrUnknownNextHeader
		default:
			return nh, off, nil
		}
		if n == IPv6MaxExtensionHeaders {
			return nh, off, ErrTooManyExtensionHeaders
		}
		// Every extension header walked here is (Hdr Ext Len + 1) * 8
		// bytes long, at least 8, so off grows on every step.
		if len(b)-off < 8 {
			return nh, off, ErrTruncated
		}
		hl := (int(b[off+1]) + 1) * 8
		if hl > len(b)-off {
			return nh, off, ErrTruncated
		}
		if nh == ProtocolIPv6Routing && b[off+3] != 0 {
			return nh, off, ErrRoutingHeader
		}
		nh = b[off]
		off += hl
	}
}
