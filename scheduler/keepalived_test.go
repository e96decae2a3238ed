package scheduler

import (
	"errors"
	"testing"
)

func TestKeepalivedOptions(t *testing.T) {
	for _, tc := range []struct {
		algo  string
		flags []string
		want  Options
	}{
		{"sh", nil, Options{}},
		{"sh", []string{"sh-fallback"}, Options{Fallback: true}},
		{"sh", []string{"flag-1", "flag-2"}, Options{Fallback: true, Port: true}},
		{"SH", []string{"sh-port"}, Options{Port: true}},
		{"mh", []string{"mh-fallback", "mh-port"}, Options{Fallback: true, Port: true}},
		{"mh", []string{"sh-port"}, Options{Port: true}}, // the same bit
		{"mh", []string{"flag-3"}, Options{}},
		{"wrr", []string{"flag-1", "flag-2", "sh-port"}, Options{}}, // no meaning for wrr
		{"dh", []string{"flag-1"}, Options{}},                       // the kernel's dh has no flags
		{"rr", []string{"ops"}, Options{OnePacket: true}},
		{"wlc", []string{"one_packet_scheduler"}, Options{OnePacket: true}},
	} {
		got, err := KeepalivedOptions(tc.algo, tc.flags...)
		if err != nil || got.Fallback != tc.want.Fallback || got.Port != tc.want.Port || got.OnePacket != tc.want.OnePacket {
			t.Errorf("KeepalivedOptions(%q, %q) = %+v, %v; want %+v", tc.algo, tc.flags, got, err, tc.want)
		}
	}
	if _, err := KeepalivedOptions("sh", "sh-random"); !errors.Is(err, ErrUnknownFlag) {
		t.Errorf("unknown flag: %v", err)
	}
	if _, err := KeepalivedOptions("maglev"); !errors.Is(err, ErrUnknownScheduler) {
		t.Errorf("unknown lb_algo: %v", err)
	}
}
