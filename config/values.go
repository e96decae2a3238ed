package config

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// This file holds the pure functions that read values.

// parseVIP parses ADDR or ADDR/LEN. A missing length means /32 or /128.
func parseVIP(s string) (netip.Prefix, bool) {
	var pfx netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if pfx, err = netip.ParsePrefix(s); err != nil {
			return netip.Prefix{}, false
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, false
		}
		pfx = netip.PrefixFrom(a, a.BitLen())
	}
	if a := pfx.Addr(); a.IsUnspecified() || a.IsMulticast() {
		return netip.Prefix{}, false
	}
	return pfx, true
}

// isDigits reports whether s is a non-empty run of decimal digits.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseNum parses s, which must be only decimal digits (no sign), as a
// number in [lo, hi].
func parseNum(s string, lo, hi int) (int, bool) {
	if !isDigits(s) {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
		if n > hi {
			return 0, false
		}
	}
	return n, n >= lo
}

// parseSigned parses s, decimal digits with an optional sign, as a number
// in [lo, hi].
func parseSigned(s string, lo, hi int) (int, bool) {
	neg := strings.HasPrefix(s, "-")
	digits := strings.TrimPrefix(strings.TrimPrefix(s, "-"), "+")
	if neg && strings.HasPrefix(s, "-+") {
		return 0, false
	}
	limit := hi
	if neg {
		limit = -lo
	}
	if limit < 0 {
		limit = 0
	}
	n, ok := parseNum(digits, 0, limit)
	if !ok {
		return 0, false
	}
	if neg {
		n = -n
	}
	return n, n >= lo && n <= hi
}

// parseSeconds parses a decimal number of seconds such as "6" or "1.5",
// with at most nine decimals and at most max whole seconds. On failure it
// returns the problem as the end of a sentence.
func parseSeconds(s string, max int) (time.Duration, string) {
	whole, frac, hasDot := strings.Cut(s, ".")
	if (whole == "" && frac == "") || (whole != "" && !isDigits(whole)) || (frac != "" && !isDigits(frac)) {
		return 0, `is not a number of seconds, e.g. "6" or "1.5"`
	}
	if len(frac) > 9 {
		return 0, "has more than 9 decimals"
	}
	if whole == "" {
		whole = "0"
	}
	w, ok := parseNum(whole, 0, max)
	if !ok {
		return 0, "is more than " + strconv.Itoa(max) + " seconds"
	}
	f := 0
	if hasDot {
		f, _ = parseNum((frac + "000000000")[:9], 0, 999999999)
	}
	if w == max && f > 0 {
		return 0, "is more than " + strconv.Itoa(max) + " seconds"
	}
	return time.Duration(w)*time.Second + time.Duration(f), ""
}

// parseBool reads the optional argument of keepalived's on/off keywords.
func parseBool(s string) (bool, bool) {
	switch strings.ToLower(s) {
	case "true", "on", "yes":
		return true, true
	case "false", "off", "no":
		return false, true
	}
	return false, false
}

func knownScheduler(name string) bool {
	for _, s := range schedulers {
		if s == name {
			return true
		}
	}
	return false
}

func family(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// validIfName reports whether s can be a Linux network interface name.
func validIfName(s string) bool {
	if s == "" || len(s) > maxIfNameLen || s == "." || s == ".." {
		return false
	}
	return !strings.ContainsAny(s, "/: \t\n\r\v\f")
}

// parseGranularity reads a persistence netmask, dotted (255.255.255.0) or
// as a prefix length (24, or /24), and returns its length in bits.
func parseGranularity(s string) (int, bool) {
	if n, ok := parseNum(strings.TrimPrefix(s, "/"), 0, 128); ok {
		return n, true
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return 0, false
	}
	m := a.As4()
	v := uint32(m[0])<<24 | uint32(m[1])<<16 | uint32(m[2])<<8 | uint32(m[3])
	bits := 0
	for v&0x80000000 != 0 {
		bits++
		v <<= 1
	}
	if v != 0 {
		return 0, false // not contiguous
	}
	return bits, true
}

// splitCommand splits a command into words at spaces and tabs, as
// keepalived splits a quoted notify or script command. Single quotes group
// words ('a b' is one word, without the quotes).
func splitCommand(s string) []string {
	var words []string
	var w strings.Builder
	inWord, quote := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'':
			quote = !quote
			inWord = true
		case !quote && (c == ' ' || c == '\t'):
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}

// parseHex decodes hex digits, ignoring white space between them.
func parseHex(s string) ([]byte, bool) {
	digits := strings.Join(strings.Fields(s), "")
	if digits == "" || len(digits)%2 != 0 {
		return nil, false
	}
	b, err := hex.DecodeString(digits)
	return b, err == nil
}

// validReplyHex reports whether s is hex digits (and x or X for a nibble
// that may be anything), ignoring white space, in whole bytes.
func validReplyHex(s string) bool {
	digits := strings.Join(strings.Fields(s), "")
	if digits == "" || len(digits)%2 != 0 {
		return false
	}
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == 'x' || c == 'X') {
			return false
		}
	}
	return true
}

