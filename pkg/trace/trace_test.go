package trace

import (
	"strings"
	"testing"
)

func TestTable(t *testing.T) {
	ms := int64(1e6)
	groups := []Group{
		{Process: "oci-mount", Marks: []Mark{{"main", 12 * ms}, {"spec", 13 * ms}, {"exec", 15 * ms}}},
		{Process: "oci-run", Marks: []Mark{{"start", 0}, {"spec", 2 * ms}, {"spawn", 3 * ms}}},
		{Process: "oci-cgroup", Marks: []Mark{{"main", 5 * ms}, {"cgroup", 9 * ms}, {"exec", 10 * ms}}},
		{Process: "empty"},
	}
	out := Table(groups)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 {
		t.Fatalf("want header, 3 rows and a total:\n%s", out)
	}
	for i, want := range []string{
		"oci-run  0.00 - 3.00 spec 2.00, spawn 1.00",
		"oci-cgroup 5.00 2.00 5.00 cgroup 4.00, exec 1.00",
		"oci-mount 12.00 2.00 3.00 spec 1.00, exec 2.00",
		"total 15.00 ms",
	} {
		if got := strings.Join(strings.Fields(lines[i+1]), " "); got != strings.Join(strings.Fields(want), " ") {
			t.Errorf("line %d = %q, want %q", i+1, got, want)
		}
	}
}

func TestLine(t *testing.T) {
	got := Line("oci-exec", []Mark{{"main", 1_500_000_000_000_000_000}, {"ready", 1_500_000_000_002_500_000}})
	want := "oci-trace oci-exec 1500000000.000000 main=0.000 ready=2.500"
	if got != want {
		t.Errorf("Line = %q, want %q", got, want)
	}
}

func TestDisabled(t *testing.T) {
	on = false
	Point("x")
	if len(Take()) != 0 {
		t.Error("a disabled trace recorded a mark")
	}
}
