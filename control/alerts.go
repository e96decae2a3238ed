package control

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xvs-project/xvs/config"
	"github.com/xvs-project/xvs/healthcheck"
	"github.com/xvs-project/xvs/internal/mail"
	"github.com/xvs-project/xvs/vrrp"
	"go.uber.org/zap"
)

// This file sends keepalived's e-mail alerts (global_defs
// notification_email, smtp_server, smtp_alert...): VRRP instances and
// sync groups changing state, checkers bringing real servers up or down,
// virtual servers gaining or losing their quorum. The state machines and
// the health checks only hand a message to a bounded queue
// (mail.Queue), whose one goroutine talks to the SMTP server: nothing
// waits for mail. The queue runs while Director.Run does.

// mailGrace is how long Director.Run waits at its end for the alerts still
// queued (the VRRP "Stopping" ones among them) before it drops them.
const mailGrace = 3 * time.Second

// smtpPort is smtp_server's default port.
const smtpPort = 25

// alerter turns events into mails. Its settings are replaced at every
// reload (set); the queue exists while Run runs (start). All methods are
// safe for concurrent use and never block on the network.
type alerter struct {
	log  *zap.Logger
	cfg  atomic.Pointer[alertConfig]
	q    atomic.Pointer[mail.Queue]
	host func() string // the host name; os.Hostname by default

	mu   sync.Mutex
	last map[string]string // "instance NAME" or "group NAME" → state last mailed
}

// alertConfig is what a configuration says about mail.
type alertConfig struct {
	enabled         bool
	server          mail.Server
	from            string
	to              []string
	routerID        string
	noFaults        bool
	noCheckerEmails bool
	instances       map[string]bool          // vrrp_instance → its smtp_alert, resolved
	groups          map[string]bool          // vrrp_sync_group → its smtp_alert, resolved
	services        map[string]*serviceAlert // by health service name ("TCP 198.18.0.100:80")
}

// serviceAlert is what a virtual server's alerts need.
type serviceAlert struct {
	alert              bool   // smtp_alert, resolved: quorum mails
	name               string // keepalived's way: "[198.18.0.100]:tcp:80"
	quorum, hysteresis int
	reals              map[string]realAlert // by server name ("198.18.1.11:80")
}

type realAlert struct {
	alert bool   // smtp_alert, resolved: checker mails
	name  string // "[198.18.1.11]:tcp:80"
}

func newAlerter(spec *config.Spec, log *zap.Logger) *alerter {
	a := &alerter{log: log, last: map[string]string{}, host: hostName}
	a.set(spec)
	return a
}

// hostName is the machine's name, keepalived's default router_id and
// HELO name; "localhost" when it cannot be read.
func hostName() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h
}

// set makes spec's mail settings the ones used from now on.
func (a *alerter) set(spec *config.Spec) {
	if a == nil || spec == nil {
		return
	}
	m := spec.Global.Mail
	host := a.host()
	c := &alertConfig{enabled: m.Enabled(), to: m.To, routerID: spec.Global.RouterID,
		noFaults: m.NoEmailFaults, noCheckerEmails: m.NoCheckerEmails,
		instances: map[string]bool{}, groups: map[string]bool{}, services: map[string]*serviceAlert{}}
	if c.routerID == "" {
		c.routerID = host
	}
	port := int(m.Port)
	if port == 0 {
		port = smtpPort
	}
	c.server = mail.Server{Addr: net.JoinHostPort(m.Server, strconv.Itoa(port)), Helo: m.HeloName, Timeout: m.ConnectTimeout}
	if c.server.Helo == "" {
		c.server.Helo = host
	}
	if c.server.Timeout == 0 {
		c.server.Timeout = mail.DefaultTimeout
	}
	c.from = m.From
	if c.from == "" {
		c.from = defaultFrom(host)
	}
	for _, in := range spec.VRRPInstances {
		c.instances[in.Name] = m.VRRPAlert(in.SMTPAlert)
	}
	for _, g := range spec.VRRPSyncGroups {
		c.groups[g.Name] = m.VRRPAlert(g.SMTPAlert)
	}
	for _, vs := range spec.VirtualServers {
		pn := protoNumber(vs.Protocol)
		proto := strings.ToLower(protoName(pn))
		sa := &serviceAlert{alert: m.VirtualServerAlert(vs.SMTPAlert), name: trio(vs.Addr, proto, vs.Port),
			quorum: max(vs.Quorum, 1), hysteresis: vs.Hysteresis, reals: map[string]realAlert{}}
		for _, r := range vs.Reals {
			sa.reals[netip.AddrPortFrom(r.Addr, r.Port).String()] = realAlert{alert: m.RealServerAlert(r.SMTPAlert), name: trio(r.Addr, proto, r.Port)}
		}
		c.services[serviceName(pn, vs.Addr, vs.Port)] = sa
	}
	a.cfg.Store(c)
}

// defaultFrom is keepalived's default notification_email_from: the user
// xvs runs as, at the host name.
func defaultFrom(host string) string {
	name := "root"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	return name + "@" + host
}

