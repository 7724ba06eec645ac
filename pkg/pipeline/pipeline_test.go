package pipeline

import (
	"reflect"
	"testing"
)

func TestSplit(t *testing.T) {
	cases := []struct {
		in   []string
		want [][]string
	}{
		{[]string{"oci-unshare", "--detach", "--", "oci-mount", "--", "/bin/sh", "-c", "a -- b"},
			[][]string{{"oci-unshare", "--detach"}, {"oci-mount"}, {"/bin/sh", "-c", "a -- b"}}},
		{[]string{"sh", "--", "x"}, [][]string{{"sh", "--", "x"}}},
		{[]string{"/usr/bin/oci-seccomp", "--spec-fd", "5", "--", "oci-exec", "--spec-fd", "5"},
			[][]string{{"/usr/bin/oci-seccomp", "--spec-fd", "5"}, {"oci-exec", "--spec-fd", "5"}}},
		// oci-exec is terminal: what follows is its own (rejected) arguments.
		{[]string{"oci-exec", "--", "oci-mount"}, [][]string{{"oci-exec", "--", "oci-mount"}}},
		{[]string{"oci-mount", "--no-pivot"}, [][]string{{"oci-mount", "--no-pivot"}}},
	}
	for _, c := range cases {
		segs := Split(c.in)
		var got [][]string
		for _, s := range segs {
			got = append(got, s.Argv)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("Split(%q) = %q, want %q", c.in, got, c.want)
		}
		if j := Join(segs); !reflect.DeepEqual(j, c.in) && len(segs) > 1 {
			t.Errorf("Join(Split(%q)) = %q", c.in, j)
		}
	}
}

func TestStageNames(t *testing.T) {
	got := StageNames([]string{"oci-mount", "--", "/x/oci-seccomp", "--", "oci-exec"})
	want := []string{"oci-mount", "/x/oci-seccomp", "oci-exec"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q want %q", got, want)
	}
	if n := StageNames([]string{"sh", "-c", "oci-exec"}); len(n) != 0 {
		t.Fatalf("final command counted as stage: %q", n)
	}
}

func TestQuote(t *testing.T) {
	got := Quote([]string{"oci-run", "--spec-fd", "3", "it's", "a b", ""})
	want := `oci-run --spec-fd 3 'it'\''s' 'a b' ''`
	if got != want {
		t.Fatalf("got %s want %s", got, want)
	}
}
