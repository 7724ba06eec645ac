package cgroup_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-run/oci-run/internal/testutil"
)

// TestMemoryFloor measures, for oci-run and the runc and crun installed
// here, the smallest memory limit (memory = memory+swap, so no swap) under
// which `RUNTIME run` of busybox true succeeds, by bisection to 64 KiB.
// It is a measurement, not a check: it only runs with OCI_RUN_MEASURE=1.
//
//	OCI_RUN_MEASURE=1 go test ./tests/cgroup -run MemoryFloor -v
func TestMemoryFloor(t *testing.T) {
	if os.Getenv("OCI_RUN_MEASURE") == "" {
		t.Skip("a measurement: set OCI_RUN_MEASURE=1")
	}
	requireV1(t)
	runtimes := map[string]string{"oci-run": testutil.Bin(t, "oci-run")}
	for _, name := range []string{"runc", "crun"} {
		if p, err := exec.LookPath(name); err == nil {
			runtimes[name] = p
		}
	}
	for name, path := range runtimes {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			ok := func(limit int64) bool {
				id := testutil.ID(t)
				s := testutil.Spec("", "true")
				s.Linux.CgroupsPath = "/" + id
				s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &limit, Swap: &limit}
				b := testutil.Bundle(t, s)
				cmd := exec.Command(path, "--root", root, "run", "--bundle", b, id)
				err := cmd.Run()
				exec.Command(path, "--root", root, "delete", "-f", id).Run()
				for _, d := range testutil.CgroupDirs(t, id) {
					removeCgroupTree(d)
				}
				return err == nil
			}
			lo, hi := int64(64<<10), int64(64<<20)
			if !ok(hi) {
				t.Skipf("%s cannot run busybox true here even with %d MiB", name, hi>>20)
			}
			for hi-lo > 64<<10 {
				mid := (lo + hi) / 2 &^ (4<<10 - 1)
				if ok(mid) {
					hi = mid
				} else {
					lo = mid
				}
			}
			t.Logf("%s: smallest memory limit for `run` of busybox true: %d KiB", name, hi>>10)
		})
	}
}

func removeCgroupTree(dir string) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.IsDir() {
			removeCgroupTree(filepath.Join(dir, e.Name()))
		}
	}
	os.Remove(dir)
}
