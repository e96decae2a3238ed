package control

import (
	"net/netip"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/xvs-project/xvs/config"
	"github.com/xvs-project/xvs/internal/smtptest"
	"github.com/xvs-project/xvs/vrrp"
	"go.uber.org/zap"
)

// smtpSink is an SMTP server on 127.0.0.1 that accepts every message.
type smtpSink struct {
	t *testing.T
	*smtptest.Server
}

func newSMTPSink(t *testing.T) *smtpSink {
	t.Helper()
	return &smtpSink{t: t, Server: smtptest.New(t, smtptest.Good())}
}

// mail returns the smtp_server and port of the sink.
func (s *smtpSink) mail(to ...string) config.Mail {
	ap := s.Addr()
	return config.Mail{Server: ap.Addr().String(), Port: ap.Port(), To: to, From: "xvs@example.com", HeloName: "lb1.example.com"}
}

// take returns the subjects and bodies ("subject | body") of the next n
// messages.
func (s *smtpSink) take(n int) []string {
	s.t.Helper()
	var out []string
	for range n {
		m := s.NextMessage()
		out = append(out, m.Header("Subject")+" | "+m.Body())
	}
	return out
}

// none fails the test if a message arrives within d.
func (s *smtpSink) none(d time.Duration) {
	s.t.Helper()
	if m, ok := s.NextMessageWithin(d); ok {
		s.t.Errorf("unexpected mail %q: %q", m.Header("Subject"), m.Body())
	}
}

// testVRRP builds a runner over instances that are never put on a wire
// (no sockets: adverts and GARPs are skipped), in one sync group when
// group is not empty, each alone otherwise.
func testVRRP(t *testing.T, a *alerter, group string, names ...string) *vrrpRunner {
	t.Helper()
	r := &vrrpRunner{log: zap.NewNop(), status: make([]VRRPStatus, len(names)), notify: make(chan struct{}, 8), alerts: a}
	var ms []*vrrp.Machine
	gr := &vrrpGroup{name: group}
	for i, name := range names {
		m, err := vrrp.NewMachine(vrrp.Config{VRID: uint8(i + 1), PrimaryAddr: netip.MustParseAddr("198.18.0.2"),
			VIPs: []netip.Prefix{netip.MustParsePrefix("198.18.0.100/32")}})
		if err != nil {
			t.Fatal(err)
		}
		inst := &vrrpInstance{spec: config.VRRPInstance{Name: name}, idx: i, m: m,
			link: &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Index: 1000 + i, Name: "dummy" + strconv.Itoa(i)}}}
		r.insts = append(r.insts, inst)
		if group == "" {
			g, err := vrrp.NewGroup(m)
			if err != nil {
				t.Fatal(err)
			}
			inst.g = &vrrpGroup{g: g, members: []*vrrpInstance{inst}}
			r.groups = append(r.groups, inst.g)
			continue
		}
		inst.g, inst.member = gr, i
		gr.members = append(gr.members, inst)
		ms = append(ms, m)
	}
	if group != "" {
		g, err := vrrp.NewGroup(ms...)
		if err != nil {
			t.Fatal(err)
		}
		gr.g = g
		r.groups = append(r.groups, gr)
	}
	return r
}

// runAll steps every group of r with an event of kind for every member.
func (r *vrrpRunner) runAll(kind vrrp.EventKind, now time.Time) {
	for _, g := range r.groups {
		r.step(g, -1, vrrp.Event{Kind: kind, Now: now})
	}
}

func startAlerts(t *testing.T, spec *config.Spec) *alerter {
	t.Helper()
	a := newAlerter(spec, zap.NewNop())
	a.host = func() string { return "lb1.example.com" }
	a.set(spec)
	t.Cleanup(a.start())
	return a
}

func boolp(b bool) *bool { return &b }

