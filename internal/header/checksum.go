package header

import (
	"encoding/binary"
	"math/bits"
)

// Checksum returns the 16-bit ones' complement sum of b, treated as a
// sequence of big-endian 16-bit words, plus initial. If len(b) is odd, b is
// padded with one zero byte at the end, as RFC 1071 prescribes.
//
// The result is the folded sum, NOT its complement: a checksum field is set
// to ^Checksum(...) computed with the field zeroed, and data that includes
// a correct checksum field sums to 0xffff. The result is 0 only if b and
// initial are all zero.
//
// initial is an unfolded partial sum, for example a PseudoHeaderSum or the
// result of Checksum over a preceding even-length part of the same data, so
// that a checksum over discontiguous pieces can be computed without copying.
func Checksum(b []byte, initial uint32) uint16 {
	return fold64(sum64(b, uint64(initial)))
}

// sum64 adds b, as big-endian 16-bit words, to the ones' complement
// accumulator acc. The accumulator is kept modulo 2^64-1 (end-around carry),
// which is congruent to the 16-bit ones' complement sum since
// 2^16 ≡ 1 (mod 2^16-1).
func sum64(b []byte, acc uint64) uint64 {
	var carry uint64
	for len(b) >= 32 {
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b[0:8]), carry)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b[8:16]), carry)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b[16:24]), carry)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b[24:32]), carry)
		b = b[32:]
	}
	for len(b) >= 8 {
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b[0:8]), carry)
		b = b[8:]
	}
	if len(b) >= 4 {
		acc, carry = bits.Add64(acc, uint64(binary.BigEndian.Uint32(b[0:4])), carry)
		b = b[4:]
	}
	if len(b) >= 2 {
		acc, carry = bits.Add64(acc, uint64(binary.BigEndian.Uint16(b[0:2])), carry)
		b = b[2:]
	}
	if len(b) == 1 {
		acc, carry = bits.Add64(acc, uint64(b[0])<<8, carry)
	}
	// Fold the last carry back in. If this overflows, acc was 2^64-1 and is
	// now 0, so adding the second carry cannot overflow again.
	acc, carry = bits.Add64(acc, 0, carry)
	return acc + carry
}

// fold64 folds a 64-bit ones' complement accumulator to 16 bits. A non-zero
// accumulator folds to a non-zero result.
func fold64(s uint64) uint16 {
	s = (s >> 32) + (s & 0xffffffff)
	s = (s >> 32) + (s & 0xffffffff)
	s = (s >> 16) + (s & 0xffff)
	s = (s >> 16) + (s & 0xffff)
	return uint16(s)
}

// fold32 folds a 32-bit partial sum to 16 bits.
func fold32(s uint32) uint16 {
	s = (s >> 16) + (s & 0xffff)
	s = (s >> 16) + (s & 0xffff)
	return uint16(s)
}

// ChecksumUpdate16 returns the checksum field value that results from
// changing one 16-bit word of the covered data from old to new, given the
// current checksum field value (RFC 1624, eqn. 3: HC' = ~(~HC + ~m + m')).
//
// checksum is the value stored in the packet, not a folded sum. The result
// is congruent to a full recomputation, so a valid checksum stays valid.
// It is 0xffff only if checksum was 0xffff; since a full computation over
// data that is not all zeros (an IPv4 header, or a pseudo-header and
// segment) never yields 0xffff, updating a fully computed IPv4 or TCP
// checksum gives exactly the value a full recomputation would. UDP's
// mapping of 0 to 0xffff is applied by the UDP methods, not here.
func ChecksumUpdate16(checksum, old, new uint16) uint16 {
	s := uint32(^checksum) + uint32(^old) + uint32(new)
	return ^fold32(s)
}

