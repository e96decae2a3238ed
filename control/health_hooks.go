package control

import (
	"github.com/xvs-project/xvs/healthcheck"
	"go.uber.org/zap"
)

// The pools' hooks: what a real server or a quorum going up or down sets
// off (the log, notify_up/down and quorum_up/down scripts, mail alerts).

// hooks returns the pool hooks of hs. They run with h.mu held (inside
// Pool.Apply, Set and Shutdown).
func (h *Health) hooks(hs *healthService) healthcheck.Hooks {
	server := func(name string, up bool) {
		hs.up[name] = up
		if h.seeding {
			return
		}
		h.mailServerStop(hs, name, up) // omega at the end (alerts.go)
		f := []zap.Field{zap.String("service", hs.name), zap.String("server", name)}
		if up {
			h.log.Info("real server up", f...)
			h.runScript(hs.notifyUp[name], "notify_up", f)
		} else {
			h.log.Warn("real server down", f...)
			h.runScript(hs.notifyDown[name], "notify_down", f)
		}
	}
	quorum := func(up bool) {
		if h.seeding {
			return
		}
		h.mailQuorum(hs, up) // alerts.go
		f := []zap.Field{zap.String("service", hs.name)}
		if up {
			h.log.Info("quorum up", f...)
			h.runScript(hs.quorumUp, "quorum_up", f)
		} else {
			h.log.Warn("quorum down", f...)
			h.runScript(hs.quorumDown, "quorum_down", f)
		}
	}
	return healthcheck.Hooks{
		ServerUp:   func(name string) { server(name, true) },
		ServerDown: func(name string) { server(name, false) },
		QuorumUp:   func() { quorum(true) },
		QuorumDown: func() { quorum(false) },
	}
}

// runScript starts s in the background (nil: nothing to run).
func (h *Health) runScript(s *healthcheck.Script, what string, f []zap.Field) {
	if s == nil {
		return
	}
	f = append(f, zap.String("script", what), zap.Stringer("command", s))
	h.scripts.Go(func() {
		code, err := s.Run(h.scriptCtx, 0)
		switch {
		case err != nil:
			h.log.Warn("script failed", append(f, zap.Error(err))...)
		case code != 0:
			h.log.Warn("script failed", append(f, zap.Int("status", code))...)
		default:
			h.log.Debug("script done", f...)
		}
	})
}
