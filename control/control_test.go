package control

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/xvs-project/xvs/config"
	"github.com/xvs-project/xvs/lab"
)

func parse(t *testing.T, src string) *config.Spec {
	t.Helper()
	s, err := config.Parse("test.conf", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const vsBlock = `
virtual_server 198.18.0.100 80 {
    lb_algo wlc
    lb_kind NAT
    protocol TCP
    real_server 198.18.1.11 80 { weight 3 }
    real_server 198.18.1.12 80 { weight 2 }
}
`

// TestNewPlanFindsInterfaces resolves a stock LVS-NAT configuration against
// a lab director namespace: WAN from the interface holding the VIP, or
// from the vrrp_instance naming it; LAN from the route to the real servers.
func TestNewPlanFindsInterfaces(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces")
	}
	var rb [3]byte
	rand.Read(rb[:])
	l, err := lab.Up(lab.Config{Prefix: "xc" + hex.EncodeToString(rb[:]), Servers: 2, Queues: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Down() })

	for _, tc := range []struct {
		desc, src string
		wan, lan  string
		err       string
		notes     int
		check     func(*testing.T, *Plan)
	}{
		{desc: "VIP held by wan0", src: vsBlock, wan: "wan0", lan: "lan0"},
		{desc: "VIP in a vrrp_instance", src: `
vrrp_instance VI_1 {
    state MASTER
    interface wan0
    virtual_router_id 51
    virtual_ipaddress {
        198.18.0.200/32
    }
}
virtual_server 198.18.0.200 80 {
    lb_algo rr
    real_server 198.18.1.11 80 { weight 1 }
}`, wan: "wan0", lan: "lan0"},
		{desc: "xvs block overrides", src: vsBlock + "xvs {\n wan_interface lan0\n lan_interface wan0\n queues 1\n}\n", wan: "lan0", lan: "wan0"},
		{desc: "lvs_sync_daemon", src: syncConf("lan0", "id 9 port 8849") + "xvs {\n sloppy_tcp\n sync_threshold 2 20\n}\n", wan: "wan0", lan: "lan0",
			check: func(t *testing.T, p *Plan) {
				if p.Sync == nil || p.Sync.Instance != "VI_1" || p.Sync.Config.Interface != "lan0" ||
					p.Sync.Config.SyncID != 9 || p.Sync.Config.Port != 8849 {
					t.Fatalf("sync plan %+v", p.Sync)
				}
				if !p.SloppyTCP || p.SyncPolicy.Threshold != 2 || p.SyncPolicy.Period != 20 {
					t.Fatalf("sloppy %v, policy %+v", p.SloppyTCP, p.SyncPolicy)
				}
			}},
		{desc: "lvs_sync_daemon defaults", src: syncConf("lan0", ""), wan: "wan0", lan: "lan0",
			check: func(t *testing.T, p *Plan) {
				if p.Sync == nil || p.Sync.Config.SyncID != 51 || p.SloppyTCP || p.SyncPolicy.Threshold != 3 || p.SyncPolicy.Period != 50 {
					t.Fatalf("sync plan %+v, sloppy %v, policy %+v", p.Sync, p.SloppyTCP, p.SyncPolicy)
				}
			}},
		{desc: "lvs_sync_daemon on a missing interface", src: syncConf("sync9", ""),
			err: `test.conf:2:18: lvs_sync_daemon interface "sync9" does not exist on this machine`},
		{desc: "VIP nowhere", src: `
virtual_server 198.18.0.201 80 {
    lb_algo rr
    real_server 198.18.1.11 80 { weight 1 }
}`, err: "test.conf:2:1: cannot tell the WAN interface: VIP 198.18.0.201 is on no interface and in no vrrp_instance's virtual_ipaddress; name it with xvs { wan_interface IF }"},
		{desc: "DR not supported", src: `
virtual_server 198.18.0.100 80 {
    lb_kind DR
    real_server 198.18.1.11 80 { weight 1 }
}`, err: "test.conf:2:1: virtual_server 198.18.0.100 80: lb_kind DR is not supported yet"},
		{desc: "real servers on two interfaces", src: `
virtual_server 198.18.0.100 80 {
    lb_algo rr
    real_server 198.18.1.11 80 { weight 1 }
    real_server 198.18.0.2 80 { weight 1 }
}`, err: "test.conf:5:5: 198.18.0.2 is reached through wan0 but 198.18.1.11 (test.conf:4:5) through lan0"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			spec := parse(t, tc.src)
			var p *Plan
			err := lab.Do(l.LBNS, func() error {
				var err error
				p, err = NewPlan(spec)
				return err
			})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.WAN != tc.wan || p.LAN != tc.lan {
				t.Fatalf("WAN %q LAN %q, want %q %q", p.WAN, p.LAN, tc.wan, tc.lan)
			}
			if len(p.Notes) != tc.notes {
				t.Fatalf("notes %q, want %d", p.Notes, tc.notes)
			}
			if tc.check != nil {
				tc.check(t, p)
			}
		})
	}
}

func TestNewPlanNeedsAService(t *testing.T) {
	_, err := NewPlan(parse(t, "global_defs {\n router_id x\n}\n"))
	if err == nil || !strings.Contains(err.Error(), "no virtual_server") {
		t.Fatalf("error %v", err)
	}
}

// syncConf is a configuration with lvs_sync_daemon on ifName following
// VI_1 (VRID 51), with the options opts.
func syncConf(ifName, opts string) string {
	return "global_defs {\n lvs_sync_daemon " + ifName + " VI_1 " + opts + "\n}\n" + `
vrrp_instance VI_1 {
    state MASTER
    interface wan0
    virtual_router_id 51
    virtual_ipaddress {
        198.18.0.100/32
    }
}
` + vsBlock
}
