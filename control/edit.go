package control

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/xvs-project/xvs/config"
	"go.uber.org/zap"
)

// RealEdit is a runtime change to a virtual service's real servers, as
// ipvsadm -a, -e and -d make them. It lasts until the next reload, which
// reads the configuration file again.
type RealEdit struct {
	// Op is "add", "edit" or "delete".
	Op string `json:"op"`
	// Protocol is "TCP" or "UDP"; Service is the virtual service's VIP
	// and port.
	Protocol string         `json:"protocol"`
	Service  netip.AddrPort `json:"service"`
	// Real is the real server's address and port.
	Real netip.AddrPort `json:"real"`
	// Weight, UThreshold and LThreshold are set by add (nil: weight 1, no
	// thresholds) and changed by edit where not nil.
	Weight     *int `json:"weight,omitempty"`
	UThreshold *int `json:"uthreshold,omitempty"`
	LThreshold *int `json:"lthreshold,omitempty"`
}

// ErrNoSuchService and ErrNoSuchReal are returned by EditReal for a
// service or real server that does not exist; ErrRealExists for adding
// one that does.
var (
	ErrNoSuchService = errors.New("no such virtual service")
	ErrNoSuchReal    = errors.New("no such real server")
	ErrRealExists    = errors.New("real server already exists")
)

// EditReal applies a runtime edit: the running configuration with the
// change goes through the same path as a reload (connection counts kept,
// established connections untouched, the fast path never paused, health
// checks of unchanged servers kept). An added real server has no health
// checks. The edit is lost at the next reload.
func (d *Director) EditReal(e RealEdit) error {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	proto := strings.ToUpper(e.Protocol)
	if proto != "TCP" && proto != "UDP" {
		return fmt.Errorf("protocol %q is not TCP or UDP", e.Protocol)
	}
	if !e.Real.IsValid() || !e.Real.Addr().Is4() || e.Real.Port() == 0 {
		return fmt.Errorf("real server %q is not an IPv4 address and port", e.Real)
	}
	for _, v := range []*int{e.Weight, e.UThreshold, e.LThreshold} {
		if v != nil && (*v < 0 || *v > 65535) {
			return fmt.Errorf("weight or threshold %d is not between 0 and 65535", *v)
		}
	}
	spec := *d.Plan.Spec
	spec.VirtualServers = slices.Clone(spec.VirtualServers)
	vi := slices.IndexFunc(spec.VirtualServers, func(vs config.VirtualServer) bool {
		return vs.Protocol == proto && vs.Addr == e.Service.Addr() && vs.Port == e.Service.Port()
	})
	if vi < 0 {
		return fmt.Errorf("%s %s: %w", proto, e.Service, ErrNoSuchService)
	}
	vs := &spec.VirtualServers[vi]
	vs.Reals = slices.Clone(vs.Reals)
	ri := slices.IndexFunc(vs.Reals, func(r config.RealServer) bool {
		return r.Addr == e.Real.Addr() && r.Port == e.Real.Port()
	})
	set := func(r *config.RealServer) {
		if e.Weight != nil {
			r.Weight = *e.Weight
		}
		if e.UThreshold != nil {
			r.UThreshold = *e.UThreshold
		}
		if e.LThreshold != nil {
			r.LThreshold = *e.LThreshold
		}
	}
	switch e.Op {
	case "add":
		if ri >= 0 {
			return fmt.Errorf("%s in %s %s: %w", e.Real, proto, e.Service, ErrRealExists)
		}
		r := config.RealServer{Pos: config.Pos{File: "xvs edit"}, Addr: e.Real.Addr(), Port: e.Real.Port(), Weight: 1}
		set(&r)
		vs.Reals = append(vs.Reals, r)
	case "edit", "delete":
		if ri < 0 {
			return fmt.Errorf("%s in %s %s: %w", e.Real, proto, e.Service, ErrNoSuchReal)
		}
		if e.Op == "delete" {
			vs.Reals = slices.Delete(vs.Reals, ri, ri+1)
		} else {
			set(&vs.Reals[ri])
		}
	default:
		return fmt.Errorf("edit operation %q is not add, edit or delete", e.Op)
	}
	if err := d.reload(&spec); err != nil {
		return err
	}
	d.log.Info("real server edited at run time; the next reload reads the file again",
		zap.String("op", e.Op), zap.String("service", proto+" "+e.Service.String()), zap.Stringer("real", e.Real))
	return nil
}
