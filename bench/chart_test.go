//go:build linux

package bench

import (
	"encoding/xml"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"time"
)

// TestSVG draws the chart of a fake report and checks that it is XML, has
// a panel per figure the chart draws, and names every contender.
func TestSVG(t *testing.T) {
	s := Settings{Duration: time.Second, Rounds: 3, Flows: 10000, FrameBytes: FrameLen, Concurrency: 32, LatencyRate: 500,
		BulkStreams: 4, DirectorCPUs: "1", HostCPUs: "0"}
	var runs []RunResult
	for round := 1; round <= 3; round++ {
		f := float64(round)
		runs = append(runs,
			fakeRun(XVS, round, 600e3+f*1e4, 30, 60, 90, 5000+f*10, 200*time.Microsecond),
			fakeRun(Kernel, round, 400e3+f*1e4, 0, 10, 190, 6000, 100*time.Microsecond),
			fakeRun(Ceiling, round, 900e3, 5, 50, 145, 0, 0))
	}
	contenders := append(AllContenders, "a<b&\"c\"") // escaping
	rep := &Report{Settings: s, Contenders: contenders, Runs: runs, Machine: Machine{CPUs: 2, Kernel: "6.18", GoVer: "go1.26"}}
	rep.Figures = summarizeFigures(s, contenders, runs)
	svg, err := rep.SVG()
	if err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(strings.NewReader(string(svg)))
	var texts []string
	panels := 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not XML: %v\n%s", err, svg)
		}
		switch x := tok.(type) {
		case xml.StartElement:
			for _, a := range x.Attr {
				if a.Name.Local == "class" && a.Value == "panel" {
					panels++
				}
			}
		case xml.CharData:
			texts = append(texts, string(x))
		}
	}
	all := strings.Join(texts, "\n")
	for _, c := range contenders {
		if !strings.Contains(all, c) {
			t.Errorf("the chart does not name contender %q", c)
		}
	}
	if panels != len(ChartFigures) {
		t.Errorf("%d panels, want %d (one per figure of ChartFigures)", panels, len(ChartFigures))
	}
	for _, want := range []string{"UDP frames delivered, router box", "bulk TCP", "request latency p99", "Mframes/s", "Gb/s", "xvs/kernel-nat"} {
		if !strings.Contains(all, want) {
			t.Errorf("the chart lacks %q", want)
		}
	}
	if strings.Contains(string(svg), "NaN") {
		t.Error("the chart has a NaN coordinate or label")
	}
}

func TestNiceCeil(t *testing.T) {
	for _, tc := range []struct{ in, want float64 }{
		{0.83, 1}, {1, 1}, {1.2, 2}, {2.2, 2.5}, {3, 5}, {7, 10}, {6200, 10000}, {0.012, 0.02}, {0, 1}, {math.NaN(), 1},
	} {
		if got := niceCeil(tc.in); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("niceCeil(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
