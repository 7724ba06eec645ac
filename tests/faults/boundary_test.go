package faults

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/internal/testutil"
)

// boundary names a stop of a create: the n-th event of its kind and
// program (exec of oci-mount, fork by oci-unshare, ...).
type boundary struct {
	kind, prog string
	n          int
}

func (b boundary) String() string { return fmt.Sprintf("%s-%s-%d", b.kind, b.prog, b.n) }

// faultSpec is a container whose chain has every stage: a seccomp
// profile brings in oci-seccomp.
func faultSpec() *specs.Spec {
	s := testutil.Spec("", "true")
	s.Linux.Seccomp = &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"mknod"}, Action: specs.ActErrno}},
	}
	return s
}

// userSpec is faultSpec in a user namespace (the chain writes the id maps
// from oci-unshare's parent, between the clone and the child's exec), on
// a rootfs the mapped root owns.
func userSpec(t *testing.T) *specs.Spec {
	rootfs := testutil.NewRootfs(t)
	// The mapped root must reach it: the test's temporary directories
	// are 0700.
	for d := filepath.Dir(rootfs); d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	filepath.Walk(rootfs, func(p string, _ os.FileInfo, err error) error {
		if err == nil {
			os.Lchown(p, 100000, 100000)
		}
		return nil
	})
	s := faultSpec()
	s.Root.Path = rootfs
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	return s
}

// chainShape checks that a create stopped where a chain has boundaries:
// the execs of oci-run and of the container's stages, and the host side,
// run as programs (oci-cgroup, oci-unshare) or done by oci-run itself
// (its fork of the first process), as oci-run chooses (OCI_RUN_CHAIN).
// oci-exec runs in oci-seccomp's process (stage.Def.Continues): no exec
// of its own.
func chainShape(list []boundary) bool {
	has := map[string]bool{}
	for _, b := range list {
		has[b.kind+" "+b.prog] = true
	}
	for _, want := range []string{"exec oci-run", "exec oci-mount", "exec oci-seccomp"} {
		if !has[want] {
			return false
		}
	}
	return has["exec oci-cgroup"] && has["exec oci-unshare"] || has["fork oci-run"]
}

// boundaries runs one create under the tracer and lists its stops.
func boundaries(t *testing.T, r *testutil.Runtime, bundle string) []boundary {
	id := testutil.ID(t)
	out, errf := testutil.OutputFiles(t)
	tr := testutil.StartTraced(t, out, errf, nil, r.Bin, "--root", r.Root, "create", "-b", bundle, id)
	var list []boundary
	count := map[string]int{}
	for {
		e := tr.Next()
		if e.Kind == "done" || e.Kind == "exit" && e.Pid == tr.Pid {
			break
		}
		if e.Kind == "exec" || e.Kind == "fork" {
			k := e.Kind + " " + e.Prog
			list = append(list, boundary{e.Kind, e.Prog, count[k]})
			count[k]++
		}
		if e.Kind != "exit" {
			tr.Continue()
		}
	}
	tr.Free()
	if st := r.Status(id); st != "created" {
		b, _ := os.ReadFile(errf.Name())
		t.Fatalf("traced create: status %q: %s", st, b)
	}
	r.Must("delete", "--force", id)
	return list
}

// SIGKILL at every stage boundary of a create, of oci-run or of the
// process at the boundary: then delete --force leaves nothing, and the
// container never counts as created with an init that is not there.
func TestKillAtEveryBoundary(t *testing.T) {
	killAtEveryBoundary(t, faultSpec())
}

// The same with a user namespace.
func TestKillAtEveryBoundaryUserNamespace(t *testing.T) {
	killAtEveryBoundary(t, userSpec(t))
}

// The same for a container without a mount namespace of its own: oci-mount
// prepares its rootfs in the runtime's mount namespace (the host's), so a
// create killed there has mounts on the host that delete must take away.
func TestKillAtEveryBoundaryHostMountNamespace(t *testing.T) {
	s := faultSpec()
	s.Root.Path = testutil.NewRootfs(t)
	var ns []specs.LinuxNamespace
	for _, n := range s.Linux.Namespaces {
		if n.Type != specs.MountNamespace {
			ns = append(ns, n)
		}
	}
	s.Linux.Namespaces = ns
	killAtEveryBoundary(t, s)
}

