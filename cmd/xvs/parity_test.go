package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/xvs-project/xvs/config"
	"github.com/xvs-project/xvs/lab"
)

// parityCase is one file of testdata/parity with its expectations, from
// its "# expect xvs=N keepalived=M [unsupported]" line: xvs check's exit
// status, keepalived -t's (or "crash"), and whether the file uses a
// feature keepalived has and xvs does not yet.
type parityCase struct {
	path        string
	xvs         int
	keepalived  string
	unsupported bool
}

// verdict is the class of an exit status of xvs check or keepalived -t:
// clean (0), flagged (4 or 5: problems reported, or a crash after
// reporting them), security (6). keepalived -t exits 5 for everything it
// reports short of a fatal error or a security violation, warnings and
// ignored lines alike, so xvs's warnings (5) and errors (4) both match
// it.
func verdict(code string) string {
	switch code {
	case "0":
		return "clean"
	case "4", "5", "crash":
		return "flagged"
	case "6":
		return "security"
	}
	return "exit " + code
}

func readParityCases(t *testing.T) []parityCase {
	t.Helper()
	files, err := filepath.Glob("testdata/parity/*.conf")
	if err != nil || len(files) == 0 {
		t.Fatalf("no parity corpus: %v", err)
	}
	var cases []parityCase
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		c := parityCase{path: f, xvs: -1}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			line, ok := strings.CutPrefix(sc.Text(), "# expect ")
			if !ok {
				continue
			}
			for _, w := range strings.Fields(line) {
				switch k, v, _ := strings.Cut(w, "="); k {
				case "xvs":
					c.xvs, _ = strconv.Atoi(v)
				case "keepalived":
					c.keepalived = v
				case "unsupported":
					c.unsupported = true
				}
			}
		}
		if c.xvs < 0 || c.keepalived == "" {
			t.Fatalf("%s has no \"# expect xvs=N keepalived=M\" line", f)
		}
		cases = append(cases, c)
	}
	return cases
}

// TestKeepalivedParity runs keepalived -t (Debian's keepalived) and xvs
// check on every file of testdata/parity, in a network namespace with the
// interfaces the files name (eth0 198.18.0.1/24, eth1 198.18.1.1/24), and
// requires both to give the exit status the file records and the same
// verdict: clean, flagged or security. Files marked unsupported use what
// keepalived runs and xvs does not yet (IPv6 services, DR): keepalived
// must pass them and xvs check must refuse them, saying "not supported
// yet", as xvs run does.
func TestKeepalivedParity(t *testing.T) {
	requireRoot(t)
	kad, err := exec.LookPath("keepalived")
	if err != nil {
		t.Fatal("keepalived is not installed (make deps installs it): the parity corpus needs keepalived -t")
	}
	ns := parityNamespace(t)
	for _, c := range readParityCases(t) {
		t.Run(strings.TrimSuffix(filepath.Base(c.path), ".conf"), func(t *testing.T) {
			abs, err := filepath.Abs(c.path)
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("ip", "netns", "exec", ns, kad, "-t", "-f", abs)
			kout, kerr := cmd.CombinedOutput()
			kcode := "0"
			var ee *exec.ExitError
			switch {
			case errors.As(kerr, &ee) && ee.ExitCode() < 0:
				kcode = "crash" // killed by a signal
			case errors.As(kerr, &ee):
				kcode = strconv.Itoa(ee.ExitCode())
			case kerr != nil:
				t.Fatalf("keepalived -t: %v", kerr)
			}
			var stdout, stderr bytes.Buffer
			xcode := -1
			if err := lab.Do(ns, func() error {
				xcode = checkWith(abs, config.Options{}, interfaceExists, checkOutput{}, &stdout, &stderr)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			report := fmt.Sprintf("keepalived -t: exit %s\n%s\nxvs check: exit %d\n%s%s", kcode, kout, xcode, stdout.String(), stderr.String())
			if kcode != c.keepalived || xcode != c.xvs {
				t.Fatalf("want keepalived -t exit %s and xvs check exit %d\n%s", c.keepalived, c.xvs, report)
			}
			if c.unsupported {
				if verdict(kcode) != "clean" || xcode != checkErrors || !strings.Contains(stderr.String(), "not supported yet") {
					t.Fatalf("an unsupported feature: want keepalived clean and xvs refusing it as not supported yet\n%s", report)
				}
				return
			}
			if verdict(kcode) != verdict(strconv.Itoa(xcode)) {
				t.Fatalf("verdicts differ: keepalived %s, xvs %s\n%s", verdict(kcode), verdict(strconv.Itoa(xcode)), report)
			}
			t.Logf("both %s (keepalived -t exit %s, xvs check exit %d)", verdict(kcode), kcode, xcode)
		})
	}
}

// parityNamespace makes a network namespace with the interfaces the
// parity corpus names, removed when the test ends.
func parityNamespace(t *testing.T) string {
	t.Helper()
	ns := fmt.Sprintf("xvs-par-%d", os.Getpid())
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	for _, args := range [][]string{
		{"netns", "add", ns},
		{"-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p"},
		{"-n", ns, "link", "add", "eth1", "type", "veth", "peer", "name", "eth1p"},
		{"-n", ns, "addr", "add", "198.18.0.1/24", "dev", "eth0"},
		{"-n", ns, "addr", "add", "198.18.1.1/24", "dev", "eth1"},
		{"-n", ns, "link", "set", "lo", "up"},
		{"-n", ns, "link", "set", "eth0", "up"},
		{"-n", ns, "link", "set", "eth1", "up"},
		{"-n", ns, "link", "set", "eth0p", "up"},
		{"-n", ns, "link", "set", "eth1p", "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	return ns
}
