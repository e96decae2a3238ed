package config

import (
	"net/netip"
	"strings"
	"time"
)

// checker reads a checker block (TCP_CHECK, HTTP_GET, …) of a real server
// at rsAddr. It returns the check and the settings it gives itself; what
// it does not set is filled in from the real and virtual servers later.
func (in *interp) checker(st *stmt, rsAddr netip.Addr) (Check, level, bool) {
	p := in.p
	kind := st.kw.text
	c := Check{Pos: st.kw.pos, Kind: kind, Retry: -1, Warmup: -1}
	lvl := newLevel()
	valid := in.noArgs(st)
	if !st.hasBlock {
		// A checker with nothing set is a checker with the defaults.
		return c, lvl, valid
	}
	connection := kind != "MISC_CHECK"
	http := kind == "HTTP_GET" || kind == "SSL_GET"
	miscPathSet := false
	for _, s := range st.block {
		kw := s.kw.text
		if kw == "connect_timeout" && !connection || kw == "virtualhost" && !http {
			in.other(s, nil)
			continue
		}
		if handled, ok := in.levelKeyword(s, &lvl, kind+" ", 0); handled {
			valid = valid && ok
			continue
		}
		ok := true
		switch {
		case kw == "log_all_failures":
			c.LogAllFailures, ok = in.flag(s)
		case connection && kw == "connect_ip":
			c.ConnectIP, ok = in.addrValue(s, "connect_ip 198.18.1.1")
		case connection && kw == "connect_port":
			var t token
			if t, ok = in.value(s, "connect_port 80"); ok {
				c.ConnectPort, ok = in.port(t, "connect_port")
			}
		case connection && kw == "bindto":
			c.BindTo, ok = in.addrValue(s, "bindto 198.18.1.254")
		case connection && kw == "bind_port":
			var t token
			if t, ok = in.value(s, "bind_port 40000"); ok {
				c.BindPort, ok = in.port(t, "bind_port")
			}
		case http && kw == "nb_get_retry":
			// The old name of retry.
			lvl.retry, ok = in.number(s, kind+" nb_get_retry", 0, maxInt32, "retry 3")
			if !ok {
				lvl.retry = -1
			}
		case http && kw == "http_protocol":
			var t token
			if t, ok = in.value(s, "http_protocol 1.1"); !ok {
				break
			}
			switch v := strings.ToUpper(t.text); v {
			case "1.0", "1.1", "1.0C", "1.0K":
				c.HTTPProtocol = v
			default:
				p.errorf(t.pos, "http_protocol %q is not one of 1.0, 1.1, 1.0C, 1.0K", t.text)
				ok = false
			}
		case http && kw == "enable_sni":
			c.EnableSNI, ok = in.flag(s)
		case http && kw == "sni_name":
			var t token
			if t, ok = in.value(s, "sni_name www.example.com"); ok {
				c.SNIName = t.text
			}
		case http && kw == "url":
			var u URL
			if u, ok = in.url(s); ok {
				c.URLs = append(c.URLs, u)
			}
		case kind == "MISC_CHECK" && kw == "misc_path":
			c.MiscPath, ok = in.command(s, `"misc_path \"/usr/local/bin/check.sh 198.18.1.1\""`)
			miscPathSet = miscPathSet || ok
		case kind == "MISC_CHECK" && kw == "misc_timeout":
			c.MiscTimeout, ok = in.seconds(s, "misc_timeout", time.Nanosecond, maxDelayLoop, "misc_timeout 5")
		case kind == "MISC_CHECK" && kw == "misc_dynamic":
			if ok = in.bare(s); ok {
				c.MiscDynamic = true
			}
		case kind == "MISC_CHECK" && kw == "user":
			c.User, c.Group, ok = in.userGroup(s)
		case kind == "UDP_CHECK" && kw == "payload":
			ok = in.noBlock(s)
			if len(s.args) == 0 {
				p.errorf(s.kw.pos, `payload needs hex digits, e.g. "payload 0a0b0c"`)
				ok = false
				break
			}
			hexText := joinArgs(s.args)
			b, hOK := parseHex(hexText)
			if !hOK {
				p.errorf(s.args[0].pos, "payload %q is not hex digits in whole bytes", hexText)
				ok = false
				break
			}
			c.Payload = b
		case kind == "UDP_CHECK" && kw == "require_reply":
			ok = in.noBlock(s)
			c.RequireReply = true
			if len(s.args) == 0 {
				break
			}
			reply := joinArgs(s.args)
			if !validReplyHex(reply) {
				p.errorf(s.args[0].pos, "require_reply %q is not hex digits (or x for any digit) in whole bytes", reply)
				ok = false
				break
			}
			c.Reply = reply
		case kind == "UDP_CHECK" && (kw == "min_reply_length" || kw == "max_reply_length"):
			var n int
			if n, ok = in.number(s, kw, 0, 65535, kw+" 8"); !ok {
				break
			}
			if kw == "min_reply_length" {
				c.MinReplyLength = n
			} else {
				c.MaxReplyLength = n
			}
		case kind == "DNS_CHECK" && kw == "type":
			var t token
			if t, ok = in.value(s, "type A"); !ok {
				break
			}
			typ := strings.ToUpper(t.text)
			known := false
			for _, d := range dnsTypes {
				known = known || d == typ
			}
			if !known {
				p.errorf(t.pos, "DNS_CHECK type %q is not one of %s", t.text, strings.Join(dnsTypes, ", "))
				ok = false
				break
			}
			c.DNSType = typ
		case kind == "DNS_CHECK" && kw == "name":
			var t token
			if t, ok = in.value(s, "name www.example.com."); !ok {
				break
			}
			if t.text == "" || (t.text[0] == '.' && t.text != ".") || strings.Contains(t.text, "..") {
				p.errorf(t.pos, "DNS_CHECK name %q has an empty label", t.text)
				ok = false
				break
			}
			c.DNSName = t.text
		default:
			in.other(s, notActedChecker)
		}
		valid = valid && ok
	}
	ref := c.ConnectIP
	if !ref.IsValid() {
		ref = rsAddr
	}
	if c.BindTo.IsValid() && ref.IsValid() && c.BindTo.Is4() != ref.Is4() {
		p.errorf(st.kw.pos, "%s bindto %s is %s but it connects to %s, which is %s", kind, c.BindTo, family(c.BindTo), ref, family(ref))
		valid = false
	}
	if http && len(c.URLs) == 0 && valid {
		p.errorf(st.kw.pos, `%s needs at least one url block, e.g. "url { path / }"`, kind)
		valid = false
	}
	if kind == "MISC_CHECK" && !miscPathSet && valid {
		p.errorf(st.kw.pos, `MISC_CHECK needs a misc_path, e.g. "misc_path \"/usr/local/bin/check.sh\""`)
		valid = false
	}
	if kind == "UDP_CHECK" && c.MinReplyLength > c.MaxReplyLength && c.MaxReplyLength != 0 {
		p.warnf(st.kw.pos, "UDP_CHECK min_reply_length %d is more than max_reply_length %d, so the check always fails", c.MinReplyLength, c.MaxReplyLength)
	}
	return c, lvl, valid
}