// ChecksumUpdate32 is ChecksumUpdate16 for a change of a 32-bit,
// 16-bit-aligned field such as an IPv4 address, from old to new.
func ChecksumUpdate32(checksum uint16, old, new [4]byte) uint16 {
	s := uint32(^checksum) +
		uint32(^binary.BigEndian.Uint16(old[0:2])) +
		uint32(^binary.BigEndian.Uint16(old[2:4])) +
		uint32(binary.BigEndian.Uint16(new[0:2])) +
		uint32(binary.BigEndian.Uint16(new[2:4]))
	return ^fold32(s)
}

// ChecksumUpdate128 is ChecksumUpdate16 for a change of a 128-bit,
// 16-bit-aligned field such as an IPv6 address, from old to new.
func ChecksumUpdate128(checksum uint16, old, new [16]byte) uint16 {
	// A 32-bit word w = hi<<16 | lo is congruent to hi + lo modulo
	// 0xffff, and its 32-bit complement to ^hi + ^lo, so the words can be
	// added 32 bits at a time; 1 + 8 terms below 2^32 cannot overflow a
	// uint64.
	s := uint64(^checksum)
	for i := 0; i < 16; i += 4 {
		s += uint64(^binary.BigEndian.Uint32(old[i:])) + uint64(binary.BigEndian.Uint32(new[i:]))
	}
	return ^fold64(s)
}

// PseudoHeaderSum returns the unfolded ones' complement sum of the IPv4
// pseudo-header used by the TCP and UDP checksums (RFC 793, RFC 768): the
// source and destination addresses, the protocol number and the transport
// segment length (header plus payload). Pass it as the initial value of
// Checksum over the segment.
func PseudoHeaderSum(proto uint8, src, dst [4]byte, length uint16) uint32 {
	return uint32(binary.BigEndian.Uint16(src[0:2])) +
		uint32(binary.BigEndian.Uint16(src[2:4])) +
		uint32(binary.BigEndian.Uint16(dst[0:2])) +
		uint32(binary.BigEndian.Uint16(dst[2:4])) +
		uint32(proto) + uint32(length)
}

// TransportChecksumValid reports whether the checksum of the transport
// message l4 carried in ip is correct.
//
// proto is ProtocolTCP, ProtocolUDP or ProtocolICMP; for any other protocol
// it returns false. l4 must be the whole transport message, header and
// payload, exactly as delimited by the IPv4 total length (for UDP, also
// equal to the UDP length field); its length is what enters the
// pseudo-header. l4 must be at least the minimum header size of proto. A
// UDP checksum of 0 means "no checksum" and is reported as valid. Only ip's
// addresses are read. The result is meaningless for a fragment.
func TransportChecksumValid(proto uint8, ip IPv4, l4 []byte) bool {
	switch proto {
	case ProtocolTCP:
	case ProtocolUDP:
		if UDP(l4).Checksum() == 0 {
			return true
		}
	case ProtocolICMP:
		return Checksum(l4, 0) == 0xffff
	default:
		return false
	}
	ps := PseudoHeaderSum(proto, ip.SourceAddress(), ip.DestinationAddress(), uint16(len(l4)))
	return Checksum(l4, ps) == 0xffff
}

// ComputeTransportChecksum computes the checksum of the transport message
// l4 carried in ip from scratch, ignoring the value currently in its
// checksum field, and returns the value to store in that field. It does not
// modify l4. It is meant for tests and slow paths: its cost is linear in
// the message length.
//
// proto, ip and l4 are as for TransportChecksumValid. For UDP a computed
// checksum of 0 is returned as 0xffff (RFC 768). For an unknown protocol it
// returns 0.
func ComputeTransportChecksum(proto uint8, ip IPv4, l4 []byte) uint16 {
	var off int
	var initial uint32
	switch proto {
	case ProtocolTCP:
		off = tcpChecksum
		initial = PseudoHeaderSum(proto, ip.SourceAddress(), ip.DestinationAddress(), uint16(len(l4)))
	case ProtocolUDP:
		off = udpChecksum
		initial = PseudoHeaderSum(proto, ip.SourceAddress(), ip.DestinationAddress(), uint16(len(l4)))
	case ProtocolICMP:
		off = icmpv4Checksum
	default:
		return 0
	}
	// Sum around the checksum field, which sits at an even offset, instead
	// of zeroing it.
	acc := sum64(l4[:off], uint64(initial))
	acc = sum64(l4[off+2:], acc)
	c := ^fold64(acc)
	if proto == ProtocolUDP && c == 0 {
		c = 0xffff
	}
	return c
}

