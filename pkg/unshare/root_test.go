package unshare

import "testing"

func TestParseRootOf(t *testing.T) {
	for in, want := range map[string]RootOf{
		"1":         {Pid: 1},
		"4242":      {Pid: 4242},
		"4242:1234": {Pid: 4242, Start: 1234},
	} {
		got, err := ParseRootOf(in)
		if err != nil || *got != want {
			t.Errorf("ParseRootOf(%q) = %+v, %v, want %+v", in, got, err, want)
		}
		if got != nil && got.String() != in {
			t.Errorf("%+v renders as %q, want %q", got, got.String(), in)
		}
	}
	for _, bad := range []string{"", "0", "-1", "x", "1:", "1:x", "1:0", ":5", "1:2:3"} {
		if _, err := ParseRootOf(bad); err == nil {
			t.Errorf("ParseRootOf(%q) accepted", bad)
		}
	}
}
