package connsync

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// Message is the header of a version 1 sync message (struct
// ip_vs_sync_mesg), as it is on the wire.
type Message struct {
	// Reserved is the first byte, 0 in version 1; in version 0 it was the
	// connection count, so a version 0 receiver drops version 1 messages
	// as empty.
	Reserved uint8
	// SyncID identifies the sending director's sync daemon. A receiver
	// configured with a non-zero syncid ignores messages with another one;
	// that filter is the caller's.
	SyncID uint8
	// Size is the message's length in bytes, header included.
	Size uint16
	// NrConns is the number of entries.
	NrConns uint8
	// Version is the protocol version, Version.
	Version uint8
	// Spare is reserved, 0.
	Spare uint16
}

// ParseHeader parses and checks the header of the datagram b: its length,
// its size field against len(b), its version, and its reserved fields. It
// returns what it could read of the header even on error (nothing if b is
// shorter than HeaderLen), so a caller can see the syncid of a message it
// drops. The error wraps ErrTruncated, ErrBadSize, ErrVersion0, ErrVersion
// or ErrReserved.
func ParseHeader(b []byte) (Message, error) {
	if len(b) < HeaderLen {
		return Message{}, fmt.Errorf("%w: %d bytes, the header has %d", ErrTruncated, len(b), HeaderLen)
	}
	be := binary.BigEndian
	m := Message{
		Reserved: b[0],
		SyncID:   b[1],
		Size:     be.Uint16(b[2:]),
		NrConns:  b[4],
		Version:  b[5],
		Spare:    be.Uint16(b[6:]),
	}
	switch {
	case int(m.Size) != len(b):
		return m, fmt.Errorf("%w: size %d, datagram %d bytes", ErrBadSize, m.Size, len(b))
	case m.Version != Version && (m.Reserved != 0 || m.Version == 0):
		return m, ErrVersion0
	case m.Version != Version:
		return m, fmt.Errorf("%w: %d", ErrVersion, m.Version)
	case m.Reserved != 0 || m.Spare != 0:
		return m, fmt.Errorf("%w: reserved %#x, spare %#x", ErrReserved, m.Reserved, m.Spare)
	}
	return m, nil
}

// Decode checks the datagram b completely and, only if all of it is valid,
// calls fn (if not nil) with each of its entries in order. It returns the
// header (see ParseHeader for what it holds on error) and nil, or an error
// wrapping exactly one of the Err* decoding sentinels; it never panics.
//
// The PEData of the entries passed to fn are slices of b. Decode does not
// allocate for a valid message unless an entry has a PE name other than
// "sip".
//
// Decode accepts only what AppendMessage produces: a message that decodes
// re-encodes, with its SyncID and the same entries, to the same bytes.
func Decode(b []byte, fn func(Entry)) (Message, error) {
	m, err := ParseHeader(b)
	if err != nil {
		return m, err
	}
	if err := walk(b, int(m.NrConns), nil); err != nil {
		return m, err
	}
	if fn != nil {
		_ = walk(b, int(m.NrConns), fn) // cannot fail: it just did not
	}
	return m, nil
}

// walk parses the n entries of the message b whose header is valid, calling
// fn with each if fn is not nil.
func walk(b []byte, n int, fn func(Entry)) error {
	off := HeaderLen
	for i := range n {
		if off == len(b) {
			return fmt.Errorf("%w: nr_conns %d, message ends after %d entries", ErrCount, n, i)
		}
		if i > 0 {
			next := align4(off)
			if next > len(b) {
				return fmt.Errorf("%w: entry %d at offset %d", ErrEntryOverrun, i, next)
			}
			for _, c := range b[off:next] {
				if c != 0 {
					return fmt.Errorf("%w: non-zero padding before entry %d", ErrNonCanonical, i)
				}
			}
			off = next
		}
		var e Entry
		size, name, err := parseEntry(b[off:], &e)
		if err != nil {
			return fmt.Errorf("%w (entry %d at offset %d)", err, i, off)
		}
		if fn != nil {
			if len(name) > 0 {
				e.PEName = peName(name)
			}
			fn(e)
		}
		off += size
	}
	if off != len(b) {
		return fmt.Errorf("%w: %d bytes after the last of %d entries", ErrCount, len(b)-off, n)
	}
	return nil
}

// peName returns name as a string, without allocating for the one
// persistence engine the kernel has.
func peName(name []byte) string {
	if string(name) == "sip" {
		return "sip"
	}
	return string(name)
}

