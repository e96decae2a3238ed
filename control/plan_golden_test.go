package control

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xvs-project/xvs/config"
)

var update = flag.Bool("update", false, "rewrite the .golden files in testdata from the current output")

// goldenPlan is the form the .golden files hold: the plan as JSON, with
// each service's scheduler options (which hold a clock function, so are
// not marshalled with the plan) spelled out.
type goldenPlan struct {
	*Plan
	SchedulerOptions []goldenOptions `json:"scheduler_options"`
}

type goldenOptions struct {
	Service     string
	MHTableSize int    `json:",omitempty"`
	Fallback    bool   `json:",omitempty"`
	Port        bool   `json:",omitempty"`
	OnePacket   bool   `json:",omitempty"`
	LBLCExpire  string `json:",omitempty"`
}

func renderPlan(t *testing.T, p *Plan) []byte {
	t.Helper()
	g := goldenPlan{Plan: p}
	for _, s := range p.Services {
		o := goldenOptions{Service: s.Name, MHTableSize: s.Options.MHTableSize, Fallback: s.Options.Fallback,
			Port: s.Options.Port, OnePacket: s.Options.OnePacket}
		if s.Options.LBLCExpire != 0 {
			o.LBLCExpire = s.Options.LBLCExpire.String()
		}
		g.SchedulerOptions = append(g.SchedulerOptions, o)
	}
	out, err := json.MarshalIndent(g, "", "  ")
	if err != nil {
		t.Fatalf("marshal plan: %v", err)
	}
	return append(out, '\n')
}

// TestPlanGolden turns keepalived.conf files into plans (planSpec, the
// part of NewPlan that reads only the Spec) and compares them with the
// .golden files; go test -run TestPlanGolden -update rewrites those.
func TestPlanGolden(t *testing.T) {
	for _, tc := range []struct{ desc, file string }{
		{"checked NAT service with sorry server, quorum and scripts; persistent service without checks", "checked.conf"},
		{"UDP and TCP on one address, scheduler flags, lvs_timeouts, sync and the xvs block", "udp.conf"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("testdata", tc.file)
			spec, err := config.ParseFileWith(path, config.Options{ConfigID: "lb1"})
			if err != nil {
				t.Fatalf("%s: %v", tc.desc, err)
			}
			p, err := planSpec(spec, nil)
			if err != nil {
				t.Fatalf("%s: planSpec: %v", tc.desc, err)
			}
			got := renderPlan(t, p)
			golden := strings.TrimSuffix(path, ".conf") + ".golden"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestPlanGolden -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s: the plan of %s differs from %s (go test -run TestPlanGolden -update rewrites it):\n%s", tc.desc, path, golden, got)
			}
		})
	}
}

// TestPlanRefuses: what xvs does not do yet is refused by planSpec, so by
// CheckSpec and NewPlan alike, naming the place.
func TestPlanRefuses(t *testing.T) {
	const head = "xvs {\n wan_interface wan0\n lan_interface lan0\n}\n"
	for _, tc := range []struct{ desc, src, err string }{
		{"IPv6 service", "virtual_server 2001:db8::1 80 {\n real_server 2001:db8::2 80 { weight 1 }\n}\n",
			"test.conf:5:1: virtual_server 2001:db8::1: IPv6 services are not supported yet"},
		{"DR", "virtual_server 198.18.0.100 80 {\n lb_kind DR\n real_server 198.18.1.11 80 { weight 1 }\n}\n",
			"test.conf:5:1: virtual_server 198.18.0.100 80: lb_kind DR is not supported yet"},
		{"no virtual_server", "", "no virtual_server"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			spec := parse(t, head+tc.src)
			_, err := planSpec(spec, nil)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("planSpec: %v, want %q", err, tc.err)
			}
			if err2 := CheckSpec(spec); err2 == nil || err2.Error() != err.Error() {
				t.Fatalf("CheckSpec: %v, want planSpec's %v", err2, err)
			}
		})
	}
}