// TestAlertsVRRPInstance: an instance's state changes are mailed with
// keepalived's subjects and bodies, from the configured sender to every
// address, through the configured HELO name; router_id is in the
// subject.
func TestAlertsVRRPInstance(t *testing.T) {
	sink := newSMTPSink(t)
	spec := &config.Spec{Global: config.Global{RouterID: "LVS_DEVEL",
		Mail: sink.mail("admin@example.com", "Ops Team <ops@example.com>", "J. Smith <js@example.com>")}}
	spec.VRRPInstances = []config.VRRPInstance{{Name: "VI_1", SMTPAlert: boolp(true)}}
	r := testVRRP(t, startAlerts(t, spec), "", "VI_1")
	now := time.Now()
	r.runAll(vrrp.EventStartup, now)
	m := sink.NextMessage()
	if m.Helo != "lb1.example.com" || m.From != "FROM:<xvs@example.com>" ||
		!slices.Equal(m.Rcpt, []string{"TO:<admin@example.com>", "TO:<ops@example.com>", "TO:<js@example.com>"}) {
		t.Errorf("envelope: HELO %q, MAIL %q, RCPT %q", m.Helo, m.From, m.Rcpt)
	}
	if h := m.Headers(); h["From"] != "xvs@example.com" || h["To"] != `admin@example.com, Ops Team <ops@example.com>, "J. Smith" <js@example.com>` ||
		h["X-Mailer"] != "xvs" {
		t.Errorf("headers %q", h)
	}
	if got, want := m.Header("Subject")+" | "+m.Body(), "[LVS_DEVEL] VRRP Instance VI_1 - Entering BACKUP state | => VRRP Instance is no longer owning VRRP VIPs <="; got != want {
		t.Errorf("startup mail %q, want %q", got, want)
	}
	r.runAll(vrrp.EventTimer, now.Add(time.Minute)) // the master down timer: MASTER
	r.step(r.groups[0], 0, vrrp.Event{Kind: vrrp.EventFault, Now: now.Add(2 * time.Minute)})
	r.runAll(vrrp.EventShutdown, now.Add(3*time.Minute))
	want := []string{
		"[LVS_DEVEL] VRRP Instance VI_1 - Entering MASTER state | => VRRP Instance is now owning VRRP VIPs <=",
		"[LVS_DEVEL] VRRP Instance VI_1 - Entering FAULT state | => VRRP Instance is no longer owning VRRP VIPs <=",
		"[LVS_DEVEL] VRRP Instance VI_1 - Stopping | => VRRP Instance stopping <=",
	}
	if got := sink.take(3); !slices.Equal(got, want) {
		t.Errorf("mails\n got %q\nwant %q", got, want)
	}
}

// TestAlertsVRRPSyncGroup: a sync group mails its own state changes once
// (not once per member), under its own smtp_alert; a member without
// smtp_alert (and no global default) mails nothing; no_email_faults
// leaves FAULT out; the host name stands in for a missing router_id.
func TestAlertsVRRPSyncGroup(t *testing.T) {
	sink := newSMTPSink(t)
	mail := sink.mail("admin@example.com")
	mail.NoEmailFaults = true
	spec := &config.Spec{Global: config.Global{Mail: mail}}
	spec.VRRPInstances = []config.VRRPInstance{{Name: "VI_WAN", SMTPAlert: boolp(true)}, {Name: "VI_LAN"}}
	spec.VRRPSyncGroups = []config.VRRPSyncGroup{{Name: "LB", Group: []string{"VI_WAN", "VI_LAN"}, SMTPAlert: boolp(true)}}
	r := testVRRP(t, startAlerts(t, spec), "LB", "VI_WAN", "VI_LAN")
	now := time.Now()
	r.runAll(vrrp.EventStartup, now)
	r.runAll(vrrp.EventTimer, now.Add(time.Minute))
	r.step(r.groups[0], 1, vrrp.Event{Kind: vrrp.EventFault, Now: now.Add(2 * time.Minute)})
	r.step(r.groups[0], 1, vrrp.Event{Kind: vrrp.EventFaultCleared, Now: now.Add(3 * time.Minute)})
	r.runAll(vrrp.EventShutdown, now.Add(4*time.Minute))
	want := []string{
		"[lb1.example.com] VRRP Instance VI_WAN - Entering BACKUP state | => VRRP Instance is no longer owning VRRP VIPs <=",
		"[lb1.example.com] VRRP Group LB - Entering BACKUP state | => All VRRP group instances are now in BACKUP state <=",
		"[lb1.example.com] VRRP Instance VI_WAN - Entering MASTER state | => VRRP Instance is now owning VRRP VIPs <=",
		"[lb1.example.com] VRRP Group LB - Entering MASTER state | => All VRRP group instances are now in MASTER state <=",
		// FAULT: nothing (no_email_faults); out of it, BACKUP again.
		"[lb1.example.com] VRRP Instance VI_WAN - Entering BACKUP state | => VRRP Instance is no longer owning VRRP VIPs <=",
		"[lb1.example.com] VRRP Group LB - Entering BACKUP state | => All VRRP group instances are now in BACKUP state <=",
		"[lb1.example.com] VRRP Instance VI_WAN - Stopping | => VRRP Instance stopping <=",
		"[lb1.example.com] VRRP Group LB - Stopping | => All VRRP group instances are now stopping <=",
	}
	if got := sink.take(len(want)); !slices.Equal(got, want) {
		t.Errorf("mails\n got %q\nwant %q", got, want)
	}
	sink.none(200 * time.Millisecond)
}