// parseEntry parses the entry at the start of b, which runs to the end of
// the message, into e (all but PEName, whose bytes it returns). It returns
// the entry's size.
func parseEntry(b []byte, e *Entry) (size int, name []byte, err error) {
	be := binary.BigEndian
	if len(b) < EntryV4Len {
		return 0, nil, fmt.Errorf("%w: %d bytes left, an entry has at least %d", ErrEntryOverrun, len(b), EntryV4Len)
	}
	verSize := be.Uint16(b[2:])
	size = int(verSize & sizeMask)
	if size > len(b) {
		return 0, nil, fmt.Errorf("%w: size %d, %d bytes left", ErrEntryOverrun, size, len(b))
	}
	if v := verSize >> verShift; v != 0 {
		return 0, nil, fmt.Errorf("%w: %d", ErrEntryVersion, v)
	}
	fixed := EntryV4Len
	switch b[0] {
	case 0:
	case typeInet6:
		fixed = EntryV6Len
	default:
		return 0, nil, fmt.Errorf("%w: %#x", ErrEntryType, b[0])
	}
	if size < fixed {
		return 0, nil, fmt.Errorf("%w: size %d, type %d needs %d", ErrEntrySize, size, b[0], fixed)
	}

	e.Protocol = b[1]
	e.Flags = be.Uint32(b[4:])
	e.State = be.Uint16(b[8:])
	e.CPort = be.Uint16(b[10:])
	e.VPort = be.Uint16(b[12:])
	e.DPort = be.Uint16(b[14:])
	e.FwMark = be.Uint32(b[16:])
	e.Timeout = be.Uint32(b[20:])
	if fixed == EntryV6Len {
		e.CAddr = netip.AddrFrom16([16]byte(b[24:40]))
		e.VAddr = netip.AddrFrom16([16]byte(b[40:56]))
		e.DAddr = netip.AddrFrom16([16]byte(b[56:72]))
	} else {
		e.CAddr = netip.AddrFrom4([4]byte(b[24:28]))
		e.VAddr = netip.AddrFrom4([4]byte(b[28:32]))
		e.DAddr = netip.AddrFrom4([4]byte(b[32:36]))
	}

	// The options, which must fill the rest of the entry exactly.
	const (
		seenSeq = 1 << iota
		seenData
		seenName
	)
	var seen uint8
	for p := fixed; p < size; {
		if size-p < 2 {
			return 0, nil, fmt.Errorf("%w: option header at %d runs past the entry's end at %d", ErrBadOption, p, size)
		}
		typ, n := b[p], int(b[p+1])
		p += 2
		if n == 0 {
			return 0, nil, fmt.Errorf("%w: type %d with length 0", ErrBadOption, typ)
		}
		if n > size-p {
			return 0, nil, fmt.Errorf("%w: type %d of %d bytes runs past the entry's end", ErrBadOption, typ, n)
		}
		data := b[p : p+n]
		p += n
		switch typ {
		case OptSeqData:
			switch {
			case seen&seenSeq != 0:
				return 0, nil, fmt.Errorf("%w: sequence data", ErrDuplicateOption)
			case seen != 0:
				return 0, nil, fmt.Errorf("%w: sequence data after pe data or name", ErrNonCanonical)
			case n != SeqOptionLen:
				return 0, nil, fmt.Errorf("%w: sequence data of %d bytes, not %d", ErrBadOption, n, SeqOptionLen)
			}
			seen |= seenSeq
			e.HasSeq = true
			e.InSeq = Seq{be.Uint32(data[0:]), be.Uint32(data[4:]), be.Uint32(data[8:])}
			e.OutSeq = Seq{be.Uint32(data[12:]), be.Uint32(data[16:]), be.Uint32(data[20:])}
		case OptPEData:
			switch {
			case seen&seenData != 0:
				return 0, nil, fmt.Errorf("%w: pe data", ErrDuplicateOption)
			case seen&seenName != 0:
				return 0, nil, fmt.Errorf("%w: pe data after pe name", ErrNonCanonical)
			}
			seen |= seenData
			e.PEData = data
		case OptPEName:
			switch {
			case seen&seenName != 0:
				return 0, nil, fmt.Errorf("%w: pe name", ErrDuplicateOption)
			case seen&seenData == 0:
				return 0, nil, fmt.Errorf("%w: pe name without pe data before it", ErrNonCanonical)
			case n > PENameMaxLen:
				return 0, nil, fmt.Errorf("%w: pe name of %d bytes, at most %d", ErrBadOption, n, PENameMaxLen)
			}
			seen |= seenName
			name = data
		case OptSeqData | OptFlagParam, OptPEData | OptFlagParam, OptPEName | OptFlagParam:
			return 0, nil, fmt.Errorf("%w: option type %#x marked optional", ErrNonCanonical, typ)
		default:
			return 0, nil, fmt.Errorf("%w: type %#x", ErrUnknownOption, typ)
		}
	}
	return size, name, nil
}
