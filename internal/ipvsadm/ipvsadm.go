package ipvsadm

import (
	"cmp"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Service is one virtual service with its real servers, as IPVS reports it
// to ipvsadm.
type Service struct {
	// Protocol is "TCP", "UDP" or "SCTP" (case does not matter); any other
	// value is listed as "?", as ipvsadm's protocol_name does. It is
	// ignored for a fwmark service.
	Protocol string
	// Addr and Port are the virtual address and port. For a fwmark
	// service Addr only gives the address family: an IPv6 Addr (for
	// example netip.IPv6Unspecified()) makes it an IPv6 fwmark service,
	// anything else, including the zero Addr, an IPv4 one. An Addr is
	// IPv6 when Addr.Is6 reports so, IPv4-mapped addresses included.
	Addr netip.Addr
	Port uint16
	// FWMark, when not zero, makes this a firewall-mark service, listed
	// as "FWM  <mark>" instead of a protocol and address.
	FWMark uint32
	// Scheduler is the scheduler name, such as "wlc", "rr" or "mh".
	Scheduler string
	// SchedFlags are the scheduler flags (ipvsadm -b). ipvsadm names them
	// after the scheduler: see SchedFlag1.
	SchedFlags SchedFlags
	// Persistent is the persistence timeout; zero means the service is not
	// persistent. ipvsadm lists it in whole seconds.
	Persistent time.Duration
	// Netmask is the persistence granularity (ipvsadm -M) as a prefix
	// length. Zero means the full address length (/32 or /128), which is
	// the default and is not listed. It is listed only for persistent
	// services, as a dotted mask for IPv4 and as a number for IPv6.
	Netmask int
	// PE is the persistence engine (ipvsadm --pe), such as "sip"; empty
	// for none. Like ipvsadm, the listing shows it only for persistent
	// services.
	PE string
	// OnePacket is one-packet scheduling (ipvsadm -o), listed as "ops".
	OnePacket bool
	// Reals are the real servers (destinations) of the service.
	Reals []Real
	// Stats are the cumulative counters of the service (--stats).
	Stats Stats
	// Rate is the estimated rate of the service (--rate); see Estimator.
	Rate Rate
}

// Real is one real server (destination) of a virtual service.
type Real struct {
	// Addr and Port are the real server's address and port.
	Addr netip.Addr
	Port uint16
	// Forward is the forwarding method, one of the Forward constants.
	Forward Forward
	// Weight is the scheduling weight.
	Weight int
	// ActiveConn and InActConn count the connections to this server that
	// are established and not established. PersistConn counts persistence
	// templates (--persistent-conn).
	ActiveConn, InActConn, PersistConn uint64
	// UThreshold and LThreshold are the upper and lower connection
	// thresholds (ipvsadm -x and -y); zero means none.
	UThreshold, LThreshold uint32
	// Stats are the cumulative counters of this server (--stats).
	Stats Stats
	// Rate is the estimated rate of this server (--rate); see Estimator.
	Rate Rate
}

// Forward is a forwarding method as ipvsadm lists it (fwd_name in
// ipvsadm.c).
type Forward string

// The forwarding methods of IPVS. xvs itself forwards with ForwardMasq.
const (
	ForwardMasq   Forward = "Masq"   // NAT (ipvsadm -m)
	ForwardRoute  Forward = "Route"  // direct routing (ipvsadm -g)
	ForwardTunnel Forward = "Tunnel" // IP-in-IP tunnelling (ipvsadm -i)
	ForwardLocal  Forward = "Local"  // the real server is this host
)

// SchedFlags are the scheduler flag bits of a service (IP_VS_SVC_F_SCHED1
// to IP_VS_SVC_F_SCHED3). Their meaning, and the name ipvsadm lists for
// them, depend on the scheduler.
type SchedFlags uint8

// The scheduler flags, as print_sched_flags in ipvsadm.c names them.
const (
	// SchedFlag1 is "flag-1"; for the sh scheduler "sh-fallback" and for
	// the mh scheduler "mh-fallback".
	SchedFlag1 SchedFlags = 1 << iota
	// SchedFlag2 is "flag-2"; for sh "sh-port" and for mh "mh-port".
	SchedFlag2
	// SchedFlag3 is "flag-3"; sh and mh do not use it and ipvsadm does
	// not name it for them.
	SchedFlag3
)

// names returns the flags as ipvsadm names them for scheduler sched, in
// bit order (print_sched_flags); nil if none is named.
func (f SchedFlags) names(sched string) []string {
	var n []string
	switch sched {
	case "sh", "mh":
		if f&SchedFlag1 != 0 {
			n = append(n, sched+"-fallback")
		}
		if f&SchedFlag2 != 0 {
			n = append(n, sched+"-port")
		}
	default:
		for i, s := range []string{"flag-1", "flag-2", "flag-3"} {
			if f&(1<<i) != 0 {
				n = append(n, s)
			}
		}
	}
	return n
}

// Stats are cumulative counters, as IPVS keeps them per service and per
// real server.
type Stats struct {
	Conns    uint64 // connections scheduled
	InPkts   uint64 // packets from clients
	OutPkts  uint64 // packets to clients
	InBytes  uint64 // bytes from clients
	OutBytes uint64 // bytes to clients
}

// Rate is an estimated rate per second, as Estimator computes it.
type Rate struct {
	CPS    uint64 // connections per second
	InPPS  uint64 // packets per second from clients
	OutPPS uint64 // packets per second to clients
	InBPS  uint64 // bytes per second from clients
	OutBPS uint64 // bytes per second to clients
}

// Resolver turns addresses and ports into names, as ipvsadm does when it
// is run without -n (addr_to_anyname and port_to_anyname in ipvsadm.c).
// Its methods must be safe to call from the goroutine that writes the
// listing; a Resolver that does network look-ups makes the listing as slow
// as ipvsadm without -n.
type Resolver interface {
	// HostName returns the host name of addr, or "" to print addr
	// numerically.
	HostName(addr netip.Addr) string
	// ServiceName returns the service name of port for protocol "tcp",
	// "udp" or "sctp", or "" to print the port numerically.
	ServiceName(port uint16, protocol string) string
}

// Options select what a listing shows, like ipvsadm's list options.
type Options struct {
	// Numeric (-n) prints addresses and ports as numbers. Without it,
	// names come from Resolver; with a nil Resolver the listing is
	// numeric anyway.
	Numeric bool
	// Resolver names addresses and ports when Numeric is false.
	Resolver Resolver
	// Stats (--stats) lists the cumulative counters. It takes precedence
	// over Rate, Thresholds and PersistentConn, as in ipvsadm.
	Stats bool
	// Rate (--rate) lists the estimated rates. It takes precedence over
	// Thresholds and PersistentConn.
	Rate bool
	// Exact (--exact) prints counters and rates in full instead of
	// abbreviating large ones with K, M, G or T.
	Exact bool
	// Thresholds (--thresholds) lists the connection thresholds of each
	// real server. It takes precedence over PersistentConn.
	Thresholds bool
	// PersistentConn (--persistent-conn) lists the persistence templates
	// of each real server, and for WriteConns the persistence engine data
	// of connections that have it.
	PersistentConn bool
	// NoSort (--nosort) lists services and real servers in the order
	// given instead of sorting them as ipvsadm does.
	NoSort bool
	// Version is the IPVS version in the first line of WriteServices,
	// "1.2.1" (the version Linux reports) if empty.
	Version string
	// ConnTableSize is the connection hash table size in the first line
	// of WriteServices, 4096 (Linux's default) if zero.
	ConnTableSize int
}

// Defaults of the first line of a listing.
const (
	DefaultVersion       = "1.2.1"
	DefaultConnTableSize = 4096
)

// WriteServices writes svcs as `ipvsadm -L` lists them, with the options
// in o: the version line, the two title lines and each service followed by
// its real servers. Unless o.NoSort is set, services are sorted by fwmark,
// address family, protocol, address and port, and real servers by address
// and port, as ipvsadm sorts them; svcs is not modified. (ipvsadm compares
// addresses and marks by subtracting them into an int, so for values more
// than 2^31 apart, such as 10.0.0.1 and 198.18.0.1, its order is not
// numeric and depends on the kernel's order; this package always sorts
// numerically.) The listing is written with a single Write; an error from
// w is returned wrapped.
func WriteServices(w io.Writer, svcs []Service, o Options) error {
	version, size := o.Version, o.ConnTableSize
	if version == "" {
		version = DefaultVersion
	}
	if size == 0 {
		size = DefaultConnTableSize
	}
	// list_all: "IP Virtual Server version %d.%d.%d (size=%d)\n"
	b := fmt.Appendf(nil, "IP Virtual Server version %s (size=%d)\n", version, size)
	b = appendTitle(b, &o)
	for _, s := range sortedServices(svcs, o.NoSort) {
		b = appendService(b, s, &o)
	}
	return write(w, b)
}

// WriteService writes one service as `ipvsadm -L -t|-u|-f SERVICE` lists
// it (list_service): the two title lines and the service with its real
// servers, without the version line.
func WriteService(w io.Writer, svc Service, o Options) error {
	b := appendTitle(nil, &o)
	b = appendService(b, &svc, &o)
	return write(w, b)
}

func write(w io.Writer, b []byte) error {
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("ipvsadm: writing listing: %w", err)
	}
	return nil
}

