package healthcheck

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// dnsQuery is what the test DNS server saw.
type dnsQuery struct {
	header        dnsHeader
	name          string
	qtype, qclass uint16
}

// dnsServer answers queries on loopback UDP according to mode:
// "noerror", "servfail", "silent", "wrongid" (a SERVFAIL response with
// another ID, then the right one), "query" (a SERVFAIL datagram that is
// not a response, then the right one) and "garbage" (a short datagram,
// then the right one).
func dnsServer(t *testing.T, mode string) (netip.AddrPort, <-chan dnsQuery) {
	t.Helper()
	queries := make(chan dnsQuery, 16)
	addr := udpServer(t, func(msg []byte) [][]byte {
		h, err := parseDNSHeader(msg)
		if err != nil {
			return nil
		}
		name, qtype, qclass, end, err := parseDNSQuestion(msg, dnsHeaderLen)
		if err != nil {
			return nil
		}
		select {
		case queries <- dnsQuery{h, name, qtype, qclass}:
		default:
		}
		question := msg[dnsHeaderLen:end]
		respond := func(id, flags uint16) []byte {
			b := dnsHeader{ID: id, Flags: flags, QDCount: 1, ANCount: 1}.append(nil)
			b = append(b, question...)
			// One answer, its name a compression pointer to the question.
			b = binary.BigEndian.AppendUint16(b, 0xc000|dnsHeaderLen)
			b = binary.BigEndian.AppendUint16(b, qtype)
			b = binary.BigEndian.AppendUint16(b, dnsClassIN)
			b = binary.BigEndian.AppendUint32(b, 60)
			b = binary.BigEndian.AppendUint16(b, 4)
			return append(b, 127, 0, 0, 1)
		}
		ok := respond(h.ID, dnsFlagQR|dnsFlagRD|1<<7) // RA
		switch mode {
		case "noerror":
			return [][]byte{ok}
		case "servfail":
			return [][]byte{respond(h.ID, dnsFlagQR|dnsFlagRD|2)}
		case "wrongid":
			return [][]byte{respond(h.ID+1, dnsFlagQR|2), ok}
		case "query":
			return [][]byte{respond(h.ID, dnsFlagRD|2), ok}
		case "garbage":
			return [][]byte{{1, 2, 3}, ok}
		}
		return nil
	})
	return addr, queries
}

// TestDNSCheck covers NOERROR, SERVFAIL, silence and ignored datagrams.
func TestDNSCheck(t *testing.T) {
	tests := []struct {
		mode    string
		healthy bool
		err     error
	}{
		{"noerror", true, nil},
		{"servfail", false, ErrDNSRcode},
		{"silent", false, ErrNoResponse},
		{"wrongid", true, nil},
		{"query", true, nil},
		{"garbage", true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			server, queries := dnsServer(t, tt.mode)
			c := newChecker(t, DNSConfig{Conn: Conn{ConnectTimeout: shortTimeout}, Type: "a", Name: "www.example.test."}, server)
			r, took := timedCheck(c)
			assertResult(t, r, tt.healthy, tt.err)
			if took > shortTimeout+time.Second {
				t.Errorf("check took %v", took)
			}
			q := <-queries
			if q.name != "www.example.test." || q.qtype != 1 || q.qclass != dnsClassIN {
				t.Errorf("query for %q type %d class %d", q.name, q.qtype, q.qclass)
			}
			if q.header.Flags != dnsFlagRD || q.header.QDCount != 1 || q.header.ANCount+q.header.NSCount+q.header.ARCount != 0 {
				t.Errorf("query header %+v", q.header)
			}
			if tt.mode == "servfail" && !strings.Contains(r.Err.Error(), "SERVFAIL") {
				t.Errorf("err = %v, want it to name SERVFAIL", r.Err)
			}
		})
	}
	t.Run("closed port", func(t *testing.T) {
		c := newChecker(t, DNSConfig{Conn: Conn{ConnectTimeout: shortTimeout}}, closedPort(t, "udp"))
		assertResult(t, c.Check(t.Context()), false, nil)
	})
}

func TestEncodeDNSQuery(t *testing.T) {
	got, err := encodeDNSQuery(0x1234, 6, "example.com")
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{
		0x12, 0x34, // ID
		0x01, 0x00, // RD
		0, 1, 0, 0, 0, 0, 0, 0, // one question
		7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0,
		0, 6, // SOA
		0, 1, // IN
	}
	if !bytes.Equal(got, want) {
		t.Errorf("query\n% x\nwant\n% x", got, want)
	}
	for _, root := range []string{".", ""} {
		got, _ := encodeDNSQuery(1, 2, root)
		if !bytes.Equal(got[dnsHeaderLen:], []byte{0, 0, 2, 0, 1}) {
			t.Errorf("root %q encodes as % x", root, got[dnsHeaderLen:])
		}
	}
}

func TestDNSNames(t *testing.T) {
	for _, bad := range []string{"a..b", ".a", strings.Repeat("x", 64) + ".com", strings.Repeat("abcdefg.", 32) + "com"} {
		if _, err := appendDNSName(nil, bad); err == nil {
			t.Errorf("appendDNSName(%q) succeeded", bad)
		}
	}
	if _, err := appendDNSName(nil, strings.Repeat("x", 63)+".com"); err != nil {
		t.Errorf("63-byte label: %v", err)
	}
	// A pointer loop is an error, not a hang.
	loop := append(make([]byte, dnsHeaderLen), 0xc0, dnsHeaderLen)
	if _, _, err := readDNSName(loop, dnsHeaderLen); err == nil {
		t.Error("pointer loop decoded")
	}
	for _, bad := range []DNSConfig{{Type: "PTR"}, {Name: "a..b"}} {
		if _, err := bad.NewChecker(netip.MustParseAddrPort("127.0.0.1:53")); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("NewChecker(%+v) = %v, want ErrInvalidConfig", bad, err)
		}
	}
	if got := DNSTypes(); !slices.Equal(got, []string{"A", "AAAA", "CNAME", "MX", "NS", "SOA", "TXT"}) {
		t.Errorf("DNSTypes() = %v", got)
	}
}

func FuzzDNSMessage(f *testing.F) {
	q, _ := encodeDNSQuery(7, 1, "www.example.test")
	f.Add(q)                                                 // a query
	f.Add(append(make([]byte, dnsHeaderLen), 0xc0, 0x0c))    // pointer loop
	f.Add(append(make([]byte, dnsHeaderLen), 0x40, 0, 0, 1)) // reserved label type
	f.Fuzz(func(t *testing.T, msg []byte) {
		h, err := parseDNSHeader(msg)
		if err != nil {
			return
		}
		name, qtype, _, _, err := parseDNSQuestion(msg, dnsHeaderLen)
		if err != nil {
			return
		}
		// A decoded name whose labels are plain encodes back, and the
		// query built from it decodes to the same question.
		if strings.ContainsAny(strings.TrimSuffix(name, "."), "\x00") || strings.Contains(name, "..") {
			return
		}
		q, err := encodeDNSQuery(h.ID, qtype, name)
		if err != nil {
			return // a label with a dot inside, or too long
		}
		name2, qtype2, _, _, err := parseDNSQuestion(q, dnsHeaderLen)
		if err != nil || qtype2 != qtype || name2 != name {
			t.Fatalf("round trip of %q type %d: %q type %d, %v", name, qtype, name2, qtype2, err)
		}
	})
}
