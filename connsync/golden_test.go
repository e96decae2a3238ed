package connsync

import (
	"bytes"
	"net/netip"
	"reflect"
	"testing"
)

// The golden messages below are laid out by hand, field by field, after
// struct ip_vs_sync_mesg, struct ip_vs_sync_v4 / ip_vs_sync_v6 and the
// option format in net/netfilter/ipvs/ip_vs_sync.c. Every multi-byte field
// is big-endian. Addresses are from 198.18.0.0/15 and 2001:2::/48.

// goldenNAT is one IPv4 TCP connection, ESTABLISHED, forwarded by NAT.
var goldenNAT = []byte{
	// struct ip_vs_sync_mesg
	0x00,       // reserved: 0 in version 1
	0x05,       // syncid 5
	0x00, 0x2c, // size: 8 + 36 = 44
	0x01,       // nr_conns 1
	0x01,       // version 1 (SYNC_PROTO_VER)
	0x00, 0x00, // spare
	// struct ip_vs_sync_v4, at offset 8
	0x00,       // type: IPv4 (no STYPE_F_INET6)
	0x06,       // protocol: IPPROTO_TCP
	0x00, 0x24, // ver_size: version 0 (top 4 bits), size 36
	0x00, 0x00, 0x00, 0x00, // flags: IP_VS_CONN_F_MASQ (0)
	0x00, 0x01, // state: IP_VS_TCP_S_ESTABLISHED
	0xc3, 0x50, // cport 50000
	0x00, 0x50, // vport 80
	0x1f, 0x90, // dport 8080
	0x00, 0x00, 0x00, 0x00, // fwmark 0
	0x00, 0x00, 0x03, 0x84, // timeout 900 s
	198, 18, 0, 10, // caddr 198.18.0.10
	198, 18, 1, 1, // vaddr 198.18.1.1
	198, 19, 0, 20, // daddr 198.19.0.20
}

var goldenNATEntries = []Entry{{
	Protocol: ProtoTCP,
	Flags:    FlagMasq,
	State:    TCPStateEstablished,
	CPort:    50000, VPort: 80, DPort: 8080,
	Timeout: 900,
	CAddr:   netip.MustParseAddr("198.18.0.10"),
	VAddr:   netip.MustParseAddr("198.18.1.1"),
	DAddr:   netip.MustParseAddr("198.19.0.20"),
}}

// goldenTemplate is an IPv4 persistence template of a direct-routing HTTPS
// service with persistence_granularity 255.255.255.0: the client address
// is the client's network, the client port 0.
var goldenTemplate = []byte{
	// struct ip_vs_sync_mesg
	0x00,       // reserved
	0x07,       // syncid 7
	0x00, 0x2c, // size 44
	0x01,       // nr_conns 1
	0x01,       // version 1
	0x00, 0x00, // spare
	// struct ip_vs_sync_v4
	0x00,       // type: IPv4
	0x06,       // protocol: the service's, TCP
	0x00, 0x24, // ver_size: version 0, size 36
	0x00, 0x00, 0x10, 0x03, // flags: IP_VS_CONN_F_TEMPLATE | IP_VS_CONN_F_DROUTE
	0x00, 0x01, // state: IP_VS_CTPL_S_ASSURED
	0x00, 0x00, // cport 0: any client port
	0x01, 0xbb, // vport 443
	0x01, 0xbb, // dport 443
	0x00, 0x00, 0x00, 0x00, // fwmark 0
	0x00, 0x00, 0x01, 0x2c, // timeout 300 s: persistence_timeout
	198, 18, 0, 0, // caddr 198.18.0.0: client network
	198, 18, 1, 1, // vaddr 198.18.1.1
	198, 19, 0, 21, // daddr 198.19.0.21
}

var goldenTemplateEntries = []Entry{{
	Protocol: ProtoTCP,
	Flags:    FlagTemplate | FlagDRoute,
	State:    TemplateStateAssured,
	CPort:    0, VPort: 443, DPort: 443,
	Timeout: 300,
	CAddr:   netip.MustParseAddr("198.18.0.0"),
	VAddr:   netip.MustParseAddr("198.18.1.1"),
	DAddr:   netip.MustParseAddr("198.19.0.21"),
}}