// appendTitle appends the two title lines (print_title). The first
// matching option wins, in the order ipvsadm tests them.
func appendTitle(b []byte, o *Options) []byte {
	switch {
	case o.Stats:
		// print_title, FMT_STATS: "%-33s %8s %8s %8s %8s %8s\n  -> RemoteAddress:Port\n"
		b = padRight(b, "Prot LocalAddress:Port", 33)
		for _, h := range []string{"Conns", "InPkts", "OutPkts", "InBytes", "OutBytes"} {
			b = padLeft(append(b, ' '), h, 8)
		}
		b = append(b, "\n  -> RemoteAddress:Port\n"...)
	case o.Rate:
		// print_title, FMT_RATE: "%-33s %8s %8s %8s %8s %8s\n  -> RemoteAddress:Port\n"
		b = padRight(b, "Prot LocalAddress:Port", 33)
		for _, h := range []string{"CPS", "InPPS", "OutPPS", "InBPS", "OutBPS"} {
			b = padLeft(append(b, ' '), h, 8)
		}
		b = append(b, "\n  -> RemoteAddress:Port\n"...)
	case o.Thresholds:
		// print_title, FMT_THRESHOLDS: "%-33s %-10s %-10s %-10s %-10s\n  -> RemoteAddress:Port\n"
		b = padRight(b, "Prot LocalAddress:Port", 33)
		for _, h := range []string{"Uthreshold", "Lthreshold", "ActiveConn", "InActConn"} {
			b = padRight(append(b, ' '), h, 10)
		}
		b = append(b, "\n  -> RemoteAddress:Port\n"...)
	case o.PersistentConn:
		// print_title, FMT_PERSISTENTCONN: "%-33s %-9s %-11s %-10s %-10s\n  -> RemoteAddress:Port\n"
		b = padRight(b, "Prot LocalAddress:Port", 33)
		b = padRight(append(b, ' '), "Weight", 9)
		b = padRight(append(b, ' '), "PersistConn", 11)
		b = padRight(append(b, ' '), "ActiveConn", 10)
		b = padRight(append(b, ' '), "InActConn", 10)
		b = append(b, "\n  -> RemoteAddress:Port\n"...)
	default:
		// print_title, default: a fixed pair of lines.
		b = append(b, "Prot LocalAddress:Port Scheduler Flags\n"+
			"  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"...)
	}
	return b
}

