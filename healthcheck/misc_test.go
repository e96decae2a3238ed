package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// writeScript writes an executable shell script to a temporary directory
// and returns its path.
func writeScript(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "check.sh")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func miscChecker(t *testing.T, cfg MiscConfig) *MiscChecker {
	t.Helper()
	return newChecker(t, cfg, netip.AddrPort{}).(*MiscChecker)
}

func TestMiscExitStatus(t *testing.T) {
	script := writeScript(t, `exit "$1"`)
	tests := []struct {
		code      int
		dynamic   bool
		healthy   bool
		weight    int
		hasWeight bool
	}{
		{0, false, true, 0, false},
		{1, false, false, 0, false},
		{3, false, false, 0, false}, // 2..255 count only under misc_dynamic
		{0, true, true, 0, false},   // weight unchanged
		{1, true, false, 0, false},
		{2, true, true, 0, true},
		{12, true, true, 10, true},
		{255, true, true, 253, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("exit %d dynamic %v", tt.code, tt.dynamic), func(t *testing.T) {
			c := miscChecker(t, MiscConfig{Path: fmt.Sprintf("%s %d", script, tt.code), Dynamic: tt.dynamic, Timeout: 5 * time.Second})
			r := c.Check(context.Background())
			if tt.healthy {
				assertResult(t, r, true, nil)
			} else {
				assertResult(t, r, false, ErrExitStatus)
			}
			if r.HasWeight != tt.hasWeight || r.Weight != tt.weight {
				t.Errorf("weight %d (set %v), want %d (set %v)", r.Weight, r.HasWeight, tt.weight, tt.hasWeight)
			}
		})
	}
}

// TestMiscArgs checks that misc_path is split keepalived's way and passed
// to the program without a shell in between.
func TestMiscArgs(t *testing.T) {
	script := writeScript(t, `out=$1; shift; printf '%s\n' "$#" "$@" > "$out"`)
	out := filepath.Join(t.TempDir(), "args")
	path := script + " " + out + ` 'two  words' "dq \"x\"" back\\slash '' \x41 $HOME ;ls`
	c := miscChecker(t, MiscConfig{Path: path, Timeout: 5 * time.Second})
	assertResult(t, c.Check(context.Background()), true, nil)
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want := "7\ntwo  words\ndq \"x\"\nback\\slash\n\nA\n$HOME\n;ls\n"
	if string(got) != want {
		t.Errorf("script got\n%q\nwant\n%q", got, want)
	}
}

func TestMiscFailures(t *testing.T) {
	t.Run("program not found", func(t *testing.T) {
		c := miscChecker(t, MiscConfig{Path: "/nonexistent/check --flag"})
		r := c.Check(context.Background())
		assertResult(t, r, false, os.ErrNotExist)
	})
	t.Run("killed by a signal", func(t *testing.T) {
		c := miscChecker(t, MiscConfig{Path: writeScript(t, "kill -KILL $$")})
		r := c.Check(context.Background())
		assertResult(t, r, false, nil)
		if !strings.Contains(r.Err.Error(), "killed") {
			t.Errorf("err = %v, want it to name the signal", r.Err)
		}
	})
	t.Run("context cancelled", func(t *testing.T) {
		c := miscChecker(t, MiscConfig{Path: writeScript(t, "sleep 30")})
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		r := c.Check(ctx)
		assertResult(t, r, false, context.Canceled)
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("cancelled script took %v", took)
		}
	})
}

// TestMiscTimeout checks that a hung script is killed with its whole
// process group: the script starts a child that ignores SIGTERM and then
// hangs; after misc_timeout both must be gone.
func TestMiscTimeout(t *testing.T) {
	tests := []struct {
		desc   string
		script string
	}{
		{"script dies on SIGTERM, its child ignores it", `
sh -c 'trap "" TERM; exec sleep 30' &
echo $! > "$1"
sleep 30
`},
		{"script and child ignore SIGTERM", `
trap "" TERM
sleep 30 &
echo $! > "$1"
sleep 30
`},
	}
	const timeout, grace = 300 * time.Millisecond, 200 * time.Millisecond
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			pidFile := filepath.Join(t.TempDir(), "pid")
			c := miscChecker(t, MiscConfig{Path: writeScript(t, tt.script) + " " + pidFile, Timeout: timeout})
			c.script.killGrace = grace
			start := time.Now()
			r := c.Check(context.Background())
			took := time.Since(start)
			assertResult(t, r, false, ErrScriptTimeout)
			if took < timeout || took > timeout+grace+time.Second {
				t.Errorf("check took %v; timeout %v, grace %v", took, timeout, grace)
			}
			b, err := os.ReadFile(pidFile)
			if err != nil {
				t.Fatal(err)
			}
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				t.Fatal(err)
			}
			waitFor(t, fmt.Sprintf("child %d to die", pid), func() bool { return processGone(pid) })
		})
	}
}

// processGone reports whether pid has exited (a zombie counts: nothing of
// it runs any more).
func processGone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// pid (comm) state ...
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z' || s[i+2] == 'X'
}

