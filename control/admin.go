package control

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"time"

	"github.com/xvs-project/xvs/nat"
)

// ConnEntry is one connection as the admin API lists it: the columns of
// ipvsadm -Lnc.
type ConnEntry struct {
	Proto       string        `json:"proto"`
	Expire      time.Duration `json:"expire_ns"`
	State       string        `json:"state"`
	Source      string        `json:"source"`
	Virtual     string        `json:"virtual"`
	Destination string        `json:"destination"`
}

// Connections lists the connection table, one shard at a time, so the
// workers are never held up for longer than the copy of one shard.
func (d *Director) Connections() []ConnEntry {
	now := nat.Monotonic()
	var out []ConnEntry
	d.Engine.Table().Walk(func(c nat.Conn) {
		out = append(out, ConnEntry{
			Proto:       protoName(c.Proto),
			Expire:      time.Duration(max(c.Expires-now, 0)),
			State:       c.State.String(),
			Source:      netip.AddrPortFrom(netip.AddrFrom4(c.Client), c.CPort).String(),
			Virtual:     netip.AddrPortFrom(netip.AddrFrom4(c.VIP), c.VPort).String(),
			Destination: netip.AddrPortFrom(netip.AddrFrom4(c.Real), c.RPort).String(),
		})
	})
	return out
}

// AdminHandler serves the local admin API: GET /v1/connections returns
// the connection table as JSON ([]ConnEntry); GET /v1/services the virtual
// services (ServiceList); POST /v1/reals applies a RealEdit (404 for an
// unknown service or server, 409 when refused); GET /v1/vrrp the
// vrrp_instances' states ([]VRRPStatus); GET /v1/queues the dataplane's
// layout (dataplane.Layout: channels, workers, CPUs, queues); POST /v1/reload calls reload
// and answers 200 with nothing, or 409 with the reason the new
// configuration was refused (the running one stays). It is meant for a
// unix socket only root can reach; `xvs list` and `xvs reload` are its
// clients.
func AdminHandler(d *Director, reload func() error) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/reload", func(w http.ResponseWriter, r *http.Request) {
		if err := reload(); err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
		}
	})
	mux.HandleFunc("POST /v1/reals", func(w http.ResponseWriter, r *http.Request) {
		var e RealEdit
		if err := json.NewDecoder(r.Body).Decode(&e); err != nil {
			http.Error(w, "bad request: "+err.Error(), http.StatusBadRequest)
			return
		}
		if err := d.EditReal(e); err != nil {
			code := http.StatusConflict
			if errors.Is(err, ErrNoSuchService) || errors.Is(err, ErrNoSuchReal) {
				code = http.StatusNotFound
			}
			http.Error(w, err.Error(), code)
		}
	})
	mux.HandleFunc("GET /v1/services", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		list := ServiceList{ConnTableSize: d.Engine.Table().Cap(), Services: d.Services()}
		if err := json.NewEncoder(w).Encode(list); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("GET /v1/vrrp", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		st := d.VRRP()
		if st == nil {
			st = []VRRPStatus{}
		}
		if err := json.NewEncoder(w).Encode(st); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("GET /v1/queues", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if err := json.NewEncoder(w).Encode(d.Dataplane.Layout()); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("GET /v1/connections", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if err := json.NewEncoder(w).Encode(d.Connections()); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	return mux
}
