package main

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestReadExpected(t *testing.T) {
	p := filepath.Join(t.TempDir(), "expected-pass.txt")
	os.WriteFile(p, []byte("# comment\n\ncreate\n  state  # since the state work\nhostname\n"), 0o644)
	got, err := ReadExpected(p)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"create", "state", "hostname"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ReadExpected = %q, want %q", got, want)
	}
	os.WriteFile(p, []byte("create state\n"), 0o644)
	if _, err := ReadExpected(p); err == nil {
		t.Error("two names on a line: no error")
	}
}

func TestCheckGate(t *testing.T) {
	suite := []string{"create", "delete", "hooks", "kill", "state"}
	results := []Result{
		{Name: "create", Result: ResultPass},
		{Name: "delete", Result: ResultFail, Reason: "not ok 2 - x"},
		{Name: "hooks", Result: ResultTimeout, Reason: "timed out"},
		{Name: "state", Result: ResultPass},
		// kill: filtered out of this run (-run)
	}
	tests := []struct {
		name        string
		expected    []string
		regressions []Regression
		unlisted    []string
	}{
		{"empty list", nil, []Regression{}, []string{"create", "state"}},
		{"all listed pass", []string{"create", "state"}, []Regression{}, []string{}},
		{"listed test fails", []string{"create", "delete"}, []Regression{{"delete", ResultFail, "not ok 2 - x"}}, []string{"state"}},
		{"listed test times out", []string{"hooks"}, []Regression{{"hooks", ResultTimeout, "timed out"}}, []string{"create", "state"}},
		{"listed test not run is not judged", []string{"kill", "create", "state"}, []Regression{}, []string{}},
		{"unknown name is a regression", []string{"craete"}, []Regression{{"craete", "missing", "no such test in the suite"}}, []string{"create", "state"}},
		{"duplicates count once", []string{"delete", "delete"}, []Regression{{"delete", ResultFail, "not ok 2 - x"}}, []string{"create", "state"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := CheckGate(tt.expected, suite, results)
			if !reflect.DeepEqual(g.Regressions, tt.regressions) || !reflect.DeepEqual(g.Unlisted, tt.unlisted) {
				t.Errorf("CheckGate = %+v %q, want %+v %q", g.Regressions, g.Unlisted, tt.regressions, tt.unlisted)
			}
			if g.OK() != (len(tt.regressions) == 0) {
				t.Errorf("OK() = %v", g.OK())
			}
		})
	}
}
