package connsync

import "errors"

// Reasons Decode and ParseHeader reject a datagram. Every error they return
// wraps exactly one of these (test with errors.Is), so a receiver can count
// the datagrams it drops by reason; Reason names them for metrics.
var (
	// ErrTruncated: the datagram is shorter than the 8-byte header.
	ErrTruncated = errors.New("connsync: message shorter than its header")
	// ErrBadSize: the header's size field differs from the datagram's
	// length (a receive buffer too small for the sender's messages shows as
	// this).
	ErrBadSize = errors.New("connsync: size field does not match the datagram length")
	// ErrVersion0: the datagram is a version 0 message, which this package
	// does not decode: its version byte is not 1 and its first byte (the
	// version 0 connection count) is not zero, or its version byte is 0.
	ErrVersion0 = errors.New("connsync: version 0 message")
	// ErrVersion: the header's version is neither 1 nor recognisably 0.
	ErrVersion = errors.New("connsync: unknown protocol version")
	// ErrReserved: a version 1 header whose reserved byte or spare field is
	// not zero.
	ErrReserved = errors.New("connsync: reserved header field not zero")
	// ErrCount: the header's nr_conns differs from the number of entries:
	// the message ends before the last one, or bytes follow it.
	ErrCount = errors.New("connsync: nr_conns does not match the entries")
	// ErrEntryOverrun: an entry's fixed part or its size field runs past the
	// end of the message.
	ErrEntryOverrun = errors.New("connsync: entry runs past the end of the message")
	// ErrEntryVersion: the version in an entry's version/size word is not 0.
	ErrEntryVersion = errors.New("connsync: unknown entry version")
	// ErrEntryType: an entry's type byte is neither 0 (IPv4) nor 1 (IPv6).
	ErrEntryType = errors.New("connsync: unknown entry type")
	// ErrEntrySize: an entry's size is smaller than the fixed part of its
	// type (36 bytes for IPv4, 72 for IPv6).
	ErrEntrySize = errors.New("connsync: entry size too small for its type")
	// ErrBadOption: an option is malformed: its header or data runs past the
	// entry, its length is 0, or its length is wrong for its type.
	ErrBadOption = errors.New("connsync: malformed option")
	// ErrUnknownOption: an option of a type this package does not know,
	// whether or not it has OptFlagParam.
	ErrUnknownOption = errors.New("connsync: unknown option")
	// ErrDuplicateOption: an option type appears twice in one entry.
	ErrDuplicateOption = errors.New("connsync: duplicate option")
	// ErrNonCanonical: something a kernel receiver would accept but a kernel
	// sender never produces, and that would not re-encode to the same
	// bytes: non-zero padding between entries, options out of the order
	// sequence data, PE data, PE name, a PE name without PE data, or a known
	// option type with OptFlagParam.
	ErrNonCanonical = errors.New("connsync: entry not in canonical form")
)

// Errors of the encoder.
var (
	// ErrInvalidEntry: an entry cannot be encoded: an address is missing or
	// has a zone, its addresses are not all IPv4 or all IPv6, its PE data or
	// name is too long, or it has a PE name without PE data.
	ErrInvalidEntry = errors.New("connsync: invalid entry")
	// ErrTooManyEntries: more than MaxEntries entries for one message.
	ErrTooManyEntries = errors.New("connsync: too many entries for one message")
	// ErrMessageTooLong: the entries would make a message longer than
	// MaxMessageLen.
	ErrMessageTooLong = errors.New("connsync: message too long")
	// ErrFull: Builder.Add found no room for the entry in the message being
	// built; send Bytes, Reset, and add it again (or use AddFlush).
	ErrFull = errors.New("connsync: message full")
)

var reasons = [...]struct {
	err   error
	label string
}{
	{ErrTruncated, "truncated"},
	{ErrBadSize, "bad_size"},
	{ErrVersion0, "version0"},
	{ErrVersion, "version"},
	{ErrReserved, "reserved"},
	{ErrCount, "count"},
	{ErrEntryOverrun, "entry_overrun"},
	{ErrEntryVersion, "entry_version"},
	{ErrEntryType, "entry_type"},
	{ErrEntrySize, "entry_size"},
	{ErrBadOption, "bad_option"},
	{ErrUnknownOption, "unknown_option"},
	{ErrDuplicateOption, "duplicate_option"},
	{ErrNonCanonical, "non_canonical"},
	{ErrInvalidEntry, "invalid_entry"},
	{ErrTooManyEntries, "too_many_entries"},
	{ErrMessageTooLong, "message_too_long"},
	{ErrFull, "full"},
	{ErrIPv6Entry, "ipv6"},
	{ErrFwMarkEntry, "fwmark"},
}

// Reason returns a short label for the sentinel err wraps, for use as a
// metric label: "truncated", "bad_size", "version0", "version", "reserved",
// "count", "entry_overrun", "entry_version", "entry_type", "entry_size",
// "bad_option", "unknown_option", "duplicate_option", "non_canonical", and
// for the encoder's errors "invalid_entry", "too_many_entries",
// "message_too_long", "full", and for RecordFromEntry's "ipv6" and
// "fwmark". It returns "" for nil and "other" for an error that wraps none
// of them.
func Reason(err error) string {
	if err == nil {
		return ""
	}
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.label
		}
	}
	return "other"
}
