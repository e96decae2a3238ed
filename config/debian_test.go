package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// debianDir holds keepalived's sample configurations from Debian.
var debianDir = filepath.Join("testdata", "debian")

// TestGoldenDebianSamples parses keepalived's own sample configurations and
// compares what xvs reports about each with diagnostics.golden. Samples
// fail only with errors keepalived reports too (such as fwmark services,
// which xvs does not support yet); nothing panics.
func TestGoldenDebianSamples(t *testing.T) {
	entries, err := os.ReadDir(debianDir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	n := 0
	for _, e := range entries {
		if !strings.Contains(e.Name(), "keepalived.conf") {
			continue
		}
		n++
		path := filepath.Join(debianDir, e.Name())
		fmt.Fprintf(&b, "== %s\n", e.Name())
		spec, err := ParseFileWith(path, Options{ConfigID: "high"})
		var diags []Diagnostic
		var perr *Error
		switch {
		case err == nil:
			reals := 0
			for _, vs := range spec.VirtualServers {
				reals += len(vs.Reals)
			}
			fmt.Fprintf(&b, "ok: %d virtual servers, %d real servers, %d vrrp instances, %d vrrp scripts, %d sync groups\n",
				len(spec.VirtualServers), reals, len(spec.VRRPInstances), len(spec.VRRPScripts), len(spec.VRRPSyncGroups))
			diags = spec.Warnings
		case errors.As(err, &perr):
			b.WriteString("error\n")
			diags = append(append(diags, perr.Diags...), perr.Warnings...)
		default:
			t.Fatalf("%s: %v", path, err)
		}
		for _, d := range diags {
			b.WriteString(strings.ReplaceAll(d.String(), debianDir+string(filepath.Separator), "") + "\n")
		}
	}
	if n < 20 {
		t.Fatalf("only %d samples in %s", n, debianDir)
	}
	got := []byte(b.String())
	golden := filepath.Join(debianDir, "diagnostics.golden")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("diagnostics differ from %s (run go test -update to accept):\n got:\n%s\nwant:\n%s", golden, got, want)
	}
}
