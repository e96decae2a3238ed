package header

import "errors"

// Reasons ParseIPv6, IPv6.UpperLayer, ICMPv6.InvokingPacket,
// ICMPv6.LinkLayerAddressOption, ParseNeighborSolicitation and
// AnswerNeighborSolicitation reject a packet. They return these values
// themselves, unwrapped, so that a caller counting drops by reason can
// compare with == or errors.Is and nothing is allocated per bad packet;
// Reason names them for metrics.
var (
	// ErrTruncated: the packet ends before a header it announces does: it
	// is shorter than the IPv6 fixed header or than its payload length
	// says, an extension header runs past its end, an ICMPv6 error quotes
	// less than the invoking packet's fixed header, extension headers and
	// first 8 bytes of its upper layer, or an ICMPv6 message is shorter
	// than its type's fixed part.
	ErrTruncated = errors.New("header: packet shorter than its headers say")
	// ErrVersion: the IP version field is not 6.
	ErrVersion = errors.New("header: IP version is not 6")
	// ErrJumbogram: the payload length is 0 and a Hop-by-Hop header
	// follows: a jumbogram (RFC 2675), which this package does not
	// handle.
	ErrJumbogram = errors.New("header: IPv6 jumbogram")
	// ErrHopByHopPosition: a Hop-by-Hop Options header that does not
	// follow the fixed header immediately (RFC 8200 §4.3).
	ErrHopByHopPosition = errors.New("header: IPv6 Hop-by-Hop header not first")
	// ErrRoutingHeader: a Routing header with Segments Left not 0, so
	// the destination address is not the final destination.
	ErrRoutingHeader = errors.New("header: IPv6 Routing header with segments left")
	// ErrFragment: a Fragment header; the packet is a fragment, atomic or
	// not, and this package does not reassemble.
	ErrFragment = errors.New("header: IPv6 fragment")
	// ErrESP: an Encapsulating Security Payload header.
	ErrESP = errors.New("header: IPv6 ESP")
	// ErrAH: an Authentication Header, whose integrity check covers the
	// addresses a NAT would rewrite.
	ErrAH = errors.New("header: IPv6 Authentication Header")
	// ErrNoNextHeader: next header 59; the packet carries no upper layer.
	ErrNoNextHeader = errors.New("header: IPv6 no next header")
	// ErrUnknownNextHeader: an IPv6 extension header that this package
	// does not walk (Mobility, HIP, Shim6, experimental 253 and 254).
	ErrUnknownNextHeader = errors.New("header: unknown IPv6 extension header")
	// ErrTooManyExtensionHeaders: more than IPv6MaxExtensionHeaders
	// extension headers.
	ErrTooManyExtensionHeaders = errors.New("header: too many IPv6 extension headers")
	// ErrNotICMPv6Error: ICMPv6.InvokingPacket was asked for the quote of
	// an ICMPv6 message that is not an error carrying one (types 1 to
	// 4).
	ErrNotICMPv6Error = errors.New("header: not an ICMPv6 error message")
	// ErrNotNeighborSolicitation: the frame is not an untagged Ethernet
	// frame carrying IPv6 and an ICMPv6 Neighbor Solicitation.
	ErrNotNeighborSolicitation = errors.New("header: not a neighbor solicitation")
	// ErrNeighborDiscovery: a Neighbor Discovery message that fails the
	// validity checks of RFC 4861 (§7.1.1 for solicitations): hop limit
	// not 255, code not 0, an option of length 0 or one that runs past the
	// message, a multicast target, a source link-layer address option or
	// a destination other than a solicited-node address in a solicitation
	// from the unspecified address. Extension headers before the message,
	// which no Neighbor Discovery sender uses, are refused with it too.
	ErrNeighborDiscovery = errors.New("header: invalid neighbor discovery message")
	// ErrChecksum: an ICMPv6 message whose checksum is wrong.
	ErrChecksum = errors.New("header: bad ICMPv6 checksum")
	// ErrNoRoom: the frame's capacity is too small for the reply to be
	// written in place.
	ErrNoRoom = errors.New("header: no room for the reply in the frame")
)

var reasons = [...]struct {
	err   error
	label string
}{
	{ErrTruncated, "truncated"},
	{ErrVersion, "version"},
	{ErrJumbogram, "jumbogram"},
	{ErrHopByHopPosition, "hop_by_hop_position"},
	{ErrRoutingHeader, "routing_header"},
	{ErrFragment, "fragment"},
	{ErrESP, "esp"},
	{ErrAH, "ah"},
	{ErrNoNextHeader, "no_next_header"},
	{ErrUnknownNextHeader, "unknown_next_header"},
	{ErrTooManyExtensionHeaders, "too_many_extension_headers"},
	{ErrNotICMPv6Error, "not_icmpv6_error"},
	{ErrNotNeighborSolicitation, "not_neighbor_solicitation"},
	{ErrNeighborDiscovery, "neighbor_discovery"},
	{ErrChecksum, "checksum"},
	{ErrNoRoom, "no_room"},
}

// Reason returns a short label for the sentinel err is or wraps, for use
// as a metric label: "truncated", "version", "jumbogram",
// "hop_by_hop_position", "routing_header", "fragment", "esp", "ah",
// "no_next_header", "unknown_next_header", "too_many_extension_headers",
// "not_icmpv6_error", "not_neighbor_solicitation", "neighbor_discovery",
// "checksum", "no_room". It returns "" for nil and "other" for an error
// that is none of them.
func Reason(err error) string {
	if err == nil {
		return ""
	}
	for _, r := range reasons {
		if err == r.err {
			return r.label
		}
	}
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.label
		}
	}
	return "other"
}
