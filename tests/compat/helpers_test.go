// Package compat_test checks, with real containers through bin/oci-run,
// what engines rely on beyond create/start/kill/delete: exec, the six
// hooks, the JSON log and its error texts, --version and features.
package compat_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-run/oci-run/internal/testutil"
)

type rt struct {
	t    *testing.T
	root string
	bin  string
}

func newRT(t *testing.T) *rt {
	t.Helper()
	r := testutil.NewRuntime(t)
	return &rt{t: t, root: r.Root, bin: r.Bin}
}

// runtime is r as the shared oci-run runner.
func (r *rt) runtime() *testutil.Runtime {
	return &testutil.Runtime{T: r.t, Root: r.root, Bin: r.bin}
}

type result struct {
	stdout, stderr string
	code           int
}

// run runs oci-run with files for stdio: a detached process inherits
// them, and pipes would keep the call waiting as long as it lives.
func (r *rt) run(extra []*os.File, stdin []byte, args ...string) result {
	r.t.Helper()
	res := r.runtime().RunFiles(extra, stdin, args...)
	return result{res.Stdout, res.Stderr, res.Code}
}

func (r *rt) do(args ...string) result {
	r.t.Helper()
	return r.run(nil, nil, args...)
}

func (r *rt) must(args ...string) string {
	r.t.Helper()
	return r.runtime().Must(args...)
}

func (r *rt) state(id string) specs.State {
	r.t.Helper()
	return r.runtime().SpecState(id)
}

// started creates and starts a container running args and registers its
// removal; it returns the id and the init's host pid.
func (r *rt) started(s *specs.Spec) (string, int) {
	r.t.Helper()
	id := testutil.ID(r.t)
	bundle := testutil.Bundle(r.t, s)
	r.must("create", "--bundle", bundle, id)
	r.t.Cleanup(func() { r.do("delete", "--force", id) })
	r.must("start", id)
	return id, r.state(id).Pid
}

func readlink(t *testing.T, p string) string {
	t.Helper()
	s, err := os.Readlink(p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// nsOf lists the namespaces of pid, "type:[inode]" per line, for the
// types a container gets.
func nsOf(t *testing.T, pid string) string {
	t.Helper()
	var b strings.Builder
	for _, n := range []string{"ipc", "mnt", "net", "pid", "uts", "cgroup"} {
		fmt.Fprintln(&b, readlink(t, "/proc/"+pid+"/ns/"+n))
	}
	return b.String()
}

// waitStopped waits for a killed container's init to be gone.
func (r *rt) waitStopped(id string) {
	r.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); r.state(id).Status != specs.StateStopped; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			r.t.Fatalf("container %s did not stop", id)
		}
	}
}
