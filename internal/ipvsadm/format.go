package ipvsadm

import (
	"net/netip"
	"strconv"
	"strings"
)

// padRight appends s and then spaces up to n bytes, like printf's "%-Ns".
// Widths count bytes, as in C, not runes.
func padRight(b []byte, s string, n int) []byte {
	b = append(b, s...)
	for i := len(s); i < n; i++ {
		b = append(b, ' ')
	}
	return b
}

// padLeft appends spaces up to n bytes and then s, like printf's "%Ns".
func padLeft(b []byte, s string, n int) []byte {
	for i := len(s); i < n; i++ {
		b = append(b, ' ')
	}
	return append(b, s...)
}

func uitoa(v uint64) string { return strconv.FormatUint(v, 10) }
func itoa(v int) string     { return strconv.Itoa(v) }

// appendLargeNums appends each value as print_largenum in ipvsadm.c does.
func appendLargeNums(b []byte, exact bool, vs ...uint64) []byte {
	for _, v := range vs {
		b = appendLargeNum(b, v, exact)
	}
	return b
}

// appendLargeNum mirrors print_largenum: with --exact "%*llu" nine wide,
// or one wider than the number when it has more than eight digits;
// otherwise "%9llu" below 100 million and above that "%8llu" of the value
// in thousands, millions, billions or trillions followed by K, M, G or T.
// The quotient is truncated, not rounded, as in ipvsadm.
func appendLargeNum(b []byte, v uint64, exact bool) []byte {
	if exact {
		s := uitoa(v)
		return padLeft(b, s, max(9, len(s)+1))
	}
	switch {
	case v < 100_000_000:
		return padLeft(b, uitoa(v), 9)
	case v < 1_000_000_000:
		return append(padLeft(b, uitoa(v/1_000), 8), 'K')
	case v < 100_000_000_000:
		return append(padLeft(b, uitoa(v/1_000_000), 8), 'M')
	case v < 100_000_000_000_000:
		return append(padLeft(b, uitoa(v/1_000_000_000), 8), 'G')
	default:
		return append(padLeft(b, uitoa(v/1_000_000_000_000), 8), 'T')
	}
}

// maxAddrPortLen is the longest name addrport_to_anyname returns: it
// formats into a 60-byte buffer with snprintf.
const maxAddrPortLen = 59

// addrPort mirrors addrport_to_anyname in ipvsadm.c: "%s%s%s:%u" with the
// address in brackets for IPv6, numeric with -n, otherwise the host name
// and service name where the Resolver has one. proto is "TCP", "UDP",
// "SCTP" or anything else for no service look-up.
func addrPort(a netip.Addr, port uint16, proto string, o *Options) string {
	a = a.WithZone("")
	host, serv := a.String(), ""
	if !a.IsValid() {
		host = "0.0.0.0" // what inet_ntop gives for an unset IPv4 address
	}
	if !o.Numeric && o.Resolver != nil {
		if a.IsValid() {
			if n := o.Resolver.HostName(a); n != "" {
				host = n
			}
		}
		switch p := strings.ToLower(proto); p {
		case "tcp", "udp", "sctp":
			serv = o.Resolver.ServiceName(port, p)
		}
	}
	if serv == "" {
		serv = strconv.FormatUint(uint64(port), 10)
	}
	var s string
	if a.Is6() {
		s = "[" + host + "]:" + serv
	} else {
		s = host + ":" + serv
	}
	if len(s) > maxAddrPortLen {
		s = s[:maxAddrPortLen]
	}
	return s
}