// TestAlertsVRRPDefaults: smtp_alert_vrrp (else smtp_alert) is the
// default of instances without their own; without a server nothing is
// sent.
func TestAlertsVRRPDefaults(t *testing.T) {
	sink := newSMTPSink(t)
	mail := sink.mail("admin@example.com")
	mail.Alert, mail.AlertVRRP = boolp(false), boolp(true)
	spec := &config.Spec{Global: config.Global{RouterID: "r", Mail: mail}}
	spec.VRRPInstances = []config.VRRPInstance{{Name: "A"}, {Name: "B", SMTPAlert: boolp(false)}}
	a := startAlerts(t, spec)
	r := testVRRP(t, a, "", "A", "B")
	r.runAll(vrrp.EventStartup, time.Now())
	if got := sink.take(1); !slices.Equal(got, []string{"[r] VRRP Instance A - Entering BACKUP state | => VRRP Instance is no longer owning VRRP VIPs <="}) {
		t.Errorf("mails %q", got)
	}
	sink.none(200 * time.Millisecond)

	// A reload that drops smtp_server: nothing more is sent.
	spec.Global.Mail.Server = ""
	a.set(spec)
	r.runAll(vrrp.EventTimer, time.Now().Add(time.Minute))
	sink.none(200 * time.Millisecond)
}

// TestAlertsRealServers: a checker bringing its real server down or up
// mails keepalived's "Realserver ... of virtual server ... - DOWN/UP"
// under the real server's smtp_alert (on by default); a virtual server
// with smtp_alert mails its quorum; no_checker_emails keeps only the
// mails of checkers that moved their server.
func TestAlertsRealServers(t *testing.T) {
	for _, noChecker := range []bool{false, true} {
		t.Run("no_checker_emails "+strconv.FormatBool(noChecker), func(t *testing.T) {
			sink := newSMTPSink(t)
			spec := labSpec(3, func(vs *config.VirtualServer) {
				if vs.Port == 53 {
					vs.Reals[1].SMTPAlert = boolp(false)
					return
				}
				vs.Quorum, vs.SMTPAlert = 3, boolp(true)
				// rs2 has a second checker, which fails with the first.
				vs.Reals[1].Checks = append(vs.Reals[1].Checks, vs.Reals[1].Checks[0])
			})
			spec.Global.RouterID = "lb1"
			spec.Global.Mail = sink.mail("admin@example.com")
			spec.Global.Mail.NoCheckerEmails = noChecker
			hr := newHarness(t, spec)
			a := startAlerts(t, spec)
			hr.h.mu.Lock()
			hr.h.alerts = a
			hr.h.mu.Unlock()

			hr.servers.set("198.18.1.12", false)
			hr.until("rs2 down", func() bool { return hr.pool(80) == "198.18.1.11:80/1 198.18.1.13:80/1" })
			const (
				down = "[lb1] Realserver [198.18.1.12]:tcp:80 of virtual server [198.18.0.100]:tcp:80 - DOWN | => TCP CHECK failed on service <="
				up   = "[lb1] Realserver [198.18.1.12]:tcp:80 of virtual server [198.18.0.100]:tcp:80 - UP | => TCP CHECK succeed on service <="
				lost = "[lb1] Virtualserver [198.18.0.100]:tcp:80 - DOWN | => Lost quorum 3+0=3 <= 2 <="
				won  = "[lb1] Virtualserver [198.18.0.100]:tcp:80 - UP | => Gained quorum 3+0=3 <= 3 <="
			)
			// Two checkers go down: the first takes the server (and
			// the quorum) down; the second mails too unless
			// no_checker_emails. The UDP real server has smtp_alert
			// off.
			want := []string{down, lost, down}
			if noChecker {
				want = []string{down, lost}
			}
			got := sink.take(len(want))
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("mails when rs2 failed\n got %q\nwant %q", got, want)
			}
			sink.none(300 * time.Millisecond)

			hr.servers.set("198.18.1.12", true)
			hr.until("rs2 back", func() bool { return hr.pool(80) == "198.18.1.11:80/1 198.18.1.12:80/1 198.18.1.13:80/1" })
			// The first checker up leaves the server down (the other
			// is down still): mailed as "DOWN" unless
			// no_checker_emails; the second brings it up.
			want = []string{"[lb1] Realserver [198.18.1.12]:tcp:80 of virtual server [198.18.0.100]:tcp:80 - DOWN | => TCP CHECK succeed on service <=", up, won}
			if noChecker {
				want = []string{up, won}
			}
			got = sink.take(len(want))
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("mails when rs2 came back\n got %q\nwant %q", got, want)
			}
			sink.none(300 * time.Millisecond)
		})
	}
}

