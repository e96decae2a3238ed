package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/xvs-project/xvs/bench"
	"github.com/xvs-project/xvs/lab"
)

// benchDirector adapts the lab director (`xvs run` in the lab's director
// namespace) to bench.Director.
type benchDirector struct {
	*lab.Director
	ns string
}

func (b benchDirector) Metrics() (map[string]float64, error) { return scrape(b.ns, "127.0.0.1:9333") }

// cmdBench runs the lab benchmark: xvs, kernel NAT and a bare AF_XDP
// forwarder side by side, interleaved over rounds, each as a router box
// (the director alone on its CPUs) and with shared CPUs; it prints the
// tables and writes them as JSON and Markdown, a chart as SVG, and xvs's
// CPU profile into --out.
func cmdBench(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	duration := fs.Duration("duration", bench.DefaultDuration, "measured window of each figure, per contender and round")
	rounds := fs.Int("rounds", bench.DefaultRounds, "interleaved rounds (each figure is the median over them)")
	out := fs.String("out", "bench-out", "directory for bench.json, bench.md, the chart bench.svg and the xvs CPU profile")
	warmup := fs.Duration("warmup", bench.DefaultWarmUp, "UDP traffic before each measured window")
	contenders := fs.String("contenders", strings.Join(bench.AllContenders, ","), "comma-separated subset of "+strings.Join(bench.AllContenders, ","))
	prefix := fs.String("prefix", bench.DefaultPrefix, "lab namespace prefix")
	flows := fs.Int("flows", bench.DefaultFlows, "UDP flows (source ports)")
	conc := fs.Int("concurrency", bench.DefaultConcurrency, "closed-loop TCP clients for the connection rate")
	rate := fs.Float64("latency-rate", bench.DefaultLatencyRate, "requests per second of the latency figure")
	dirCPUs := fs.String("director-cpus", "", "router box: the director's CPUs, e.g. 1 (default: the highest CPU this process may use)")
	hostCPUs := fs.String("host-cpus", "", "router box: the generator's, sinks', client's and servers' CPUs, e.g. 0 (default: the other CPUs)")
	bulk := fs.Int("bulk-streams", bench.DefaultBulkStreams, "parallel TCP streams of the bulk figure")
	gobench := fs.Bool("gobench", true, "also run the Go benchmarks of the fast path (needs go on PATH and the source tree)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "xvs bench: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(stderr, "xvs bench: must run as root (it creates network namespaces and attaches XDP)")
		return 1
	}
	outDir, err := filepath.Abs(*out)
	if err == nil {
		err = os.MkdirAll(outDir, 0o755)
	}
	if err != nil {
		fmt.Fprintln(stderr, "xvs bench: output directory:", err)
		return 1
	}
	// SIGINT, SIGTERM and SIGHUP end the benchmark early; everything it
	// made (director, XDP programs, sockets, namespaces) is removed on the
	// way out by bench.Run.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	// A closed output (`xvs bench | head`) must not kill the process
	// before it cleans up: with SIGPIPE notified, writes fail with EPIPE
	// instead. (Unlike ignoring it, this is not inherited by children.)
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)

	cfg := bench.Config{
		Duration: *duration, Rounds: *rounds, WarmUp: *warmup, Prefix: *prefix,
		Flows: *flows, Concurrency: *conc, LatencyRate: *rate, BulkStreams: *bulk,
		OutDir: outDir, GoBench: *gobench, Log: stderr,
		StartDirector: func(l *lab.Lab, dir string, args ...string) (bench.Director, error) {
			d, err := startDirector(l, dir, args...)
			if err != nil {
				return nil, err
			}
			return benchDirector{Director: d, ns: l.LBNS}, nil
		},
	}
	for _, f := range []struct {
		s   string
		dst *[]int
	}{{*dirCPUs, &cfg.DirectorCPUs}, {*hostCPUs, &cfg.HostCPUs}} {
		if f.s == "" {
			continue
		}
		cpus, err := bench.ParseCPUs(f.s)
		if err != nil {
			fmt.Fprintln(stderr, "xvs bench:", err)
			return 2
		}
		*f.dst = cpus
	}
	for _, c := range strings.Split(*contenders, ",") {
		if c = strings.TrimSpace(c); c != "" {
			cfg.Contenders = append(cfg.Contenders, c)
		}
	}
	t0 := time.Now()
	rep, err := bench.Run(ctx, cfg)
	if errors.Is(err, lab.ErrAlreadyUp) {
		fmt.Fprintf(stderr, "xvs bench: %v (left by an interrupted run? xvs lab down --prefix %s)\n", err, *prefix)
		return 1
	}
	if rep == nil {
		fmt.Fprintln(stderr, "xvs bench:", err)
		return 1
	}
	fmt.Fprint(stdout, rep.Text())
	if werr := rep.WriteFiles(outDir); werr != nil {
		fmt.Fprintln(stderr, "xvs bench: writing the report:", werr)
		return 1
	}
	fmt.Fprintf(stdout, "report: %s, %s, chart %s; total %v\n", filepath.Join(outDir, "bench.json"), filepath.Join(outDir, "bench.md"),
		filepath.Join(outDir, "bench.svg"), time.Since(t0).Round(time.Second))
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "xvs bench: interrupted; the report above is partial; the lab was removed")
		return 1
	}
	if err != nil {
		fmt.Fprintln(stderr, "xvs bench:", err)
		return 1
	}
	return 0
}
