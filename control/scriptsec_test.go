package control

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xvs-project/xvs/config"
)

// TestScriptSecurity: with enable_script_security, a root script that
// others could replace is refused with its position; a safe one, one run
// as another user, or any script without the keyword, passes.
func TestScriptSecurity(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the check is about files owned by root")
	}
	dir := t.TempDir()
	safe := filepath.Join(dir, "safe.sh")
	unsafe := filepath.Join(dir, "unsafe.sh")
	for _, f := range []string{safe, unsafe} {
		if err := os.WriteFile(f, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(unsafe, 0o777); err != nil {
		t.Fatal(err)
	}
	spec := func(secure bool, path, user string) *config.Spec {
		s := &config.Spec{}
		s.Global.EnableScriptSecurity = secure
		s.VRRPScripts = []config.VRRPScript{{Name: "chk", User: user,
			Script: config.Command{Pos: config.Pos{File: "k.conf", Line: 3, Col: 12}, Argv: []string{path, "arg"}}}}
		return s
	}
	for _, tc := range []struct {
		name    string
		spec    *config.Spec
		wantErr string
	}{
		{"safe", spec(true, safe, ""), ""},
		{"world-writable", spec(true, unsafe, ""), "k.conf:3:12: vrrp_script chk runs as root and " + unsafe + " is writable by group or others"},
		{"as another user", spec(true, unsafe, "nobody"), ""},
		{"not asked for", spec(false, unsafe, ""), ""},
		{"not found", spec(true, "no-such-program-xvs", ""), "no-such-program-xvs is not found in PATH"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkScriptSecurity(tc.spec)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}
