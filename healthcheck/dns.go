package healthcheck

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sort"
	"strings"
)

// DNS resource record types DNS_CHECK can query, by keepalived name.
var dnsTypes = map[string]uint16{
	"A":     1,
	"NS":    2,
	"CNAME": 5,
	"SOA":   6,
	"MX":    15,
	"TXT":   16,
	"AAAA":  28,
}

// DNSTypes returns the query type names DNSConfig.Type accepts, sorted.
func DNSTypes() []string {
	names := make([]string, 0, len(dnsTypes))
	for n := range dnsTypes {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// DNSConfig configures a DNS_CHECK: one query over UDP; the server is
// healthy when a response with the query's ID arrives within the connect
// timeout with response code NOERROR. Datagrams that are not a response
// to the query (wrong ID, not a response) are ignored, as in keepalived;
// the answer sections are not looked at.
type DNSConfig struct {
	Conn
	// Type is type: A, NS, CNAME, SOA, MX, TXT or AAAA, in any case.
	// Empty means SOA, keepalived's default.
	Type string
	// Name is name: the domain to query. Empty means "." (the root).
	Name string
}

// Kind returns KindDNS.
func (DNSConfig) Kind() Kind { return KindDNS }

// NewChecker validates c and returns a *DNSChecker.
func (c DNSConfig) NewChecker(server netip.AddrPort) (Checker, error) {
	ep, err := c.Conn.endpoint(server, true)
	if err != nil {
		return nil, err
	}
	typ := strings.ToUpper(c.Type)
	if typ == "" {
		typ = "SOA"
	}
	qtype, ok := dnsTypes[typ]
	if !ok {
		return nil, fmt.Errorf("%w: DNS type %q is not one of %s", ErrInvalidConfig, c.Type, strings.Join(DNSTypes(), ", "))
	}
	name := c.Name
	if name == "" {
		name = "."
	}
	if _, err := appendDNSName(nil, name); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return &DNSChecker{ep: ep, qtype: qtype, name: name, typeName: typ}, nil
}

// DNSChecker is a DNS_CHECK. Build it with DNSConfig.NewChecker.
type DNSChecker struct {
	ep       endpoint
	qtype    uint16
	name     string
	typeName string
}

// String returns e.g. "DNS_CHECK 10.0.0.1:53 SOA .".
func (c *DNSChecker) String() string {
	return string(KindDNS) + " " + c.ep.remote.String() + " " + c.typeName + " " + c.name
}

// Check sends the query and waits for its response. Errors wrap
// ErrDNSRcode, ErrNoResponse (nothing usable within the timeout) or the
// network error.
func (c *DNSChecker) Check(ctx context.Context) Result {
	ctx, cancel := context.WithTimeout(ctx, c.ep.timeout)
	defer cancel()
	conn, err := c.ep.dial(ctx, "udp")
	if err != nil {
		return fail(err)
	}
	defer conn.Close()
	defer watch(ctx, conn)()

	id := uint16(rand.Uint32())
	query, err := encodeDNSQuery(id, c.qtype, c.name)
	if err != nil {
		return fail(err) // validated in NewChecker; cannot happen
	}
	if _, err := conn.Write(query); err != nil {
		return fail(fmt.Errorf("send query: %w", err))
	}
	buf := make([]byte, 4096)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			if isTimeout(err) {
				return fail(fmt.Errorf("%w: %w", ErrNoResponse, err))
			}
			return fail(err)
		}
		h, err := parseDNSHeader(buf[:n])
		if err != nil || h.ID != id || !h.response() {
			continue // not our answer
		}
		if rc := h.rcode(); rc != 0 {
			return fail(fmt.Errorf("%w: %s", ErrDNSRcode, rcodeName(rc)))
		}
		return pass()
	}
}

// DNS message layout (RFC 1035 section 4.1).
const (
	dnsHeaderLen = 12
	dnsFlagQR    = 1 << 15 // response
	dnsFlagRD    = 1 << 8  // recursion desired
	dnsClassIN   = 1
	maxDNSName   = 255 // wire length, section 2.3.4
	maxDNSLabel  = 63
)

// dnsHeader is the fixed header of a DNS message (RFC 1035 section 4.1.1).
type dnsHeader struct {
	ID, Flags                          uint16
	QDCount, ANCount, NSCount, ARCount uint16
}

func (h dnsHeader) response() bool { return h.Flags&dnsFlagQR != 0 }
func (h dnsHeader) rcode() int     { return int(h.Flags & 0xf) }

