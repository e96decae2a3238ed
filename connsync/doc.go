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
// The Daemon is the transport, IPVS's sync daemon: as master it drains the
// records the dataplane's workers queued (a Source), converts them
// (EntryFromRecord), packs them into messages with a Builder and multicasts
// them on one interface, sending a partly filled message once its oldest
// record is Config.Flush old (DefaultFlush, 250 ms; the kernel waits two
// seconds); as backup it receives the messages on that interface, drops
// those of a foreign syncid, decodes them and installs their entries
// (RecordFromEntry) in a Sink (nat.Engine), counting every drop by reason
// (DropReasons). It owns its socket and the one goroutine of its role;
// SetRole switches roles, as VRRP decides.
//
// The wire format (AppendMessage, Builder, Decode, ParseHeader, the
// conversions) starts no goroutine, logs nothing and allocates nothing on
// its fast paths; the Daemon's per-record paths allocate nothing either.
// The package is not for choosing which connections to send (nat's
// SyncPolicy), for interpreting what an entry means (whether its protocol
// and state are known, which flags a backup keeps: nat's InstallSynced),
// for IPv6 multicast, or for the kernel's several sync threads (one Daemon
// is one thread, on one port). It neither encodes nor decodes the obsolete
// version 0 format; Decode recognises it and returns ErrVersion0.
package connsync
