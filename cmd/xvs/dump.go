package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/xvs-project/xvs/config"
	"github.com/xvs-project/xvs/control"
	"github.com/xvs-project/xvs/vrrp"
)

// checkDump is what xvs check -d and --json print: the configuration as
// xvs understood it, after defaults, inheritance and keepalived's
// adjustments (a line ignored, a value defaulted).
type checkDump struct {
	Services      []dumpService   `json:"services"`
	VRRPInstances []dumpVRRP      `json:"vrrp_instances"`
	SyncGroups    []dumpSyncGroup `json:"vrrp_sync_groups"`
	SyncDaemon    *dumpSyncDaemon `json:"lvs_sync_daemon,omitempty"`
}

// dumpService is a virtual service in the dump.
type dumpService struct {
	Service     string     `json:"service"` // "TCP 198.18.0.100:80"
	Scheduler   string     `json:"scheduler"`
	Flags       []string   `json:"scheduler_flags,omitempty"`
	Method      string     `json:"method"`
	Persistence float64    `json:"persistence_timeout_seconds,omitempty"`
	Granularity int        `json:"persistence_granularity,omitempty"`
	Quorum      int        `json:"quorum"`
	Sorry       string     `json:"sorry_server,omitempty"`
	DelayLoop   float64    `json:"delay_loop_seconds"`
	Reals       []dumpReal `json:"real_servers"`
	Group       string     `json:"virtual_server_group,omitempty"`
	Pos         string     `json:"position"`
}

// dumpReal is a real server in the dump.
type dumpReal struct {
	Server  string      `json:"server"`
	Weight  int         `json:"weight"`
	Inhibit bool        `json:"inhibit_on_failure,omitempty"`
	Checks  []dumpCheck `json:"checkers"`
}

// dumpCheck is a checker in the dump: its kind, what it connects to or
// runs, and its timing.
type dumpCheck struct {
	Kind      string  `json:"kind"`
	Target    string  `json:"target"`
	DelayLoop float64 `json:"delay_loop_seconds"`
	Timeout   float64 `json:"connect_timeout_seconds,omitempty"`
	Retry     int     `json:"retry"`
	Detail    string  `json:"detail,omitempty"`
}

// dumpVRRP is a vrrp_instance in the dump.
type dumpVRRP struct {
	Name      string   `json:"name"`
	State     string   `json:"state"`
	Interface string   `json:"interface"`
	VRID      int      `json:"virtual_router_id"`
	Priority  int      `json:"priority"`
	Advert    float64  `json:"advert_int_seconds"`
	Version   int      `json:"version"`
	Preempt   string   `json:"preempt"`
	VIPs      []string `json:"virtual_ipaddress"`
	Tracks    []string `json:"track,omitempty"`
	// VMAC is use_vmac's address and interface, "00:00:5e:00:01:33 on
	// vrrp.51"; XmitBase is vmac_xmit_base (adverts from the interface's
	// own MAC).
	VMAC     string `json:"use_vmac,omitempty"`
	XmitBase bool   `json:"vmac_xmit_base,omitempty"`
}

// dumpSyncGroup is a vrrp_sync_group in the dump.
type dumpSyncGroup struct {
	Name      string   `json:"name"`
	Instances []string `json:"instances"`
}

// dumpSyncDaemon is lvs_sync_daemon in the dump.
type dumpSyncDaemon struct {
	Interface string `json:"interface"`
	Instance  string `json:"vrrp_instance"`
	SyncID    int    `json:"syncid"`
}

