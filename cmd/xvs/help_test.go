package main

import (
	"bytes"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"
)

// mainCommands returns the commands of Main's switch on args[0], read from
// main.go's source, so that a command added there without a manual entry
// fails TestHelpCoversCommands.
func mainCommands(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "main.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var cmds []string
	ast.Inspect(f, func(n ast.Node) bool {
		fn, ok := n.(*ast.FuncDecl)
		if !ok || fn.Name.Name != "Main" {
			return true
		}
		ast.Inspect(fn.Body, func(n ast.Node) bool {
			cc, ok := n.(*ast.CaseClause)
			if !ok {
				return true
			}
			for _, e := range cc.List {
				if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					s, err := strconv.Unquote(lit.Value)
					if err != nil {
						t.Fatal(err)
					}
					cmds = append(cmds, s)
				}
			}
			return true
		})
		return false
	})
	if len(cmds) < 5 {
		t.Fatalf("found only %v in Main's switch: has main.go changed shape?", cmds)
	}
	return cmds
}

// TestHelpCoversCommands checks that every command Main knows has an
// entry in the manual, in its SYNOPSIS and COMMANDS sections, and that
// `xvs help COMMAND` prints it.
func TestHelpCoversCommands(t *testing.T) {
	var manual bytes.Buffer
	if code := Main([]string{"help"}, &manual, os.Stderr); code != 0 {
		t.Fatalf("xvs help: exit %d", code)
	}
	m := manual.String()
	for _, section := range []string{"NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "FILES", "SIGNALS", "EXIT STATUS", "EXAMPLES", "SEE ALSO"} {
		if !strings.Contains(m, "\n"+section+"\n") && !strings.HasPrefix(m, section+"\n") {
			t.Errorf("the manual has no %s section", section)
		}
	}
	for _, want := range []string{"keepalived.conf(5)", "ipvsadm(8)", "SIGHUP", "SIGTERM", "priority\n        0"} {
		if !strings.Contains(m, want) {
			t.Errorf("the manual does not mention %q", want)
		}
	}
	for _, cmd := range mainCommands(t) {
		if strings.HasPrefix(cmd, "-") { // -h, --help: spellings of help
			continue
		}
		if findCommandDoc(cmd) == nil {
			t.Errorf("command %q of Main has no entry in commandDocs (help.go)", cmd)
			continue
		}
		if !strings.Contains(m, "\n    xvs "+cmd) {
			t.Errorf("SYNOPSIS lacks xvs %s", cmd)
		}
		if !strings.Contains(m, "\n  "+cmd+"\n    xvs "+cmd) {
			t.Errorf("COMMANDS lacks an entry for %s", cmd)
		}
		var out, errb bytes.Buffer
		if code := Main([]string{"help", cmd}, &out, &errb); code != 0 || !strings.Contains(out.String(), "xvs "+cmd+" - ") {
			t.Errorf("xvs help %s: exit %d, stdout %q, stderr %q", cmd, code, out.String(), errb.String())
		}
	}
	for _, spelling := range []string{"-h", "--help"} {
		var out bytes.Buffer
		if code := Main([]string{spelling}, &out, os.Stderr); code != 0 || out.String() != m {
			t.Errorf("xvs %s: exit %d, and not the manual", spelling, code)
		}
	}
}

// TestHelpDocumentsFlags checks that every flag a command's FlagSet
// defines (as `xvs COMMAND -h` lists them) is in its manual entry.
func TestHelpDocumentsFlags(t *testing.T) {
	flagLine := regexp.MustCompile(`(?m)^  -(\S+)`)
	for _, c := range commandDocs {
		if c.name == "help" {
			continue
		}
		args := []string{c.name, "-h"}
		if c.name == "lab" {
			args = []string{"lab", "up", "-h"}
		}
		var out, errb bytes.Buffer
		if code := Main(args, &out, &errb); code != 2 {
			t.Errorf("xvs %s: exit %d, want 2 (flag.ErrHelp)", strings.Join(args, " "), code)
		}
		flags := flagLine.FindAllStringSubmatch(errb.String(), -1)
		if len(flags) == 0 {
			t.Errorf("xvs %s listed no flags:\n%s", strings.Join(args, " "), errb.String())
		}
		for _, f := range flags {
			re := regexp.MustCompile(`(^|[\s\[])--?` + regexp.QuoteMeta(f[1]) + `\b`)
			if !re.MatchString(c.body) {
				t.Errorf("flag -%s of xvs %s is not in its manual entry", f[1], c.name)
			}
		}
	}
}

