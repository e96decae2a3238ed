package connsync

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// align4 rounds n up to a multiple of 4: where the entry after one ending at
// n starts.
func align4(n int) int { return (n + 3) &^ 3 }

// appendHeader appends a version 1 header for a message of size bytes with
// n entries.
func appendHeader(dst []byte, syncID uint8, size, n int) []byte {
	dst = append(dst, 0, syncID) // reserved, syncid
	dst = binary.BigEndian.AppendUint16(dst, uint16(size))
	return append(dst, byte(n), Version, 0, 0) // nr_conns, version, spare
}

// AppendMessage appends to dst one version 1 message with the given syncid
// holding entries, laid out as the kernel's sender lays it out, and returns
// the extended slice. It does not allocate when dst has room for the
// message. On error dst is returned unchanged; the error wraps
// ErrInvalidEntry, ErrTooManyEntries or ErrMessageTooLong.
//
// The message may be longer than a link's MTU allows; Builder splits a
// stream of entries into messages of a given length.
func AppendMessage(dst []byte, syncID uint8, entries []Entry) ([]byte, error) {
	if len(entries) > MaxEntries {
		return dst, fmt.Errorf("%w: %d, at most %d", ErrTooManyEntries, len(entries), MaxEntries)
	}
	size := HeaderLen
	for i := range entries {
		if err := entries[i].validate(i); err != nil {
			return dst, err
		}
		size = align4(size) + entries[i].WireLen()
	}
	if size > MaxMessageLen {
		return dst, fmt.Errorf("%w: %d bytes, at most %d", ErrMessageTooLong, size, MaxMessageLen)
	}
	dst = slices.Grow(dst, size)
	start := len(dst)
	dst = appendHeader(dst, syncID, size, len(entries))
	for i := range entries {
		for (len(dst)-start)%4 != 0 {
			dst = append(dst, 0)
		}
		dst = appendEntry(dst, &entries[i])
	}
	return dst, nil
}

// Builder packs entries into messages the way the kernel's sender fills its
// sync buffers: entries are appended to the current message while it stays
// within the builder's maximum length and MaxEntries entries; an entry that
// does not fit on its own into an empty message gets a message to itself.
// The caller sends each full message (Bytes), then starts the next (Reset);
// AddFlush does both. Flushing a partly filled message after a while (the
// kernel waits at most two seconds) is the caller's job.
//
// A Builder reuses one buffer and does not allocate after NewBuilder. It is
// not safe for concurrent use.
type Builder struct {
	buf    []byte
	maxLen int
	n      int
}

// NewBuilder returns a Builder for messages with the given syncid of at most
// maxLen bytes (see MaxLen and DefaultMaxLen), clamped to HeaderLen ..
// MaxMessageLen.
func NewBuilder(syncID uint8, maxLen int) *Builder {
	maxLen = min(max(maxLen, HeaderLen), MaxMessageLen)
	b := &Builder{maxLen: maxLen}
	b.buf = appendHeader(make([]byte, 0, max(maxLen, HeaderLen+MaxEntryLen)), syncID, HeaderLen, 0)
	return b
}

// SyncID returns the syncid the builder's messages carry.
func (b *Builder) SyncID() uint8 { return b.buf[1] }

// MaxLen returns the builder's maximum message length.
func (b *Builder) MaxLen() int { return b.maxLen }

// Count returns the number of entries in the message being built.
func (b *Builder) Count() int { return b.n }

// Len returns the length of the message being built, header included.
func (b *Builder) Len() int { return len(b.buf) }

// Bytes returns the message being built, or nil if it has no entry. The
// slice is the builder's buffer: it is valid until the next Add, AddFlush,
// Flush or Reset.
func (b *Builder) Bytes() []byte {
	if b.n == 0 {
		return nil
	}
	return b.buf
}

// Reset discards the message being built and starts an empty one.
func (b *Builder) Reset() {
	b.buf = b.buf[:HeaderLen]
	b.n = 0
	b.buf[4] = 0
	binary.BigEndian.PutUint16(b.buf[2:], HeaderLen)
}

// Add appends e to the message being built. It returns ErrFull, adding
// nothing, if the message already has entries and e would make it longer
// than the builder's maximum or give it more than MaxEntries entries, and an
// error wrapping ErrInvalidEntry if e cannot be encoded.
func (b *Builder) Add(e *Entry) error {
	if err := e.validate(-1); err != nil {
		return err
	}
	off := len(b.buf)
	if b.n > 0 {
		off = align4(off)
		if b.n == MaxEntries || off+e.WireLen() > b.maxLen {
			return ErrFull
		}
	}
	for len(b.buf) < off {
		b.buf = append(b.buf, 0)
	}
	b.buf = appendEntry(b.buf, e)
	b.n++
	b.buf[4] = byte(b.n)
	binary.BigEndian.PutUint16(b.buf[2:], uint16(len(b.buf)))
	return nil
}

// AddFlush adds e; if the message being built is full, it first passes the
// message to flush and starts a new one. If flush fails, its error is
// returned with the message kept and e not added, so the caller can retry.
func (b *Builder) AddFlush(e *Entry, flush func(msg []byte) error) error {
	err := b.Add(e)
	if !errors.Is(err, ErrFull) {
		return err
	}
	if err := flush(b.buf); err != nil {
		return err
	}
	b.Reset()
	return b.Add(e)
}

// Flush passes the message being built to flush, if it has entries, and
// starts a new one. If flush fails, the message is kept.
func (b *Builder) Flush(flush func(msg []byte) error) error {
	if b.n == 0 {
		return nil
	}
	if err := flush(b.buf); err != nil {
		return err
	}
	b.Reset()
	return nil
}
