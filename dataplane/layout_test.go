package dataplane

import (
	"reflect"
	"strings"
	"testing"
)

func TestPlace(t *testing.T) {
	for _, tc := range []struct {
		name     string
		wan, lan int
		cpus     []int
		max      int
		want     []WorkerPlan
	}{
		{"one each", 1, 1, []int{0, 1}, 0, []WorkerPlan{{CPU: 0, WANQueues: []int{0}, LANQueues: []int{0}}}},
		{"wan 1 of 2, lan 2", 1, 2, []int{0, 1}, 0, []WorkerPlan{{CPU: 0, WANQueues: []int{0}, LANQueues: []int{0, 1}}}},
		{"wan 2, lan 1", 2, 1, []int{0, 1}, 0, []WorkerPlan{{CPU: 0, WANQueues: []int{0, 1}, LANQueues: []int{0}}}},
		{"2 and 2 on two CPUs", 2, 2, []int{0, 1}, 0, []WorkerPlan{
			{CPU: 0, WANQueues: []int{0}, LANQueues: []int{0}}, {CPU: 1, WANQueues: []int{1}, LANQueues: []int{1}}}},
		{"taskset -c 1", 2, 2, []int{1}, 0, []WorkerPlan{{CPU: 1, WANQueues: []int{0, 1}, LANQueues: []int{0, 1}}}},
		{"8 queues on cpus 2-3,8", 8, 8, []int{2, 3, 8}, 0, []WorkerPlan{
			{CPU: 2, WANQueues: []int{0, 3, 6}, LANQueues: []int{0, 3, 6}},
			{CPU: 3, WANQueues: []int{1, 4, 7}, LANQueues: []int{1, 4, 7}},
			{CPU: 8, WANQueues: []int{2, 5}, LANQueues: []int{2, 5}}}},
		{"queues caps workers", 4, 4, []int{0, 1, 2, 3}, 2, []WorkerPlan{
			{CPU: 0, WANQueues: []int{0, 2}, LANQueues: []int{0, 2}}, {CPU: 1, WANQueues: []int{1, 3}, LANQueues: []int{1, 3}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Place(tc.wan, tc.lan, tc.cpus, tc.max)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Place(%d, %d, %v, %d) = %+v, want %+v", tc.wan, tc.lan, tc.cpus, tc.max, got, tc.want)
			}
			// Every queue of each side is served exactly once, and every
			// worker can transmit on both sides.
			seen := map[[2]int]int{}
			for _, w := range got {
				if len(w.WANQueues) == 0 || len(w.LANQueues) == 0 {
					t.Errorf("worker on CPU %d lacks a side: %+v", w.CPU, w)
				}
				for _, q := range w.WANQueues {
					seen[[2]int{0, q}]++
				}
				for _, q := range w.LANQueues {
					seen[[2]int{1, q}]++
				}
			}
			if len(seen) != tc.wan+tc.lan {
				t.Errorf("%d queues served, want %d", len(seen), tc.wan+tc.lan)
			}
			for k, n := range seen {
				if n != 1 {
					t.Errorf("queue %v served %d times", k, n)
				}
			}
		})
	}
	if got := Place(0, 2, []int{0}, 0); got != nil {
		t.Errorf("no WAN queue: %+v, want nil", got)
	}
}

func TestFormatCPUs(t *testing.T) {
	for in, want := range map[string]string{
		"":                  "",
		"0":                 "0",
		"0 1":               "0-1",
		"8 2 3 4 5":         "2-5,8",
		"1 3 5 6 7 10 11 1": "1,3,5-7,10-11",
	} {
		var cpus []int
		for _, f := range strings.Fields(in) {
			var n int
			for _, c := range f {
				n = n*10 + int(c-'0')
			}
			cpus = append(cpus, n)
		}
		if got := FormatCPUs(cpus); got != want {
			t.Errorf("FormatCPUs(%v) = %q, want %q", cpus, got, want)
		}
	}
}

func TestCheckCPUs(t *testing.T) {
	if err := CheckCPUs([]int{1, 2}, []int{0, 1, 2, 3}); err != nil {
		t.Errorf("inside: %v", err)
	}
	err := CheckCPUs([]int{1, 5}, []int{0, 1, 2, 3})
	if err == nil || !strings.Contains(err.Error(), "CPU 5") || !strings.Contains(err.Error(), "0-3") {
		t.Errorf("outside: %v", err)
	}
}

func TestAllowedCPUsAtStart(t *testing.T) {
	cpus, err := AllowedCPUs()
	if err != nil {
		t.Fatal(err)
	}
	if len(cpus) == 0 {
		t.Fatal("no CPU allowed")
	}
	cpus[0] = -1 // the caller's copy; the package's stays
	again, _ := AllowedCPUs()
	if again[0] == -1 {
		t.Error("AllowedCPUs returned the package's own slice")
	}
}
