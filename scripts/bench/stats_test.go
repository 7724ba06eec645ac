package main

import (
	"math"
	"strings"
	"testing"
)

func TestQuantiles(t *testing.T) {
	s := series{5, 1, 4, 2, 3}
	if got := s.median(); got != 3 {
		t.Errorf("median = %v, want 3", got)
	}
	if got := s.min(); got != 1 {
		t.Errorf("min = %v, want 1", got)
	}
	if got := s.spread(); got != 2 {
		t.Errorf("spread = %v, want 2 (4-2)", got)
	}
	if got := (series{1, 2}).median(); got != 1.5 {
		t.Errorf("median of two = %v, want 1.5", got)
	}
	if !math.IsNaN(series{}.median()) {
		t.Error("median of nothing is not NaN")
	}
}

func TestRotation(t *testing.T) {
	seen := map[int]bool{}
	for r := 0; r < 3; r++ {
		o := rotation(3, r)
		seen[o[0]] = true
		if len(o) != 3 || o[0] == o[1] || o[1] == o[2] || o[0] == o[2] {
			t.Fatalf("rotation(3, %d) = %v", r, o)
		}
	}
	if len(seen) != 3 {
		t.Errorf("not every runtime goes first in 3 rounds: %v", seen)
	}
}

func TestTable(t *testing.T) {
	out := table([]string{"a", "b"}, []row{{name: "x", unit: "ms", prec: 1, values: []float64{1, 4}}, {name: "y", values: []float64{math.NaN(), 2}}}, []int{1})
	for _, want := range []string{"a/b", "x (ms)", "0.25x", "-"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}
