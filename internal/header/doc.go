// Package header provides zero-copy views of the Ethernet, ARP, IPv4, TCP,
// UDP and ICMPv4 headers that the xvs fast path reads and rewrites, together
// with the Internet checksum arithmetic (RFC 1071, RFC 1624) needed to keep
// the IPv4 header checksum and the TCP/UDP checksums correct while
// addresses, ports and the TTL are rewritten in place.
//
// Each header type is a named byte slice that aliases the frame it was cut
// from: reading a field decodes it from the frame and a setter writes
// straight into the frame. No function in this package allocates.
//
// The accessors do not check bounds. The contract is that the caller
// validates a frame once, before it uses a view: the slice must be at least
// the minimum size of the header (EthernetSize, ARPSize, IPv4MinimumSize,
// TCPMinimumSize, UDPSize, ICMPv4MinimumSize), and for IPv4 the header
// length must be at least IPv4MinimumSize and not exceed the slice. An
// accessor used on a slice that is too short panics with an index error,
// as any slice expression would; on validated input nothing panics.
//
// The ...WithChecksumUpdate setters and UpdateChecksumForAddress methods
// patch checksums incrementally (RFC 1624, eqn. 3) instead of recomputing
// them, so their cost does not depend on the payload length. An incremental
// update keeps a valid checksum valid and leaves an invalid one exactly as
// wrong as it was; it never validates anything. A NAT rewrite of an address
// must update both the IPv4 header checksum (IPv4 setters) and the
// transport checksum, whose pseudo-header covers the addresses
// (TCP.UpdateChecksumForAddress, UDP.UpdateChecksumForAddress).
//
// This package is not a packet parser or builder: it does not walk
// extension headers or IP options, does not reassemble fragments, knows
// nothing about IPv6 beyond its EtherType, and does not decide whether a
// packet is acceptable. It is not meant for general-purpose packet
// decoding; tests and tools that need that should use a full decoding
// library.
package header
