// Package tools tests oci-run check and oci-run explain: they create
// nothing, check what create checks, and explain prints the chain create
// runs, in a form a shell can run.
package tools

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oci-run/oci-run/internal/testutil"
)

// explainLines returns the exact chain line and the shell line.
func explainLines(t *testing.T, out string) (exact, shell string) {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "env ") && exact == "" {
			exact = l
		}
		if strings.HasPrefix(l, "cd ") && i == len(lines)-1 {
			shell = l
		}
	}
	if exact == "" || shell == "" {
		t.Fatalf("explain output:\n%s", out)
	}
	return exact, shell
}

// What explain prints is what create runs: create logs its chain with
// --debug, and the two command lines are the same.
func TestExplainIsWhatCreateRuns(t *testing.T) {
	r := testutil.NewRuntime(t)
	s := testutil.Spec("", "true")
	b := testutil.Bundle(t, s)
	id := testutil.ID(t)
	out := r.Must("explain", "-b", b, id)
	exact, _ := explainLines(t, out)
	if ents, _ := os.ReadDir(r.Root); len(ents) > 0 {
		t.Fatalf("explain created state: %v", ents)
	}
	testutil.NoLeaks(t, id, r.Root, b)

	log := filepath.Join(t.TempDir(), "log")
	r.Must("--debug", "--log", log, "create", "-b", b, id)
	defer r.Run("delete", "--force", id)
	lb, _ := os.ReadFile(log)
	var ran string
	for _, l := range strings.Split(string(lb), "\n") {
		if i := strings.Index(l, "create "+id+": "); i >= 0 {
			ran = strings.TrimSuffix(l[i+len("create "+id+": "):], `"`)
			ran = strings.ReplaceAll(ran, `\"`, `"`)
		}
	}
	if ran == "" {
		t.Fatalf("create logged no chain:\n%s", lb)
	}
	argv := exact
	for strings.HasPrefix(argv, "env ") || strings.HasPrefix(argv, "OCI_") || strings.HasPrefix(argv, "GOMAXPROCS=") {
		_, argv, _ = strings.Cut(argv, " ")
	}
	if argv != ran {
		t.Errorf("explain: %s\ncreate:  %s", argv, ran)
	}
	for _, want := range []string{"GOMAXPROCS=1", "OCI_SYNC_FD=4", "OCI_FIFO_FD=5", "--spec-fd 3", "oci-cgroup", "oci-unshare", "oci-mount", "oci-exec"} {
		if !strings.Contains(exact, want) {
			t.Errorf("explain's chain lacks %q: %s", want, exact)
		}
	}
	for _, want := range []string{"#   3  config.json:", "#   4  OCI_SYNC_FD:", "#   5  OCI_FIFO_FD:"} {
		if !strings.Contains(out, want) {
			t.Errorf("explain does not describe descriptor %q:\n%s", want, out)
		}
	}
}

// The shell form runs the container without oci-run, in the
// foreground, and leaves nothing (oci-cgroup --rm removes the cgroup).
func TestExplainShellLineRuns(t *testing.T) {
	r := testutil.NewRuntime(t)
	s := testutil.Spec("", "sh", "-c", "echo pid $$; hostname; grep -c . /proc/self/mountinfo >/dev/null && echo mounted")
	s.Linux.CgroupsPath = ""
	b := testutil.Bundle(t, s)
	id := testutil.ID(t)
	_, shell := explainLines(t, r.Must("explain", "-b", b, id))
	cmd := exec.Command("sh", "-c", shell)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", shell, err, out)
	}
	if !strings.Contains(string(out), "pid 1\noci-run\nmounted\n") {
		t.Errorf("the shell line's container printed %q", out)
	}
	testutil.NoLeaks(t, id, r.Root, b)
}

// explain refuses what create refuses, with the same line.
func TestExplainRefusesLikeCreate(t *testing.T) {
	r := testutil.NewRuntime(t)
	s := testutil.Spec("", "true")
	s.Process.Capabilities.Bounding = append(s.Process.Capabilities.Bounding, "CAP_NOPE")
	b := testutil.Bundle(t, s)
	id := testutil.ID(t)
	ex := r.Run("explain", "-b", b, id)
	cr := r.Run("create", "-b", b, id)
	if ex.Code == 0 || cr.Code == 0 || ex.Stderr != cr.Stderr || !strings.Contains(ex.Stderr, "process.capabilities.bounding[3]") {
		t.Errorf("explain: %+v\ncreate: %+v", ex, cr)
	}
	testutil.NoLeaks(t, id, r.Root, b)
}

// check of a good bundle: the host's features, no problem, exit 0, and
// nothing created.
func TestCheckGoodBundle(t *testing.T) {
	r := testutil.NewRuntime(t)
	s := testutil.Spec("", "true")
	b := testutil.Bundle(t, s)
	res := r.Run("check", "-b", b)
	if res.Code != 0 || strings.Contains(res.Stdout, "error:") || !strings.Contains(res.Stdout, "ok: bundle") {
		t.Errorf("check: exit %d\n%s%s", res.Code, res.Stdout, res.Stderr)
	}
	for _, want := range []string{"# kernel: ", "# cgroups: ", "# pidfd_open: yes", "# security modules: ", "# capabilities: "} {
		if !strings.Contains(res.Stdout, want) {
			t.Errorf("check does not report %q:\n%s", want, res.Stdout)
		}
	}
	if ents, _ := os.ReadDir(r.Root); len(ents) > 0 {
		t.Errorf("check created state: %v", ents)
	}
	testutil.NoLeaks(t, "oci-run-check", r.Root, b)
}
