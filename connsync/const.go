package connsync

import "net/netip"

// Version is the protocol version a version 1 message carries in its header
// (SYNC_PROTO_VER).
const Version = 1

// Sizes of the parts of the wire format, in bytes.
const (
	// HeaderLen is the length of the message header (struct ip_vs_sync_mesg).
	HeaderLen = 8
	// EntryV4Len is the length of an IPv4 entry without options
	// (struct ip_vs_sync_v4).
	EntryV4Len = 36
	// EntryV6Len is the length of an IPv6 entry without options
	// (struct ip_vs_sync_v6).
	EntryV6Len = 72
	// SeqOptionLen is the length of the data of an OptSeqData option
	// (struct ip_vs_sync_conn_options: the input and output struct ip_vs_seq).
	SeqOptionLen = 24
	// PEDataMaxLen is the longest persistence-engine data an entry can carry
	// (IP_VS_PEDATA_MAXLEN).
	PEDataMaxLen = 255
	// PENameMaxLen is the longest persistence-engine name an entry can carry
	// (IP_VS_PENAME_MAXLEN).
	PENameMaxLen = 16
	// MaxEntries is the most entries one message can hold: nr_conns is one
	// byte.
	MaxEntries = 255
	// MaxMessageLen is the longest message: its size field is 16 bits.
	MaxMessageLen = 65535
	// MaxEntryLen is the longest entry: IPv6 with all three options at their
	// longest. It is far below the 4095 bytes the entry's size field allows.
	MaxEntryLen = EntryV6Len + 2 + SeqOptionLen + 2 + PEDataMaxLen + 2 + PENameMaxLen
)

// The entry type byte and its version/size word.
const (
	typeInet6 = 1      // STYPE_F_INET6: the entry's addresses are IPv6
	verShift  = 12     // SVER_SHIFT: the version is the top 4 bits
	sizeMask  = 0x0fff // SVER_MASK: the size is the low 12 bits
)

// Option types: the first byte of each optional parameter that follows an
// entry's fixed part. The second byte is the length of the data that
// follows, which is never 0.
const (
	// OptSeqData (IPVS_OPT_SEQ_DATA) carries the TCP sequence number
	// adjustments of a NAT connection whose payload an application helper
	// resized (FTP): Entry.InSeq and Entry.OutSeq. The kernel sends it when
	// the connection's flags have FlagInSeq or FlagOutSeq.
	OptSeqData = 1
	// OptPEData (IPVS_OPT_PE_DATA) carries the persistence engine's data,
	// such as the SIP Call-ID the "sip" engine keys its templates on.
	OptPEData = 2
	// OptPEName (IPVS_OPT_PE_NAME) carries the persistence engine's name;
	// the kernel sends it only after OptPEData.
	OptPEName = 3
	// OptFlagParam (IPVS_OPT_F_PARAM) marks an option type as optional: a
	// kernel receiver skips an unknown option with this bit and drops the
	// entry for an unknown option without it. Decode rejects both with
	// ErrUnknownOption.
	OptFlagParam = 0x40
)

