package control

import (
	"errors"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// TestSlogToZap: records, attributes, groups and errors logged through
// slog arrive in zap, and levels below zap's are dropped.
func TestSlogToZap(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	l := newSlog(zap.New(core))
	l.Debug("not logged")
	l.With("check", "TCP 198.18.0.100:80/198.18.1.11:80#0").WithGroup("res").Info("health check failed", "retry", 1, "err", errors.New("refused"))
	all := logs.All()
	if len(all) != 1 {
		t.Fatalf("%d entries, want 1: %+v", len(all), all)
	}
	e := all[0]
	m := e.ContextMap()
	if e.Message != "health check failed" || m["check"] != "TCP 198.18.0.100:80/198.18.1.11:80#0" || m["res.retry"] != int64(1) || m["res.err"] != "refused" {
		t.Errorf("entry %q %v", e.Message, m)
	}
}
