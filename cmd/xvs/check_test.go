package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xvs-project/xvs/config"
)

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
			conf:   "xvs {\n wan_interface eth0\n}\nvirtual_server 198.18.0.1 80 {\n real_server 198.18.1.1 80\n}\n",
			stdout: "DIR/k.conf: ok: 1 virtual server, 1 real server, 0 vrrp instances\n",
		},
		{
			desc:   "an interface this machine does not have",
			conf:   "vrrp_instance V {\n interface eth9\n virtual_router_id 1\n virtual_ipaddress {\n  198.18.0.1 dev eth0\n }\n}\n",
			code:   1,
			stderr: "DIR/k.conf:2:12: warning: interface \"eth9\" does not exist on this machine\nDIR/k.conf: 1 warning\n",
		},
		{
			desc:   "a keyword xvs does not act on",
			conf:   "global_defs {\n smtp_server 198.18.0.25\n}\n",
			code:   1,
			stderr: "DIR/k.conf:2:2: warning: keyword \"smtp_server\" is accepted but not acted on yet\nDIR/k.conf: 1 warning\n",
		},
		{
			desc: "errors and warnings",
			conf: "global_defs {\n frob\n}\nvirtual_server 198.18.0.1 80 {\n lb_kind XX\n}\n",
			code: 1,
			stderr: "DIR/k.conf:5:10: lb_kind \"XX\" is not one of NAT, DR, TUN\n" +
				"DIR/k.conf:2:2: warning: unknown keyword \"frob\"\nDIR/k.conf: 1 error, 1 warning\n",
		},
		{
			desc:   "the configuration id",
			conf:   "global_defs {\n@other frob\n}\n",
			stdout: "DIR/k.conf: ok: 0 virtual servers, 0 real servers, 0 vrrp instances\n",
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
	if code := Main([]string{"check", "-f", filepath.Join(t.TempDir(), "none.conf")}, &stdout, &stderr); code != 1 ||
		!strings.Contains(stderr.String(), "no such file or directory") {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
}
