// Package conformance_test checks the conformance runner (scripts/conformance)
// against a real runtime: what a validation program leaves behind is
// removed, and nothing else.
package conformance_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/oci-run/oci-run/internal/testutil"
)

// A validation program that fails and leaves three running containers
// (cgroups at /cgrouptest, at the relative testdir/cgrouptest/container,
// and at the runtime's default path named after the id) and a stray
// process. The runner must delete the containers, remove those cgroups and
// kill the process, and leave a cgroup of someone else's alone.
func TestRunnerCleansUpOnlyWhatTheTestMade(t *testing.T) {
	testutil.RequireRoot(t)
	runc, err := exec.LookPath("runc")
	if err != nil {
		t.Skip("runc not installed")
	}
	for _, p := range []string{"/sys/fs/cgroup/pids/cgrouptest", "/sys/fs/cgroup/pids/testdir"} {
		if _, err := os.Stat(p); err == nil {
			t.Skipf("%s exists already (another conformance run?)", p)
		}
	}

	// Someone else's cgroup, with a process in it, next to the test's.
	other := filepath.Join("/sys/fs/cgroup/pids", testutil.ID(t))
	if err := os.Mkdir(other, 0o755); err != nil {
		t.Fatal(err)
	}
	sleeper := exec.Command("sleep", "1000")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sleeper.Process.Kill()
		sleeper.Wait()
		os.Remove(other)
	})
	if err := os.WriteFile(filepath.Join(other, "cgroup.procs"), []byte(strconv.Itoa(sleeper.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}

	ids := []string{
		"c0ffee00-0000-4000-8000-" + randHex(t),
		"c0ffee01-0000-4000-8000-" + randHex(t),
		"c0ffee02-0000-4000-8000-" + randHex(t),
	}
	cgroupsPaths := []string{"/cgrouptest", "testdir/cgrouptest/container", ""}
	script := "#!/bin/sh\necho 'TAP version 13'\n"
	for i, id := range ids {
		s := testutil.Spec("", "sleep", "1000")
		s.Linux.CgroupsPath = cgroupsPaths[i]
		bundle := testutil.Bundle(t, s)
		script += fmt.Sprintf("\"$RUNTIME\" create --bundle %s %s >/dev/null 2>&1 </dev/null || echo 'not ok - create %s'\n", bundle, id, id)
		script += fmt.Sprintf("\"$RUNTIME\" start %s || echo 'not ok - start %s'\n", id, id)
	}
	pidfile := filepath.Join(t.TempDir(), "stray.pid")
	script += "setsid sleep 1000 </dev/null >/dev/null 2>&1 & echo $! > " + pidfile + "\n"
	script += "echo 'not ok 1 - left everything running'\necho '1..1'\n"

	suite := t.TempDir()
	write(t, filepath.Join(suite, "leaver"), script, 0o755)
	write(t, filepath.Join(suite, "runtimetest"), "", 0o755)
	write(t, filepath.Join(suite, "rootfs-amd64.tar.gz"), "", 0o644)

	runner := filepath.Join(t.TempDir(), "conformance")
	build := exec.Command("go", "build", "-o", runner, "./scripts/conformance")
	build.Dir = testutil.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build runner: %v\n%s", err, out)
	}
	out := t.TempDir()
	run := exec.Command(runner, "-runtime", runc, "-suite", suite, "-out", out, "-timeout", "60s")
	output, err := run.CombinedOutput()
	if err != nil {
		t.Fatalf("runner: %v\n%s", err, output)
	}
	t.Logf("runner:\n%s", output)

	var rep struct {
		Results []struct {
			Result, Reason string
			Cleanup        []string
		}
		Warnings []string
	}
	b, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 1 || rep.Results[0].Result != "fail" || strings.Contains(rep.Results[0].Reason, "create") {
		t.Fatalf("results: %+v (the program must have created its containers, then failed)", rep.Results)
	}
	if len(rep.Warnings) > 0 {
		t.Errorf("warnings: %q", rep.Warnings)
	}
	cleanup := strings.Join(rep.Results[0].Cleanup, "\n")
	t.Logf("cleanup:\n%s", cleanup)
	for _, id := range ids {
		if !strings.Contains(cleanup, "deleted container "+id) {
			t.Errorf("cleanup does not report deleting %s:\n%s", id, cleanup)
		}
		if err := exec.Command(runc, "state", id).Run(); err == nil {
			t.Errorf("container %s still exists", id)
			exec.Command(runc, "delete", "--force", id).Run()
		}
		if dirs := testutil.CgroupDirs(t, id); len(dirs) > 0 {
			t.Errorf("cgroups of container %s left: %q", id, dirs)
		}
	}
	for _, name := range []string{"/cgrouptest", "/testdir"} {
		if dirs := testutil.CgroupDirs(t, name); len(dirs) > 0 {
			t.Errorf("cgroups left: %q", dirs)
		}
	}

	b, err = os.ReadFile(pidfile)
	if err != nil {
		t.Fatal(err)
	}
	if pid, _ := strconv.Atoi(strings.TrimSpace(string(b))); pid <= 0 || syscall.Kill(pid, 0) != syscall.ESRCH {
		t.Errorf("stray process %q survived the runner", b)
	}

	procs, err := os.ReadFile(filepath.Join(other, "cgroup.procs"))
	if err != nil {
		t.Fatalf("the other cgroup %s: %v", other, err)
	}
	if strings.TrimSpace(string(procs)) != strconv.Itoa(sleeper.Process.Pid) {
		t.Errorf("the other cgroup's processes changed: %q, want %d", procs, sleeper.Process.Pid)
	}
}

func write(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// randHex is 12 hex digits, the last group of a UUID.
func randHex(t *testing.T) string {
	id := testutil.ID(t) // ends in 8 random hex digits
	return "0000" + id[len(id)-8:]
}
