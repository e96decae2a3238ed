package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xvs-project/xvs/config"
)

// checkVS is a virtual server without problems.
const checkVS = "virtual_server 198.18.0.1 80 {\n protocol TCP\n real_server 198.18.1.1 80\n}\n"

// TestCheck: xvs check's output and its exit status, keepalived -t's: 0
// clean (notes do not count), 5 warnings, 4 errors, 6 script security.
func TestCheck(t *testing.T) {
	tests := []struct {
		desc   string
		conf   string
		code   int
		stdout string
		stderr string // with the temporary directory written as DIR
	}{
		{
			desc:   "clean",
			conf:   "xvs {\n wan_interface eth0\n}\n" + checkVS,
			stdout: "DIR/k.conf: ok: 1 virtual server, 1 real server, 0 vrrp instances\n",
		},
		{
			desc:   "an interface this machine does not have",
			conf:   "vrrp_instance V {\n interface eth9\n virtual_router_id 1\n virtual_ipaddress {\n  198.18.0.1 dev eth0\n }\n}\n" + checkVS,
			code:   5,
			stderr: "DIR/k.conf:2:12: warning: interface \"eth9\" does not exist on this machine\nDIR/k.conf: 0 errors, 1 warning\n",
		},
		{
			desc:   "a keyword xvs does not act on is a note, not a failure",
			conf:   "global_defs {\n enable_snmp_vrrp\n}\n" + checkVS,
			stdout: "DIR/k.conf: ok: 1 virtual server, 1 real server, 0 vrrp instances\n",
			stderr: "DIR/k.conf:2:2: note: keyword \"enable_snmp_vrrp\" is accepted but not acted on yet\n",
		},
		{
			desc: "errors and warnings",
			conf: "global_defs {\n frob\n}\nvirtual_server 198.18.0.1 80 {\n lb_algo XX\n protocol TCP\n}\n",
			code: 4,
			stderr: "DIR/k.conf:5:10: lb_algo \"XX\" is not a known scheduler (rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh, twos)\n" +
				"DIR/k.conf:2:2: warning: unknown keyword \"frob\"\nDIR/k.conf: 1 error, 1 warning\n",
		},
		{
			desc:   "what xvs run refuses, check refuses",
			conf:   "virtual_server 2001:2::1 80 {\n protocol TCP\n real_server 2001:2::11 80\n}\n",
			code:   4,
			stderr: "DIR/k.conf:1:1: virtual_server 2001:2::1: IPv6 services are not supported yet\nDIR/k.conf: 1 error, 0 warnings\n",
		},
		{
			desc:   "nothing to serve",
			conf:   "global_defs {\n router_id lb1\n}\n",
			code:   4,
			stderr: "the configuration has no virtual_server: there is nothing to serve\nDIR/k.conf: 1 error, 0 warnings\n",
		},
		{
			desc: "a script without enable_script_security",
			conf: "vrrp_instance V {\n interface eth0\n virtual_router_id 1\n notify_master /bin/true\n virtual_ipaddress {\n  198.18.0.1\n }\n}\n" + checkVS,
			code: 6,
			stderr: "DIR/k.conf:4:16: warning: notify script of vrrp_instance V runs a script while enable_script_security is not set in global_defs, so no script's ownership and permissions are checked (keepalived's SECURITY VIOLATION)\n" +
				"DIR/k.conf: 0 errors, 1 warning\n",
		},
		{
			desc:   "the configuration id",
			conf:   "global_defs {\n@other frob\n}\n" + checkVS,
			stdout: "DIR/k.conf: ok: 1 virtual server, 1 real server, 0 vrrp instances\n",
		},
	}
	hasIface := func(name string) bool { return name == "eth0" }
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "k.conf")
			if err := os.WriteFile(path, []byte(tc.conf), 0o644); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			code := check(path, config.Options{ConfigID: "lb1"}, hasIface, &stdout, &stderr)
			out := strings.ReplaceAll(stdout.String(), dir, "DIR")
			errOut := strings.ReplaceAll(stderr.String(), dir, "DIR")
			if code != tc.code || out != tc.stdout || errOut != tc.stderr {
				t.Errorf("exit %d, stdout:\n%s\nstderr:\n%s\nwant exit %d, stdout:\n%s\nstderr:\n%s", code, out, errOut, tc.code, tc.stdout, tc.stderr)
			}
		})
	}
}

func TestCheckCommandLine(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"check"}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "-f FILE is required") {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
	stderr.Reset()
	if code := Main([]string{"check", "-f", filepath.Join(t.TempDir(), "none.conf")}, &stdout, &stderr); code != checkErrors ||
		!strings.Contains(stderr.String(), "no such file or directory") {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
}

// TestCheckDump: xvs check -d prints what xvs understood, defaults and
// inheritance applied, even when there are warnings; --json the same as
// JSON.
func TestCheckDump(t *testing.T) {
	conf := `vrrp_instance VI_1 {
    state SLAVE
    interface eth0
    virtual_router_id 51
    preempt_delay 30
    virtual_ipaddress {
        198.18.0.100/24
    }
}
virtual_server 198.18.0.100 80 {
    lb_algo wrr
    protocol TCP
    persistence_timeout 300
    delay_loop 5
    real_server 198.18.1.11 80 {
        weight 3
        TCP_CHECK {
            connect_timeout 2
        }
    }
    real_server 198.18.1.12 8080 {
    }
}
`
	path := filepath.Join(t.TempDir(), "k.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	hasIface := func(string) bool { return true }
	var stdout, stderr bytes.Buffer
	code := checkWith(path, config.Options{}, hasIface, checkOutput{dump: true}, &stdout, &stderr)
	want := `TCP 198.18.0.100:80 wrr NAT persistent 5m0s
  -> 198.18.1.11:80 weight 3
     TCP_CHECK 198.18.1.11:80 every 5s timeout 2s
  -> 198.18.1.12:8080 weight 1
     no checker: always up
vrrp_instance VI_1 BACKUP on eth0 vrid 51 priority 100 advert 1s v2 preempt after 30s vips 198.18.0.100/24
`
	if code != checkWarnings || stdout.String() != want || !strings.Contains(stderr.String(), `state "SLAVE"`) {
		t.Errorf("exit %d, stdout:\n%s\nwant:\n%s\nstderr:\n%s", code, stdout.String(), want, stderr.String())
	}
	stdout.Reset()
	stderr.Reset()
	code = checkWith(path, config.Options{}, hasIface, checkOutput{json: true}, &stdout, &stderr)
	var d checkDump
	if err := json.Unmarshal(stdout.Bytes(), &d); err != nil || code != checkWarnings {
		t.Fatalf("exit %d, --json output %q: %v", code, stdout.String(), err)
	}
	if len(d.Services) != 1 || d.Services[0].Service != "TCP 198.18.0.100:80" || len(d.Services[0].Reals) != 2 ||
		d.Services[0].Reals[0].Checks[0].Kind != "TCP_CHECK" || d.VRRPInstances[0].State != "BACKUP" {
		t.Errorf("--json: %+v", d)
	}
}