// trio writes an address, protocol and port as keepalived's alerts do:
// "[198.18.0.100]:tcp:80".
func trio(a netip.Addr, proto string, port uint16) string {
	return "[" + a.String() + "]:" + proto + ":" + strconv.Itoa(int(port))
}

// start makes the queue alerts go through and returns the function that
// stops it: the alerts still queued then have mailGrace to go out.
func (a *alerter) start() (stop func()) {
	if a == nil {
		return func() {}
	}
	q := mail.NewQueue(mail.QueueConfig{Log: newSlog(a.log.With(zap.String("component", "mail")))})
	a.q.Store(q)
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), mailGrace)
		defer cancel()
		q.Close(ctx)
	}
}

// stats returns the queue's counters; zero before Run.
func (a *alerter) stats() mail.QueueStats {
	if a == nil {
		return mail.QueueStats{}
	}
	if q := a.q.Load(); q != nil {
		return q.Stats()
	}
	return mail.QueueStats{}
}

// send queues one alert with keepalived's subject "[router_id] what".
func (a *alerter) send(c *alertConfig, subject, body string) {
	q := a.q.Load()
	if q == nil || !c.enabled {
		return
	}
	to := make([]string, len(c.to))
	for i, t := range c.to {
		to[i] = mail.FormatAddr(t)
	}
	q.Enqueue(c.server, mail.Message{From: mail.FormatAddr(c.from), To: to,
		Subject: "[" + c.routerID + "] " + subject, Body: body})
}

// config returns the settings, nil when there are none to send with.
func (a *alerter) config() *alertConfig {
	if a == nil {
		return nil
	}
	c := a.cfg.Load()
	if c == nil || !c.enabled || a.q.Load() == nil {
		return nil
	}
	return c
}

// vrrpTexts are keepalived's subjects and bodies of VRRP alerts, for an
// instance and for a sync group, by state.
var vrrpTexts = map[vrrp.State]struct{ subject, instance, group string }{
	vrrp.Master:     {"Entering MASTER state", "=> VRRP Instance is now owning VRRP VIPs <=", "=> All VRRP group instances are now in MASTER state <="},
	vrrp.Backup:     {"Entering BACKUP state", "=> VRRP Instance is no longer owning VRRP VIPs <=", "=> All VRRP group instances are now in BACKUP state <="},
	vrrp.Fault:      {"Entering FAULT state", "=> VRRP Instance is no longer owning VRRP VIPs <=", "=> All VRRP group instances are now in FAULT state <="},
	vrrp.Initialize: {"Stopping", "=> VRRP Instance stopping <=", "=> All VRRP group instances are now stopping <="},
}

// vrrpState is called from the VRRP runner's goroutine when inst entered
// state to: it mails the instance's change, and its sync group's when
// inst is the group's first member in that state (the group moves with
// it), as the notify scripts run. Each is mailed under its own
// smtp_alert, FAULT not under no_email_faults, and only when the state
// differs from the one last mailed for it (keepalived's
// last_email_state).
func (a *alerter) vrrpState(inst *vrrpInstance, to vrrp.State) {
	c := a.config()
	if c == nil {
		return
	}
	texts, ok := vrrpTexts[to]
	if !ok || (to == vrrp.Fault && c.noFaults) {
		return
	}
	if c.instances[inst.spec.Name] && a.changed("instance "+inst.spec.Name, to) {
		a.send(c, "VRRP Instance "+inst.spec.Name+" - "+texts.subject, texts.instance)
	}
	g := inst.g
	if g != nil && g.name != "" && inst.member == firstMoved(g, to) && c.groups[g.name] && a.changed("group "+g.name, to) {
		a.send(c, "VRRP Group "+g.name+" - "+texts.subject, texts.group)
	}
}

// changed records to as the state last mailed for key and reports
// whether it differs from the one before.
func (a *alerter) changed(key string, to vrrp.State) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.last[key] == to.String() {
		return false
	}
	a.last[key] = to.String()
	return true
}

// checkerTexts are keepalived's bodies of a checker's alerts, by checker
// type: when it succeeds and when it fails.
var checkerTexts = map[healthcheck.Kind][2]string{
	healthcheck.KindTCP:  {"=> TCP CHECK succeed on service <=", "=> TCP CHECK failed on service <="},
	healthcheck.KindHTTP: {"=> CHECK succeed on service <=", "=> CHECK failed on service : HTTP/SSL request failed <="},
	healthcheck.KindSSL:  {"=> CHECK succeed on service <=", "=> CHECK failed on service : HTTP/SSL request failed <="},
	healthcheck.KindMisc: {"=> MISC CHECK succeeded on service <=", "=> MISC CHECK failed on service <="},
	healthcheck.KindUDP:  {"=> UDP CHECK succeed on service <=", "=> UDP CHECK failed on service <="},
	healthcheck.KindPing: {"=> ICMP CHECK succeed on service <=", "=> ICMP CHECK failed on service <="},
	healthcheck.KindDNS:  {"=> DNS_CHECK: succeed on service <=", "=> DNS_CHECK: failed on service <="},
	healthcheck.KindSMTP: {"=> CHECK succeed on service <=", "=> CHECK failed on service <="},
}

