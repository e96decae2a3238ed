package bench

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func TestSummarize(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		name             string
		in               []float64
		min, median, max float64
		n                int
	}{
		{"one", []float64{7}, 7, 7, 7, 1},
		{"odd", []float64{3, 1, 2}, 1, 2, 3, 3},
		{"even", []float64{4, 1, 3, 2}, 1, 2.5, 4, 4},
		{"duplicates", []float64{5, 5, 1}, 1, 5, 5, 3},
		{"negative", []float64{-1, -3, -2}, -3, -2, -1, 3},
		{"nan left out", []float64{nan, 10, 30, 20}, 10, 20, 30, 3},
		{"inf left out", []float64{math.Inf(1), 2, math.Inf(-1), 4}, 2, 3, 4, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := append([]float64(nil), tc.in...)
			s := Summarize(tc.in)
			if s.Min != tc.min || s.Median != tc.median || s.Max != tc.max || s.N != tc.n {
				t.Errorf("Summarize(%v) = min %v median %v max %v n %d, want %v %v %v %d",
					tc.in, s.Min, s.Median, s.Max, s.N, tc.min, tc.median, tc.max, tc.n)
			}
			if len(s.Values) != len(in) {
				t.Fatalf("Values %v, want the input in order", s.Values)
			}
			for i := range in {
				if s.Values[i] != in[i] && !(math.IsNaN(s.Values[i]) && math.IsNaN(in[i])) {
					t.Errorf("Values %v, want the input %v in order", s.Values, in)
				}
				if tc.in[i] != in[i] && !(math.IsNaN(tc.in[i]) && math.IsNaN(in[i])) {
					t.Errorf("the input was changed: %v", tc.in)
				}
			}
		})
	}
	for _, in := range [][]float64{nil, {}, {nan, nan}} {
		s := Summarize(in)
		if s.N != 0 || !math.IsNaN(s.Min) || !math.IsNaN(s.Median) || !math.IsNaN(s.Max) {
			t.Errorf("Summarize(%v) = %+v, want N 0 and NaN figures", in, s)
		}
	}
}

func TestRatio(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	for _, tc := range []struct {
		a, b, want float64
	}{
		{1, 2, 0.5}, {3, 1.5, 2}, {0, 5, 0}, {-2, 4, -0.5},
	} {
		if got := Ratio(tc.a, tc.b); got != tc.want {
			t.Errorf("Ratio(%v, %v) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
	for _, tc := range [][2]float64{{1, 0}, {0, 0}, {nan, 1}, {1, nan}, {inf, 1}, {1, inf}} {
		if got := Ratio(tc[0], tc[1]); !math.IsNaN(got) {
			t.Errorf("Ratio(%v, %v) = %v, want NaN", tc[0], tc[1], got)
		}
	}
}

func TestSummaryJSON(t *testing.T) {
	b, err := json.Marshal(Summarize([]float64{math.NaN(), 2, 1}))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"min":1,"median":1.5,"max":2,"n":2,"values":[null,2,1]}`
	if string(b) != want {
		t.Errorf("JSON %s, want %s", b, want)
	}
	b, err = json.Marshal(Summarize(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"median":null`) {
		t.Errorf("JSON of an empty summary %s, want null figures", b)
	}
}
