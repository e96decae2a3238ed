//go:build linux

package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/xvs-project/xvs/lab"
)

// execDirector is `xvs run` of a freshly built binary, as lab starts it;
// the test does not scrape its metrics.
type execDirector struct{ *lab.Director }

func (execDirector) Metrics() (map[string]float64, error) {
	return nil, errors.New("not scraped in the test")
}

// startExecDirector returns a StartDirectorFunc that runs exe.
func startExecDirector(exe string) StartDirectorFunc {
	return func(l *lab.Lab, dir string, args ...string) (Director, error) {
		d, err := lab.StartDirector(l, exe, dir, args...)
		if err != nil {
			return nil, err
		}
		return execDirector{d}, nil
	}
}

// buildXVS builds cmd/xvs into dir with the go command running this test.
func buildXVS(t *testing.T, dir string) string {
	t.Helper()
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		if goBin, err = exec.LookPath("go"); err != nil {
			t.Skip("needs the go command to build cmd/xvs for the xvs contender")
		}
	}
	exe := filepath.Join(dir, "xvs")
	out, err := exec.Command(goBin, "build", "-o", exe, "github.com/xvs-project/xvs/cmd/xvs").CombinedOutput()
	if err != nil {
		t.Fatalf("building cmd/xvs: %v\n%s", err, out)
	}
	return exe
}

// TestRunEndToEnd runs the whole benchmark once, short: one round of one
// second per figure, every contender. It checks that the orchestration
// works (a table with every contender, UDP frames delivered by each in both
// placements, TCP and bulk figures for xvs and the kernel, xvs confined to
// the director's CPUs in the router box, a profile of xvs, the files and
// the chart written, nothing left behind), not how fast anything is.
func TestRunEndToEnd(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: builds network namespaces, attaches XDP, opens AF_XDP sockets")
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s on PATH (iproute2, nftables)", tool)
		}
	}
	if testing.Short() {
		t.Skip("runs the lab benchmark end to end (about 30 s); skipped with -short")
	}
	tmp := t.TempDir()
	exe := buildXVS(t, tmp)
	var b [3]byte
	rand.Read(b[:])
	prefix := "xb" + hex.EncodeToString(b[:])
	t.Cleanup(func() { lab.Down(prefix) })
	out := filepath.Join(tmp, "out")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	var progress strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := Run(ctx, Config{
		Duration: time.Second, Rounds: 1, WarmUp: 300 * time.Millisecond, Prefix: prefix,
		StartDirector: startExecDirector(exe), OutDir: out, Log: &progress,
	})
	if rep == nil {
		t.Fatalf("Run: %v\n%s", err, progress.String())
	}
	txt := rep.Text()
	t.Logf("progress:\n%s\n%s", progress.String(), txt)
	if err != nil {
		t.Errorf("Run: %v", err)
	}

	var header string
	for _, l := range strings.Split(txt, "\n") {
		if strings.HasPrefix(l, "figure ") {
			header = l
			break
		}
	}
	for _, c := range AllContenders {
		if !strings.Contains(header, c) {
			t.Errorf("table header %q lacks contender %s", header, c)
		}
	}
	keys := []string{"udp_fps"}
	if rep.Settings.DirectorCPUs != "" {
		keys = append(keys, "rb_udp_fps", "rb_udp_per_cpu")
	}
	for _, k := range keys {
		udp := figure(t, rep.Figures, k)
		for _, c := range AllContenders {
			if v, ok := udp.Values[c]; !ok || !(v.Median > 0) {
				t.Errorf("%s: %s delivered no UDP frames: %+v", k, c, v)
			}
		}
	}
	for _, k := range []string{"tcp_cps", "bulk_gbps"} {
		f := figure(t, rep.Figures, k)
		for _, c := range []string{XVS, Kernel} {
			if v, ok := f.Values[c]; !ok || !(v.Median > 0) {
				t.Errorf("%s: %s has no figure: %+v", k, c, v)
			}
		}
	}
	for _, r := range rep.Runs {
		if r.UDP != nil && r.UDP.Foreign != 0 {
			t.Errorf("%s: %d frames flooded to the wrong server", r.Contender, r.UDP.Foreign)
		}
		if r.Contender == XVS && (r.UDP == nil || r.UDP.Director == nil) {
			t.Errorf("xvs run without the process's CPU time: %+v", r)
		}
		for _, s := range r.Setups {
			if r.Contender == XVS && s.Mode == RouterBox && s.Allowed != s.DirectorCPUs {
				t.Errorf("xvs in the router box may run on CPUs %s, want only the director's %s", s.Allowed, s.DirectorCPUs)
			}
			for _, k := range s.NAPI {
				if k.CPUs != s.DirectorCPUs {
					t.Errorf("%s: NAPI thread %s on CPUs %s, want %s", r.Contender, k.Name, k.CPUs, s.DirectorCPUs)
				}
			}
		}
	}
	if len(rep.Profiles) != 1 {
		t.Errorf("profiles %v, want one for the xvs run", rep.Profiles)
	}
	if err := rep.WriteFiles(out); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"bench.json", "bench.md", "bench.svg"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s not written: %v", f, err)
		}
	}

	// Nothing left behind: no namespace of the lab, no process in one.
	ents, _ := os.ReadDir("/run/netns")
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix+"-") {
			t.Errorf("namespace %s left behind", e.Name())
		}
	}
}
