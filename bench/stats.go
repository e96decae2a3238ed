package bench

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
)

// Summary is the spread of one figure over rounds.
type Summary struct {
	Min, Median, Max float64
	// N is the number of values that are numbers.
	N int
	// Values holds every round's value, in round order.
	Values []float64
}

// Summarize returns min, median and max of the finite values (NaN and ±Inf
// are left out, so a round that could not measure a figure does not count).
// The median of an even number of values is the mean of the middle two.
// With no value, N is 0 and the figures are NaN.
func Summarize(values []float64) Summary {
	s := Summary{Values: slices.Clone(values)}
	var v []float64
	for _, x := range values {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			v = append(v, x)
		}
	}
	s.N = len(v)
	if s.N == 0 {
		s.Min, s.Median, s.Max = math.NaN(), math.NaN(), math.NaN()
		return s
	}
	slices.Sort(v)
	s.Min, s.Max = v[0], v[len(v)-1]
	if m := len(v) / 2; len(v)%2 == 1 {
		s.Median = v[m]
	} else {
		s.Median = (v[m-1] + v[m]) / 2
	}
	return s
}

// Ratio returns a/b, or NaN when either is not a finite number or b is 0.
func Ratio(a, b float64) float64 {
	if math.IsNaN(a) || math.IsNaN(b) || math.IsInf(a, 0) || math.IsInf(b, 0) || b == 0 {
		return math.NaN()
	}
	return a / b
}

// Num is a float64 that encodes NaN and infinities as JSON null, which
// encoding/json cannot encode otherwise.
type Num float64

// MarshalJSON implements json.Marshaler.
func (n Num) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, f, 'g', -1, 64), nil
}

// MarshalJSON encodes the summary with null for figures that are not
// numbers.
func (s Summary) MarshalJSON() ([]byte, error) {
	vals := make([]Num, len(s.Values))
	for i, v := range s.Values {
		vals[i] = Num(v)
	}
	return json.Marshal(struct {
		Min    Num   `json:"min"`
		Median Num   `json:"median"`
		Max    Num   `json:"max"`
		N      int   `json:"n"`
		Values []Num `json:"values"`
	}{Num(s.Min), Num(s.Median), Num(s.Max), s.N, vals})
}
