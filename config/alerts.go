package config

import (
	"net/netip"
	"strings"
	"time"
)

// Mail is the e-mail alert settings of global_defs, keepalived's:
//
//	notification_email { ADDR ... }
//	notification_email_from ADDR
//	smtp_server HOST [PORT]
//	smtp_helo_name NAME
//	smtp_connect_timeout SECONDS
//	smtp_alert [BOOL]
//	smtp_alert_vrrp [BOOL]
//	smtp_alert_checker [BOOL]
//	no_email_faults
//	no_checker_emails [BOOL]
//
// Mail is sent only when there is an smtp_server and at least one
// notification_email address (Enabled); which events send one is decided
// per vrrp_instance, vrrp_sync_group, virtual_server and real_server by
// their smtp_alert and the defaults here (VRRPAlert, VirtualServerAlert,
// RealServerAlert). Unset values are zero; the defaults in parentheses
// are applied by whoever sends.
type Mail struct {
	// To are the notification_email addresses, in order; several blocks
	// add up, as in keepalived. Each is "user@example.com" or, quoted,
	// "Name <user@example.com>". ToPos is the first block's position.
	To    []string
	ToPos Pos
	// From is notification_email_from; empty when not set (USER@HOST:
	// the user xvs runs as at the host name, as keepalived).
	From string
	// Server is smtp_server's host, an IP address or a DNS name; empty
	// when not set. Port is its port; 0 when not given (25). ServerPos
	// is the position of the host.
	Server    string
	Port      uint16
	ServerPos Pos
	// HeloName is smtp_helo_name; empty when not set (the host name).
	HeloName string
	// ConnectTimeout is smtp_connect_timeout, 1 to 4294 whole seconds:
	// the bound on connecting to the server and on each of its replies;
	// 0 when not set (30s).
	ConnectTimeout time.Duration
	// Alert, AlertVRRP and AlertChecker are smtp_alert,
	// smtp_alert_vrrp and smtp_alert_checker: the default of the
	// objects' own smtp_alert; nil when not set.
	Alert        *bool
	AlertVRRP    *bool
	AlertChecker *bool
	// NoEmailFaults is no_email_faults: VRRP instances and sync groups
	// entering FAULT send no mail.
	NoEmailFaults bool
	// NoCheckerEmails is no_checker_emails: a checker that changes state
	// sends mail only when its real server goes up or down with it, not
	// when another checker of the server keeps it down.
	NoCheckerEmails bool
}

// Enabled reports whether mail can be sent: there is an smtp_server and
// at least one notification_email address.
func (m Mail) Enabled() bool { return m.Server != "" && len(m.To) > 0 }

// VRRPAlert reports whether a vrrp_instance or vrrp_sync_group whose own
// smtp_alert is own (nil when it has none) sends mail on its state
// changes, as keepalived decides: its own setting, else smtp_alert_vrrp,
// else smtp_alert, else no.
func (m Mail) VRRPAlert(own *bool) bool { return pick(own, m.AlertVRRP, m.Alert, false) }

// VirtualServerAlert reports whether a virtual_server whose own
// smtp_alert is own sends mail when its quorum is gained or lost: its own
// setting, else smtp_alert_checker, else smtp_alert, else no.
func (m Mail) VirtualServerAlert(own *bool) bool {
	return pick(own, m.AlertChecker, m.Alert, false)
}

// RealServerAlert reports whether the checkers of a real_server whose own
// smtp_alert is own send mail when they change state: its own setting,
// else smtp_alert_checker, else smtp_alert, else yes (keepalived's
// default for real servers, unlike the others). The virtual server's
// smtp_alert does not count, as in keepalived.
func (m Mail) RealServerAlert(own *bool) bool {
	return pick(own, m.AlertChecker, m.Alert, true)
}

// pick returns the first of the settings that is set, else def.
func pick(own, specific, global *bool, def bool) bool {
	for _, b := range []*bool{own, specific, global} {
		if b != nil {
			return *b
		}
	}
	return def
}

// The mail keywords follow keepalived's outcomes: what it reports and
// goes on with (a value it cannot read, a missing value) is a warning and
// the line is ignored; an address that cannot work, which keepalived
// sends as it is, is a warning too. Only a block where none belongs, or
// none where one does, is an error.