// IPVS connection flags (IP_VS_CONN_F_* in include/uapi/linux/ip_vs.h), the
// values of Entry.Flags. The kernel's version 1 sender puts the connection's
// flags on the wire without FlagHashed; its receiver keeps those in
// FlagBackupMask and adds FlagSync.
const (
	// FlagFwdMask (IP_VS_CONN_F_FWD_MASK) selects the forwarding method bits.
	FlagFwdMask uint32 = 0x0007
	// FlagMasq (IP_VS_CONN_F_MASQ) is the forwarding method NAT
	// (masquerading): no bit set under FlagFwdMask.
	FlagMasq uint32 = 0x0000
	// FlagLocalNode (IP_VS_CONN_F_LOCALNODE) is the forwarding method "the
	// real server is this director".
	FlagLocalNode uint32 = 0x0001
	// FlagTunnel (IP_VS_CONN_F_TUNNEL) is the forwarding method tunnelling
	// (IPIP, GUE or GRE).
	FlagTunnel uint32 = 0x0002
	// FlagDRoute (IP_VS_CONN_F_DROUTE) is the forwarding method direct
	// routing.
	FlagDRoute uint32 = 0x0003
	// FlagBypass (IP_VS_CONN_F_BYPASS) is the forwarding method cache bypass.
	FlagBypass uint32 = 0x0004
	// FlagSync (IP_VS_CONN_F_SYNC) marks a connection created from a sync
	// message; a backup sets it on what it receives.
	FlagSync uint32 = 0x0020
	// FlagHashed (IP_VS_CONN_F_HASHED) marks a connection in the kernel's
	// hash table; it is local state and the sender clears it.
	FlagHashed uint32 = 0x0040
	// FlagNoOutput (IP_VS_CONN_F_NOOUTPUT) marks a connection of which the
	// director has seen no packet in the output direction (from the real
	// server); its TCP state then follows the input-only transitions.
	FlagNoOutput uint32 = 0x0080
	// FlagInactive (IP_VS_CONN_F_INACTIVE) marks a connection that is not
	// (or no longer) established; it decides whether the real server counts
	// it as active or inactive.
	FlagInactive uint32 = 0x0100
	// FlagOutSeq (IP_VS_CONN_F_OUT_SEQ) says the output sequence numbers
	// must be adjusted (Entry.OutSeq).
	FlagOutSeq uint32 = 0x0200
	// FlagInSeq (IP_VS_CONN_F_IN_SEQ) says the input sequence numbers must
	// be adjusted (Entry.InSeq).
	FlagInSeq uint32 = 0x0400
	// FlagSeqMask (IP_VS_CONN_F_SEQ_MASK) is FlagInSeq|FlagOutSeq.
	FlagSeqMask uint32 = 0x0600
	// FlagNoCPort (IP_VS_CONN_F_NO_CPORT) marks a connection whose client
	// port is not known yet (the FTP data connection a helper expects).
	FlagNoCPort uint32 = 0x0800
	// FlagTemplate (IP_VS_CONN_F_TEMPLATE) marks a persistence template, not
	// a connection: it binds a client (address or network, Entry.CPort 0)
	// to a real server for the service's persistence timeout, which is its
	// Entry.Timeout. Its Entry.State is a TemplateState*.
	FlagTemplate uint32 = 0x1000
	// FlagOnePacket (IP_VS_CONN_F_ONE_PACKET) marks a one-packet-scheduling
	// (UDP) connection; the kernel never syncs those.
	FlagOnePacket uint32 = 0x2000
	// FlagBackupMask (IP_VS_CONN_F_BACKUP_MASK) is the flags a kernel
	// backup takes from a received entry.
	FlagBackupMask = FlagFwdMask | FlagNoOutput | FlagInactive | FlagSeqMask | FlagNoCPort | FlagTemplate
	// FlagBackupUpdMask (IP_VS_CONN_F_BACKUP_UPD_MASK) is the flags a
	// kernel backup updates on a connection it already has.
	FlagBackupUpdMask = FlagInactive | FlagSeqMask
	// FlagNFCT (IP_VS_CONN_F_NFCT) asks for netfilter connection tracking;
	// it is local to the director but the version 1 sender does not clear
	// it.
	FlagNFCT uint32 = 1 << 16
)

