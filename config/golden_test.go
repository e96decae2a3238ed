package config

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// goldenConfigID is the configuration id the golden files are read with,
// so that they do not depend on the host name.
const goldenConfigID = "lb1"

var update = flag.Bool("update", false, "rewrite the .golden files in testdata from the current output")

// render returns spec as indented JSON, the form the .golden files hold.
func render(t *testing.T, spec *Spec) []byte {
	t.Helper()
	out, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		t.Fatalf("marshal spec: %v", err)
	}
	return append(out, '\n')
}

func TestGolden(t *testing.T) {
	tests := []struct {
		desc string
		file string // in testdata; the golden file has the same name ending in .golden
	}{
		{desc: "stock keepalived LVS-NAT configuration", file: "lvs_nat.conf"},
		{desc: "every setting left to its default", file: "minimal.conf"},
		{desc: "xvs block, legacy spellings, UDP, decimal delay_loop, bare persistence_timeout", file: "xvs.conf"},
		{desc: "glued braces, one-line blocks, quotes, comments, IPv6 addresses", file: "compact.conf"},
		{desc: "unknown keywords are skipped with their blocks, each reported once", file: "unknown.conf"},
		{desc: "VRRP instances, scripts, sync group and global VRRP settings", file: "vrrp.conf"},
		{desc: "checkers of every kind and what they inherit", file: "checkers.conf"},
		{desc: "virtual_server_group expanded into virtual servers", file: "groups.conf"},
		{desc: "definitions and configuration id lines", file: "language.conf"},
		{desc: "connection sync between two directors, sloppy TCP and the sync rate", file: "sync.conf"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("testdata", tc.file)
			spec, err := ParseFileWith(path, Options{ConfigID: goldenConfigID})
			if err != nil {
				t.Fatalf("%s: ParseFile(%q) failed:\n%v", tc.desc, path, err)
			}
			got := render(t, spec)
			golden := strings.TrimSuffix(path, ".conf") + ".golden"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%s: %v (run go test -update to create it)", tc.desc, err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s: ParseFile(%q) does not match %s (run go test -update to accept):\n got: %s\nwant: %s", tc.desc, path, golden, got, want)
			}
		})
	}
}

// TestGoldenFilesHaveInputs makes sure no stale golden file is left behind.
func TestGoldenFilesHaveInputs(t *testing.T) {
	goldens, err := filepath.Glob(filepath.Join("testdata", "*.golden"))
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range goldens {
		if _, err := os.Stat(strings.TrimSuffix(g, ".golden") + ".conf"); err != nil {
			t.Errorf("%s has no input: %v", g, err)
		}
	}
}
