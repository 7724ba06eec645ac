package security

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/internal/testutil"
)

// requireExec skips until this oci-run has an exec command.
func requireExec(t *testing.T, r *testutil.Runtime) {
	t.Helper()
	if res := r.Run("exec", "--help"); res.Code != 0 {
		t.Skip("oci-run exec is not available in this build")
	}
}

// probe prints what confines the process that runs it.
const probe = `
echo "== ids"; id -u; id -g; id -G
echo "== status"; grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp|Seccomp_filters|Umask):' /proc/self/status
echo "== limits"; grep -E 'open files|processes' /proc/self/limits
echo "== ns"; for n in cgroup ipc mnt net pid time user uts; do echo "$n $(readlink /proc/self/ns/$n)"; done
echo "== cgroup"; cat /proc/self/cgroup
echo "== root"; stat -c '%d:%i' /
echo "== masked"; stat -c '%F %t:%T' /proc/version
echo "== readonly"; touch /proc/sys/oci-run-test 2>&1 >/dev/null && echo WRITABLE || echo readonly
echo "== seccomp"; mknod /tmp/oci-run-null c 1 3 2>&1 && echo ALLOWED || echo denied
echo "== fds"; ls /proc/self/fd | tr '\n' ' '; echo
echo "== end"`

// Invariant 4 for exec: a process exec'd into a running container gets
// the same confinement as its init: user and groups, the five capability
// sets, no_new_privs, the seccomp filter, rlimits, umask, every
// namespace, the cgroup, the root, masked and read-only paths, and only
// stdio.
func TestExecGetsTheInitsConfinement(t *testing.T) {
	r := testutil.NewRuntime(t)
	requireExec(t, r)
	out := t.TempDir()
	os.Chmod(out, 0o777)
	s := testutil.Spec("", "sh", "-c", "{ "+probe+"\n} > /out/init 2>&1; exec sleep 1000")
	s.Process.User = specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{27, 100}}
	caps := []string{"CAP_CHOWN", "CAP_KILL"}
	s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps, Inheritable: caps, Ambient: caps}
	s.Process.NoNewPrivileges = true
	s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 200, Soft: 100}, {Type: "RLIMIT_NPROC", Hard: 500, Soft: 500}}
	umask := uint32(0o027)
	s.Process.User.Umask = &umask
	s.Linux.MaskedPaths = append(s.Linux.MaskedPaths, "/proc/version")
	s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{{Names: []string{"mknod", "mknodat"}, Action: specs.ActErrno}}}
	s.Mounts = append(s.Mounts, specs.Mount{Destination: "/out", Type: "bind", Source: out, Options: []string{"rbind", "rw"}})
	b := testutil.Bundle(t, s)
	id := testutil.ID(t)
	r.Must("run", "-d", "-b", b, id)
	defer r.Run("delete", "--force", id)
	initOut := waitFile(t, r, id, filepath.Join(out, "init"), "== end")
	res := r.Run("exec", id, "sh", "-c", probe)
	if res.Code != 0 {
		t.Fatalf("exec: exit %d: %s", res.Code, res.Stderr)
	}
	for _, sec := range []string{"ids", "status", "limits", "ns", "cgroup", "root", "masked", "readonly", "seccomp"} {
		if a, b := section(initOut, sec), section(res.Stdout, sec); a != b {
			t.Errorf("%s differs:\ninit: %s\nexec: %s", sec, a, b)
		}
	}
	for _, want := range []string{"NoNewPrivs:\t1", "Seccomp:\t2", "Umask:\t0027"} {
		if !strings.Contains(section(res.Stdout, "status"), want) {
			t.Errorf("exec'd process lacks %q:\n%s", want, section(res.Stdout, "status"))
		}
	}
	if got := strings.TrimSpace(section(res.Stdout, "ids")); got != "1000\n1000\n1000 27 100" {
		t.Errorf("exec'd ids %q", got)
	}
	if !strings.Contains(section(res.Stdout, "seccomp"), "denied") || !strings.Contains(section(res.Stdout, "masked"), "1:3") ||
		!strings.Contains(section(res.Stdout, "readonly"), "readonly") {
		t.Errorf("exec'd process not confined:\n%s", res.Stdout)
	}
	if fds := strings.Fields(section(res.Stdout, "fds")); len(fds) > 4 || fds[0] != "0" || fds[2] != "2" {
		t.Errorf("exec'd process descriptors %q", fds)
	}
}

// CVE-2024-21626 through exec: --cwd /proc/self/fd/N for every N the
// runtime may hold.
func TestExecCwdThroughProcSelfFd(t *testing.T) {
	r := testutil.NewRuntime(t)
	requireExec(t, r)
	marker := filepath.Join(t.TempDir(), "host-marker")
	os.WriteFile(marker, []byte("host\n"), 0o644)
	b := testutil.Bundle(t, testutil.Spec("", "sleep", "1000"))
	id := testutil.ID(t)
	r.Must("run", "-d", "-b", b, id)
	defer r.Run("delete", "--force", id)
	maxFD := highestInitFD(t, r) + 16
	for n := 3; n <= maxFD; n++ {
		cwd := "/proc/self/fd/" + strconv.Itoa(n)
		res := r.Run("exec", "--cwd", cwd, id, "sh", "-c", `cd ../../../../../../../../..; ls -d .`+marker+` 2>/dev/null && echo ESCAPED; true`)
		if strings.Contains(res.Stdout, "ESCAPED") {
			t.Errorf("exec --cwd %s reached the host", cwd)
		}
		if res.Code != 0 && strings.Count(strings.TrimSpace(res.Stderr), "\n") > 0 {
			t.Errorf("exec --cwd %s: %q", cwd, res.Stderr)
		}
	}
}

// CVE-2019-5736 and CVE-2024-21626 through exec: the container's own
// privileged process looks for runtime binaries and host directories
// held by runtime processes at every stage boundary of an exec into it,
// run by a caller that leaked a directory descriptor.
func TestNoRuntimeBinaryDuringExec(t *testing.T) {
	r := testutil.NewRuntime(t)
	requireExec(t, r)
	a := startAttacker(t, r)
	var found []string
	out, errf := testutil.OutputFiles(t)
	// A careless caller: the container's bundle open without
	// close-on-exec when it runs oci-run exec.
	stray, err := unix.Open(a.bundles[0], unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	tr := testutil.StartTraced(t, out, errf, nil, r.Bin, "--root", r.Root, "exec", a.id, "true")
	unix.Close(stray)
	more, boundaries := a.scanBoundaries(tr)
	found = append(found, more...)
	t.Logf("looked at %d boundaries of an exec", boundaries)
	for _, f := range found {
		t.Error(f)
	}
}

// waitFile waits for the container to write a file that ends in until.
func waitFile(t *testing.T, r *testutil.Runtime, id, path, until string) string {
	t.Helper()
	for {
		b, _ := os.ReadFile(path)
		if strings.Contains(string(b), until) {
			return string(b)
		}
		if st := r.Status(id); st != "running" {
			t.Fatalf("container %s is %s before it wrote %s (%q)", id, st, path, b)
		}
		sleepMs(5)
	}
}
