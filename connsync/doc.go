// Package connsync is the wire format of the Linux IPVS connection
// synchronisation protocol, version 1: the UDP datagrams a master director's
// sync daemon multicasts (by default to 224.0.0.81:8848) so that backup
// directors learn its connections and persistence templates and can take
// over without breaking them.
//
// A datagram is one Message: an 8-byte header followed by up to 255 Entry
// records, each a connection (or a persistence template) with its addresses,
// ports, IPVS flags and state, firewall mark, timeout and optional
// parameters (TCP sequence adjustments, persistence-engine data and name).
// Entries start on 4-byte boundaries; the padding between them is counted in
// the header's size but not in the entry's own size. All multi-byte fields
// are in network byte order. The layout is the one of struct ip_vs_sync_mesg
// and union ip_vs_sync_conn in the kernel's net/netfilter/ipvs/ip_vs_sync.c.
//
// AppendMessage encodes one message, Builder packs a stream of entries into
// messages of at most MaxLen bytes the way the kernel's sender does, and
// Decode validates a received datagram completely before handing its
// entries to the caller. Every way a datagram can be rejected has its own
// exported error (ErrTruncated, ErrBadSize, ErrVersion0, ...), so a receiver
// can count drops by reason; Reason gives each a metric label. Decode
// accepts exactly what the encoder produces, so whatever decodes re-encodes
// to the same bytes.
//
// It is not for the transport (sockets, multicast groups, the per-thread
// port offsets), for timing (the kernel flushes a partly filled message
// after two seconds), for choosing which connections to send, for the
// syncid filter (the caller compares Message.SyncID with its own), or for
// interpreting what an entry means (whether its protocol and state are
// known, which flags a backup keeps): that is the job of whoever applies
// entries to a connection table. It neither encodes nor decodes the
// obsolete version 0 format; Decode recognises it and returns ErrVersion0.
// Nothing in it starts goroutines, logs, or allocates on its fast paths.
package connsync