// goldenIPv6 is one IPv6 UDP connection forwarded by tunnelling.
var goldenIPv6 = []byte{
	// struct ip_vs_sync_mesg
	0x00,       // reserved
	0x05,       // syncid 5
	0x00, 0x50, // size: 8 + 72 = 80
	0x01,       // nr_conns 1
	0x01,       // version 1
	0x00, 0x00, // spare
	// struct ip_vs_sync_v6
	0x01,       // type: STYPE_F_INET6
	0x11,       // protocol: IPPROTO_UDP
	0x00, 0x48, // ver_size: version 0, size 72
	0x00, 0x00, 0x00, 0x02, // flags: IP_VS_CONN_F_TUNNEL
	0x00, 0x00, // state: IP_VS_UDP_S_NORMAL
	0xd4, 0x31, // cport 54321
	0x00, 0x35, // vport 53
	0x00, 0x35, // dport 53
	0x00, 0x00, 0x00, 0x00, // fwmark 0
	0x00, 0x00, 0x01, 0x2c, // timeout 300 s
	// caddr 2001:2::a
	0x20, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a,
	// vaddr 2001:2::1:1
	0x20, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01,
	// daddr 2001:2::2:14
	0x20, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x14,
}

var goldenIPv6Entries = []Entry{{
	Protocol: ProtoUDP,
	Flags:    FlagTunnel,
	State:    UDPStateNormal,
	CPort:    54321, VPort: 53, DPort: 53,
	Timeout: 300,
	CAddr:   netip.MustParseAddr("2001:2::a"),
	VAddr:   netip.MustParseAddr("2001:2::1:1"),
	DAddr:   netip.MustParseAddr("2001:2::2:14"),
}}

// goldenPE is a SIP persistence template carrying the "sip" engine's data
// (the Call-ID) and name, followed by a UDP connection. The template is 61
// bytes, so 3 bytes of padding align the connection after it.
var goldenPE = []byte{
	// struct ip_vs_sync_mesg
	0x00,       // reserved
	0x05,       // syncid 5
	0x00, 0x6c, // size: 8 + 61 + 3 (padding) + 36 = 108
	0x02,       // nr_conns 2
	0x01,       // version 1
	0x00, 0x00, // spare
	// entry 0, struct ip_vs_sync_v4, at offset 8
	0x00,       // type: IPv4
	0x11,       // protocol: UDP
	0x00, 0x3d, // ver_size: version 0, size 61 = 36 + (2 + 18) + (2 + 3)
	0x00, 0x00, 0x10, 0x00, // flags: IP_VS_CONN_F_TEMPLATE | IP_VS_CONN_F_MASQ
	0x00, 0x00, // state: IP_VS_CTPL_S_NONE
	0x00, 0x00, // cport 0
	0x13, 0xc4, // vport 5060
	0x13, 0xc4, // dport 5060
	0x00, 0x00, 0x00, 0x00, // fwmark 0
	0x00, 0x00, 0x01, 0x68, // timeout 360 s
	198, 18, 0, 10, // caddr 198.18.0.10
	198, 18, 1, 1, // vaddr 198.18.1.1
	198, 19, 0, 22, // daddr 198.19.0.22
	// option at offset 44: IPVS_OPT_PE_DATA, length 18, the Call-ID
	0x02, 0x12,
	'c', 'a', 'l', 'l', '-', '1', '@', '1', '9', '8', '.', '1', '8', '.', '0', '.', '1', '0',
	// option at offset 64: IPVS_OPT_PE_NAME, length 3
	0x03, 0x03, 's', 'i', 'p',
	// entry 0 ends at offset 69; padding to 72
	0x00, 0x00, 0x00,
	// entry 1, struct ip_vs_sync_v4, at offset 72
	0x00,       // type: IPv4
	0x11,       // protocol: UDP
	0x00, 0x24, // ver_size: version 0, size 36
	0x00, 0x00, 0x00, 0x00, // flags: IP_VS_CONN_F_MASQ
	0x00, 0x00, // state: IP_VS_UDP_S_NORMAL
	0x13, 0xc4, // cport 5060
	0x13, 0xc4, // vport 5060
	0x13, 0xc4, // dport 5060
	0x00, 0x00, 0x00, 0x00, // fwmark 0
	0x00, 0x00, 0x01, 0x2c, // timeout 300 s
	198, 18, 0, 10, // caddr 198.18.0.10
	198, 18, 1, 1, // vaddr 198.18.1.1
	198, 19, 0, 22, // daddr 198.19.0.22
	// the message ends with the last entry: no padding after it
}

