package security

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/internal/testutil"
)

// Invariant 1: the container's process starts with 0, 1, 2 and nothing
// else, whatever the runtime held (spec memfd, sync socket, exec fifo,
// sealed stages, the cgroup and state directories), its cwd is in the
// rootfs, and no OCI_* variable reaches it.
func TestOnlyStdioReachesTheContainer(t *testing.T) {
	r := testutil.NewRuntime(t)
	s := testutil.Spec("", "sh", "-c", `
echo "== fds"; for f in /proc/self/fd/*; do echo "${f##*/} $(readlink $f)"; done
echo "== cwd"; readlink /proc/self/cwd
echo "== env"; env | grep ^OCI_ || true
echo "== end"`)
	res := run(t, r, s)
	onlyStdio(t, res)
	if cwd := strings.TrimSpace(section(res.Stdout, "cwd")); cwd != "/" {
		t.Errorf("cwd %q", cwd)
	}
}

// onlyStdio checks a run that printed its descriptors ("== fds") and its
// OCI_ variables ("== env"): it exited 0, it had 0, 1 and 2 and none of
// the handover variables.
func onlyStdio(t *testing.T, res testutil.Result) {
	t.Helper()
	if res.Code != 0 {
		t.Fatalf("exit %d: %s", res.Code, res.Stderr)
	}
	var nums []string
	for _, l := range strings.Split(strings.TrimSpace(section(res.Stdout, "fds")), "\n") {
		nums = append(nums, strings.Fields(l)[0])
	}
	// The shell's own glob of /proc/self/fd may show the directory it
	// reads (one more, above 2).
	if len(nums) < 3 || nums[0] != "0" || nums[1] != "1" || nums[2] != "2" || len(nums) > 4 {
		t.Errorf("descriptors in the container:\n%s", section(res.Stdout, "fds"))
	}
	if env := strings.TrimSpace(section(res.Stdout, "env")); env != "" {
		t.Errorf("handover variables reached the process: %q", env)
	}
}

// The container's init, created and waiting for start, holds no
// directory of the host (the cgroup, the state dir, the bundle: the fd
// CVE-2024-21626 leaked was a cgroup directory) and no file of the host
// but the exec fifo it waits on: not the cgroup files the Go runtime
// reads to size GOMAXPROCS (go.mod turns that off), not descriptors its
// caller leaked to oci-run.
func TestCreatedInitHoldsNoHostDirectory(t *testing.T) {
	r := testutil.NewRuntime(t)
	b := testutil.Bundle(t, testutil.Spec("", "true"))
	id := testutil.ID(t)
	// A careless caller: a host directory open without close-on-exec
	// when it runs oci-run.
	stray, err := unix.Open(b, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	r.Must("create", "-b", b, id)
	unix.Close(stray)
	defer r.Run("delete", "--force", id)
	st, _ := r.State(id)
	fds, err := testutil.FDs(st.Pid)
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		n := strings.Fields(fd)[0]
		fi, err := os.Stat(fmt.Sprintf("/proc/%d/fd/%s", st.Pid, n))
		if err == nil && fi.IsDir() {
			t.Errorf("the created init holds a directory: %s", fd)
		}
		if strings.HasSuffix(fd, "/"+id+"/exec.fifo") {
			continue // the handover oci-exec waits on (OCI_FIFO_FD)
		}
		for _, host := range []string{r.Root, b, "/sys/fs/cgroup"} {
			if strings.Contains(fd, host) {
				t.Errorf("the created init holds %s", fd)
			}
		}
	}
	t.Logf("created init's descriptors: %q", fds)
}