// TestAlertsRealServerUDP: the protocol of the service is in the names.
func TestAlertsRealServerUDP(t *testing.T) {
	sink := newSMTPSink(t)
	spec := labSpec(2, func(vs *config.VirtualServer) {
		if vs.Port == 80 {
			vs.Reals[0].SMTPAlert = boolp(false)
		}
	})
	spec.Global.RouterID = "lb1"
	spec.Global.Mail = sink.mail("admin@example.com")
	hr := newHarness(t, spec)
	a := startAlerts(t, spec)
	hr.h.mu.Lock()
	hr.h.alerts = a
	hr.h.mu.Unlock()
	hr.servers.set("198.18.1.11", false)
	hr.until("rs1 down", func() bool { return hr.pool(53) == "198.18.1.12:53/1" })
	want := "[lb1] Realserver [198.18.1.11]:udp:53 of virtual server [198.18.0.100]:udp:53 - DOWN | => TCP CHECK failed on service <="
	if got := sink.take(1); got[0] != want {
		t.Errorf("mail %q, want %q", got[0], want)
	}
	sink.none(300 * time.Millisecond)
}

// TestAlertsDoNotBlock: with a mail server that accepts connections and
// never answers, state changes go on at once; the mails wait in the
// queue, and what does not fit is dropped and counted.
func TestAlertsDoNotBlock(t *testing.T) {
	ap := smtptest.New(t, smtptest.Script{}).Addr() // accepts and never answers
	spec := &config.Spec{Global: config.Global{Mail: config.Mail{Server: ap.Addr().String(), Port: ap.Port(),
		To: []string{"a@example.com"}, AlertVRRP: boolp(true), ConnectTimeout: time.Hour}}}
	var names []string
	for i := range 40 {
		name := "VI_" + strconv.Itoa(i)
		names = append(names, name)
		spec.VRRPInstances = append(spec.VRRPInstances, config.VRRPInstance{Name: name})
	}
	a := newAlerter(spec, zap.NewNop())
	stop := a.start()
	r := testVRRP(t, a, "", names...)
	start := time.Now()
	now := time.Now()
	for i := range 4 {
		r.runAll(vrrp.EventStartup, now)
		r.runAll(vrrp.EventShutdown, now.Add(time.Duration(i)*time.Second))
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("320 state changes with a hung mail server took %v", took)
	}
	st := a.stats()
	if st.Dropped == 0 || st.Sent != 0 {
		t.Errorf("stats %+v: want drops once the queue is full, nothing sent", st)
	}
	start = time.Now()
	stop()
	if took := time.Since(start); took > mailGrace+2*time.Second {
		t.Errorf("stopping took %v, more than the grace of %v", took, mailGrace)
	}
	if st := a.stats(); st.Dropped+st.Failed != 320 {
		t.Errorf("after stop: %+v, want all 320 failed or dropped", st)
	}
}

// TestAlertsReloadable: mail settings and smtp_alert do not count as a
// change of the VRRP configuration, which a reload refuses.
func TestAlertsReloadable(t *testing.T) {
	spec := func(alert *bool, mail config.Mail) *config.Spec {
		return &config.Spec{Global: config.Global{Mail: mail},
			VRRPInstances:  []config.VRRPInstance{{Name: "VI_1", VirtualRouterID: 51, SMTPAlert: alert}},
			VRRPSyncGroups: []config.VRRPSyncGroup{{Name: "G", Group: []string{"VI_1"}, SMTPAlert: alert}}}
	}
	a := spec(nil, config.Mail{})
	b := spec(boolp(true), config.Mail{Server: "198.18.0.25", To: []string{"a@example.com"}, NoEmailFaults: true})
	if vrrpSignature(a) != vrrpSignature(b) {
		t.Errorf("mail settings change the VRRP signature:\n%s\n%s", vrrpSignature(a), vrrpSignature(b))
	}
	c := spec(nil, config.Mail{})
	c.VRRPInstances[0].VirtualRouterID = 52
	if vrrpSignature(a) == vrrpSignature(c) {
		t.Error("the signature misses a change of virtual_router_id")
	}
	if b.VRRPInstances[0].SMTPAlert == nil || b.Global.Mail.Server == "" {
		t.Error("vrrpSignature changed the spec")
	}
}