// url reads url { path P status_code C digest D virtualhost H }.
func (in *interp) url(st *stmt) (URL, bool) {
	p := in.p
	u := URL{Pos: st.kw.pos}
	valid := in.noArgs(st)
	if !in.needBlock(st, `"url { path /healthz }"`) {
		return u, false
	}
	for _, s := range st.block {
		ok := true
		switch s.kw.text {
		case "path":
			var t token
			if t, ok = in.value(s, "path /"); ok {
				u.Path = t.text
			}
		case "digest":
			var t token
			if t, ok = in.value(s, "digest 640205b7b0fc66c1ea91c463fac6334d"); !ok {
				break
			}
			d := strings.ToLower(t.text)
			if !isDigestHex(d) {
				p.errorf(t.pos, "digest %q is not an MD5 digest (32 hex digits)", t.text)
				ok = false
				break
			}
			u.Digest = d
		case "status_code":
			ok = in.noBlock(s)
			if len(s.args) == 0 {
				p.errorf(s.kw.pos, `status_code needs codes, e.g. "status_code 200-299 302"`)
				ok = false
				break
			}
			for _, a := range s.args {
				if !statusCodeOK(a.text) {
					p.errorf(a.pos, "status_code %q is not an HTTP status code or range of them (100 to 599)", a.text)
					ok = false
				}
			}
			if ok {
				u.StatusCode = joinArgs(s.args)
			}
		case "virtualhost":
			var t token
			if t, ok = in.value(s, "virtualhost www.example.com"); ok {
				u.VirtualHost = t.text
			}
		default:
			in.other(s, notActedURL)
		}
		valid = valid && ok
	}
	if u.Path == "" && valid {
		p.errorf(st.kw.pos, `url needs a path, e.g. "path /healthz"`)
		valid = false
	}
	return u, valid
}

// joinArgs joins the words of the arguments with single spaces.
func joinArgs(args []token) string {
	words := make([]string, len(args))
	for i, a := range args {
		words[i] = a.text
	}
	return strings.Join(words, " ")
}
