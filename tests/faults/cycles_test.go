package faults

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-run/oci-run/internal/testutil"
)

// leakCycles is how many containers TestCyclesLeakNothing runs.
const leakCycles = 200

// 200 containers created, started and deleted, three at a time, half of
// them running to their end and half deleted with --force while running,
// a quarter of them without a mount namespace of their own (their
// mounts are made in the host's and taken away at delete):
// no cgroup in any hierarchy, mount, state directory or process is left,
// the test process holds no more descriptors than before, no container
// init ever holds a host directory, and every user process starts with
// exactly 0, 1 and 2.
func TestCyclesLeakNothing(t *testing.T) {
	r := testutil.NewRuntime(t)
	marker := testutil.ID(t)
	short := testutil.Bundle(t, testutil.Spec("", "true"))
	long := testutil.Bundle(t, testutil.Spec("", "sleep", "1000"))
	fdsBefore := countFDs(t)

	var next, done atomic.Int64
	var mu sync.Mutex
	var own []string // rootfs directories of the cycles without a mount namespace
	var wg sync.WaitGroup
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= leakCycles || t.Failed() {
					return
				}
				short, long := short, long
				if i%4 == 3 {
					// Without a mount namespace of its own: the rootfs is
					// prepared in the host's, on a rootfs of its own.
					var rootfs string
					short, long, rootfs = hostMountBundles(t)
					mu.Lock()
					own = append(own, rootfs)
					mu.Unlock()
				}
				cycle(t, r, fmt.Sprintf("%s-%d", marker, i), i%2 == 0, short, long)
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	t.Logf("%d cycles", done.Load())
	if done.Load() != leakCycles {
		t.Fatalf("only %d of %d cycles ran", done.Load(), leakCycles)
	}
	waitNoLeaks(t, marker, r.Root, append(own, short, long, testutil.SharedRootfs(t))...)
	// Fewer is fine: files of earlier tests closed by the collector.
	if after := countFDs(t); after > fdsBefore {
		t.Errorf("the test process had %d descriptors before the cycles and %d after", fdsBefore, after)
	}
}

func cycle(t *testing.T, r *testutil.Runtime, id string, runToEnd bool, short, long string) {
	bundle := long
	if runToEnd {
		bundle = short
	}
	if res := r.Run("create", "-b", bundle, id); res.Code != 0 {
		t.Errorf("create %s: %s", id, res.Stderr)
		return
	}
	st, _ := r.State(id)
	if fds, err := testutil.FDs(st.Pid); err == nil {
		for _, fd := range fds {
			n := strings.Fields(fd)[0]
			if fi, err := os.Stat("/proc/" + strconv.Itoa(st.Pid) + "/fd/" + n); err == nil && fi.IsDir() {
				t.Errorf("%s: the created container's init holds a directory: %s (all: %q)", id, fd, fds)
			}
		}
	}
	if res := r.Run("start", id); res.Code != 0 {
		t.Errorf("start %s: %s", id, res.Stderr)
	}
	if runToEnd {
		r.WaitStatus(id, "stopped")
		if res := r.Run("delete", id); res.Code != 0 {
			t.Errorf("delete %s: %s", id, res.Stderr)
		}
		return
	}
	// exec'd sleep: wait until the init is the user process.
	for {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(st.Pid) + "/cmdline")
		if strings.HasPrefix(string(b), "sleep\x00") {
			break
		}
		if r.Status(id) != "running" {
			t.Errorf("%s: %s", id, r.Status(id))
			break
		}
		time.Sleep(time.Millisecond)
	}
	fds, _ := testutil.FDs(st.Pid)
	if len(fds) != 3 || !strings.HasPrefix(fds[0], "0 ") || !strings.HasPrefix(fds[2], "2 ") {
		t.Errorf("%s: the user process has descriptors %q, want 0 1 2", id, fds)
	}
	if res := r.Run("delete", "--force", id); res.Code != 0 {
		t.Errorf("delete --force %s: %s", id, res.Stderr)
	}
}

func countFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// hostMountBundles makes the two bundles of a cycle for a container
// without a mount namespace, on a rootfs of their own.
func hostMountBundles(t *testing.T) (short, long, rootfs string) {
	rootfs = testutil.NewRootfs(t)
	mk := func(args ...string) string {
		s := testutil.Spec(rootfs, args...)
		var ns []specs.LinuxNamespace
		for _, n := range s.Linux.Namespaces {
			if n.Type != specs.MountNamespace {
				ns = append(ns, n)
			}
		}
		s.Linux.Namespaces = ns
		return testutil.Bundle(t, s)
	}
	return mk("true"), mk("sleep", "1000"), rootfs
}