// ignoref warns about a line that is ignored, as keepalived ignores it.
func (in *interp) ignoref(pos Pos, format string, args ...any) {
	in.p.warnf(pos, format+"; the line is ignored, as keepalived does", args...)
}

// mailKeyword reads a global_defs mail keyword into m. It returns false
// when s is not one.
func (in *interp) mailKeyword(s *stmt, m *Mail) bool {
	switch s.kw.text {
	case "notification_email":
		in.notificationEmail(s, m)
	case "notification_email_from":
		if t, ok := in.mailValue(s, "notification_email_from keepalived@example.com"); ok && in.emailAddr(t, s.kw.text, true) {
			m.From = t.text
		}
	case "smtp_server":
		in.smtpServer(s, m)
	case "smtp_helo_name":
		t, ok := in.mailValue(s, "smtp_helo_name lb1.example.com")
		if !ok {
			break
		}
		if strings.ContainsAny(t.text, " \t") {
			in.ignoref(t.pos, "smtp_helo_name %q is not a host name, e.g. \"lb1.example.com\"", t.text)
			break
		}
		m.HeloName = t.text
	case "smtp_connect_timeout":
		t, ok := in.mailValue(s, "smtp_connect_timeout 30")
		if !ok {
			break
		}
		n, numOK := parseNum(t.text, 0, 4294)
		if !numOK {
			in.ignoref(t.pos, "smtp_connect_timeout %q is not a whole number of seconds between 0 and 4294", t.text)
			break
		}
		if n == 0 {
			in.p.warnf(t.pos, "smtp_connect_timeout must be greater than 0; 1 is used, as keepalived does")
			n = 1
		}
		m.ConnectTimeout = time.Duration(n) * time.Second
	case "smtp_alert":
		in.smtpAlert(s, &m.Alert)
	case "smtp_alert_vrrp":
		in.smtpAlert(s, &m.AlertVRRP)
	case "smtp_alert_checker":
		in.smtpAlert(s, &m.AlertChecker)
	case "no_email_faults":
		if !in.noBlock(s) {
			break
		}
		if len(s.args) > 0 {
			in.p.warnf(s.args[0].pos, "no_email_faults takes no value; %q is ignored, as keepalived does", s.args[0].text)
		}
		m.NoEmailFaults = true
	case "no_checker_emails":
		var v *bool
		if in.smtpAlert(s, &v) {
			m.NoCheckerEmails = *v
		}
	default:
		return false
	}
	return true
}

// mailValue returns the first value of s. A missing value is warned
// about (the line is ignored), further values too (the first is used),
// as keepalived does; a block is an error.
func (in *interp) mailValue(s *stmt, example string) (token, bool) {
	if !in.noBlock(s) {
		return token{}, false
	}
	if len(s.args) == 0 {
		in.ignoref(s.kw.pos, "%s needs a value, e.g. %q", s.kw.text, example)
		return token{}, false
	}
	if len(s.args) > 1 {
		in.p.warnf(s.args[1].pos, "%s takes one value; %q and what follows are ignored, as keepalived does", s.kw.text, s.args[1].text)
	}
	return s.args[0], true
}

// smtpAlert reads smtp_alert (in global_defs, a vrrp_instance, a
// vrrp_sync_group, a virtual_server or a real_server), smtp_alert_vrrp,
// smtp_alert_checker or no_checker_emails into *dst: alone it is on,
// else its value is one of true, on, yes, false, off, no. A value that is
// none of those leaves *dst as it was, with a warning, as keepalived
// does. It reports whether *dst was set; only a block is an error.
func (in *interp) smtpAlert(s *stmt, dst **bool) bool {
	if !in.noBlock(s) {
		return false
	}
	v := true
	if len(s.args) > 0 {
		var ok bool
		if v, ok = parseBool(s.args[0].text); !ok || s.args[0].text != strings.ToLower(s.args[0].text) {
			in.ignoref(s.args[0].pos, "%s %q is not one of true, false, on, off, yes, no (in small letters)", s.kw.text, s.args[0].text)
			return false
		}
		if len(s.args) > 1 {
			in.p.warnf(s.args[1].pos, "%s takes at most one value; %q and what follows are ignored, as keepalived does", s.kw.text, s.args[1].text)
		}
	}
	*dst = &v
	return true
}

