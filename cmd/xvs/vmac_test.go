package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xvs-project/xvs/config"
	"github.com/xvs-project/xvs/control"
)

// TestWriteVRRPVMAC: xvs vrrp shows a use_vmac instance's VMAC and its
// interface next to the instance's interface.
func TestWriteVRRPVMAC(t *testing.T) {
	var b strings.Builder
	writeVRRP(&b, []control.VRRPStatus{
		{Name: "VI_WAN", Interface: "wan0", VRID: 51, Version: 3, State: "MASTER", Priority: 150, Base: 150, VMAC: "00:00:5e:00:01:33 on vrrp.51"},
		{Name: "VI_LAN", Interface: "lan0", VRID: 52, Version: 3, State: "MASTER", Priority: 150, Base: 150},
	}, time.Now())
	lines := strings.Split(b.String(), "\n")
	if !strings.Contains(lines[1], " wan0 (use_vmac 00:00:5e:00:01:33 on vrrp.51) ") || strings.Contains(lines[2], "use_vmac") {
		t.Errorf("xvs vrrp:\n%s", b.String())
	}
}

// TestCheckDumpVMAC: xvs check -d shows use_vmac with the VMAC and the
// interface xvs will make: keepalived's default name, vrrpN.VRID for a
// second instance of the VRID, and vmac_xmit_base (here implied by
// unicast_peer, with a warning).
func TestCheckDumpVMAC(t *testing.T) {
	conf := `vrrp_instance A {
    interface wan0
    virtual_router_id 51
    use_vmac
    virtual_ipaddress {
        198.18.0.100/24
    }
}
vrrp_instance B {
    interface lan0
    virtual_router_id 51
    use_vmac
    unicast_peer {
        198.18.1.3
    }
    virtual_ipaddress {
        198.18.1.1/24
    }
}
virtual_server 198.18.0.100 80 {
    real_server 198.18.1.11 80 {
    }
}
`
	path := filepath.Join(t.TempDir(), "k.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := checkWith(path, config.Options{}, func(string) bool { return true }, checkOutput{dump: true}, &stdout, &stderr)
	want := `vrrp_instance A BACKUP on wan0 vrid 51 priority 100 advert 1s v2 preempt yes vips 198.18.0.100/24
  use_vmac 00:00:5e:00:01:33 on vrrp.51
vrrp_instance B BACKUP on lan0 vrid 51 priority 100 advert 1s v2 preempt yes vips 198.18.1.1/24
  use_vmac 00:00:5e:00:01:33 on vrrp1.51, adverts from lan0's own MAC (vmac_xmit_base)
`
	if code != checkWarnings || !strings.HasSuffix(stdout.String(), "\n"+want) || !strings.Contains(stderr.String(), "use_vmac with unicast_peer needs vmac_xmit_base") {
		t.Errorf("exit %d, stdout:\n%s\nwant:\n%s\nstderr:\n%s", code, stdout.String(), want, stderr.String())
	}
}
