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
	// A checker without a block is one with nothing set: the defaults,
	// and the checks below (an HTTP_GET without url is ignored, a
	// MISC_CHECK without misc_path refused) as for an empty block.
	valid := in.noArgs(st)
	connection := kind != "MISC_CHECK"
	http := kind == "HTTP_GET" || kind == "SSL_GET"
	smtp := kind == "SMTP_CHECK"
	miscPathSet := false
	var hosts []SMTPHost
	var ownConn *stmt  // SMTP_CHECK's first connection keyword at its own level
	ownTarget := false // connect_ip or connect_port among them
	for _, s := range st.block {
		kw := s.kw.text
		if smtp && isConnKeyword(kw) {
			if ownConn == nil {
				ownConn = s
			}
			ownTarget = ownTarget || kw == "connect_ip" || kw == "connect_port"
		}
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
		case smtp && kw == "helo_name":
			c.HeloName, ok = in.heloName(s)
		case smtp && kw == "host":
			var h SMTPHost
			if h, ok = in.smtpHost(s, &c, &lvl, rsAddr); ok {
				hosts = append(hosts, h)
			}
		default:
			in.other(s, notActedChecker)
		}
		valid = valid && ok
	}
	valid = in.bindFamily(st.kw.pos, kind, c.BindTo, c.ConnectIP, rsAddr) && valid
	if smtp && len(hosts) > 0 && ownConn != nil && !ownTarget {
		// keepalived -t says nothing about it: a note.
		kw := ownConn.kw.text
		p.noteOnce(ownConn.kw.pos, "SMTP_CHECK of real server %s has host blocks and sets %s itself, so it checks the real server's own address and port too, "+
			"as keepalived 2.2 does; put %s in each host block to check the hosts alone", rsAddr, kw, kw)
	}
	if smtp && len(hosts) > 0 && ownConn == nil && lvl.connectTimeout == 0 {
		// keepalived checks the hosts alone: the first one takes the
		// place of the checker's own connection.
		h := hosts[0]
		c.ConnectIP, c.ConnectPort, c.BindTo, c.BindPort = h.ConnectIP, h.ConnectPort, h.BindTo, h.BindPort
		lvl.connectTimeout = h.ConnectTimeout
		hosts = hosts[1:]
	}
	if len(hosts) > 0 {
		c.SMTPHosts = hosts
	}
	if http && len(c.URLs) == 0 && valid {
		// keepalived: "HTTP/SSL_GET checker has no urls specified -
		// ignoring"; the real server then has one checker fewer.
		p.warnf(st.kw.pos, `%s has no url block, so this checker is ignored, as keepalived does; give it one, e.g. "url { path / }"`, kind)
		c.ignored = true
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

// isConnKeyword reports whether kw is one of the connection keywords of a
// checker: those that, set in an SMTP_CHECK block itself, make keepalived
// check the block's own connection besides its host blocks.
func isConnKeyword(kw string) bool {
	switch kw {
	case "connect_ip", "connect_port", "bindto", "bind_port", "bind_if", "fwmark", "connect_timeout":
		return true
	}
	return false
}

// heloName reads helo_name NAME of SMTP_CHECK.
func (in *interp) heloName(st *stmt) (string, bool) {
	t, ok := in.value(st, "helo_name mx1.example.com")
	if t.pos.Line == 0 {
		return "", false
	}
	if t.text == "" || strings.IndexFunc(t.text, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		in.p.errorf(t.pos, `helo_name %q is not a single word; HELO takes a domain name, e.g. "helo_name mx1.example.com"`, t.text)
		return "", false
	}
	return t.text, ok
}

// smtpHost reads a host block of SMTP_CHECK of a real server at rsAddr:
// host { connect_ip A connect_port P bindto A bind_port P connect_timeout T }.
// The checker keywords that are not about the connection (retry, warmup,
// log_all_failures, …) set the whole checker's, c and lvl, as keepalived
// does.
func (in *interp) smtpHost(st *stmt, c *Check, lvl *level, rsAddr netip.Addr) (SMTPHost, bool) {
	h := SMTPHost{Pos: st.kw.pos}
	valid := in.noArgs(st)
	if !in.needBlock(st, `"host { connect_ip 198.18.1.1 connect_port 25 }"`) {
		return h, false
	}
	for _, s := range st.block {
		kw := s.kw.text
		ok := true
		switch kw {
		case "connect_ip":
			h.ConnectIP, ok = in.addrValue(s, "connect_ip 198.18.1.1")
		case "connect_port":
			var t token
			if t, ok = in.value(s, "connect_port 25"); ok {
				h.ConnectPort, ok = in.port(t, "connect_port")
			}
		case "bindto":
			h.BindTo, ok = in.addrValue(s, "bindto 198.18.1.254")
		case "bind_port":
			var t token
			if t, ok = in.value(s, "bind_port 40000"); ok {
				h.BindPort, ok = in.port(t, "bind_port")
			}
		case "connect_timeout":
			h.ConnectTimeout, ok = in.seconds(s, "SMTP_CHECK host connect_timeout", time.Nanosecond, maxDelayLoop, "connect_timeout 3")
		case "log_all_failures":
			c.LogAllFailures, ok = in.flag(s)
		case "virtualhost":
			in.other(s, nil)
		default:
			var handled bool
			if handled, ok = in.levelKeyword(s, lvl, "SMTP_CHECK ", 0); !handled {
				in.other(s, notActedChecker)
			}
		}
		valid = valid && ok
	}
	valid = in.bindFamily(st.kw.pos, "SMTP_CHECK host", h.BindTo, h.ConnectIP, rsAddr) && valid
	return h, valid
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

// bindFamily reports, at pos, a bindto of another address family than the
// address what connects to (connectIP, else the real server's rsAddr),
// and returns false for it.
func (in *interp) bindFamily(pos Pos, what string, bindTo, connectIP, rsAddr netip.Addr) bool {
	ref := connectIP
	if !ref.IsValid() {
		ref = rsAddr
	}
	if bindTo.IsValid() && ref.IsValid() && bindTo.Is4() != ref.Is4() {
		in.p.errorf(pos, "%s bindto %s is %s but it connects to %s, which is %s", what, bindTo, family(bindTo), ref, family(ref))
		return false
	}
	return true
}