// CVE-2024-21626: process.cwd set to /proc/self/fd/N, for every N a
// runtime process may hold while the chain runs (the highest descriptor
// the created init holds, plus a margin for the stages before it). Each
// container either fails to start with an error naming process.cwd, or
// runs inside its rootfs: climbing with ".." from its cwd never reaches
// a file of the host.
func TestCwdThroughProcSelfFd(t *testing.T) {
	r := testutil.NewRuntime(t)
	marker := filepath.Join(t.TempDir(), "host-marker")
	os.WriteFile(marker, []byte("host\n"), 0o644)
	maxFD := highestInitFD(t, r) + 16
	escaped := 0
	for n := 3; n <= maxFD; n++ {
		s := testutil.Spec("", "sh", "-c", `cd ../../../../../../../../..; pwd; ls -d .`+marker+` 2>/dev/null && echo ESCAPED; true`)
		s.Process.Cwd = "/proc/self/fd/" + strconv.Itoa(n)
		res := run(t, r, s)
		switch {
		case strings.Contains(res.Stdout, "ESCAPED"):
			escaped++
			t.Errorf("cwd %s: the process reached the host: %s", s.Process.Cwd, res.Stdout)
		case res.Code != 0 && !strings.Contains(res.Stderr, "process.cwd"):
			t.Errorf("cwd %s: failed without naming process.cwd: %q", s.Process.Cwd, res.Stderr)
		}
		if n == 3 {
			t.Logf("cwd /proc/self/fd/3: exit %d %q %q", res.Code, strings.TrimSpace(res.Stdout), strings.TrimSpace(res.Stderr))
		}
	}
	t.Logf("tried process.cwd /proc/self/fd/3 to /proc/self/fd/%d, %d escaped", maxFD, escaped)
}

func highestInitFD(t *testing.T, r *testutil.Runtime) int {
	b := testutil.Bundle(t, testutil.Spec("", "true"))
	id := testutil.ID(t)
	r.Must("create", "-b", b, id)
	defer r.Run("delete", "--force", id)
	st, _ := r.State(id)
	fds, _ := testutil.FDs(st.Pid)
	max := 2
	for _, fd := range fds {
		if n, _ := strconv.Atoi(strings.Fields(fd)[0]); n > max {
			max = n
		}
	}
	return max
}

// Invariant 1 with idmapped mounts in a user namespace: the host side
// hands oci-mount the idmapped trees as descriptors of the host's
// filesystem (OCI_MOUNT_FDS). The created init holds none of them, and
// the process starts with 0, 1, 2 and no OCI_MOUNT_FDS.
func TestIDMappedTreesDoNotReachTheContainer(t *testing.T) {
	r := testutil.NewRuntime(t)
	src := t.TempDir()
	var srcSt unix.Stat_t
	if err := unix.Stat(src, &srcSt); err != nil {
		t.Fatal(err)
	}
	s := testutil.Spec("", "sh", "-c", `
echo "== fds"; for f in /proc/self/fd/*; do echo "${f##*/} $(readlink $f)"; done
echo "== env"; env | grep ^OCI_ || true
echo "== end"`)
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	s.Linux.GIDMappings = s.Linux.UIDMappings
	s.Mounts = append(s.Mounts,
		specs.Mount{Destination: "/mnt", Type: "bind", Source: src, Options: []string{"bind", "idmap"}},
		specs.Mount{Destination: "/home", Type: "bind", Source: src, Options: []string{"rbind", "ridmap"}})

	// Created, waiting for start: its descriptors, by identity.
	b := testutil.Bundle(t, s)
	id := testutil.ID(t)
	r.Must("create", "-b", b, id)
	st, _ := r.State(id)
	fds, err := testutil.FDs(st.Pid)
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		var fst unix.Stat_t
		p := fmt.Sprintf("/proc/%d/fd/%s", st.Pid, strings.Fields(fd)[0])
		if unix.Stat(p, &fst) == nil && fst.Dev == srcSt.Dev && fst.Ino == srcSt.Ino {
			t.Errorf("the created init holds an idmapped tree: %s", fd)
		}
	}
	r.Run("delete", "--force", id)
	testutil.NoLeaks(t, id, r.Root, b)

	onlyStdio(t, run(t, r, s))
}