// checkerBody returns the body of the alert of a checker of kind that
// came up (err nil) or went down with err.
func checkerBody(kind healthcheck.Kind, up bool, err error) string {
	texts, ok := checkerTexts[kind]
	if !ok {
		texts = [2]string{"=> CHECK succeed on service <=", "=> CHECK failed on service <="}
	}
	switch {
	case up:
		return texts[0]
	case kind == healthcheck.KindMisc && errors.Is(err, healthcheck.ErrScriptTimeout):
		return "=> MISC CHECK timed out on service <="
	case kind == healthcheck.KindSMTP && err != nil:
		return "=> CHECK failed on service : " + err.Error() + " <="
	}
	return texts[1]
}

// mailCheck is called by Health.onChange, h.mu held, after the pool took
// the change c: a checker of hs that went up or down mails, as
// keepalived's checkers do, "Realserver [rs]:proto:port of virtual server
// [vip]:proto:port - UP|DOWN" (the real server's state now) under the
// real server's smtp_alert, unless no_checker_emails is set and the real
// server's state did not change (wasUp is its state before).
func (h *Health) mailCheck(hs *healthService, c healthcheck.Change, wasUp bool) {
	if h.alerts == nil || c.Prev.Up == c.State.Up {
		return
	}
	cfg := h.alerts.config()
	if cfg == nil {
		return
	}
	sa, rs, ok := cfg.real(hs.name, c.ID.Server)
	if !ok || !rs.alert {
		return
	}
	up := hs.up[c.ID.Server]
	if cfg.noCheckerEmails && up == wasUp {
		return
	}
	var kind healthcheck.Kind
	if j, ok := h.jobs[c.ID]; ok && j.spec.Config != nil {
		kind = j.spec.Config.Kind()
	}
	h.alerts.send(cfg, realSubject(rs, sa, up), checkerBody(kind, c.State.Up, c.Err))
}

// mailServerStop is called by the pool's server hooks, h.mu held: when the
// health checks stop, omega takes the real servers that are up down, and
// keepalived mails each "=> Shutting down <=".
func (h *Health) mailServerStop(hs *healthService, server string, up bool) {
	if h.alerts == nil || !h.stopped || up {
		return
	}
	cfg := h.alerts.config()
	if cfg == nil {
		return
	}
	if sa, rs, ok := cfg.real(hs.name, server); ok && rs.alert {
		h.alerts.send(cfg, realSubject(rs, sa, false), "=> Shutting down <=")
	}
}

// mailQuorum is called by the pool's quorum hooks, h.mu held: a virtual
// server that gained or lost its quorum mails "Virtualserver
// [vip]:proto:port - UP|DOWN" under its smtp_alert, with keepalived's
// body "=> Gained quorum Q+H=THRESHOLD <= LIVE_WEIGHT <=" (or Lost), or
// "=> Shutting down <=" when omega takes the quorum down as the checks
// stop.
func (h *Health) mailQuorum(hs *healthService, up bool) {
	if h.alerts == nil {
		return
	}
	cfg := h.alerts.config()
	if cfg == nil {
		return
	}
	sa := cfg.services[hs.name]
	if sa == nil || !sa.alert {
		return
	}
	state, body := "DOWN", ""
	switch {
	case h.stopped:
		body = "=> Shutting down <="
	case up:
		state = "UP"
		body = fmt.Sprintf("=> Gained quorum %d+%d=%d <= %d <=", sa.quorum, sa.hysteresis, sa.quorum+sa.hysteresis, hs.pool.Desired().LiveWeight)
	default:
		body = fmt.Sprintf("=> Lost quorum %d+%d=%d <= %d <=", sa.quorum, sa.hysteresis, sa.quorum-sa.hysteresis, hs.pool.Desired().LiveWeight)
	}
	h.alerts.send(cfg, "Virtualserver "+sa.name+" - "+state, body)
}

// real returns the alert settings of a real server of a service.
func (c *alertConfig) real(service, server string) (*serviceAlert, realAlert, bool) {
	sa := c.services[service]
	if sa == nil {
		return nil, realAlert{}, false
	}
	rs, ok := sa.reals[server]
	return sa, rs, ok
}

func realSubject(rs realAlert, sa *serviceAlert, up bool) string {
	state := "DOWN"
	if up {
		state = "UP"
	}
	return "Realserver " + rs.name + " of virtual server " + sa.name + " - " + state
}

// withoutAlerts returns the VRRP instances and sync groups of spec
// without their smtp_alert, which a reload may change (vrrpSignature).
func withoutAlerts(spec *config.Spec) ([]config.VRRPInstance, []config.VRRPSyncGroup) {
	insts := make([]config.VRRPInstance, len(spec.VRRPInstances))
	for i, in := range spec.VRRPInstances {
		in.SMTPAlert = nil
		insts[i] = in
	}
	groups := make([]config.VRRPSyncGroup, len(spec.VRRPSyncGroups))
	for i, g := range spec.VRRPSyncGroups {
		g.SMTPAlert = nil
		groups[i] = g
	}
	return insts, groups
}