var goldenPEEntries = []Entry{{
	Protocol: ProtoUDP,
	Flags:    FlagTemplate | FlagMasq,
	State:    TemplateStateNone,
	CPort:    0, VPort: 5060, DPort: 5060,
	Timeout: 360,
	CAddr:   netip.MustParseAddr("198.18.0.10"),
	VAddr:   netip.MustParseAddr("198.18.1.1"),
	DAddr:   netip.MustParseAddr("198.19.0.22"),
	PEData:  []byte("call-1@198.18.0.10"),
	PEName:  "sip",
}, {
	Protocol: ProtoUDP,
	Flags:    FlagMasq,
	State:    UDPStateNormal,
	CPort:    5060, VPort: 5060, DPort: 5060,
	Timeout: 300,
	CAddr:   netip.MustParseAddr("198.18.0.10"),
	VAddr:   netip.MustParseAddr("198.18.1.1"),
	DAddr:   netip.MustParseAddr("198.19.0.22"),
}}

// goldenSeq is an IPv4 TCP NAT connection (FTP control) whose payload the
// FTP helper resized, with the sequence adjustments option.
var goldenSeq = []byte{
	// struct ip_vs_sync_mesg
	0x00,       // reserved
	0x05,       // syncid 5
	0x00, 0x46, // size: 8 + 62 = 70
	0x01,       // nr_conns 1
	0x01,       // version 1
	0x00, 0x00, // spare
	// struct ip_vs_sync_v4
	0x00,       // type: IPv4
	0x06,       // protocol: TCP
	0x00, 0x3e, // ver_size: version 0, size 62 = 36 + 2 + 24
	0x00, 0x00, 0x06, 0x00, // flags: IP_VS_CONN_F_IN_SEQ | IP_VS_CONN_F_OUT_SEQ (MASQ)
	0x00, 0x01, // state: ESTABLISHED
	0xc3, 0x51, // cport 50001
	0x00, 0x15, // vport 21
	0x00, 0x15, // dport 21
	0x00, 0x00, 0x00, 0x00, // fwmark 0
	0x00, 0x00, 0x03, 0x84, // timeout 900 s
	198, 18, 0, 11, // caddr 198.18.0.11
	198, 18, 1, 1, // vaddr 198.18.1.1
	198, 19, 0, 20, // daddr 198.19.0.20
	// option: IPVS_OPT_SEQ_DATA, length 24 (struct ip_vs_sync_conn_options)
	0x01, 0x18,
	0x00, 0x00, 0x10, 0x00, // in_seq.init_seq 4096
	0x00, 0x00, 0x00, 0x02, // in_seq.delta 2
	0x00, 0x00, 0x00, 0x00, // in_seq.previous_delta 0
	0x12, 0x34, 0x56, 0x78, // out_seq.init_seq 0x12345678
	0xff, 0xff, 0xff, 0xfe, // out_seq.delta -2
	0x00, 0x00, 0x00, 0x00, // out_seq.previous_delta 0
}

