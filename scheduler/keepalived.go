package scheduler

import (
	"fmt"
	"strings"
)

// KeepalivedOptions maps a keepalived virtual_server's lb_algo (or
// lvs_sched) and the scheduler flag keywords present in the block to
// Options, as keepalived maps them to IPVS service flags:
//
//	flag-1, sh-fallback, mh-fallback   IP_VS_SVC_F_SCHED1   Options.Fallback
//	flag-2, sh-port, mh-port           IP_VS_SVC_F_SCHED2   Options.Port
//	flag-3                             IP_VS_SVC_F_SCHED3   (no scheduler uses it)
//	ops, one_packet_scheduler          IP_VS_SVC_F_ONEPACKET Options.OnePacket
//
// The kernel gives flags 1 and 2 a meaning for sh and mh only; for any
// other lb_algo they are accepted and have no effect, so Fallback and Port
// are set only for those two. The spellings are interchangeable, as they
// are the same bits: sh-port on an mh service is mh-port. Names are
// matched without regard to case. It returns an error wrapping
// ErrUnknownScheduler for an unknown lb_algo, or ErrUnknownFlag for any
// other keyword. The other Options keep their zero values.
func KeepalivedOptions(lbAlgo string, flags ...string) (Options, error) {
	algo := strings.ToLower(lbAlgo)
	if _, ok := schedulers[algo]; !ok {
		return Options{}, fmt.Errorf("lb_algo %q: %w", lbAlgo, ErrUnknownScheduler)
	}
	var opts Options
	var sched1, sched2 bool
	for _, f := range flags {
		switch strings.ToLower(f) {
		case "flag-1", "sh-fallback", "mh-fallback":
			sched1 = true
		case "flag-2", "sh-port", "mh-port":
			sched2 = true
		case "flag-3":
		case "ops", "one_packet_scheduler":
			opts.OnePacket = true
		default:
			return Options{}, fmt.Errorf("lb_algo %s: %q: %w", algo, f, ErrUnknownFlag)
		}
	}
	if algo == "sh" || algo == "mh" {
		opts.Fallback, opts.Port = sched1, sched2
	}
	return opts, nil
}
