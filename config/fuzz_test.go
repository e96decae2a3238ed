package config

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// mapFS is an in-memory fileSystem, so that fuzzed include patterns never
// touch the real file system.
type mapFS map[string][]byte

func (m mapFS) ReadFile(name string) ([]byte, error) {
	data, ok := m[filepath.Clean(name)]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return data, nil
}

func (m mapFS) Glob(pattern string) ([]string, error) {
	if _, err := filepath.Match(pattern, ""); err != nil {
		return nil, err
	}
	var names []string
	for name := range m {
		if ok, _ := filepath.Match(pattern, name); ok {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names, nil
}

// fuzzFS holds the testdata files and a file that includes itself.
func fuzzFS(f *testing.F) mapFS {
	m := mapFS{
		filepath.Join("testdata", "loop.conf"):  []byte("include loop.conf\n"),
		filepath.Join("testdata", "reals.conf"): []byte("real_server 198.18.1.1 80 {\n weight 2\n}\n"),
	}
	files, err := filepath.Glob(filepath.Join("testdata", "*.conf"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		m[name] = data
		f.Add(data)
	}
	return m
}

// lexAll returns every token of src, with the errors reported while
// reading it.
func lexAll(src []byte) ([]token, []Diagnostic) {
	p := &parser{fsys: mapFS{}, configID: "lb1", defs: stdDefinitions()}
	lx := newLexer(p, "fuzz.conf", src, p.syntaxErrorf)
	var toks []token
	for {
		t, ok := lx.next()
		if !ok {
			return toks, p.errs
		}
		toks = append(toks, t)
	}
}

func FuzzLex(f *testing.F) {
	fuzzFS(f)
	files, err := filepath.Glob(filepath.Join("testdata", "debian", "*keepalived.conf*"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, seed := range []string{
		"$A=$A\nx $A\n",                            // a definition that uses itself
		"$M=a \\\n b \\\n\n$M\n",                   // a multi-line definition
		"@lb1 a\n@^lb1 b\n@lb1\n",                  // configuration id lines
		"a \"b # c\" d # e\n\\#f \"unterminated\n", // quotes and comments
		"\xEF\xBB\xBFa {\r\n}\r\n",                 // a byte order mark and CRLF
		"${_RANDOM 1 2} ${_INSTANCE} $_PWD\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		toks, errs := lexAll(src)
		lines := 1 + bytes.Count(src, []byte{'\n'})
		prevLine := 0
		for _, tk := range toks {
			if tk.pos.File != "fuzz.conf" || tk.pos.Line < 1 || tk.pos.Line > lines || tk.pos.Col < 1 {
				t.Fatalf("token %+v has a bad position (%d lines)", tk, lines)
			}
			if tk.line < prevLine {
				t.Fatalf("token %+v goes back a line", tk)
			}
			prevLine = tk.line
			switch tk.kind {
			case tokWord:
				if tk.text == "" || strings.ContainsAny(tk.text, " \t\n{}\"") {
					t.Fatalf("bad word %q", tk.text)
				}
			case tokString:
				if strings.ContainsAny(tk.text, "\"\n") {
					t.Fatalf("bad string %q", tk.text)
				}
			}
		}
		for _, d := range errs {
			if d.Pos.Line < 1 || d.Pos.Col < 1 || d.Msg == "" {
				t.Fatalf("bad error %+v", d)
			}
		}
		// The same input gives the same tokens.
		toks2, errs2 := lexAll(src)
		if !reflect.DeepEqual(toks, toks2) || !reflect.DeepEqual(errs, errs2) {
			t.Fatalf("two reads of the same input differ")
		}
	})
}

func FuzzParse(f *testing.F) {
	fsys := fuzzFS(f)
	for _, seed := range []string{
		"include loop.conf\n",
		"virtual_server 198.18.0.1 80 {\n include reals.conf\n}\n",
		"include *.conf\n",
		"virtual_server 198.18.0.1 80 {\n real_server 198.18.0.2 80 { weight x }\n",
		"}\n{\n\"unterminated\n",
		"vrrp_instance V { virtual_router_id 1\n virtual_ipaddress { 198.18.0.1/24 dev eth0 label eth0:1 brd\n } }\n",
		"$V=198.18.0.1\nvirtual_server_group g { $V-3 80 }\nvirtual_server group g { real_server 198.18.1.1 }\n",
		"vrrp_sync_group G { group { V W } }\nvrrp_instance V { virtual_router_id 1 track_script { s } }\n",
		"virtual_server 198.18.0.1 25 {\n real_server 198.18.1.1 25 {\n  SMTP_CHECK {\n   helo_name a.example\n   host {\n    connect_ip 198.18.1.2\n   }\n   host { retry 2 }\n  }\n }\n}\n",
		"global_defs {\n lvs_sync_daemon eth1 V 5 group 239.0.0.1 port\n}\nvrrp_instance V {\n virtual_router_id 1\n lvs_sync_daemon_interface eth2\n}\nxvs {\n sloppy_tcp off\n sync_threshold 3 50\n}\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		name := filepath.Join("testdata", "fuzz.conf")
		spec, err := parse(name, src, fsys, Options{ConfigID: "lb1"})
		check(t, spec, err)
		// The same input gives the same result.
		spec2, err2 := parse(name, src, fsys, Options{ConfigID: "lb1"})
		if !reflect.DeepEqual(spec, spec2) || !reflect.DeepEqual(err, err2) {
			t.Fatalf("two parses of the same input differ")
		}
	})
}

// check verifies what Parse promises about its results.
func check(t *testing.T, spec *Spec, err error) {
	t.Helper()
	validPos := func(what string, d Diagnostic) {
		if d.Pos.Line < 1 || d.Pos.Col < 1 || d.Pos.File == "" {
			t.Fatalf("%s with a bad position: %#v", what, d)
		}
	}
	if err != nil {
		if spec != nil {
			t.Fatalf("Spec returned with an error")
		}
		var perr *Error
		if !errors.As(err, &perr) {
			t.Fatalf("error is %T, want *Error", err)
		}
		if len(perr.Diags) == 0 || len(perr.Diags) > maxErrors+1 {
			t.Fatalf("%d diagnostics in the error", len(perr.Diags))
		}
		for _, d := range perr.Diags {
			validPos("error", d)
			if d.Warning || d.Note || d.Msg == "" {
				t.Fatalf("bad error diagnostic %#v", d)
			}
		}
		for _, d := range perr.Warnings {
			validPos("warning", d)
		}
		return
	}
	if spec == nil {
		t.Fatalf("nil Spec without an error")
	}
	for _, d := range spec.Warnings {
		validPos("warning", d)
		if d.Warning == d.Note {
			t.Fatalf("diagnostic not marked as exactly one of warning and note: %#v", d)
		}
	}
	for _, vs := range spec.VirtualServers {
		if !vs.Addr.IsValid() || vs.Port == 0 || (vs.Protocol != "TCP" && vs.Protocol != "UDP") || vs.DelayLoop <= 0 {
			t.Fatalf("bad virtual server %+v", vs)
		}
		if vs.Quorum < 1 || vs.Hysteresis < 0 {
			t.Fatalf("bad quorum in %+v", vs)
		}
		for _, rs := range vs.Reals {
			if rs.Addr.Is4() != vs.Addr.Is4() || rs.Port == 0 || rs.Weight < 0 || rs.Weight > 65535 {
				t.Fatalf("bad real server %+v of %+v", rs, vs)
			}
			for _, c := range rs.Checks {
				if !strings.Contains(" TCP_CHECK HTTP_GET SSL_GET MISC_CHECK UDP_CHECK PING_CHECK DNS_CHECK SMTP_CHECK ", " "+c.Kind+" ") ||
					c.DelayLoop <= 0 || c.Retry < -1 || c.Warmup < -1 {
					t.Fatalf("bad checker %+v", c)
				}
				if (c.Kind == "HTTP_GET" || c.Kind == "SSL_GET") && len(c.URLs) == 0 {
					t.Fatalf("%s without urls", c.Kind)
				}
				for _, h := range c.SMTPHosts {
					if c.Kind != "SMTP_CHECK" || h.Pos.Line < 1 || h.ConnectTimeout < 0 {
						t.Fatalf("bad SMTP host %+v of %+v", h, c)
					}
				}
			}
		}
	}
	if sd := spec.Global.SyncDaemon; sd != nil {
		found := false
		for _, vi := range spec.VRRPInstances {
			found = found || vi.Name == sd.Instance
		}
		if !found || !validIfName(sd.Interface) || sd.SyncID < 0 || sd.SyncID > 255 || sd.MaxLen < 0 || sd.MaxLen > 65507 ||
			sd.TTL < 0 || sd.TTL > 255 || (sd.Group.IsValid() && (!sd.Group.Is4() || !sd.Group.IsMulticast())) {
			t.Fatalf("bad sync daemon %+v", sd)
		}
	}
	if x := spec.XVS; x.SyncThreshold < 0 || x.SyncPeriod < 0 || (x.SyncPeriod != 0 && x.SyncThreshold >= x.SyncPeriod) {
		t.Fatalf("bad sync_threshold %d %d", x.SyncThreshold, x.SyncPeriod)
	}
	for _, vi := range spec.VRRPInstances {
		if vi.Name == "" || vi.VirtualRouterID < 1 || vi.VirtualRouterID > 255 || vi.Priority < 1 || vi.Priority > 255 {
			t.Fatalf("bad VRRP instance %+v", vi)
		}
		for _, vip := range vi.VirtualIPs {
			if !vip.Prefix.IsValid() {
				t.Fatalf("bad virtual IP %+v", vip)
			}
		}
		if vi.Version != 0 && vi.Version != 2 && vi.Version != 3 {
			t.Fatalf("bad VRRP version %d", vi.Version)
		}
		for _, tr := range append(append([]Track(nil), vi.TrackInterfaces...), vi.TrackScripts...) {
			if tr.Name == "" || tr.Weight < -253 || tr.Weight > 253 {
				t.Fatalf("bad track %+v", tr)
			}
		}
	}
}
