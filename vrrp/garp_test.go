package vrrp

import (
	"testing"
	"time"
)

// garpEvents runs s from t0 until end and returns the GARP counts due at
// each deadline.
func garpEvents(s *GARPSchedule, end time.Duration) map[time.Duration]int {
	got := map[time.Duration]int{}
	for {
		d := s.NextDeadline()
		if d.IsZero() || d.Sub(t0) > end {
			return got
		}
		got[d.Sub(t0)] += s.Due(d)
	}
}

func TestGARPSchedule(t *testing.T) {
	tests := []struct {
		desc  string
		cfg   GARPConfig
		now   int                   // Start's count
		later map[time.Duration]int // Due counts within a minute
	}{
		{"keepalived defaults", GARPConfig{}, 5, map[time.Duration]int{5 * time.Second: 5}},
		{"repeat 2, delay 1 s", GARPConfig{MasterRepeat: 2, MasterDelay: time.Second}, 2, map[time.Duration]int{time.Second: 2}},
		{"no second burst", GARPConfig{MasterDelay: -1}, 5, map[time.Duration]int{}},
		{"no GARP at all", GARPConfig{MasterRepeat: -1}, 0, map[time.Duration]int{}},
		{"refresh every 20 s", GARPConfig{MasterRefresh: 20 * time.Second}, 5,
			map[time.Duration]int{5 * time.Second: 5, 20 * time.Second: 1, 40 * time.Second: 1, 60 * time.Second: 1}},
		{"refresh repeat 3, coinciding with the second burst", GARPConfig{MasterRefresh: 5 * time.Second, MasterRefreshRepeat: 3}, 5,
			map[time.Duration]int{5 * time.Second: 8, 10 * time.Second: 3, 15 * time.Second: 3, 20 * time.Second: 3,
				25 * time.Second: 3, 30 * time.Second: 3, 35 * time.Second: 3, 40 * time.Second: 3, 45 * time.Second: 3,
				50 * time.Second: 3, 55 * time.Second: 3, 60 * time.Second: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			s := NewGARPSchedule(tt.cfg)
			if s.Active() || !s.NextDeadline().IsZero() || s.Due(t0.Add(time.Hour)) != 0 {
				t.Fatal("new schedule is not stopped")
			}
			if n := s.Start(t0); n != tt.now {
				t.Fatalf("Start = %d, want %d", n, tt.now)
			}
			got := garpEvents(&s, time.Minute)
			if len(got) != len(tt.later) {
				t.Fatalf("due %v, want %v", got, tt.later)
			}
			for at, n := range tt.later {
				if got[at] != n {
					t.Fatalf("due %v, want %v", got, tt.later)
				}
			}
			s.Stop()
			if !s.NextDeadline().IsZero() || s.LowerPriority(t0) != 0 {
				t.Fatal("stopped schedule still runs")
			}
		})
	}
}

func TestGARPLowerPriority(t *testing.T) {
	s := NewGARPSchedule(GARPConfig{MasterDelay: 2 * time.Second, LowerPrioRepeat: 1})
	s.Start(t0)
	// Lower-priority bursts default to the master delay and take their
	// own repeat.
	if n := s.LowerPriority(t0.Add(time.Second)); n != 1 {
		t.Fatalf("LowerPriority = %d", n)
	}
	got := garpEvents(&s, time.Minute)
	if len(got) != 2 || got[2*time.Second] != 5 || got[3*time.Second] != 1 {
		t.Fatalf("due %v", got)
	}
	// The zero value works with the defaults.
	var z GARPSchedule
	if z.Start(t0) != DefaultGARPMasterRepeat || !z.NextDeadline().Equal(t0.Add(DefaultGARPMasterDelay)) {
		t.Fatal("zero GARPSchedule does not use the defaults")
	}
	if n := z.LowerPriority(t0); n != DefaultGARPMasterRepeat {
		t.Fatalf("default lower-priority repeat %d", n)
	}
	off := NewGARPSchedule(GARPConfig{LowerPrioRepeat: -1})
	off.Start(t0)
	if off.LowerPriority(t0) != 0 || !off.NextDeadline().Equal(t0.Add(DefaultGARPMasterDelay)) {
		t.Fatal("lower-priority GARPs not off")
	}
}

// TestMachineGARP: the machine folds the schedule into its deadline.
func TestMachineGARP(t *testing.T) {
	cfg := testConfig(3, PriorityOwner)
	cfg.AdvertInterval = 10 * time.Second
	cfg.GARP = GARPConfig{MasterDelay: 3 * time.Second, MasterRepeat: 2}
	h := newHarness(t, cfg)
	expectActions(t, h.startup(0), addVIPs, sendAdvert(255), sendGARP(2), trans(Initialize, Master))
	h.expectDeadline(3 * time.Second)
	expectActions(t, h.timer(3*time.Second), sendGARP(2))
	h.expectDeadline(10 * time.Second)
	expectActions(t, h.timer(10*time.Second), sendAdvert(255))
}
