package cgroup_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-run/oci-run/internal/testutil"
	"github.com/oci-run/oci-run/pkg/state"
)

// fakeStages is a stage directory with the real oci-cgroup and scripts in
// place of the later stages, so a create can be stopped exactly after the
// cgroup exists: the runtime's state at the worst moment.
func fakeStages(t *testing.T, unshare string) string {
	t.Helper()
	dir := t.TempDir()
	b, err := os.ReadFile(testutil.Bin(t, "oci-cgroup"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "oci-cgroup"), b, 0o755)
	b, _ = os.ReadFile(testutil.Bin(t, "oci-run"))
	os.WriteFile(filepath.Join(dir, "oci-run"), b, 0o755)
	os.WriteFile(filepath.Join(dir, "oci-unshare"), []byte("#!/bin/sh\n"+unshare+"\n"), 0o755)
	for _, s := range []string{"oci-mount", "oci-seccomp", "oci-exec"} {
		os.WriteFile(filepath.Join(dir, s), []byte("#!/bin/sh\nexit 99\n"), 0o755)
	}
	return dir
}

// A create that is SIGKILLed (oci-run and the chain) after the cgroup was
// made, with a process left inside: delete kills it and removes the
// cgroup and the parents create added, in every hierarchy. runc leaves
// them behind in this case.
func TestDeleteAfterKilledCreate(t *testing.T) {
	requireV1(t)
	id := testutil.ID(t)
	dir := fakeStages(t, `sleep 1000 & echo $! > "$MARK"; exec sleep 1000`)
	mark := filepath.Join(t.TempDir(), "mark")
	root := t.TempDir()
	s := testutil.Spec("", "true")
	s.Linux.CgroupsPath = id + "/parent/ctr"
	bundle := testutil.Bundle(t, s)

	create := exec.Command(filepath.Join(dir, "oci-run"), "--root", root, "create", "--bundle", bundle, id)
	create.Env = append(os.Environ(), "MARK="+mark)
	if err := create.Start(); err != nil {
		t.Fatal(err)
	}
	for {
		if b, _ := os.ReadFile(mark); len(b) > 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if left := testutil.CgroupDirs(t, id); len(left) == 0 {
		t.Fatal("the cgroup was not created")
	}
	// SIGKILL oci-run create; its chain (the stand-in oci-unshare, exec'd
	// by oci-cgroup) and the background sleep stay in the cgroup.
	create.Process.Kill()
	create.Wait()
	var st state.State
	b, err := os.ReadFile(filepath.Join(root, id, state.StateFile))
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(b, &st)
	if len(st.CgroupPaths.Dirs) == 0 {
		t.Fatalf("cgroup paths not recorded before the chain ran: %s", b)
	}

	var errb bytes.Buffer
	del := exec.Command(filepath.Join(dir, "oci-run"), "--root", root, "delete", id)
	del.Stderr = &errb
	if err := del.Run(); err != nil {
		t.Fatalf("delete: %v %s", err, errb.String())
	}
	noLeak(t, id)
	if _, err := os.Stat(filepath.Join(root, id)); err == nil {
		t.Error("state dir left")
	}
}

// A chain that fails after the cgroup was made: create reports the error
// and nothing is left.
func TestFailedCreateLeavesNoCgroup(t *testing.T) {
	requireV1(t)
	id := testutil.ID(t)
	dir := fakeStages(t, `echo "fake oci-unshare fails" >&2; exit 3`)
	root := t.TempDir()
	s := testutil.Spec("", "true")
	bundle := testutil.Bundle(t, s)
	var errb bytes.Buffer
	create := exec.Command(filepath.Join(dir, "oci-run"), "--root", root, "create", "--bundle", bundle, id)
	create.Stderr = &errb
	if err := create.Run(); err == nil {
		t.Fatal("create succeeded")
	}
	if !strings.Contains(errb.String(), "fake oci-unshare fails") {
		t.Logf("stderr: %s", errb.String())
	}
	noLeak(t, id)
}

// Containers that share created parents, made and removed concurrently:
// every one succeeds (a parent removed by a sibling's delete between two
// mkdirs is made again) and no container cgroup is left. A shared parent
// that a sibling had already made when this container was planned is not
// this container's to remove: such parents may stay (the safe side; runc
// leaves every parent), and are cleaned up here.
func TestSharedParentsConcurrently(t *testing.T) {
	requireV1(t)
	base := testutil.ID(t)
	defer func() {
		for _, d := range testutil.CgroupDirs(t, base) {
			removeCgroupTree(d)
		}
	}()
	for round := 0; round < 5; round++ {
		errs := make(chan string, 8)
		for i := 0; i < 8; i++ {
			go func(i int) {
				s := config(fmt.Sprintf("/%s/shared/%d/c%d", base, i%2, i), &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](10)}})
				res := runStage(t, s, "--rm", "--", "true")
				if res.err != nil {
					errs <- fmt.Sprintf("%d: %v %s", i, res.err, res.stderr)
					return
				}
				errs <- ""
			}(i)
		}
		for i := 0; i < 8; i++ {
			if e := <-errs; e != "" {
				t.Error(e)
			}
		}
		for _, d := range testutil.CgroupDirs(t, base) {
			filepath.WalkDir(d, func(p string, e os.DirEntry, err error) error {
				if err == nil && e.IsDir() && strings.HasPrefix(e.Name(), "c") {
					t.Errorf("container cgroup left: %s", p)
				}
				return nil
			})
		}
	}
}
