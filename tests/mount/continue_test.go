package mount

import (
	"strings"
	"testing"

	"github.com/oci-run/oci-run/internal/testutil"
)

// oci-mount -- oci-exec: oci-exec's work runs in oci-mount's process
// (stage.Def.Continues), with the same result as the exec'd program: the
// user process has 0, 1, 2 only, and errors are oci-exec's. The trace
// lines say that the step was taken in-process ("fuse").
func TestContinuesIntoOciExec(t *testing.T) {
	t.Setenv("OCI_TRACE", "1")
	s := baseSpec(t, "")
	// "; true": sh forks ls rather than becoming it, so ls lists the
	// descriptors of the process oci-exec started.
	s.Process.Args = []string{"/bin/sh", "-c", "echo pid $$; ls /proc/$$/fd; true"}
	res := container(t, s, "", run{Next: []string{testutil.Bin(t, "oci-exec")}})
	if res.Err != nil {
		t.Fatalf("oci-mount -- oci-exec: %v\nstderr: %s", res.Err, res.Stderr)
	}
	if res.Stdout != "pid 1\n0\n1\n2\n" {
		t.Errorf("got %q, want the fds 0 1 2 and pid 1: %s", res.Stdout, res.Stderr)
	}
	var mountLine, execLine string
	for _, l := range strings.Split(res.Stderr, "\n") {
		switch {
		case strings.HasPrefix(l, "oci-trace oci-mount "):
			mountLine = l
		case strings.HasPrefix(l, "oci-trace oci-exec "):
			execLine = l
		}
	}
	if !strings.Contains(mountLine, " fuse=") || !strings.Contains(execLine, " ready=") {
		t.Errorf("trace lines do not show oci-exec continuing in oci-mount's process:\n%s", res.Stderr)
	}

	s.Process.Args = []string{"/nonexistent"}
	res = container(t, s, "", run{Next: []string{testutil.Bin(t, "oci-exec")}})
	want := `oci-exec: exec: "/nonexistent": stat /nonexistent: no such file or directory`
	if res.Err == nil || !strings.Contains(res.Stderr, want) {
		t.Errorf("err %v, stderr %q: want %q", res.Err, res.Stderr, want)
	}
}
