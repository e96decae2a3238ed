package control

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xvs-project/xvs/config"
	"github.com/xvs-project/xvs/vrrp"
)

// TestGARPConfig: an instance's garp_* wins over the global vrrp_garp_*,
// a configured 0 means none (vrrp's negative), and nothing set keeps
// vrrp's defaults (zero).
func TestGARPConfig(t *testing.T) {
	global := config.GARP{MasterDelay: 2 * time.Second, MasterDelaySet: true, MasterRepeat: 3, MasterRepeatSet: true,
		MasterRefresh: 0, MasterRefreshSet: true}
	inst := config.GARP{MasterRepeat: 0, MasterRepeatSet: true, LowerPrioDelay: time.Second, LowerPrioDelaySet: true}
	got := garpConfig(global, inst)
	want := vrrp.GARPConfig{MasterDelay: 2 * time.Second, MasterRepeat: -1, MasterRefresh: -1, LowerPrioDelay: time.Second}
	if got != want {
		t.Errorf("garpConfig = %+v, want %+v", got, want)
	}
	if got := garpConfig(config.GARP{}, config.GARP{}); got != (vrrp.GARPConfig{}) {
		t.Errorf("nothing set: %+v, want vrrp's defaults (zero)", got)
	}
}

// TestVRRPSignature: positions and non-VRRP settings do not count as a
// VRRP change on reload; a priority does.
func TestVRRPSignature(t *testing.T) {
	parse := func(src string) *config.Spec {
		t.Helper()
		spec, err := config.Parse("k.conf", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		return spec
	}
	const inst = "vrrp_instance VI {\n interface wan0\n virtual_router_id 51\n priority %d\n virtual_ipaddress {\n  198.18.0.100/24\n }\n}\n"
	const vs = "virtual_server 198.18.0.100 80 {\n real_server 198.18.1.11 80 {\n  weight %d\n }\n}\n"
	a := parse(fmt.Sprintf(inst, 100) + fmt.Sprintf(vs, 1))
	b := parse("\n\n! moved down\n" + fmt.Sprintf(vs, 5) + fmt.Sprintf(inst, 100))
	c := parse(fmt.Sprintf(inst, 101) + fmt.Sprintf(vs, 1))
	if vrrpSignature(a) != vrrpSignature(b) {
		t.Error("moving the instance and changing a weight counts as a VRRP change")
	}
	if vrrpSignature(a) == vrrpSignature(c) {
		t.Error("a new priority does not count as a VRRP change")
	}
}

// TestVRRPDropReasons: every reason an advert is dropped for has its own
// counter, and an unknown error counts as "other".
func TestVRRPDropReasons(t *testing.T) {
	r := &vrrpRunner{drops: make([]atomic.Uint64, len(vrrpDropReasons))}
	seen := map[string]bool{}
	for _, d := range vrrpDropReasons {
		if seen[d.name] {
			t.Errorf("reason %q twice", d.name)
		}
		seen[d.name] = true
		r.drop(fmt.Errorf("wrapped: %w", d.err))
	}
	r.drop(errors.New("something else"))
	for name, n := range r.Drops() {
		want := uint64(1)
		if name == "other" {
			want = 2
		}
		if n != want {
			t.Errorf("%s: %d drops, want %d", name, n, want)
		}
	}
}