// notificationEmail reads notification_email { ADDR ... }: addresses on
// one or several lines.
func (in *interp) notificationEmail(s *stmt, m *Mail) {
	in.noArgs(s)
	if !in.needBlock(s, `"notification_email { admin@example.com }"`) {
		return
	}
	if m.ToPos.Line == 0 {
		m.ToPos = s.kw.pos
	}
	n := 0
	for _, line := range s.block {
		if line.warning != "" {
			in.other(line, nil)
			continue
		}
		if line.hasBlock {
			in.p.errorf(line.lbrace, "a notification_email line does not open a block")
			continue
		}
		for _, t := range append([]token{line.kw}, line.args...) {
			n++
			if in.emailAddr(t, "notification_email", false) {
				m.To = append(m.To, t.text)
			}
		}
	}
	if n == 0 {
		in.p.warnf(s.kw.pos, "notification_email block is empty; it adds no address, as in keepalived")
	}
}

// emailAddr checks an address as "user@example.com" or
// "Name <user@example.com>": what goes to the SMTP server (all of it, or
// what is in the angle brackets) must be one word without white space,
// commas or angle brackets. keepalived sends any word as it is, and the
// server refuses a bad one: a bad sender or recipient loses every mail.
// xvs leaves it out with a warning (the line, for the sender, whose
// default is used).
func (in *interp) emailAddr(t token, what string, line bool) bool {
	spec := t.text
	if strings.HasSuffix(spec, ">") {
		if i := strings.LastIndexByte(spec, '<'); i >= 0 {
			spec = spec[i+1 : len(spec)-1]
		}
	}
	if spec == "" || strings.ContainsAny(spec, " \t<>,") {
		const msg = "%s %q is not an e-mail address, e.g. \"admin@example.com\" or \"Admin <admin@example.com>\" (quoted)"
		if line {
			in.p.warnf(t.pos, msg+"; the line is ignored (keepalived would send it and the server refuse every mail)", what, t.text)
		} else {
			in.p.warnf(t.pos, msg+"; it is left out (keepalived would send it and the server refuse every mail)", what, t.text)
		}
		return false
	}
	return true
}

// smtpServer reads smtp_server HOST [PORT].
func (in *interp) smtpServer(s *stmt, m *Mail) {
	const example = `"smtp_server 198.18.0.25 25"`
	if !in.noBlock(s) {
		return
	}
	if len(s.args) == 0 {
		in.ignoref(s.kw.pos, "smtp_server needs a host and optionally a port, e.g. %s", example)
		return
	}
	if len(s.args) > 2 {
		in.p.warnf(s.args[2].pos, "smtp_server takes a host and a port; %q and what follows are ignored, as keepalived does", s.args[2].text)
	}
	host := s.args[0]
	if a, err := netip.ParseAddr(host.text); err == nil {
		if a.IsUnspecified() || a.IsMulticast() {
			in.ignoref(host.pos, "smtp_server %q is not a unicast address, e.g. %s", host.text, example)
			return
		}
	} else if !validHostName(host.text) {
		in.ignoref(host.pos, "smtp_server %q is not an IP address or a host name, e.g. %s", host.text, example)
		return
	}
	var port uint16
	if len(s.args) >= 2 {
		n, ok := parseNum(s.args[1].text, 1, 65535)
		if !ok {
			in.ignoref(s.args[1].pos, "smtp_server port %q is not a number between 1 and 65535", s.args[1].text)
			return
		}
		port = uint16(n)
	}
	m.Server, m.Port, m.ServerPos = host.text, port, host.pos
}

// validHostName reports whether s is a DNS name: dot-separated labels of
// letters, digits, hyphens and underscores, 1 to 63 bytes each, not
// starting or ending with a hyphen, the last not all digits (so that a
// mistyped IPv4 address is not taken for a name), 253 bytes at most.
func validHostName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	digits := false
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		digits = true
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
			digits = digits && c >= '0' && c <= '9'
		}
	}
	return !digits
}

// finishMail notes mail settings that send nothing: addresses
// without a server or a server without addresses.
func (in *interp) finishMail() {
	m := in.spec.Global.Mail
	switch {
	case len(m.To) > 0 && m.Server == "":
		in.p.noteOnce(m.ToPos, "notification_email without smtp_server: no mail is sent, as in keepalived")
	case m.Server != "" && len(m.To) == 0:
		in.p.noteOnce(m.ServerPos, "smtp_server without notification_email addresses: no mail is sent, as in keepalived")
	}
}