// makeDump builds the dump of spec.
func makeDump(spec *config.Spec) checkDump {
	d := checkDump{Services: []dumpService{}, VRRPInstances: []dumpVRRP{}, SyncGroups: []dumpSyncGroup{}}
	for _, vs := range spec.VirtualServers {
		s := dumpService{
			Service:   fmt.Sprintf("%s %s", vs.Protocol, netip.AddrPortFrom(vs.Addr, vs.Port)),
			Scheduler: vs.Scheduler, Flags: vs.SchedulerFlags, Method: vs.Kind,
			Persistence: vs.PersistenceTimeout.Seconds(), Granularity: vs.PersistenceGranularity,
			Quorum: vs.Quorum, DelayLoop: vs.DelayLoop.Seconds(), Group: vs.Group, Pos: vs.Pos.String(),
			Reals: []dumpReal{},
		}
		if vs.Sorry != nil {
			s.Sorry = netip.AddrPortFrom(vs.Sorry.Addr, vs.Sorry.Port).String()
		}
		for _, r := range vs.Reals {
			dr := dumpReal{Server: netip.AddrPortFrom(r.Addr, r.Port).String(), Weight: r.Weight, Inhibit: r.InhibitOnFailure, Checks: []dumpCheck{}}
			for _, c := range r.Checks {
				dr.Checks = append(dr.Checks, dumpChecker(c, r))
			}
			s.Reals = append(s.Reals, dr)
		}
		d.Services = append(d.Services, s)
	}
	vmacs := control.VMACNames(spec.VRRPInstances)
	for _, vi := range spec.VRRPInstances {
		v := dumpVRRP{Name: vi.Name, State: vi.State, Interface: vi.Interface, VRID: vi.VirtualRouterID,
			Priority: vi.Priority, Advert: vi.AdvertInterval.Seconds(), Version: vi.Version, Preempt: "yes", VIPs: []string{}}
		if v.Version == 0 {
			v.Version = spec.Global.VRRPVersion
		}
		if v.Version == 0 {
			v.Version = 2
		}
		if v.Advert == 0 {
			v.Advert = 1
		}
		switch {
		case vi.NoPreempt:
			v.Preempt = "no (nopreempt)"
		case vi.PreemptDelay > 0:
			v.Preempt = "after " + vi.PreemptDelay.String()
		}
		for _, ip := range vi.VirtualIPs {
			v.VIPs = append(v.VIPs, ip.Prefix.String())
		}
		for _, tr := range vi.TrackInterfaces {
			v.Tracks = append(v.Tracks, "interface "+tr.Name)
		}
		for _, tr := range vi.TrackScripts {
			v.Tracks = append(v.Tracks, "script "+tr.Name)
		}
		if vi.UseVMAC {
			mac := vrrp.VirtualMAC(uint8(vi.VirtualRouterID))
			v.VMAC, v.XmitBase = net.HardwareAddr(mac[:]).String()+" on "+vmacs[vi.Name], vi.VMACXmitBase
		}
		d.VRRPInstances = append(d.VRRPInstances, v)
	}
	for _, sg := range spec.VRRPSyncGroups {
		d.SyncGroups = append(d.SyncGroups, dumpSyncGroup{Name: sg.Name, Instances: sg.Group})
	}
	if sd := spec.Global.SyncDaemon; sd != nil {
		d.SyncDaemon = &dumpSyncDaemon{Interface: sd.Interface, Instance: sd.Instance, SyncID: sd.SyncID}
	}
	return d
}

// dumpChecker describes checker c of real server r.
func dumpChecker(c config.Check, r config.RealServer) dumpCheck {
	ip, port := c.ConnectIP, c.ConnectPort
	if !ip.IsValid() {
		ip = r.Addr
	}
	if port == 0 {
		port = r.Port
	}
	dc := dumpCheck{Kind: c.Kind, Target: netip.AddrPortFrom(ip, port).String(), DelayLoop: c.DelayLoop.Seconds(),
		Timeout: c.ConnectTimeout.Seconds(), Retry: c.Retry}
	switch c.Kind {
	case "HTTP_GET", "SSL_GET":
		var paths []string
		for _, u := range c.URLs {
			paths = append(paths, u.Path)
		}
		dc.Detail = "url " + strings.Join(paths, " ")
	case "MISC_CHECK":
		dc.Target = strings.Join(c.MiscPath.Argv, " ")
		dc.Timeout = 0
	case "PING_CHECK":
		dc.Target = ip.String()
	case "SMTP_CHECK":
		helo := c.HeloName
		if helo == "" {
			helo = "smtpchecker.keepalived.org"
		}
		dc.Detail = "helo " + helo
		for _, h := range c.SMTPHosts {
			hp := h.ConnectPort
			if hp == 0 {
				hp = port
			}
			ha := h.ConnectIP
			if !ha.IsValid() {
				ha = ip
			}
			dc.Detail += " and " + netip.AddrPortFrom(ha, hp).String()
		}
	}
	return dc
}