// TestMiscScriptUser runs scripts as "nobody" (root only).
func TestMiscScriptUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("changing user needs root")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skipf("no user nobody: %v", err)
	}
	ids := func(uid, gid string) string {
		return fmt.Sprintf(`/bin/sh -c 'test "$(id -u):$(id -g)" = "%s:%s"'`, uid, gid)
	}
	t.Run("user nobody", func(t *testing.T) {
		c := miscChecker(t, MiscConfig{Path: ids(nobody.Uid, nobody.Gid), User: "nobody"})
		assertResult(t, c.Check(context.Background()), true, nil)
	})
	t.Run("user by numeric id", func(t *testing.T) {
		c := miscChecker(t, MiscConfig{Path: ids(nobody.Uid, nobody.Gid), User: nobody.Uid})
		assertResult(t, c.Check(context.Background()), true, nil)
	})
	t.Run("supplementary groups are the user's", func(t *testing.T) {
		c := miscChecker(t, MiscConfig{Path: `/bin/sh -c 'for g in $(id -G); do test "$g" != 0 || exit 1; done'`, User: "nobody"})
		assertResult(t, c.Check(context.Background()), true, nil)
	})
	t.Run("user nobody, group override", func(t *testing.T) {
		g, err := user.LookupGroupId("1")
		if err != nil {
			t.Skipf("no group 1: %v", err)
		}
		c := miscChecker(t, MiscConfig{Path: ids(nobody.Uid, "1"), User: "nobody", Group: g.Name})
		assertResult(t, c.Check(context.Background()), true, nil)
	})
	t.Run("without a user the script runs as root", func(t *testing.T) {
		c := miscChecker(t, MiscConfig{Path: ids(nobody.Uid, nobody.Gid)})
		assertResult(t, c.Check(context.Background()), false, ErrExitStatus)
	})
}

func TestNewScriptErrors(t *testing.T) {
	for _, tt := range []struct{ cmd, user, group string }{
		{"", "", ""},
		{"   ", "", ""},
		{"/bin/true 'open", "", ""},
		{"/bin/true", "", "root"}, // group without user
		{"/bin/true", "no-such-user-xvs", ""},
		{"/bin/true", "root", "no-such-group-xvs"},
	} {
		if _, err := NewScript(tt.cmd, tt.user, tt.group); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("NewScript(%q, %q, %q) = %v, want ErrInvalidConfig", tt.cmd, tt.user, tt.group, err)
		}
	}
	if os.Geteuid() != 0 {
		if _, err := NewScript("/bin/true", "root", ""); !errors.Is(err, os.ErrPermission) {
			t.Errorf("NewScript as another user without root: %v, want os.ErrPermission", err)
		}
	}
	if _, err := (MiscConfig{Path: "/bin/true", Timeout: -1}).NewChecker(netip.AddrPort{}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("negative timeout: %v", err)
	}
	s, err := NewScript(`/bin/echo "a b" c`, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if got := s.String(); got != `/bin/echo "a b" c` {
		t.Errorf("String() = %q", got)
	}
	if got := s.Args(); !reflect.DeepEqual(got, []string{"/bin/echo", "a b", "c"}) {
		t.Errorf("Args() = %q", got)
	}
}

func TestSplitCommand(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{" \t ", nil},
		{"/bin/check", []string{"/bin/check"}},
		{"  /bin/check   a\tb  ", []string{"/bin/check", "a", "b"}},
		{`/bin/check "a b" 'c d'`, []string{"/bin/check", "a b", "c d"}},
		{`x"y z"w`, []string{"xy zw"}},
		{`a "" ''`, []string{"a", "", ""}},
		{`"it's" 'say "hi"'`, []string{"it's", `say "hi"`}},
		{`a\ b`, []string{"a b"}},
		{`\"q\" \'q\' \\`, []string{`"q"`, "'q'", `\`}},
		{`'\n in single quotes'`, []string{"\n in single quotes"}},
		{`\t\r\a\b\f\v\E`, []string{"\t\r\a\b\f\v\x1b"}},
		{`\x41\x4a\x4Ab`, []string{"AJ\xab"}},
		{`\101\60\1010`, []string{"A0A0"}},
		{`$HOME $(id) ; | && *`, []string{"$HOME", "$(id)", ";", "|", "&&", "*"}},
	}
	for _, tt := range tests {
		got, err := SplitCommand(tt.in)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("SplitCommand(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if got, err := SplitCommand(`\cA\cz`); err != nil || !reflect.DeepEqual(got, []string{"\x01\x1a"}) {
		t.Errorf(`SplitCommand(\cA\cz) = %q, %v`, got, err)
	}
	for _, bad := range []string{`"open`, `'open`, `trailing\`, `nul\0`, `nul\c@`, `nul\x00`} {
		if got, err := SplitCommand(bad); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("SplitCommand(%q) = %q, %v; want ErrInvalidConfig", bad, got, err)
		}
	}
}

func FuzzSplitCommand(f *testing.F) {
	f.Add(`/bin/check "a b" 'c' d\ e \x41 \101 \cA`) // every kind of quote and escape
	f.Add(`"unterminated`)                           // error
	f.Fuzz(func(t *testing.T, s string) {
		args, err := SplitCommand(s)
		if err != nil {
			return
		}
		// Quoting every argument with single quotes and escaping what
		// needs it gives a command line that splits the same.
		var b strings.Builder
		for i, a := range args {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteByte('\'')
			for _, c := range []byte(a) {
				if c == '\'' || c == '\\' {
					b.WriteByte('\\')
				}
				b.WriteByte(c)
			}
			b.WriteByte('\'')
		}
		again, err := SplitCommand(b.String())
		if err != nil || len(again) != len(args) || len(args) > 0 && !reflect.DeepEqual(again, args) {
			t.Fatalf("SplitCommand(%q) = %q; requoted %q splits to %q, %v", s, args, b.String(), again, err)
		}
	})
}
