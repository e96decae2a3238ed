package ipvsadm

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"time"
)

// The JSON document written by WriteJSON. Field names are part of the
// interface that scripts rely on: add fields, never rename or remove them.
type (
	jsonDoc struct {
		Services []jsonService `json:"services"`
	}
	jsonService struct {
		Family            string     `json:"family"`
		Protocol          string     `json:"protocol"`
		Address           string     `json:"address"`
		Port              uint16     `json:"port"`
		FWMark            uint32     `json:"fwmark"`
		Scheduler         string     `json:"scheduler"`
		SchedFlags        []string   `json:"sched_flags"`
		PersistentTimeout uint32     `json:"persistent_timeout"`
		Netmask           int        `json:"netmask"`
		PE                string     `json:"pe"`
		OnePacket         bool       `json:"one_packet"`
		Stats             jsonStats  `json:"stats"`
		Rate              jsonRate   `json:"rate"`
		Reals             []jsonReal `json:"reals"`
	}
	jsonReal struct {
		Address         string    `json:"address"`
		Port            uint16    `json:"port"`
		Forward         string    `json:"forward"`
		Weight          int       `json:"weight"`
		ActiveConns     uint64    `json:"active_conns"`
		InactiveConns   uint64    `json:"inactive_conns"`
		PersistentConns uint64    `json:"persistent_conns"`
		UThreshold      uint32    `json:"u_threshold"`
		LThreshold      uint32    `json:"l_threshold"`
		Stats           jsonStats `json:"stats"`
		Rate            jsonRate  `json:"rate"`
	}
	jsonStats struct {
		Conns    uint64 `json:"conns"`
		InPkts   uint64 `json:"in_pkts"`
		OutPkts  uint64 `json:"out_pkts"`
		InBytes  uint64 `json:"in_bytes"`
		OutBytes uint64 `json:"out_bytes"`
	}
	jsonRate struct {
		CPS    uint64 `json:"cps"`
		InPPS  uint64 `json:"in_pps"`
		OutPPS uint64 `json:"out_pps"`
		InBPS  uint64 `json:"in_bps"`
		OutBPS uint64 `json:"out_bps"`
	}
)

// WriteJSON writes svcs as one JSON object for scripts (the --json
// listing), sorted as WriteServices sorts them, followed by a newline.
// Every field is always present, so that a script can rely on it:
//
//	{"services": [{
//	  "family":             "ipv4" or "ipv6",
//	  "protocol":           "TCP", "UDP", "SCTP", or "" for a fwmark service,
//	  "address":            "198.18.0.1", or "" for a fwmark service,
//	  "port":               80 (0 for a fwmark service),
//	  "fwmark":             0 (none) or the mark,
//	  "scheduler":          "wlc",
//	  "sched_flags":        ["flag-1", ...] named as ipvsadm names them, or [],
//	  "persistent_timeout": seconds, 0 if not persistent,
//	  "netmask":            persistence prefix length (32 or 128 by default),
//	  "pe":                 persistence engine name or "",
//	  "one_packet":         false,
//	  "stats": {"conns", "in_pkts", "out_pkts", "in_bytes", "out_bytes"},
//	  "rate":  {"cps", "in_pps", "out_pps", "in_bps", "out_bps"},
//	  "reals": [{
//	    "address", "port",
//	    "forward":          "Masq", "Route", "Tunnel" or "Local",
//	    "weight", "active_conns", "inactive_conns", "persistent_conns",
//	    "u_threshold", "l_threshold", "stats", "rate"
//	  }]
//	}]}
//
// Counters are JSON numbers holding unsigned 64-bit integers; a reader
// that parses numbers as float64 loses precision above 2^53. Addresses are
// always numeric. An error from w is returned wrapped.
func WriteJSON(w io.Writer, svcs []Service) error {
	doc := jsonDoc{Services: make([]jsonService, 0, len(svcs))}
	for _, s := range sortedServices(svcs, false) {
		js := jsonService{
			Family:            "ipv4",
			Protocol:          protoName(s.Protocol),
			Address:           addrString(s.Addr),
			Port:              s.Port,
			FWMark:            s.FWMark,
			Scheduler:         s.Scheduler,
			SchedFlags:        []string{},
			PersistentTimeout: uint32(s.Persistent / time.Second),
			Netmask:           s.Netmask,
			PE:                s.PE,
			OnePacket:         s.OnePacket,
			Stats:             jsonStats(s.Stats),
			Rate:              jsonRate(s.Rate),
			Reals:             make([]jsonReal, 0, len(s.Reals)),
		}
		full := 32
		if s.Addr.Is6() {
			js.Family, full = "ipv6", 128
		}
		if js.Netmask == 0 {
			js.Netmask = full
		}
		if s.FWMark != 0 {
			js.Protocol, js.Address, js.Port = "", "", 0
		}
		if n := s.SchedFlags.names(s.Scheduler); n != nil {
			js.SchedFlags = n
		}
		for _, r := range sortedReals(s.Reals, false) {
			js.Reals = append(js.Reals, jsonReal{
				Address:         addrString(r.Addr),
				Port:            r.Port,
				Forward:         string(r.Forward),
				Weight:          r.Weight,
				ActiveConns:     r.ActiveConn,
				InactiveConns:   r.InActConn,
				PersistentConns: r.PersistConn,
				UThreshold:      r.UThreshold,
				LThreshold:      r.LThreshold,
				Stats:           jsonStats(r.Stats),
				Rate:            jsonRate(r.Rate),
			})
		}
		doc.Services = append(doc.Services, js)
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("ipvsadm: encoding JSON: %w", err)
	}
	return write(w, append(b, '\n'))
}

// addrString is a numeric address without zone, or "" for the zero Addr.
func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.WithZone("").String()
}