// PseudoHeaderSumIPv6 returns the unfolded ones' complement sum of the
// IPv6 pseudo-header used by the TCP, UDP and ICMPv6 checksums (RFC 8200
// §8.1, RFC 4443 §2.3): the source and destination addresses, the
// upper-layer packet length (header plus payload, extension headers before
// it excluded) and the upper-layer protocol number. With a Routing header
// the destination is the final one; UpperLayer refuses packets where that
// is not the address in the fixed header. Pass the result as the initial
// value of Checksum over the upper-layer message.
func PseudoHeaderSumIPv6(proto uint8, src, dst [16]byte, length uint32) uint32 {
	var s uint32
	for i := 0; i < 16; i += 2 {
		s += uint32(binary.BigEndian.Uint16(src[i:])) + uint32(binary.BigEndian.Uint16(dst[i:]))
	}
	return s + length>>16 + length&0xffff + uint32(proto)
}

// TransportChecksumValidIPv6 reports whether the checksum of the
// upper-layer message l4 carried in ip is correct. It is the IPv6 form of
// TransportChecksumValid.
//
// proto is ProtocolTCP, ProtocolUDP or ProtocolICMPv6; for any other
// protocol it returns false. l4 must be the whole upper-layer message,
// exactly as delimited by the payload length (ip[off:] for the off
// ParseIPv6 returns; for UDP, also equal to the UDP length field); its
// length is what enters the pseudo-header. l4 must be at least the minimum
// header size of proto. Unlike IPv4, IPv6 makes the UDP checksum
// mandatory (RFC 8200 §8.1): a UDP checksum of 0 is reported as invalid.
// Only ip's addresses are read.
func TransportChecksumValidIPv6(proto uint8, ip IPv6, l4 []byte) bool {
	switch proto {
	case ProtocolTCP, ProtocolICMPv6:
	case ProtocolUDP:
		if UDP(l4).Checksum() == 0 {
			return false
		}
	default:
		return false
	}
	ps := PseudoHeaderSumIPv6(proto, ip.SourceAddress(), ip.DestinationAddress(), uint32(len(l4)))
	return Checksum(l4, ps) == 0xffff
}

// ComputeTransportChecksumIPv6 computes the checksum of the upper-layer
// message l4 carried in ip from scratch, ignoring the value currently in
// its checksum field, and returns the value to store in that field. It
// does not modify l4. It is the IPv6 form of ComputeTransportChecksum, for
// tests, slow paths and messages built from scratch: its cost is linear in
// the message length.
//
// proto, ip and l4 are as for TransportChecksumValidIPv6. For UDP a
// computed checksum of 0 is returned as 0xffff. For an unknown protocol
// it returns 0.
func ComputeTransportChecksumIPv6(proto uint8, ip IPv6, l4 []byte) uint16 {
	var off int
	switch proto {
	case ProtocolTCP:
		off = tcpChecksum
	case ProtocolUDP:
		off = udpChecksum
	case ProtocolICMPv6:
		off = icmpv6Checksum
	default:
		return 0
	}
	initial := PseudoHeaderSumIPv6(proto, ip.SourceAddress(), ip.DestinationAddress(), uint32(len(l4)))
	acc := sum64(l4[:off], uint64(initial))
	acc = sum64(l4[off+2:], acc)
	c := ^fold64(acc)
	if proto == ProtocolUDP && c == 0 {
		c = 0xffff
	}
	return c
}
