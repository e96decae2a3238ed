package control

import (
	"fmt"
	"strings"

	"github.com/xvs-project/xvs/config"
	"github.com/xvs-project/xvs/healthcheck"
)

// Building health checks from the config: keepalived's checker blocks as
// healthcheck.CheckSpecs, virtual servers as healthcheck.ServiceSpecs, and
// their notify and quorum scripts.

// HealthCheckSpec converts a checker block of keepalived.conf into the
// healthcheck package's terms, applying keepalived's defaults for the
// checker type (healthcheck.DefaultPolicy) where the block leaves a value
// unset. Inheritance (delay_loop, alpha, virtualhost) is package config's
// work and is taken as done. A MISC_CHECK without a user runs as the
// global script_user. Errors name the keyword at fault.
func HealthCheckSpec(c config.Check, g config.Global) (healthcheck.CheckSpec, error) {
	kind := healthcheck.Kind(c.Kind)
	p := healthcheck.DefaultPolicy(kind)
	if c.DelayLoop > 0 {
		p.DelayLoop = c.DelayLoop
	}
	if c.Retry >= 0 {
		p.Retry = c.Retry
	}
	if c.DelayBeforeRetry > 0 {
		p.DelayBeforeRetry = c.DelayBeforeRetry
	}
	switch {
	case c.Warmup == 0:
		p.Warmup = -1 // keepalived's "warmup 0": check at once
	case c.Warmup > 0:
		p.Warmup = c.Warmup
	}
	p.Alpha = c.Alpha
	p.LogAllFailures = c.LogAllFailures
	conn := healthcheck.Conn{ConnectIP: c.ConnectIP, ConnectPort: c.ConnectPort, BindTo: c.BindTo, BindPort: c.BindPort,
		ConnectTimeout: c.ConnectTimeout}
	var cfg healthcheck.Config
	switch kind {
	case healthcheck.KindTCP:
		cfg = healthcheck.TCPConfig{Conn: conn}
	case healthcheck.KindHTTP, healthcheck.KindSSL:
		h := healthcheck.HTTPConfig{Conn: conn, TLS: kind == healthcheck.KindSSL, EnableSNI: c.EnableSNI, ServerName: c.SNIName,
			VirtualHost: c.VirtualHost}
		switch c.HTTPProtocol {
		case "", "1.0K":
			// 1.0K (keep-alive) changes nothing for one request per
			// connection; healthcheck sends plain 1.0 for it.
			h.Protocol = healthcheck.HTTP10
		default:
			h.Protocol = healthcheck.HTTPProtocol(c.HTTPProtocol)
		}
		for _, u := range c.URLs {
			url := healthcheck.URL{Path: u.Path, Digest: u.Digest, VirtualHost: u.VirtualHost}
			if u.StatusCode != "" {
				codes, err := healthcheck.ParseStatusCodes(strings.Fields(u.StatusCode)...)
				if err != nil {
					return healthcheck.CheckSpec{}, fmt.Errorf("%s: status_code: %w", u.Pos, err)
				}
				url.StatusCodes = codes
			}
			h.URLs = append(h.URLs, url)
		}
		cfg = h
	case healthcheck.KindMisc:
		m := healthcheck.MiscConfig{Path: joinArgv(c.MiscPath.Argv), Timeout: c.MiscTimeout, Dynamic: c.MiscDynamic,
			User: c.User, Group: c.Group}
		if m.Timeout == 0 {
			m.Timeout = p.DelayLoop // keepalived: misc_timeout defaults to the delay_loop
		}
		if m.User == "" {
			m.User, m.Group = g.ScriptUser, g.ScriptGroup
		}
		cfg = m
	case healthcheck.KindUDP:
		u := healthcheck.UDPConfig{Conn: conn, Payload: c.Payload, RequireReply: c.RequireReply,
			MinReplyLength: c.MinReplyLength, MaxReplyLength: c.MaxReplyLength}
		if c.Reply != "" {
			data, mask, err := healthcheck.ParseHex(c.Reply)
			if err != nil {
				return healthcheck.CheckSpec{}, fmt.Errorf("%s: require_reply: %w", c.Pos, err)
			}
			u.Reply, u.ReplyMask = data, mask
		}
		cfg = u
	case healthcheck.KindPing:
		cfg = healthcheck.PingConfig{Conn: conn}
	case healthcheck.KindDNS:
		cfg = healthcheck.DNSConfig{Conn: conn, Type: c.DNSType, Name: c.DNSName}
	case healthcheck.KindSMTP:
		// Every host must pass too; a host without its own
		// connect_timeout takes the checker's.
		m := healthcheck.SMTPConfig{Conn: conn, HeloName: c.HeloName}
		for _, h := range c.SMTPHosts {
			hc := healthcheck.Conn{ConnectIP: h.ConnectIP, ConnectPort: h.ConnectPort, BindTo: h.BindTo, BindPort: h.BindPort,
				ConnectTimeout: h.ConnectTimeout}
			if hc.ConnectTimeout == 0 {
				hc.ConnectTimeout = c.ConnectTimeout
			}
			m.Hosts = append(m.Hosts, hc)
		}
		cfg = m
	default:
		return healthcheck.CheckSpec{}, fmt.Errorf("%s: unknown checker %q", c.Pos, c.Kind)
	}
	return healthcheck.CheckSpec{Config: cfg, Policy: p}, nil
}

// HealthServiceSpec converts a virtual server into the health-checking
// spec of its pool, as planSpec describes it (ServicePlan.healthSpec): its
// real servers with their checks (HealthCheckSpec), quorum, hysteresis,
// sorry_server, ha_suspend and omega. Service names are "PROTO VIP:PORT",
// server names "ADDR:PORT", the sorry server's "sorry_server ADDR:PORT".
func HealthServiceSpec(vs config.VirtualServer, g config.Global) (healthcheck.ServiceSpec, error) {
	sp, err := planService(vs, g)
	if err != nil {
		return healthcheck.ServiceSpec{}, err
	}
	if err := planChecks(&sp, vs, g); err != nil {
		return healthcheck.ServiceSpec{}, err
	}
	ss := sp.healthSpec()
	if err := ss.Validate(); err != nil {
		return healthcheck.ServiceSpec{}, fmt.Errorf("%s: %w", vs.Pos, err)
	}
	return ss, nil
}

// joinArgv turns an argument vector back into a command line that
// healthcheck.SplitCommand splits into the same vector: plain words as
// they are, others in single quotes with \ and ' escaped.
func joinArgv(argv []string) string {
	var b strings.Builder
	for i, a := range argv {
		if i > 0 {
			b.WriteByte(' ')
		}
		if a != "" && strings.IndexFunc(a, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_-./:=,+@%", r))
		}) < 0 {
			b.WriteString(a)
			continue
		}
		b.WriteByte('\'')
		for j := 0; j < len(a); j++ {
			if a[j] == '\\' || a[j] == '\'' {
				b.WriteByte('\\')
			}
			b.WriteByte(a[j])
		}
		b.WriteByte('\'')
	}
	return b.String()
}

// hasChecks reports whether any real server of vs has a checker.
func hasChecks(vs config.VirtualServer) bool {
	for _, r := range vs.Reals {
		if len(r.Checks) > 0 {
			return true
		}
	}
	return false
}