func (h dnsHeader) append(b []byte) []byte {
	for _, v := range [...]uint16{h.ID, h.Flags, h.QDCount, h.ANCount, h.NSCount, h.ARCount} {
		b = binary.BigEndian.AppendUint16(b, v)
	}
	return b
}

var errDNSShort = errors.New("DNS message too short")

func parseDNSHeader(msg []byte) (dnsHeader, error) {
	if len(msg) < dnsHeaderLen {
		return dnsHeader{}, errDNSShort
	}
	u := func(i int) uint16 { return binary.BigEndian.Uint16(msg[i:]) }
	return dnsHeader{u(0), u(2), u(4), u(6), u(8), u(10)}, nil
}

// encodeDNSQuery returns a standard query with recursion desired and one
// question for name, qtype, class IN.
func encodeDNSQuery(id, qtype uint16, name string) ([]byte, error) {
	b := dnsHeader{ID: id, Flags: dnsFlagRD, QDCount: 1}.append(make([]byte, 0, 64))
	b, err := appendDNSName(b, name)
	if err != nil {
		return nil, err
	}
	b = binary.BigEndian.AppendUint16(b, qtype)
	return binary.BigEndian.AppendUint16(b, dnsClassIN), nil
}

// appendDNSName appends name in wire format (RFC 1035 section 3.1): length
// prefixed labels ending with the empty root label. A trailing dot is
// optional; "." and "" are the root.
func appendDNSName(b []byte, name string) ([]byte, error) {
	name = strings.TrimSuffix(name, ".")
	if name == "" {
		return append(b, 0), nil
	}
	wire := 1
	for label := range strings.SplitSeq(name, ".") {
		switch {
		case label == "":
			return nil, fmt.Errorf("DNS name %q has an empty label", name)
		case len(label) > maxDNSLabel:
			return nil, fmt.Errorf("DNS name %q has a label longer than %d bytes", name, maxDNSLabel)
		}
		wire += 1 + len(label)
		b = append(b, byte(len(label)))
		b = append(b, label...)
	}
	if wire > maxDNSName {
		return nil, fmt.Errorf("DNS name %q is longer than %d bytes", name, maxDNSName)
	}
	return append(b, 0), nil
}

// readDNSName decodes the name at msg[off:], following compression
// pointers (RFC 1035 section 4.1.4), and returns it with a trailing dot
// and the offset just past it.
func readDNSName(msg []byte, off int) (name string, next int, err error) {
	var sb strings.Builder
	next = -1
	for hops := 0; ; {
		if off >= len(msg) {
			return "", 0, errDNSShort
		}
		l := int(msg[off])
		switch l & 0xc0 {
		case 0x00:
			if l == 0 {
				if next < 0 {
					next = off + 1
				}
				if sb.Len() == 0 {
					return ".", next, nil
				}
				return sb.String(), next, nil
			}
			if off+1+l > len(msg) {
				return "", 0, errDNSShort
			}
			sb.Write(msg[off+1 : off+1+l])
			sb.WriteByte('.')
			if sb.Len() > maxDNSName {
				return "", 0, errors.New("DNS name too long")
			}
			off += 1 + l
		case 0xc0:
			if off+2 > len(msg) {
				return "", 0, errDNSShort
			}
			if next < 0 {
				next = off + 2
			}
			if hops++; hops > 32 {
				return "", 0, errors.New("DNS name compression loop")
			}
			off = int(binary.BigEndian.Uint16(msg[off:]) & 0x3fff)
		default:
			return "", 0, fmt.Errorf("DNS label type %#x not supported", l&0xc0)
		}
	}
}

// parseDNSQuestion decodes the question at msg[off:] (RFC 1035 section
// 4.1.2).
func parseDNSQuestion(msg []byte, off int) (name string, qtype, qclass uint16, next int, err error) {
	name, off, err = readDNSName(msg, off)
	if err != nil {
		return "", 0, 0, 0, err
	}
	if off+4 > len(msg) {
		return "", 0, 0, 0, errDNSShort
	}
	return name, binary.BigEndian.Uint16(msg[off:]), binary.BigEndian.Uint16(msg[off+2:]), off + 4, nil
}

func rcodeName(rc int) string {
	names := [...]string{"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"}
	if rc < len(names) {
		return names[rc]
	}
	return fmt.Sprintf("RCODE%d", rc)
}
