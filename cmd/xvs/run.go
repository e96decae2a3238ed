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
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/xvs-project/xvs/config"
	"github.com/xvs-project/xvs/control"
	"github.com/xvs-project/xvs/dataplane"
	"github.com/xvs-project/xvs/nat"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/sys/unix"
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

// newLogger returns a logger at level writing to w: format "console"
// (tab-separated, for people), "json" (one object a line, for journald and
// log shippers) or "auto" (console when w is a terminal, else JSON).
func newLogger(level, format string, w io.Writer) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	if format == "auto" {
		format = "json"
		if isTerminal(w) {
			format = "console"
		}
	}
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	var encoder zapcore.Encoder
	switch format {
	case "console":
		encoder = zapcore.NewConsoleEncoder(enc)
	case "json":
		encoder = zapcore.NewJSONEncoder(enc)
	default:
		return nil, fmt.Errorf("log format %q: want console, json or auto", format)
	}
	return zap.New(zapcore.NewCore(encoder, zapcore.AddSync(w), lvl)), nil
}

// isTerminal reports whether w is a file open on a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// defaultMetricsHost is where the metrics listener binds when --metrics
// names only a port.
const defaultMetricsHost = "127.0.0.1"

// metricsAddr checks a --metrics address and fills in the host: "PORT" and
// ":PORT" mean 127.0.0.1:PORT (defaulted is true), so that serving other
// hosts takes an explicit 0.0.0.0:PORT or an interface's address.
func metricsAddr(s string) (addr string, defaulted bool, err error) {
	if _, err := strconv.ParseUint(s, 10, 16); err == nil {
		s = ":" + s
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", false, fmt.Errorf("--metrics %q: want HOST:PORT, :PORT or PORT: %w", s, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "", false, fmt.Errorf("--metrics %q: port %q is not a number from 0 to 65535", s, port)
	}
	if host == "" {
		return net.JoinHostPort(defaultMetricsHost, port), true, nil
	}
	return s, false, nil
}

// metricsHandler serves reg at /metrics and, with pprof, the runtime
// profiles under /debug/pprof/ (go tool pprof http://ADDR/debug/pprof/profile).
func metricsHandler(reg *prometheus.Registry, pprof bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	if pprof {
		mux.HandleFunc("/debug/pprof/", httppprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", httppprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", httppprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", httppprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", httppprof.Trace)
	}
	return mux
}

// isLoopback reports whether a listener's address is a loopback one.
func isLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// logDiagnostics logs a configuration's warnings, its notes (keywords not
// acted on yet) at info level, and keepalived's script security warning.
func logDiagnostics(log *zap.Logger, spec *config.Spec) {
	for _, w := range spec.Warnings {
		if w.Note {
			log.Info(w.String())
		} else {
			log.Warn(w.String())
		}
	}
	if d := control.ScriptSecurityWarning(spec); d != nil {
		log.Warn(d.String())
	}
}

func cmdRun(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("f", "", "keepalived.conf to run (default: the embedded lab configuration)")
	metrics := fs.String("metrics", "", "serve Prometheus metrics at http://ADDR/metrics; a port alone (:9333) binds 127.0.0.1, 0.0.0.0:PORT every interface (default: no listener)")
	withPprof := fs.Bool("pprof", false, "also serve the pprof handlers under /debug/pprof/ on the --metrics listener")
	level := fs.String("log-level", "info", "log level: debug, info, warn, error")
	format := fs.String("log-format", "auto", "log format: console, json, or auto (console on a terminal, else json)")
	ready := fs.String("ready-file", "", "write this file once the director forwards (for scripts and tests)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile (pprof) of the whole run to this file")
	admin := fs.String("admin", defaultAdminSocket, "unix socket of the admin API (xvs list, reload, vrrp, edit); empty to disable")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "xvs run: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	var listen string
	var defaulted bool
	if *metrics != "" {
		var err error
		if listen, defaulted, err = metricsAddr(*metrics); err != nil {
			fmt.Fprintln(stderr, "xvs run:", err)
			return 2
		}
	} else if *withPprof {
		fmt.Fprintln(stderr, "xvs run: --pprof needs --metrics ADDR (pprof is served on the metrics listener)")
		return 2
	}
	log, err := newLogger(*level, *format, stderr)
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
	logDiagnostics(log, spec)
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
	// Reloads are counted for the metrics listener (xvs_config_reloads_total).
	reloads := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "xvs_config_reloads_total",
		Help: "Configuration reloads (SIGHUP or xvs reload), by result: applied or refused.",
	}, []string{"result"})
	lastReload := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "xvs_config_last_reload_successful",
		Help: "1 if the last reload was applied (or none was tried), 0 if it was refused and an older configuration runs.",
	})
	lastReload.Set(1)
	if listen != "" {
		reg := prometheus.NewRegistry()
		reg.MustRegister(control.NewCollector(d), reloads, lastReload,
			collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		ln, err := net.Listen("tcp", listen)
		if err != nil {
			log.Error("metrics listener", zap.String("listen", listen), zap.Error(err))
			d.Dataplane.Close()
			return 1
		}
		srv := &http.Server{Handler: metricsHandler(reg, *withPprof), ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics listener stopped", zap.Error(err))
			}
		}()
		defer srv.Close()
		fields := []zap.Field{zap.String("listen", ln.Addr().String()), zap.Bool("pprof", *withPprof)}
		if defaulted {
			log.Info("metrics on loopback only (write 0.0.0.0:PORT or an address to serve other hosts)", fields...)
		} else {
			log.Info("metrics", fields...)
		}
		if *withPprof && !isLoopback(ln.Addr()) {
			log.Warn("pprof is served on a non-loopback address: anyone who reaches it can profile and trace the director", fields...)
		}
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
			reloads.WithLabelValues("refused").Inc()
			lastReload.Set(0)
			return errors.New(strings.TrimSpace(b.String()))
		}
		reloads.WithLabelValues("applied").Inc()
		lastReload.Set(1)
		logDiagnostics(log, spec)
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
	lay := d.Dataplane.Layout()
	log.Info("forwarding", zap.Int("workers", len(lay.Workers)), zap.String("cpus", dataplane.FormatCPUs(lay.CPUs)))
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