func killAtEveryBoundary(t *testing.T, s *specs.Spec) {
	r := testutil.NewRuntime(t)
	bundle := testutil.Bundle(t, s)
	// Mounts under the rootfs are looked for with the bundle's.
	rootfs := s.Root.Path
	list := boundaries(t, r, bundle)
	t.Logf("boundaries: %v", list)
	if !chainShape(list) {
		t.Fatalf("expected the execs of oci-run, oci-mount, oci-seccomp and the host side: oci-cgroup and oci-unshare, or oci-run's own fork of the first process: %v", list)
	}
	marker := testutil.ID(t)
	for _, b := range list {
		for _, victim := range []string{"oci-run", "stage"} {
			if b.prog == "oci-run" && b.kind == "exec" && victim == "stage" {
				continue // the same process
			}
			b, victim := b, victim
			t.Run(b.String()+"-kill-"+victim, func(t *testing.T) {
				killAt(t, r, bundle, rootfs, marker, b, victim)
			})
		}
	}
	testutil.NoLeaks(t, marker, r.Root, bundle, rootfs)
}

func killAt(t *testing.T, r *testutil.Runtime, bundle, rootfs, marker string, at boundary, victim string) {
	id := marker + "-" + at.String() + "-" + victim
	errf := killTracedAt(t, r, at, victim, "create", "-b", bundle, id)
	b, _ := os.ReadFile(errf.Name())
	createErr := strings.TrimSpace(string(b))
	st := r.Status(id)
	t.Logf("after the kill: create said %q, status %q", createErr, st)
	if victim == "oci-run" && st != "" && st != "stopped" {
		// A create that never finished cannot be started.
		t.Errorf("create killed at %v: status %q, want stopped", at, st)
	}
	if st == "created" || st == "running" {
		// Create went on to the end (a stage killed before it mattered
		// cannot be): the init must be there.
		if s, _ := r.State(id); s.Pid == 0 || unix.Kill(s.Pid, 0) != nil {
			t.Errorf("status %s with init pid %d that is not running", st, s.Pid)
		}
	}
	res := r.Run("delete", "--force", id)
	if res.Code != 0 && !strings.Contains(res.Stderr, "does not exist") {
		t.Errorf("delete --force: exit %d: %s", res.Code, res.Stderr)
	}
	waitNoLeaks(t, id, r.Root, bundle, rootfs)
}

// killTracedAt runs oci-run with args (its first the command) under the
// tracer and SIGKILLs, at boundary at, oci-run or (victim "stage") the
// process stopped there; it waits for oci-run to be gone and returns the
// file with its stderr.
func killTracedAt(t *testing.T, r *testutil.Runtime, at boundary, victim string, args ...string) *os.File {
	out, errf := testutil.OutputFiles(t)
	tr := testutil.StartTraced(t, out, errf, nil, append([]string{r.Bin, "--root", r.Root}, args...)...)
	count := map[string]int{}
	for killed := false; !killed; {
		e := tr.Next()
		if e.Kind == "done" || e.Kind == "exit" && e.Pid == tr.Pid {
			t.Fatalf("%s ended before %v", args[0], at)
		}
		if e.Kind == "exit" {
			continue
		}
		k := e.Kind + " " + e.Prog
		if e.Kind == at.kind && e.Prog == at.prog && count[k] == at.n {
			pid := tr.Pid
			if victim == "stage" {
				pid = e.Pid
			}
			unix.Kill(pid, unix.SIGKILL)
			killed = true
		}
		count[k]++
		tr.Continue()
	}
	tr.Free()
	waitGone(t, tr.Pid)
	return errf
}

// waitGone waits for a process to be gone (or a zombie).
func waitGone(t *testing.T, pid int) {
	for {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return
		}
		if i := strings.LastIndexByte(string(b), ')'); i > 0 && (b[i+2] == 'Z' || b[i+2] == 'X') {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// waitNoLeaks gives killed processes the time to be reaped (by whoever
// their parent is), then requires that nothing is left.
func waitNoLeaks(t *testing.T, marker, root string, dirs ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l := testutil.FindLeaks(marker, root, dirs...)
		if l.Empty() {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("left behind: %s", l)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}
