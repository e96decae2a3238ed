package control

import (
	"context"
	"log/slog"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// zapHandler is a slog.Handler that writes to a zap.Logger, so that
// packages that log with the standard library's slog (healthcheck's
// Runner: check state changes and log_all_failures) end up in xvs's one
// log.
type zapHandler struct {
	log    *zap.Logger
	prefix string // group names, dot separated, with a trailing dot
}

func newSlog(log *zap.Logger) *slog.Logger { return slog.New(&zapHandler{log: log}) }

func zapLevel(l slog.Level) zapcore.Level {
	switch {
	case l >= slog.LevelError:
		return zapcore.ErrorLevel
	case l >= slog.LevelWarn:
		return zapcore.WarnLevel
	case l >= slog.LevelInfo:
		return zapcore.InfoLevel
	}
	return zapcore.DebugLevel
}

// Enabled reports whether zap logs at l.
func (h *zapHandler) Enabled(_ context.Context, l slog.Level) bool {
	return h.log.Core().Enabled(zapLevel(l))
}

// Handle writes one record.
func (h *zapHandler) Handle(_ context.Context, r slog.Record) error {
	ce := h.log.Check(zapLevel(r.Level), r.Message)
	if ce == nil {
		return nil
	}
	fields := make([]zap.Field, 0, r.NumAttrs())
	r.Attrs(func(a slog.Attr) bool {
		fields = append(fields, h.field(a))
		return true
	})
	ce.Write(fields...)
	return nil
}

func (h *zapHandler) field(a slog.Attr) zap.Field {
	v := a.Value.Resolve()
	if err, ok := v.Any().(error); ok {
		return zap.NamedError(h.prefix+a.Key, err)
	}
	return zap.Any(h.prefix+a.Key, v.Any())
}

// WithAttrs returns a handler that adds attrs to every record.
func (h *zapHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	fields := make([]zap.Field, len(attrs))
	for i, a := range attrs {
		fields[i] = h.field(a)
	}
	return &zapHandler{log: h.log.With(fields...), prefix: h.prefix}
}

// WithGroup returns a handler that qualifies later keys with name.
func (h *zapHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &zapHandler{log: h.log, prefix: h.prefix + name + "."}
}