// appendService appends a service line and its real server lines
// (print_service_entry).
func appendService(b []byte, s *Service, o *Options) []byte {
	v6 := s.Addr.Is6()
	proto := protoName(s.Protocol)
	var name string
	if s.FWMark != 0 {
		// print_service_entry: "FWM  %u" or "FWM  %u IPv6"
		name = fmt.Sprintf("FWM  %d", s.FWMark)
		if v6 {
			name += " IPv6"
		}
		proto = "" // the kernel reports no protocol for fwmark services
	} else {
		// print_service_entry: "%-4s %s", cut to 33 bytes unless IPv6.
		name = string(padRight(nil, proto, 4)) + " " + addrPort(s.Addr, s.Port, proto, o)
		if !v6 && len(name) > 33 {
			name = name[:33]
		}
	}

	switch {
	case o.Stats:
		// print_service_entry, FMT_STATS: "%-33s" then print_largenum x5.
		b = padRight(b, name, 33)
		b = appendLargeNums(b, o.Exact, s.Stats.Conns, s.Stats.InPkts, s.Stats.OutPkts, s.Stats.InBytes, s.Stats.OutBytes)
	case o.Rate:
		// print_service_entry, FMT_RATE: "%-33s" then print_largenum x5.
		b = padRight(b, name, 33)
		b = appendLargeNums(b, o.Exact, s.Rate.CPS, s.Rate.InPPS, s.Rate.OutPPS, s.Rate.InBPS, s.Rate.OutBPS)
	default:
		// print_service_entry: "%s %s", then " (%s)" scheduler flags,
		// " persistent %u", " mask %s" (IPv4) or " mask %i" (IPv6),
		// " pe %s", " ops".
		b = append(b, name...)
		b = append(b, ' ')
		b = append(b, s.Scheduler...)
		if s.SchedFlags&(SchedFlag1|SchedFlag2|SchedFlag3) != 0 {
			b = append(b, " ("...)
			b = append(b, strings.Join(s.SchedFlags.names(s.Scheduler), ",")...)
			b = append(b, ')')
		}
		if s.Persistent > 0 {
			b = fmt.Appendf(b, " persistent %d", uint32(s.Persistent/time.Second))
			if v6 {
				if s.Netmask != 0 && s.Netmask != 128 {
					b = fmt.Appendf(b, " mask %d", s.Netmask)
				}
			} else if s.Netmask != 0 && s.Netmask != 32 {
				b = append(b, " mask "...)
				b = append(b, ipv4Mask(s.Netmask)...)
			}
			if s.PE != "" {
				b = append(b, " pe "...)
				b = append(b, s.PE...)
			}
		}
		if s.OnePacket {
			b = append(b, " ops"...)
		}
	}
	b = append(b, '\n')

	for _, r := range sortedReals(s.Reals, o.NoSort) {
		b = appendReal(b, r, proto, o)
	}
	return b
}

