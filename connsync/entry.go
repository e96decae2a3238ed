package connsync

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// Seq is one direction's TCP sequence number adjustment of a NAT connection
// whose payload an application helper resized (struct ip_vs_seq). The
// deltas are two's-complement offsets.
type Seq struct {
	InitSeq       uint32 // the delta applies to sequence numbers after this one
	Delta         uint32 // delta in sequence numbers
	PreviousDelta uint32 // delta before the last resized packet
}

// Entry is one connection or persistence template in a sync message (union
// ip_vs_sync_conn with its options). Its fields are the wire values, with
// no masking or interpretation: the IPv6 bit of the type byte follows from
// the addresses (IsIPv6), and the version/size word is 0 and WireLen.
//
// The zero Entry is not valid: it needs three addresses of one family.
type Entry struct {
	// Protocol is the IP protocol number (ProtoTCP, ProtoUDP, ProtoSCTP);
	// for a template it is the service's protocol (0 for a firewall-mark
	// service).
	Protocol uint8
	// Flags are the IPVS connection flags (Flag*): the forwarding method
	// under FlagFwdMask, FlagTemplate for a persistence template, and so
	// on.
	Flags uint32
	// State is the protocol's connection state (TCPState* for TCP,
	// UDPStateNormal for UDP), or a TemplateState* for a template.
	State uint16
	// CPort, VPort and DPort are the client's, the virtual service's and
	// the real server's ports. A persistence template has CPort 0 (it
	// matches any client port), and VPort 0 for a port-0 (all ports)
	// service.
	CPort, VPort, DPort uint16
	// FwMark is the firewall mark of a firewall-mark service, else 0.
	FwMark uint32
	// Timeout is the time the connection or template lives without
	// traffic, in seconds. A kernel backup takes 0 as "the protocol's
	// timeout for State" (3 minutes for a template).
	Timeout uint32
	// CAddr, VAddr and DAddr are the client's, the virtual service's and
	// the real server's addresses: all IPv4 or all IPv6, without zones. A
	// template's CAddr is the client's address masked with the service's
	// persistence netmask.
	CAddr, VAddr, DAddr netip.Addr
	// HasSeq says the entry carries the OptSeqData option with InSeq and
	// OutSeq; without it they are not encoded. The kernel sends the option
	// exactly when Flags has FlagInSeq or FlagOutSeq.
	HasSeq bool
	// InSeq and OutSeq are the input and output sequence adjustments.
	InSeq, OutSeq Seq
	// PEData is the persistence engine's data (OptPEData), at most
	// PEDataMaxLen bytes; nil or empty means no option. Decode sets it to a
	// slice of the datagram, valid only while the datagram is.
	PEData []byte
	// PEName is the persistence engine's name (OptPEName), such as "sip",
	// at most PENameMaxLen bytes. It needs PEData.
	PEName string
}

// IsIPv6 reports whether e is an IPv6 entry (type STYPE_F_INET6), that is
// whether its client address is IPv6 (including IPv4-mapped IPv6).
func (e *Entry) IsIPv6() bool { return e.CAddr.Is6() }

// WireLen returns the length of e on the wire without the padding that
// aligns the next entry: the size its version/size word carries.
func (e *Entry) WireLen() int {
	n := EntryV4Len
	if e.IsIPv6() {
		n = EntryV6Len
	}
	if e.HasSeq {
		n += 2 + SeqOptionLen
	}
	if len(e.PEData) > 0 {
		n += 2 + len(e.PEData)
	}
	if len(e.PEName) > 0 {
		n += 2 + len(e.PEName)
	}
	return n
}

// Validate reports whether e can be encoded; the error wraps
// ErrInvalidEntry.
func (e *Entry) Validate() error { return e.validate(-1) }

// validate is Validate naming entry i of a message (none if i < 0).
func (e *Entry) validate(i int) error {
	var why string
	switch {
	case !e.CAddr.IsValid() || !e.VAddr.IsValid() || !e.DAddr.IsValid():
		why = "missing address"
	case e.CAddr.Zone() != "" || e.VAddr.Zone() != "" || e.DAddr.Zone() != "":
		why = "address with a zone"
	case e.CAddr.Is6() != e.VAddr.Is6() || e.CAddr.Is6() != e.DAddr.Is6():
		why = "addresses of different families"
	case len(e.PEData) > PEDataMaxLen:
		why = fmt.Sprintf("pe data of %d bytes, at most %d", len(e.PEData), PEDataMaxLen)
	case len(e.PEName) > PENameMaxLen:
		why = fmt.Sprintf("pe name of %d bytes, at most %d", len(e.PEName), PENameMaxLen)
	case len(e.PEName) > 0 && len(e.PEData) == 0:
		why = "pe name without pe data"
	default:
		return nil
	}
	if i >= 0 {
		return fmt.Errorf("%w: entry %d: %s", ErrInvalidEntry, i, why)
	}
	return fmt.Errorf("%w: %s", ErrInvalidEntry, why)
}

// appendEntry appends a valid e to dst.
func appendEntry(dst []byte, e *Entry) []byte {
	be := binary.BigEndian
	var typ byte
	if e.IsIPv6() {
		typ = typeInet6
	}
	dst = append(dst, typ, e.Protocol)
	dst = be.AppendUint16(dst, uint16(e.WireLen())&sizeMask) // version 0
	dst = be.AppendUint32(dst, e.Flags)
	dst = be.AppendUint16(dst, e.State)
	dst = be.AppendUint16(dst, e.CPort)
	dst = be.AppendUint16(dst, e.VPort)
	dst = be.AppendUint16(dst, e.DPort)
	dst = be.AppendUint32(dst, e.FwMark)
	dst = be.AppendUint32(dst, e.Timeout)
	if typ == typeInet6 {
		c, v, d := e.CAddr.As16(), e.VAddr.As16(), e.DAddr.As16()
		dst = append(dst, c[:]...)
		dst = append(dst, v[:]...)
		dst = append(dst, d[:]...)
	} else {
		c, v, d := e.CAddr.As4(), e.VAddr.As4(), e.DAddr.As4()
		dst = append(dst, c[:]...)
		dst = append(dst, v[:]...)
		dst = append(dst, d[:]...)
	}
	if e.HasSeq {
		dst = append(dst, OptSeqData, SeqOptionLen)
		for _, s := range [2]*Seq{&e.InSeq, &e.OutSeq} {
			dst = be.AppendUint32(dst, s.InitSeq)
			dst = be.AppendUint32(dst, s.Delta)
			dst = be.AppendUint32(dst, s.PreviousDelta)
		}
	}
	if len(e.PEData) > 0 {
		dst = append(dst, OptPEData, byte(len(e.PEData)))
		dst = append(dst, e.PEData...)
		if len(e.PEName) > 0 {
			dst = append(dst, OptPEName, byte(len(e.PEName)))
			dst = append(dst, e.PEName...)
		}
	}
	return dst
}