// writeDumpJSON prints the dump of spec as indented JSON.
func writeDumpJSON(w io.Writer, spec *config.Spec) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(makeDump(spec))
}

// writeDump prints the dump of spec as text, one line per service, real
// server, checker and VRRP instance.
func writeDump(w io.Writer, spec *config.Spec) {
	d := makeDump(spec)
	secs := func(s float64) string { return (time.Duration(s * float64(time.Second))).String() }
	for _, s := range d.Services {
		line := fmt.Sprintf("%s %s %s", s.Service, s.Scheduler, s.Method)
		if len(s.Flags) > 0 {
			line += " " + strings.Join(s.Flags, ",")
		}
		if s.Persistence > 0 {
			line += " persistent " + secs(s.Persistence)
			if s.Granularity > 0 {
				line += fmt.Sprintf(" /%d", s.Granularity)
			}
		}
		if s.Quorum > 1 {
			line += fmt.Sprintf(" quorum %d", s.Quorum)
		}
		if s.Sorry != "" {
			line += " sorry " + s.Sorry
		}
		fmt.Fprintln(w, line)
		for _, r := range s.Reals {
			inhibit := ""
			if r.Inhibit {
				inhibit = " inhibit_on_failure"
			}
			fmt.Fprintf(w, "  -> %s weight %d%s\n", r.Server, r.Weight, inhibit)
			for _, c := range r.Checks {
				fmt.Fprintf(w, "     %s %s every %s", c.Kind, c.Target, secs(c.DelayLoop))
				if c.Timeout > 0 {
					fmt.Fprintf(w, " timeout %s", secs(c.Timeout))
				}
				if c.Retry >= 0 {
					fmt.Fprintf(w, " retry %d", c.Retry)
				}
				if c.Detail != "" {
					fmt.Fprintf(w, " %s", c.Detail)
				}
				fmt.Fprintln(w)
			}
			if len(r.Checks) == 0 {
				fmt.Fprintln(w, "     no checker: always up")
			}
		}
	}
	for _, v := range d.VRRPInstances {
		fmt.Fprintf(w, "vrrp_instance %s %s on %s vrid %d priority %d advert %s v%d preempt %s vips %s\n",
			v.Name, v.State, v.Interface, v.VRID, v.Priority, secs(v.Advert), v.Version, v.Preempt, strings.Join(v.VIPs, " "))
		for _, tr := range v.Tracks {
			fmt.Fprintf(w, "  track %s\n", tr)
		}
		if v.VMAC != "" {
			xmit := ""
			if v.XmitBase {
				xmit = ", adverts from " + v.Interface + "'s own MAC (vmac_xmit_base)"
			}
			fmt.Fprintf(w, "  use_vmac %s%s\n", v.VMAC, xmit)
		}
	}
	for _, g := range d.SyncGroups {
		fmt.Fprintf(w, "vrrp_sync_group %s: %s\n", g.Name, strings.Join(g.Instances, " "))
	}
	if sd := d.SyncDaemon; sd != nil {
		fmt.Fprintf(w, "lvs_sync_daemon on %s following %s, syncid %d\n", sd.Interface, sd.Instance, sd.SyncID)
	}
}