// TestShortUsage checks that command-line errors print the short usage,
// not the manual, and exit 2.
func TestShortUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"frobnicate"}, {"help", "frobnicate"}, {"help", "run", "check"}} {
		var out, errb bytes.Buffer
		if code := Main(args, &out, &errb); code != 2 {
			t.Errorf("xvs %q: exit %d, want 2", args, code)
		}
		if !strings.Contains(errb.String(), "usage: xvs <command>") || strings.Contains(errb.String(), "SYNOPSIS") {
			t.Errorf("xvs %q: stderr is not the short usage:\n%s", args, errb.String())
		}
	}
}

func TestMetricsAddr(t *testing.T) {
	for _, tc := range []struct {
		in, want  string
		defaulted bool
		err       bool
	}{
		{in: ":9333", want: "127.0.0.1:9333", defaulted: true},
		{in: "9333", want: "127.0.0.1:9333", defaulted: true},
		{in: "127.0.0.1:9333", want: "127.0.0.1:9333"},
		{in: "0.0.0.0:9333", want: "0.0.0.0:9333"},
		{in: "198.18.0.1:9333", want: "198.18.0.1:9333"},
		{in: "[::1]:9333", want: "[::1]:9333"},
		{in: "[::]:9333", want: "[::]:9333"},
		{in: "localhost:9333", want: "localhost:9333"},
		{in: ":0", want: "127.0.0.1:0", defaulted: true},
		{in: "127.0.0.1", err: true},
		{in: ":", err: true},
		{in: ":http", err: true},
		{in: ":70000", err: true},
		{in: "99999", err: true},
		{in: "host:1:2", err: true},
	} {
		got, def, err := metricsAddr(tc.in)
		if (err != nil) != tc.err || got != tc.want || def != tc.defaulted {
			t.Errorf("metricsAddr(%q) = %q, %v, %v; want %q, %v, error %v", tc.in, got, def, err, tc.want, tc.defaulted, tc.err)
		}
	}
}

// TestRunCommandLine checks the errors `xvs run` reports before it reads
// the configuration (so without root).
func TestRunCommandLine(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--pprof"}, "--pprof needs --metrics"},
		{[]string{"--metrics", "127.0.0.1"}, `--metrics "127.0.0.1"`},
		{[]string{"--metrics", ":http"}, "is not a number"},
		{[]string{"--log-format", "xml"}, `log format "xml"`},
		{[]string{"--log-level", "loud"}, `log level "loud"`},
		{[]string{"extra"}, `unexpected argument "extra"`},
	} {
		var out, errb bytes.Buffer
		if code := Main(append([]string{"run"}, tc.args...), &out, &errb); code != 2 || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("xvs run %q: exit %d, stderr %q; want 2 and %q", tc.args, code, errb.String(), tc.want)
		}
	}
}

func TestLogFormat(t *testing.T) {
	for _, tc := range []struct {
		format string
		json   bool
	}{{"json", true}, {"console", false}, {"auto", true}} { // a buffer is no terminal
		var b bytes.Buffer
		log, err := newLogger("info", tc.format, &b)
		if err != nil {
			t.Fatal(err)
		}
		log.Info("configuration loaded")
		log.Debug("not shown")
		log.Sync()
		line := strings.TrimSpace(b.String())
		if strings.Contains(line, "\n") || strings.Contains(line, "not shown") {
			t.Errorf("%s: want one info line, got %q", tc.format, line)
		}
		var obj map[string]any
		isJSON := json.Unmarshal([]byte(line), &obj) == nil
		if isJSON != tc.json {
			t.Errorf("%s: JSON %v, want %v: %q", tc.format, isJSON, tc.json, line)
		}
		if isJSON && (obj["msg"] != "configuration loaded" || obj["level"] != "info" || obj["ts"] == nil) {
			t.Errorf("%s: fields %v", tc.format, obj)
		}
		if !isJSON && !strings.Contains(line, "\tinfo\tconfiguration loaded") {
			t.Errorf("%s: %q is not the console format", tc.format, line)
		}
	}
}

func TestIsTerminal(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if isTerminal(w) || isTerminal(&bytes.Buffer{}) {
		t.Error("a pipe or a buffer taken for a terminal")
	}
	pty, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal to test with: %v", err)
	}
	defer pty.Close()
	if !isTerminal(pty) {
		t.Error("a pseudo-terminal not taken for a terminal")
	}
}

func TestMetricsHandlerPprof(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "xvs_test_total", Help: "test"}))
	for _, pprof := range []bool{false, true} {
		srv := httptest.NewServer(metricsHandler(reg, pprof))
		for path, want := range map[string]int{"/metrics": 200, "/debug/pprof/": map[bool]int{false: 404, true: 200}[pprof], "/debug/pprof/cmdline": map[bool]int{false: 404, true: 200}[pprof]} {
			resp, err := http.Get(srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("pprof %v: GET %s: %d, want %d", pprof, path, resp.StatusCode, want)
			}
		}
		srv.Close()
	}
}
