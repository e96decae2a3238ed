// Package header provides zero-copy views of the Ethernet, ARP, IPv4,
// IPv6, TCP, UDP, ICMPv4 and ICMPv6 headers that the xvs fast path reads
// and rewrites, together with the Internet checksum arithmetic (RFC 1071,
// RFC 1624) needed to keep the IPv4 header checksum and the TCP, UDP and
// ICMPv6 checksums correct while addresses, ports and the TTL are
// rewritten in place.
//
// Each header type is a named byte slice that aliases the frame it was cut
// from: reading a field decodes it from the frame and a setter writes
// straight into the frame. No function in this package allocates.
//
// The accessors do not check bounds. The contract is that the caller
// validates a frame once, before it uses a view: the slice must be at least
// the minimum size of the header (EthernetSize, ARPSize, IPv4MinimumSize,
// IPv6FixedHeaderSize, TCPMinimumSize, UDPSize, ICMPv4MinimumSize,
// ICMPv6MinimumSize), and for IPv4 the header length must be at least
// IPv4MinimumSize and not exceed the slice. An accessor used on a slice
// that is too short panics with an index error, as any slice expression
// would; on validated input nothing panics.
//
// The validating functions are the exception: ParseIPv6, IPv6.UpperLayer
// (the extension header walk), ICMPv6.InvokingPacket,
// ICMPv6.LinkLayerAddressOption, ParseNeighborSolicitation and
// AnswerNeighborSolicitation accept a slice of any length, never read
// past it, and report what they refuse with one of the sentinel errors of
// this package, unwrapped, which Reason names for metrics. They are how a
// caller validates IPv6 before using the views.
//
// The ...WithChecksumUpdate setters and UpdateChecksumForAddress methods
// patch checksums incrementally (RFC 1624, eqn. 3) instead of recomputing
// them, so their cost does not depend on the payload length. An incremental
// update keeps a valid checksum valid and leaves an invalid one exactly as
// wrong as it was; it never validates anything. A NAT rewrite of an address
// must update both the IPv4 header checksum (IPv4 setters) and the
// transport checksum, whose pseudo-header covers the addresses
// (TCP.UpdateChecksumForAddress, UDP.UpdateChecksumForAddress). IPv6 has
// no header checksum; its address setters take the upper-layer message
// and update its checksum (TCP, UDP or ICMPv6) through the pseudo-header.
//
// This package is not a general packet parser or builder: it walks only
// the IPv6 extension headers a load balancer may skip, does not walk IPv4
// options, does not reassemble fragments, builds only the one Neighbor
// Advertisement, and leaves to the caller whether a packet is acceptable.
// Tests and tools that need general decoding should use a full decoding
// library.
package header
