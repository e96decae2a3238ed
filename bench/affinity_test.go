//go:build linux

package bench

import "testing"

func TestParseCPUs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
	}{{"1", "1"}, {"0,2", "0,2"}, {"2-3,6", "2-3,6"}, {" 3,1-2 ", "1-3"}, {"0-1,1", "0-1"}} {
		got, err := ParseCPUs(tc.in)
		if err != nil || FormatCPUs(got) != tc.want {
			t.Errorf("ParseCPUs(%q) = %v, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "x", "3-1", "-1", "99999"} {
		if _, err := ParseCPUs(bad); err == nil {
			t.Errorf("ParseCPUs(%q) accepted", bad)
		}
	}
}

func TestParseSoftnet(t *testing.T) {
	in := "0000a000 00000003 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000\n" +
		"00000010 00000000 00000001 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000001 00000000\n"
	s, err := ParseSoftnet([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Processed) != 2 || s.Processed[0] != 0xa000 || s.Dropped[0] != 3 || s.Processed[1] != 0x10 {
		t.Errorf("parsed %+v", s)
	}
	d := s.Sub(Softnet{Processed: []uint64{0x9000, 0}, Dropped: []uint64{1, 0}})
	if d.Processed[0] != 0x1000 || d.Dropped[0] != 2 || d.Processed[1] != 0x10 {
		t.Errorf("difference %+v", d)
	}
}

func TestMetricLabels(t *testing.T) {
	name, l := metricLabels(`xvs_queue_info{cpu="1",queue="0",side="wan",socket_mode="copy",worker="0"}`)
	if name != "xvs_queue_info" || l["cpu"] != "1" || l["side"] != "wan" || l["socket_mode"] != "copy" || l["worker"] != "0" {
		t.Errorf("%s %v", name, l)
	}
	w, mode := xvsPlacement(map[string]float64{
		`xvs_queue_info{cpu="1",queue="0",side="wan",socket_mode="copy",worker="0"}`: 1,
		`xvs_queue_info{cpu="1",queue="1",side="wan",socket_mode="copy",worker="0"}`: 1,
		`xvs_queue_info{cpu="1",queue="0",side="lan",socket_mode="copy",worker="0"}`: 1,
	})
	if len(w) != 1 || w[0] != "worker 0 on CPU 1: queues 0,1" || mode != "copy" {
		t.Errorf("placement %q, %q", w, mode)
	}
	if got := placeCeiling(2, []int{1}); len(got) != 1 || got[0].CPU != 1 || len(got[0].Queues) != 2 {
		t.Errorf("placeCeiling(2, [1]) = %+v", got)
	}
}