// IPVS TCP connection states (enum IP_VS_TCP_S_* in include/net/ip_vs.h),
// the values of Entry.State for a TCP connection. The kernel syncs a TCP
// connection when it reaches ESTABLISHED, FIN_WAIT, CLOSE, CLOSE_WAIT or
// TIME_WAIT.
const (
	// TCPStateNone (IP_VS_TCP_S_NONE): no packet has moved the connection
	// out of its initial state.
	TCPStateNone uint16 = 0
	// TCPStateEstablished (IP_VS_TCP_S_ESTABLISHED): the connection is
	// established.
	TCPStateEstablished uint16 = 1
	// TCPStateSynSent (IP_VS_TCP_S_SYN_SENT): a SYN was seen from the real
	// server's side.
	TCPStateSynSent uint16 = 2
	// TCPStateSynRecv (IP_VS_TCP_S_SYN_RECV): the client's SYN was
	// forwarded, the handshake is not complete.
	TCPStateSynRecv uint16 = 3
	// TCPStateFinWait (IP_VS_TCP_S_FIN_WAIT): a FIN was seen.
	TCPStateFinWait uint16 = 4
	// TCPStateTimeWait (IP_VS_TCP_S_TIME_WAIT): both sides have closed.
	TCPStateTimeWait uint16 = 5
	// TCPStateClose (IP_VS_TCP_S_CLOSE): the connection was reset or closed.
	TCPStateClose uint16 = 6
	// TCPStateCloseWait (IP_VS_TCP_S_CLOSE_WAIT): one side has closed, the
	// other not yet.
	TCPStateCloseWait uint16 = 7
	// TCPStateLastAck (IP_VS_TCP_S_LAST_ACK): waiting for the last ACK.
	TCPStateLastAck uint16 = 8
	// TCPStateListen (IP_VS_TCP_S_LISTEN): the LISTEN state of IPVS's TCP
	// state table.
	TCPStateListen uint16 = 9
	// TCPStateSynAck (IP_VS_TCP_S_SYNACK): the real server's SYN-ACK was
	// seen.
	TCPStateSynAck uint16 = 10
	// TCPStateLast (IP_VS_TCP_S_LAST) is the number of TCP states; a kernel
	// backup drops a TCP entry whose state is not below it.
	TCPStateLast uint16 = 11
)

// Other states carried in Entry.State.
const (
	// UDPStateNormal (IP_VS_UDP_S_NORMAL) is the one state of a UDP
	// connection.
	UDPStateNormal uint16 = 0
	// TemplateStateNone (IP_VS_CTPL_S_NONE) is a persistence template not
	// yet confirmed by traffic.
	TemplateStateNone uint16 = 0
	// TemplateStateAssured (IP_VS_CTPL_S_ASSURED) is a persistence template
	// a connection has confirmed.
	TemplateStateAssured uint16 = 1
)

// IP protocol numbers of the connections IPVS syncs (Entry.Protocol).
const (
	ProtoTCP  uint8 = 6   // IPPROTO_TCP
	ProtoUDP  uint8 = 17  // IPPROTO_UDP
	ProtoSCTP uint8 = 132 // IPPROTO_SCTP
)

// DefaultPort is the UDP port of the sync daemon's first thread
// (IP_VS_SYNC_PORT); thread n sends to and listens on DefaultPort+n.
const DefaultPort = 8848

// DefaultGroup returns the IPv4 multicast group sync messages go to when no
// other is configured (IP_VS_SYNC_GROUP, 224.0.0.81).
func DefaultGroup() netip.Addr { return netip.AddrFrom4([4]byte{224, 0, 0, 81}) }

// Lengths of the network and UDP headers the kernel subtracts from the MTU.
const (
	ipv4UDPHeaderLen = 20 + 8
	ipv6UDPHeaderLen = 40 + 8
)

// DefaultMaxLen is the longest message a kernel master sends unless
// sync_maxlen is configured: MaxLen(1500). Since the kernel grew the
// sync_maxlen parameter (IPVS_DAEMON_ATTR_SYNC_MAXLEN), a master no longer
// looks at its interface's MTU for this default.
const DefaultMaxLen = 1500 - ipv4UDPHeaderLen

// MaxLen returns the longest message that fits an IPv4 datagram on a link
// with the given MTU without fragmentation: the MTU less the IPv4 and UDP
// headers, as the kernel computes sync_maxlen. The MTU is clamped to 68 ..
// 65535.
//
// A kernel master uses MaxLen(1500) whatever its interface (DefaultMaxLen);
// a kernel backup reads into a buffer of MaxLen(max(mtu, 1500)) bytes for
// its interface's MTU and drops a longer message, so a sender that wants
// every backup to accept its messages stays at or below DefaultMaxLen unless
// all backups have larger MTUs.
func MaxLen(mtu int) int {
	return min(max(mtu, 68), MaxMessageLen) - ipv4UDPHeaderLen
}

// MaxLenIPv6 is MaxLen for sync messages sent over IPv6 multicast: the MTU,
// clamped to 1280 .. 65535, less the IPv6 and UDP headers.
func MaxLenIPv6(mtu int) int {
	return min(max(mtu, 1280), MaxMessageLen) - ipv6UDPHeaderLen
}