// appendReal appends one real server line (print_service_entry, the loop
// over the destinations).
func appendReal(b []byte, r *Real, proto string, o *Options) []byte {
	// print_service_entry cuts the name to 28 bytes unless IPv6.
	name := addrPort(r.Addr, r.Port, proto, o)
	if !r.Addr.Is6() && len(name) > 28 {
		name = name[:28]
	}
	b = append(b, "  -> "...)
	b = padRight(b, name, 28)
	switch {
	case o.Stats:
		// FMT_STATS: "  -> %-28s" then print_largenum x5.
		b = appendLargeNums(b, o.Exact, r.Stats.Conns, r.Stats.InPkts, r.Stats.OutPkts, r.Stats.InBytes, r.Stats.OutBytes)
	case o.Rate:
		// FMT_RATE: "  -> %-28s %8llu %8llu %8llu" then print_largenum x2:
		// connection and packet rates are never abbreviated.
		for _, v := range []uint64{r.Rate.CPS, r.Rate.InPPS, r.Rate.OutPPS} {
			b = padLeft(append(b, ' '), uitoa(v), 8)
		}
		b = appendLargeNums(b, o.Exact, r.Rate.InBPS, r.Rate.OutBPS)
	case o.Thresholds:
		// FMT_THRESHOLDS: "  -> %-28s %-10u %-10u %-10u %-10u"
		for _, v := range []uint64{uint64(r.UThreshold), uint64(r.LThreshold), r.ActiveConn, r.InActConn} {
			b = padRight(append(b, ' '), uitoa(v), 10)
		}
	case o.PersistentConn:
		// FMT_PERSISTENTCONN: "  -> %-28s %-9u %-11u %-10u %-10u"
		b = padRight(append(b, ' '), itoa(r.Weight), 9)
		b = padRight(append(b, ' '), uitoa(r.PersistConn), 11)
		b = padRight(append(b, ' '), uitoa(r.ActiveConn), 10)
		b = padRight(append(b, ' '), uitoa(r.InActConn), 10)
	default:
		// default: "  -> %-28s %-7s %-6d %-10u %-10u"
		b = padRight(append(b, ' '), string(r.Forward), 7)
		b = padRight(append(b, ' '), itoa(r.Weight), 6)
		b = padRight(append(b, ' '), uitoa(r.ActiveConn), 10)
		b = padRight(append(b, ' '), uitoa(r.InActConn), 10)
	}
	return append(b, '\n')
}