// statusCodeOK reports whether s is an HTTP status code or a range of
// them (100-599), as status_code takes them.
func statusCodeOK(s string) bool {
	lo, hi, isRange := strings.Cut(s, "-")
	a, ok := parseNum(lo, 100, 599)
	if !ok {
		return false
	}
	if !isRange {
		return true
	}
	b, ok := parseNum(hi, 100, 599)
	return ok && a <= b
}

// isDigestHex reports whether s is an MD5 digest: 32 hex digits.
func isDigestHex(s string) bool {
	if len(s) != 32 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// dnsTypes are the query types DNS_CHECK knows.
var dnsTypes = []string{"A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA"}

// maxGroupRange is how many addresses one virtual_server_group entry may
// stand for.
const maxGroupRange = 1024

// expandRange reads a virtual_server_group address: ADDR, ADDR-LAST (the
// last byte of an IPv4 address in decimal, the last 16 bits of an IPv6
// address in hex), ADDR-ENDADDR or ADDR/LEN. It returns every address, in
// order; on failure it returns the problem as the end of a sentence.
func expandRange(s string) ([]netip.Addr, string) {
	if strings.Contains(s, "/") {
		pfx, err := netip.ParsePrefix(s)
		if err != nil || pfx.Addr().Zone() != "" {
			return nil, "is not an address, range or prefix"
		}
		if pfx.Masked() != pfx {
			return nil, "has host bits set after its prefix length"
		}
		bits := pfx.Addr().BitLen() - pfx.Bits()
		if bits > 10 {
			return nil, fmt.Sprintf("covers more than %d addresses", maxGroupRange)
		}
		var out []netip.Addr
		for a, n := pfx.Addr(), 0; n < 1<<bits; a, n = a.Next(), n+1 {
			out = append(out, a)
		}
		return checkGroupAddrs(out)
	}
	first, last, isRange := strings.Cut(s, "-")
	start, err := netip.ParseAddr(first)
	if err != nil || start.Zone() != "" {
		return nil, "is not an address, range or prefix"
	}
	if !isRange {
		return checkGroupAddrs([]netip.Addr{start})
	}
	var end netip.Addr
	if strings.ContainsAny(last, ".:") {
		if end, err = netip.ParseAddr(last); err != nil || end.Zone() != "" || end.Is4() != start.Is4() {
			return nil, "does not end with an address of the same family"
		}
	} else if start.Is4() {
		n, ok := parseNum(last, 0, 255)
		if !ok {
			return nil, "does not end with a number from 0 to 255"
		}
		b := start.As4()
		b[3] = byte(n)
		end = netip.AddrFrom4(b)
	} else {
		n, err := strconv.ParseUint(last, 16, 16)
		if err != nil {
			return nil, "does not end with a hex number from 0 to ffff"
		}
		b := start.As16()
		b[14], b[15] = byte(n>>8), byte(n)
		end = netip.AddrFrom16(b)
	}
	if end.Compare(start) <= 0 {
		return nil, "does not end after it starts"
	}
	var out []netip.Addr
	for a := start; a.Compare(end) <= 0; a = a.Next() {
		if len(out) == maxGroupRange {
			return nil, fmt.Sprintf("covers more than %d addresses", maxGroupRange)
		}
		out = append(out, a)
	}
	return checkGroupAddrs(out)
}

func checkGroupAddrs(addrs []netip.Addr) ([]netip.Addr, string) {
	for _, a := range addrs {
		if a.IsUnspecified() || a.IsMulticast() {
			return nil, "includes the unspecified or a multicast address"
		}
	}
	return addrs, ""
}
