//go:build linux

package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// goBenchTimeout bounds the Go benchmarks, compile included.
const goBenchTimeout = 5 * time.Minute

// GoBenchArgs are the arguments of `go` for the fast-path benchmarks.
var GoBenchArgs = []string{"test", "-run", "^$", "-bench", ".", "-benchmem", "-count", "1", "./nat/", "./scheduler/"}

// GoBench is the output of the Go benchmarks of the fast path.
type GoBench struct {
	// Ran tells whether they ran to the end.
	Ran bool
	// Command is what ran, Dir where.
	Command, Dir string
	// Lines are the result lines (goos, goarch, pkg, cpu, Benchmark...,
	// ok).
	Lines []string
	// Note says why they did not run, or what went wrong.
	Note    string `json:",omitempty"`
	Elapsed time.Duration
}

// ModuleRoot walks up from dir to the directory whose go.mod declares
// module github.com/xvs-project/xvs.
func ModuleRoot(dir string) (string, error) {
	d, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module github.com/xvs-project/xvs\n")) {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", errors.New("the xvs source tree (its go.mod) is not in the current directory or above")
		}
		d = parent
	}
}

// RunGoBench runs `go test -bench` on the fast-path packages in the module
// at dir ("" finds it from the working directory). It never fails: what
// went wrong is in Note.
func RunGoBench(ctx context.Context, dir string) GoBench {
	g := GoBench{Command: "go " + strings.Join(GoBenchArgs, " ")}
	goBin, err := exec.LookPath("go")
	if err != nil {
		g.Note = "not run: go is not on PATH"
		return g
	}
	if dir == "" {
		if dir, err = ModuleRoot("."); err != nil {
			g.Note = "not run: " + err.Error()
			return g
		}
	}
	g.Dir = dir
	ctx, cancel := context.WithTimeout(ctx, goBenchTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, GoBenchArgs...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	t0 := time.Now()
	err = cmd.Run()
	g.Elapsed = time.Since(t0)
	for _, l := range strings.Split(out.String(), "\n") {
		if l = strings.TrimRight(l, " \t\r"); l != "" {
			g.Lines = append(g.Lines, l)
		}
	}
	if err != nil {
		g.Note = fmt.Sprintf("go test failed: %v", err)
		if ctx.Err() != nil {
			g.Note = fmt.Sprintf("go test stopped after %v: %v", goBenchTimeout, ctx.Err())
		}
		return g
	}
	g.Ran = true
	return g
}

// mergeProfiles merges the per-round CPU profiles into dir/xvs.pprof with
// `go tool pprof -proto` and returns its path and `-top` lines. Without go
// the last round's profile is the one named, without top lines.
func mergeProfiles(ctx context.Context, dir string, profiles []string) (string, []string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return profiles[len(profiles)-1], nil, errors.New("go is not on PATH: per-round profiles left as they are")
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	merged := filepath.Join(dir, "xvs.pprof")
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, goBin, append([]string{"tool", "pprof", "-proto"}, profiles...)...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return profiles[len(profiles)-1], nil, fmt.Errorf("go tool pprof -proto: %v: %s", err, strings.TrimSpace(errb.String()))
	}
	if err := os.WriteFile(merged, out.Bytes(), 0o644); err != nil {
		return profiles[len(profiles)-1], nil, err
	}
	out.Reset()
	errb.Reset()
	cmd = exec.CommandContext(ctx, goBin, "tool", "pprof", "-top", "-nodecount=25", merged)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return merged, nil, fmt.Errorf("go tool pprof -top: %v: %s", err, strings.TrimSpace(errb.String()))
	}
	top := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	_ = os.WriteFile(filepath.Join(dir, "xvs-top.txt"), out.Bytes(), 0o644)
	return merged, top, nil
}