// protoName mirrors protocol_name in ipvsadm.c.
func protoName(p string) string {
	switch p := strings.ToUpper(p); p {
	case "TCP", "UDP", "SCTP":
		return p
	}
	return "?"
}

// protoNumber is the IP protocol number that ipvs_cmp_services sorts by.
func protoNumber(p string) int {
	switch strings.ToUpper(p) {
	case "TCP":
		return 6
	case "UDP":
		return 17
	case "SCTP":
		return 132
	}
	return 0
}

// ipv4Mask returns the dotted IPv4 netmask of a prefix length
// (inet_ntoa of the mask in print_service_entry).
func ipv4Mask(bits int) string {
	bits = min(max(bits, 0), 32)
	m := ^uint32(0) << (32 - bits)
	if bits == 0 {
		m = 0
	}
	return netip.AddrFrom4([4]byte{byte(m >> 24), byte(m >> 16), byte(m >> 8), byte(m)}).String()
}

// sortedServices returns pointers to svcs in ipvsadm's order
// (ipvs_cmp_services: fwmark, address family, protocol, address, port).
func sortedServices(svcs []Service, nosort bool) []*Service {
	p := make([]*Service, len(svcs))
	for i := range svcs {
		p[i] = &svcs[i]
	}
	if nosort {
		return p
	}
	slices.SortStableFunc(p, func(a, b *Service) int {
		if c := cmp.Compare(a.FWMark, b.FWMark); c != 0 {
			return c
		}
		if c := cmp.Compare(family(a.Addr), family(b.Addr)); c != 0 {
			return c
		}
		if a.FWMark != 0 {
			return 0 // the kernel reports no protocol, address or port
		}
		if c := cmp.Compare(protoNumber(a.Protocol), protoNumber(b.Protocol)); c != 0 {
			return c
		}
		if c := a.Addr.Compare(b.Addr); c != 0 {
			return c
		}
		return cmp.Compare(a.Port, b.Port)
	})
	return p
}

// sortedReals returns pointers to reals in ipvsadm's order
// (ipvs_cmp_dests: address, then port).
func sortedReals(reals []Real, nosort bool) []*Real {
	p := make([]*Real, len(reals))
	for i := range reals {
		p[i] = &reals[i]
	}
	if nosort {
		return p
	}
	slices.SortStableFunc(p, func(a, b *Real) int {
		if c := a.Addr.Compare(b.Addr); c != 0 {
			return c
		}
		return cmp.Compare(a.Port, b.Port)
	})
	return p
}

// family orders IPv4 before IPv6, as AF_INET < AF_INET6.
func family(a netip.Addr) int {
	if a.Is6() {
		return 10
	}
	return 2
}
