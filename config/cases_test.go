package config

import (
	"errors"
	"reflect"
	"testing"
)

// The table-driven tests of this package share these runners: each case
// is a subtest named by its desc, parsed with the parse given to the
// runner (parseTest, or parseNamed for Parse's own defaults).

// parseNamed returns a parse that parses src with Parse as the file
// filename.
func parseNamed(filename string) func(src string) (*Spec, error) {
	return func(src string) (*Spec, error) { return Parse(filename, []byte(src)) }
}

// valueCase is a configuration that parses, and what get takes from its
// Spec; that must be deeply equal to want.
type valueCase struct {
	desc string
	src  string
	get  func(*Spec) any
	want any
}

// runValueCases runs each case as a subtest.
func runValueCases(t *testing.T, parse func(src string) (*Spec, error), tests []valueCase) {
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) { checkValue(t, parse, tc) })
	}
}

// checkValue parses tc.src, stopping the test if that fails, compares
// what tc.get gives with tc.want, and returns the Spec.
func checkValue(t *testing.T, parse func(src string) (*Spec, error), tc valueCase) *Spec {
	t.Helper()
	spec, err := parse(tc.src)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got := tc.get(spec); !reflect.DeepEqual(got, tc.want) {
		t.Errorf("got %#v, want %#v", got, tc.want)
	}
	return spec
}

// warnCase is a valueCase that also gives every diagnostic (warnings and
// notes) the configuration has, as "file:line:col: kind: message", in
// order; nil for none.
type warnCase struct {
	desc string
	src  string
	get  func(*Spec) any
	want any
	warn []string
}

// runWarnCases runs each case as a subtest.
func runWarnCases(t *testing.T, parse func(src string) (*Spec, error), tests []warnCase) {
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			spec := checkValue(t, parse, valueCase{tc.desc, tc.src, tc.get, tc.want})
			if warns := diagStrings(spec.Warnings); !reflect.DeepEqual(warns, tc.warn) {
				t.Errorf("warnings:\n%q\nwant:\n%q", warns, tc.warn)
			}
		})
	}
}

// diagStrings returns each diagnostic as a string.
func diagStrings(diags []Diagnostic) []string {
	var out []string
	for _, d := range diags {
		out = append(out, d.String())
	}
	return out
}

// errorCase is a configuration that does not parse, and the whole text
// of the *Error it gives.
type errorCase struct {
	desc, src, want string
}

// runErrorCases runs each case as a subtest. Parse must fail with an
// *Error of exactly the text wanted, and return no Spec with it.
func runErrorCases(t *testing.T, parse func(src string) (*Spec, error), tests []errorCase) {
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			spec, err := parse(tc.src)
			if err == nil {
				t.Fatalf("Parse succeeded, want error:\n%s", tc.want)
			}
			if spec != nil {
				t.Errorf("Parse returned a Spec with its error")
			}
			var perr *Error
			if !errors.As(err, &perr) {
				t.Fatalf("error is %T (%v), want *Error:\n%s", err, err, tc.want)
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("wrong error\n got: %s\nwant: %s", got, tc.want)
			}
		})
	}
}
