package unshare_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/internal/testutil"
	"github.com/oci-run/oci-run/pkg/proc"
)

// --root-of PID: the first process takes PID's root, as nsenter --root
// does; oci-run exec uses it for containers entered by chroot.

// chrooted starts `[unshare --mount --fork] sh -c "SETUP; exec chroot
// ROOTFS sleep"` and returns the pid of the chrooted sleep: a process
// whose root is not its mount namespace's, as a container's init is when
// its mount namespace is not its own. ROOTFS (substituted in SETUP too)
// has a marker file.
func chrooted(t *testing.T, ownMountNS bool, setup string) (pid int, rootfs string) {
	t.Helper()
	rootfs = testutil.NewRootfs(t)
	if err := os.WriteFile(filepath.Join(rootfs, "marker"), []byte("chroot marker\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	setup = strings.ReplaceAll(setup, "ROOTFS", rootfs)
	script := fmt.Sprintf("%s echo ready; exec chroot %s /bin/sleep 100000", setup, rootfs)
	var cmd *exec.Cmd
	if ownMountNS {
		cmd = exec.Command("unshare", "--mount", "--fork", "sh", "-c", script)
	} else {
		cmd = exec.Command("sh", "-c", script)
	}
	if l := readLine(t, bufio.NewReader(startGroup(t, cmd))); l != "ready" {
		t.Fatalf("holder: %q", l)
	}
	pid = cmd.Process.Pid
	if ownMountNS {
		// unshare --fork has one child: the shell, which becomes chroot.
		kids, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fmt.Sscan(string(kids), &pid); err != nil {
			t.Fatalf("child of unshare %d: %q: %v", cmd.Process.Pid, kids, err)
		}
	}
	// "ready" comes before the exec of chroot: wait until the root moved.
	for range 1000 {
		if l, _ := os.Readlink(fmt.Sprintf("/proc/%d/root", pid)); l == rootfs {
			return pid, rootfs
		}
		if err := unix.Kill(pid, 0); err != nil {
			t.Fatalf("holder %d: %v", pid, err)
		}
		unix.Nanosleep(&unix.Timespec{Nsec: 10_000_000}, nil)
	}
	t.Fatalf("holder %d never entered %s", pid, rootfs)
	return 0, ""
}

func startTime(t *testing.T, pid int) uint64 {
	t.Helper()
	st, err := proc.ReadStat(pid)
	if err != nil {
		t.Fatal(err)
	}
	return st.StartTime
}

// In the caller's mount namespace (a container without a "mount" entry).
func TestRootOfInTheCallersMountNamespace(t *testing.T) {
	testutil.RequireRoot(t)
	pid, _ := chrooted(t, false, "")
	for _, opt := range []string{strconv.Itoa(pid), fmt.Sprintf("%d:%d", pid, startTime(t, pid))} {
		r := run(t, newSpec(), []string{"--root-of", opt}, "/bin/sh", "-c", "cat /marker; pwd")
		if r.code != 0 || r.stdout != "chroot marker\n/\n" {
			t.Errorf("--root-of %s: exit %d, stdout %q, stderr %q", opt, r.code, r.stdout, r.stderr)
		}
	}
}

// In a mount namespace joined by path: joining it moves the process to
// the namespace's root, --root-of then to the holder's. The descriptor of
// that root does not reach the next program.
func TestRootOfAfterJoiningTheMountNamespace(t *testing.T) {
	testutil.RequireRoot(t)
	pid, _ := chrooted(t, true, "mount -t proc proc ROOTFS/proc &&")
	s := newSpec(specs.LinuxNamespace{Type: specs.MountNamespace, Path: fmt.Sprintf("/proc/%d/ns/mnt", pid)})
	show := `cat /marker; pwd; for f in /proc/$$/fd/*; do echo "fd ${f##*/} $(readlink $f)"; done`
	r := run(t, s, []string{"--root-of", fmt.Sprintf("%d:%d", pid, startTime(t, pid))}, "/bin/sh", "-c", show)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "chroot marker\n/\n") {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n")[2:] {
		if strings.HasSuffix(l, " /") {
			t.Errorf("the root's descriptor reached the next program: %s", l)
		}
	}
	// Without it, the joined namespace's root: the marker is not there.
	r = run(t, s, nil, "/bin/sh", "-c", "cat /marker")
	if r.code == 0 {
		t.Errorf("without --root-of the process is in the holder's root: %q", r.stdout)
	}
}

// A pid that is no longer the process that started at START is refused
// before anything runs; a malformed value is a usage error.
func TestRootOfRefused(t *testing.T) {
	testutil.RequireRoot(t)
	pid, _ := chrooted(t, false, "")
	m := marker(t)
	start := startTime(t, pid)
	r := run(t, newSpec(), []string{"--root-of", fmt.Sprintf("%d:%d", pid, start+1)}, "/bin/sh", "-c", "echo "+m)
	if r.code == 0 || strings.Contains(r.stdout, m) {
		t.Fatalf("a wrong start time was accepted: %+v", r)
	}
	oneLine(t, r.stderr, fmt.Sprintf("--root-of %d:%d", pid, start+1), "is gone")
	r = run(t, newSpec(), []string{"--root-of", "999999999"}, "/bin/true")
	oneLine(t, r.stderr, "--root-of 999999999", "/proc/999999999/root")
	r = run(t, newSpec(), []string{"--root-of", "x"}, "/bin/true")
	if r.code == 0 || !strings.Contains(r.stderr, `"x": not PID or PID:START`) {
		t.Errorf("--root-of x: %+v", r)
	}
	noProcesses(t, m)
}