var goldenSeqEntries = []Entry{{
	Protocol: ProtoTCP,
	Flags:    FlagInSeq | FlagOutSeq,
	State:    TCPStateEstablished,
	CPort:    50001, VPort: 21, DPort: 21,
	Timeout: 900,
	CAddr:   netip.MustParseAddr("198.18.0.11"),
	VAddr:   netip.MustParseAddr("198.18.1.1"),
	DAddr:   netip.MustParseAddr("198.19.0.20"),
	HasSeq:  true,
	InSeq:   Seq{InitSeq: 4096, Delta: 2},
	OutSeq:  Seq{InitSeq: 0x12345678, Delta: 0xfffffffe},
}}

type golden struct {
	name    string
	syncID  uint8
	wire    []byte
	entries []Entry
}

var goldens = []golden{
	{"ipv4 tcp established nat", 5, goldenNAT, goldenNATEntries},
	{"ipv4 persistence template", 7, goldenTemplate, goldenTemplateEntries},
	{"ipv6 udp", 5, goldenIPv6, goldenIPv6Entries},
	{"pe data and name, padding", 5, goldenPE, goldenPEEntries},
	{"sequence options", 5, goldenSeq, goldenSeqEntries},
}

func TestGoldenEncode(t *testing.T) {
	for _, g := range goldens {
		t.Run(g.name, func(t *testing.T) {
			got, err := AppendMessage(nil, g.syncID, g.entries)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, g.wire) {
				t.Fatalf("encoded\n% x\nwant\n% x", got, g.wire)
			}
			// Appending keeps what dst held.
			got, err = AppendMessage([]byte{0xaa}, g.syncID, g.entries)
			if err != nil || got[0] != 0xaa || !bytes.Equal(got[1:], g.wire) {
				t.Fatalf("append after a prefix: % x, %v", got, err)
			}
			// The builder makes the same message.
			b := NewBuilder(g.syncID, DefaultMaxLen)
			for i := range g.entries {
				if err := b.Add(&g.entries[i]); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(b.Bytes(), g.wire) {
				t.Fatalf("builder\n% x\nwant\n% x", b.Bytes(), g.wire)
			}
		})
	}
}

func TestGoldenDecode(t *testing.T) {
	for _, g := range goldens {
		t.Run(g.name, func(t *testing.T) {
			var got []Entry
			m, err := Decode(g.wire, func(e Entry) { got = append(got, e) })
			if err != nil {
				t.Fatal(err)
			}
			want := Message{SyncID: g.syncID, Size: uint16(len(g.wire)), NrConns: uint8(len(g.entries)), Version: 1}
			if m != want {
				t.Errorf("header %+v, want %+v", m, want)
			}
			if !reflect.DeepEqual(got, g.entries) {
				t.Fatalf("decoded\n%+v\nwant\n%+v", got, g.entries)
			}
			for i := range got {
				if got[i].WireLen() != g.entries[i].WireLen() || got[i].IsIPv6() != g.entries[i].IsIPv6() {
					t.Errorf("entry %d: WireLen or IsIPv6 differ", i)
				}
			}
		})
	}
}

// A version 0 message as a kernel with sync_version 0 sends it: struct
// ip_vs_sync_mesg_v0 and one struct ip_vs_sync_conn_v0.
var goldenV0 = []byte{
	0x01,       // nr_conns 1
	0x05,       // syncid 5
	0x00, 0x1c, // size: 4 + 24 = 28
	0x00,       // reserved
	0x06,       // protocol TCP
	0xc3, 0x50, // cport
	0x00, 0x50, // vport
	0x1f, 0x90, // dport
	198, 18, 0, 10, // caddr
	198, 18, 1, 1, // vaddr
	198, 19, 0, 20, // daddr
	0x00, 0x00, // flags (16 bits in version 0)
	0x00, 0x01, // state
}

func TestDecodeVersion0(t *testing.T) {
	m, err := Decode(goldenV0, func(Entry) { t.Error("fn called") })
	if Reason(err) != "version0" {
		t.Fatalf("err %v, want ErrVersion0", err)
	}
	if m.SyncID != 5 {
		t.Errorf("syncid %d, want 5 even on error", m.SyncID)
	}
}
