package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeFiles creates files (name → contents) under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestInclude(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"keepalived.conf": `include conf.d/*.conf
virtual_server 198.18.0.100 80 { protocol TCP
    lb_algo rr
    include reals/*.conf
}
include missing.d/*.conf
`,
		"conf.d/10-global.conf": "global_defs {\n    router_id inc\n}\n",
		"conf.d/20-vrrp.conf":   "vrrp_instance VI_1 {\n    virtual_router_id 9\n    include ../vips/vips.conf\n}\n",
		"conf.d/notes.txt":      "this is not included\n",
		"vips/vips.conf":        "virtual_ipaddress {\n    198.18.0.100/24 dev eth0\n}\n",
		"reals/a.conf":          "real_server 198.18.1.1 80\n",
		"reals/b.conf":          "real_server 198.18.1.2 80 {\n    weight 3\n    BFD_CHECK {\n    }\n}\n",
	})
	// A directory whose name matches the pattern is not a file to include.
	if err := os.MkdirAll(filepath.Join(dir, "conf.d", "30-dir.conf"), 0o755); err != nil {
		t.Fatal(err)
	}

	spec, err := ParseFile(filepath.Join(dir, "keepalived.conf"))
	if err != nil {
		t.Fatalf("ParseFile: %v", err)
	}
	if spec.Global.RouterID != "inc" {
		t.Errorf("RouterID = %q, want %q", spec.Global.RouterID, "inc")
	}
	if want := (Pos{filepath.Join(dir, "conf.d", "10-global.conf"), 1, 1}); spec.Global.Pos != want {
		t.Errorf("Global.Pos = %v, want %v", spec.Global.Pos, want)
	}
	if len(spec.VRRPInstances) != 1 || len(spec.VRRPInstances[0].VirtualIPs) != 1 {
		t.Fatalf("VRRPInstances = %+v, want one with one virtual IP", spec.VRRPInstances)
	}
	if got, want := spec.VRRPInstances[0].VirtualIPs[0].Pos, (Pos{filepath.Join(dir, "vips", "vips.conf"), 2, 5}); got != want {
		t.Errorf("virtual IP Pos = %v, want %v", got, want)
	}
	if len(spec.VirtualServers) != 1 {
		t.Fatalf("VirtualServers = %+v, want one", spec.VirtualServers)
	}
	reals := spec.VirtualServers[0].Reals
	if len(reals) != 2 {
		t.Fatalf("Reals = %+v, want two", reals)
	}
	if got, want := reals[1].Pos, (Pos{filepath.Join(dir, "reals", "b.conf"), 1, 1}); got != want || reals[1].Weight != 3 {
		t.Errorf("second real server at %v with weight %d, want %v with weight 3", got, reals[1].Weight, want)
	}
	var warnings []string
	for _, w := range spec.Warnings {
		warnings = append(warnings, strings.TrimPrefix(w.String(), dir+string(filepath.Separator)))
	}
	want := []string{
		`reals/b.conf:3:5: note: keyword "BFD_CHECK" is accepted but not acted on yet`,
		`keepalived.conf:6:9: warning: include pattern "missing.d/*.conf" matches no files`,
	}
	if strings.Join(warnings, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(warnings, "\n"), strings.Join(want, "\n"))
	}
}

func TestIncludeErrors(t *testing.T) {
	tests := []struct {
		desc  string
		files map[string]string // main.conf is parsed
		want  string            // error text, with the temporary directory written as DIR
	}{
		{
			desc:  "a file that includes itself",
			files: map[string]string{"main.conf": "include main.conf\n"},
			want:  "DIR/main.conf:1:1: includes are nested more than 10 deep (does a file include itself?)",
		},
		{
			desc: "two files that include each other",
			files: map[string]string{
				"main.conf":  "global_defs {\n}\ninclude other.conf\n",
				"other.conf": "  include main.conf\n",
			},
			want: "DIR/main.conf:3:1: includes are nested more than 10 deep (does a file include itself?)",
		},
		{
			desc:  "a missing file",
			files: map[string]string{"main.conf": "include nope.conf\n"},
			want:  "DIR/main.conf:1:9: cannot read included file: open DIR/nope.conf: no such file or directory",
		},
		{
			desc:  "a bad pattern",
			files: map[string]string{"main.conf": "include [.conf\n"},
			want:  `DIR/main.conf:1:9: bad include pattern "[.conf": syntax error in pattern`,
		},
		{
			desc: "an error inside an included file",
			files: map[string]string{
				"main.conf":     "virtual_server 198.18.0.100 80 {\n    include reals/*.conf\n}\n",
				"reals/01.conf": "real_server 198.18.0.1 80 {\n  weight heavy\n}\n",
			},
			want: `DIR/reals/01.conf:2:10: real_server weight "heavy" is not a number between 0 and 65535`,
		},
		{
			desc: "an included file must balance its braces",
			files: map[string]string{
				"main.conf": "include part.conf\n}\n",
				"part.conf": "global_defs {\n",
			},
			want: `DIR/part.conf:2:1: block "global_defs" opened at DIR/part.conf:1:1 is never closed` + "\n" +
				`DIR/main.conf:2:1: unexpected "}" with no open block`,
		},
		{
			desc:  "include with two patterns",
			files: map[string]string{"main.conf": "include a.conf b.conf\n"},
			want:  `DIR/main.conf:1:16: include takes one file name or pattern; unexpected "b.conf"`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tc.files)
			_, err := ParseFile(filepath.Join(dir, "main.conf"))
			if err == nil {
				t.Fatalf("ParseFile succeeded, want error")
			}
			var perr *Error
			if !errors.As(err, &perr) {
				t.Fatalf("error is %T (%v), want *Error", err, err)
			}
			if got := strings.ReplaceAll(err.Error(), dir, "DIR"); got != tc.want {
				t.Errorf("wrong error\n got: %s\nwant: %s", got, tc.want)
			}
		})
	}
}

func TestParseFileMissing(t *testing.T) {
	_, err := ParseFile(filepath.Join(t.TempDir(), "keepalived.conf"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("got %v, want an error wrapping fs.ErrNotExist", err)
	}
}

func TestParseFileNotRegular(t *testing.T) {
	_, err := ParseFile(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("got %v, want a \"not a regular file\" error", err)
	}
}
