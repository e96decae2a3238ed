package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	httppprof "net/http/pprof"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/xvs-project/xvs/config"
	"github.com/xvs-project/xvs/control"
	"github.com/xvs-project/xvs/dataplane"
	"github.com/xvs-project/xvs/nat"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// loadSpec parses the file, or the embedded default when path is empty.
func loadSpec(path string) (*config.Spec, error) {
	if path == "" {
		return config.Parse(defaultConfigName, defaultConfig)
	}
	return config.ParseFile(path)
}

// printConfigError writes every diagnostic of a parse error on its own line.
func printConfigError(w io.Writer, err error) {
	var ce *config.Error
	if errors.As(err, &ce) {
		for _, d := range ce.Diags {
			fmt.Fprintln(w, d.String())
		}
		return
	}
	fmt.Fprintln(w, "xvs:", err)
}

func newLogger(level string, w io.Writer) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	core := zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.AddSync(w), lvl)
	return zap.New(core), nil
}

func cmdRun(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("f", "", "keepalived.conf to run (default: the embedded lab configuration)")
	metrics := fs.String("metrics", "127.0.0.1:9333", "address for Prometheus metrics at /metrics and pprof at /debug/pprof/; empty to disable")
	level := fs.String("log-level", "info", "log level: debug, info, warn, error")
	ready := fs.String("ready-file", "", "write this file once the director forwards (for scripts and tests)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile (pprof) of the whole run to this file")
	admin := fs.String("admin", defaultAdminSocket, "unix socket of the admin API (xvs list); empty to disable")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log, err := newLogger(*level, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "xvs:", err)
		return 2
	}
	defer log.Sync()

	spec, err := loadSpec(*file)
	if err != nil {
		printConfigError(stderr, err)
		return 1
	}
	name := *file
	if name == "" {
		name = defaultConfigName
	}
	for _, w := range spec.Warnings {
		log.Warn(w.String())
	}
	plan, err := control.NewPlan(spec)
	if err != nil {
		log.Error("configuration cannot be applied", zap.String("config", name), zap.Error(err))
		return 1
	}
	for _, n := range plan.Notes {
		log.Warn(n)
	}
	log.Info("configuration loaded", zap.String("config", name), zap.String("wan", plan.WAN), zap.String("lan", plan.LAN),
		zap.String("services", plan.Describe()))

	d, err := control.Start(plan, log)
	if err != nil {
		log.Error("starting the dataplane", zap.Error(err))
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			log.Error("starting the CPU profile", zap.Error(err))
			d.Dataplane.Close()
			return 1
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	if *metrics != "" {
		reg := prometheus.NewRegistry()
		reg.MustRegister(control.NewCollector(d))
		ln, err := net.Listen("tcp", *metrics)
		if err != nil {
			log.Error("metrics listener", zap.Error(err))
			d.Dataplane.Close()
			return 1
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		// pprof for tuning the fast path: go tool pprof http://ADDR/debug/pprof/profile
		mux.HandleFunc("/debug/pprof/", httppprof.Index)
		mux.HandleFunc("/debug/pprof/profile", httppprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", httppprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", httppprof.Trace)
		srv := &http.Server{Handler: mux}
		go srv.Serve(ln)
		defer srv.Close()
		log.Info("metrics", zap.String("listen", ln.Addr().String()))
	}
	// Reload, on SIGHUP or through the admin socket: parse the file again,
	// apply it as a difference, or keep running on the old one and say why.
	var reloadMu sync.Mutex
	reload := func() error {
		reloadMu.Lock()
		defer reloadMu.Unlock()
		spec, err := loadSpec(*file)
		if err == nil {
			err = d.Reload(spec)
		}
		if err != nil {
			var b strings.Builder
			printConfigError(&b, err)
			log.Error("reload refused; the running configuration stays", zap.String("config", name), zap.String("reason", strings.TrimSpace(b.String())))
			return errors.New(strings.TrimSpace(b.String()))
		}
		for _, w := range spec.Warnings {
			log.Warn(w.String())
		}
		log.Info("configuration reloaded", zap.String("config", name), zap.String("services", d.Plan.Describe()))
		return nil
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-hup:
				reload()
			case <-ctx.Done():
				return
			}
		}
	}()
	if *admin != "" {
		srv, err := listenAdmin(*admin, d, reload)
		if err != nil {
			log.Error("admin socket", zap.String("path", *admin), zap.Error(err))
			d.Dataplane.Close()
			return 1
		}
		defer os.Remove(*admin)
		defer srv.Close()
	}
	log.Info("forwarding", zap.Int("queues", d.Dataplane.Queues()))
	if *ready != "" {
		if err := os.WriteFile(*ready, []byte("ready\n"), 0o644); err != nil {
			log.Warn("writing ready file", zap.Error(err))
		}
	}
	err = d.Run(ctx)
	c := d.Dataplane.Counters()
	fields := []zap.Field{
		zap.Uint64("rx_wan", c[dataplane.CounterRxWAN]), zap.Uint64("rx_lan", c[dataplane.CounterRxLAN]),
		zap.Uint64("forwarded", c[nat.DropNone]),
	}
	for r := nat.DropNone + 1; r < nat.NumDrops; r++ {
		if c[r] != 0 {
			fields = append(fields, zap.Uint64("drop_"+r.String(), c[r]))
		}
	}
	if err != nil {
		log.Error("stopped with an error", append(fields, zap.Error(err))...)
		return 1
	}
	log.Info("stopped: XDP detached, sockets closed", fields...)
	return 0
}
