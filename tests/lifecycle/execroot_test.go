package lifecycle_test

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/internal/testutil"
)

// oci-run exec into a container whose mount namespace is not its own (the
// runtime's, or one joined by path), which oci-mount entered with chroot:
// the exec'd process must land in the init's root, at process.cwd inside
// it, not at the namespace's root (the host's or the owner's), and hold
// nothing but its stdio. An ordinary container is checked the same way.

// execCwd is process.cwd of these containers: a directory only the
// rootfs has (oci-mount creates it there).
const execCwd = "/exec-root-cwd"

// execRootSpec is the default spec on rootfs, running sleep, with cwd
// execCwd and the mount namespace new (path ""), left out (shared) or
// joined (a path).
func execRootSpec(rootfs string, mnt *specs.LinuxNamespace) *specs.Spec {
	s := withoutMountNS(rootfs, "", "sleep", "1000")
	if mnt != nil {
		s.Linux.Namespaces = append(s.Linux.Namespaces, *mnt)
	}
	s.Process.Cwd = execCwd
	return s
}

// markedRootfs makes a busybox rootfs next to the test's state root with
// a marker file only it has.
func markedRootfs(t *testing.T, r *rt) string {
	t.Helper()
	rootfs := filepath.Join(filepath.Dir(r.root), "rootfs")
	if err := testutil.MakeRootfs(rootfs); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "marker"), []byte("the container's rootfs\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return rootfs
}

// startedIn creates and starts s, and deletes it when the test ends
// (checking that nothing is left); it returns the id and the init's pid.
func (r *rt) startedIn(s *specs.Spec) (string, int) {
	r.t.Helper()
	id := testutil.ID(r.t)
	r.must("create", "--bundle", testutil.Bundle(r.t, s), id)
	r.t.Cleanup(func() {
		r.run("delete", "--force", id)
		r.noLeaks(id, nil)
	})
	r.must("start", id)
	return id, r.state(id).Pid
}

// checkExecRoot runs two processes in container id (init pid): one in the
// foreground that prints what it sees, and a detached one that the host
// inspects through /proc: its root must be the init's, its cwd execCwd
// inside that root (--cwd changes it), its mount namespace the init's, and
// its descriptors 0, 1 and 2 only.
func (r *rt) checkExecRoot(id string, pid int) {
	t := r.t
	t.Helper()
	out := r.must("exec", id, "sh", "-c", "cat /marker; pwd")
	if want := "the container's rootfs\n" + execCwd + "\n"; out != want {
		t.Errorf("exec'd process sees:\n%s\nwant:\n%s", out, want)
	}
	if out := r.must("exec", "--cwd", "/etc", id, "pwd"); out != "/etc\n" {
		t.Errorf("exec --cwd /etc: pwd %q", out)
	}

	pidFile := filepath.Join(t.TempDir(), "pid")
	r.must("exec", "--detach", "--pid-file", pidFile, id, "sleep", "1000")
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	execPid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	// The pid file is written once the process is ready; its execve of
	// sleep, which closes the runtime's descriptors, follows.
	proc := "/proc/" + strconv.Itoa(execPid)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if cmd, _ := os.ReadFile(proc + "/cmdline"); strings.HasPrefix(string(cmd), "sleep\x00") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("exec'd process %d never ran sleep", execPid)
		}
	}
	init := "/proc/" + strconv.Itoa(pid)
	if got, want := sameFile(t, proc+"/root"), sameFile(t, init+"/root"); got != want {
		t.Errorf("exec'd process's root %s, want the init's %s", got, want)
	}
	if got, want := sameFile(t, proc+"/cwd"), sameFile(t, init+"/root"+execCwd); got != want {
		t.Errorf("exec'd process's cwd %s, want %s in the init's root %s", got, execCwd, want)
	}
	if got, want := readlink(t, execPid, "mnt"), readlink(t, pid, "mnt"); got != want {
		t.Errorf("exec'd process's mount namespace %s, want the init's %s", got, want)
	}
	ents, err := os.ReadDir(proc + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	var fds []string
	for _, e := range ents {
		fds = append(fds, e.Name())
	}
	if !slices.Equal(fds, []string{"0", "1", "2"}) {
		var links []string
		for _, fd := range fds {
			l, _ := os.Readlink(proc + "/fd/" + fd)
			links = append(links, fd+" -> "+l)
		}
		t.Errorf("exec'd process's descriptors:\n%s\nwant 0, 1, 2", strings.Join(links, "\n"))
	}
}

// sameFile names the directory at p (followed) by device and inode.
func sameFile(t *testing.T, p string) string {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return strconv.FormatUint(st.Dev, 10) + ":" + strconv.FormatUint(st.Ino, 10)
}

// No "mount" entry (runtime-tools linux_ns_itype): without the init's
// root, the exec'd process would be at the host's.
func TestExecSharedMountNamespace(t *testing.T) {
	r := newRT(t)
	id, pid := r.startedIn(execRootSpec(markedRootfs(t, r), nil))
	r.checkExecRoot(id, pid)
	if got, want := readlink(t, pid, "mnt"), readlink(t, os.Getpid(), "mnt"); got != want {
		t.Errorf("init's mount namespace %s, want the runtime's %s", got, want)
	}
}

// A mount namespace joined by path (runtime-tools linux_ns_path): without
// the init's root, the exec'd process would be at the owner's root.
func TestExecJoinedMountNamespace(t *testing.T) {
	r := newRT(t)
	rootfs := markedRootfs(t, r)
	// Its kill is registered first, so it runs after the container's delete.
	opid := mountNSOwner(t)
	ns := "/proc/" + strconv.Itoa(opid) + "/ns/mnt"
	id, pid := r.startedIn(execRootSpec(rootfs, &specs.LinuxNamespace{Type: specs.MountNamespace, Path: ns}))
	r.checkExecRoot(id, pid)
	if got, want := readlink(t, pid, "mnt"), readlink(t, opid, "mnt"); got != want {
		t.Errorf("init's mount namespace %s, want the owner's %s", got, want)
	}
	// The owner's root stays its own.
	if got, want := sameFile(t, "/proc/"+strconv.Itoa(opid)+"/root"), sameFile(t, "/"); got != want {
		t.Errorf("the owner's root changed: %s, want %s", got, want)
	}
}

// A container with its own mount namespace: the exec'd process lands at
// the pivoted root by joining the namespace alone, as before.
func TestExecOwnMountNamespace(t *testing.T) {
	r := newRT(t)
	id, pid := r.startedIn(execRootSpec(markedRootfs(t, r), &specs.LinuxNamespace{Type: specs.MountNamespace}))
	r.checkExecRoot(id, pid)
	if got, host := readlink(t, pid, "mnt"), readlink(t, os.Getpid(), "mnt"); got == host {
		t.Errorf("init is in the runtime's mount namespace %s", got)
	}
}
