package compat_test

import (
	"encoding/json"
	"fmt"
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
	"github.com/oci-run/oci-run/pkg/lifecycle"
)

const nsScript = `for n in ipc mnt net pid uts cgroup; do readlink /proc/self/ns/$n; done`

// The exec'd process is in every namespace and every cgroup of the init,
// and its exit status is oci-run's.
func TestExecJoinsInit(t *testing.T) {
	r := newRT(t)
	s := testutil.Spec("", "sleep", "1000")
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.CgroupNamespace})
	id, pid := r.started(s)

	res := r.do("exec", id, "sh", "-c", nsScript+"; exit 7")
	if res.code != 7 {
		t.Fatalf("exit code %d, want 7: %s", res.code, res.stderr)
	}
	if want := nsOf(t, strconv.Itoa(pid)); res.stdout != want {
		t.Errorf("exec'd process namespaces:\n%s\ninit's:\n%s", res.stdout, want)
	}

	// Its host pid, from --pid-file, is in the init's cgroups.
	pidFile := filepath.Join(t.TempDir(), "pid")
	r.must("exec", "--detach", "--pid-file", pidFile, id, "sleep", "1000")
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	execPid := strings.TrimSpace(string(b))
	want, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	got, _ := os.ReadFile("/proc/" + execPid + "/cgroup")
	if string(got) != string(want) || len(got) == 0 {
		t.Errorf("detached process %s cgroups:\n%s\ninit's:\n%s", execPid, got, want)
	}
	if got := nsOf(t, execPid); got != nsOf(t, strconv.Itoa(pid)) {
		t.Errorf("detached process namespaces differ from the init's")
	}
	// exec --detach returns once the process is set up; its execve of
	// sleep may come a moment later.
	var cmd []byte
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cmd, _ = os.ReadFile("/proc/" + execPid + "/cmdline"); strings.HasPrefix(string(cmd), "sleep\x00") {
			break
		}
	}
	if !strings.HasPrefix(string(cmd), "sleep\x00") {
		t.Errorf("pid file names %s, whose command is %q", execPid, cmd)
	}

	// Killed by a signal: 128+N, as a shell reports it.
	if res := r.do("exec", id, "sh", "-c", "kill -KILL $$"); res.code != 137 {
		t.Errorf("exit code %d for SIGKILL, want 137", res.code)
	}
}

// runc's flags change the container's process.
func TestExecFlags(t *testing.T) {
	r := newRT(t)
	// A rootfs of its own: the shared one is a 0700 directory, which only
	// root can search once it is the container's "/".
	id, _ := r.started(testutil.Spec(testutil.NewRootfs(t), "sleep", "1000"))
	out := r.must("exec", "--user", "1000:1001", "--additional-gids", "7", "-e", "E2=two", "--env", "E1=one",
		"--cwd", "/tmp", "--cap", "CAP_NET_RAW", "--no-new-privs",
		id, "sh", "-c", `id -u; id -g; id -G; echo $E1 $E2; pwd; grep -E "CapBnd|NoNewPrivs" /proc/self/status`)
	for _, want := range []string{"1000\n1001\n", "1001 7\n", "one two\n", "/tmp\n", "NoNewPrivs:\t1"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	bnd := capLine(t, out, "CapBnd")
	if bnd&(1<<unix.CAP_NET_RAW) == 0 {
		t.Errorf("--cap CAP_NET_RAW: bounding set %#x lacks it", bnd)
	}
}

func capLine(t *testing.T, out, name string) uint64 {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, name+":\t"); ok {
			n, err := strconv.ParseUint(v, 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no %s in %q", name, out)
	return 0
}

// --process: the process is exactly the file's (containerd, podman and
// Docker all exec this way).
func TestExecProcessFile(t *testing.T) {
	r := newRT(t)
	id, _ := r.started(testutil.Spec(testutil.NewRootfs(t), "sleep", "1000"))
	p := specs.Process{
		Args:            []string{"sh", "-c", `echo $ONLY; grep -E "CapBnd|NoNewPrivs" /proc/self/status; id -u`},
		Env:             []string{"PATH=/bin", "ONLY=from-process-json"},
		Cwd:             "/",
		User:            specs.User{UID: 2, GID: 2},
		NoNewPrivileges: true,
		Capabilities: &specs.LinuxCapabilities{
			Bounding: []string{"CAP_KILL"}, Effective: []string{"CAP_KILL"}, Permitted: []string{"CAP_KILL"},
		},
	}
	b, _ := json.Marshal(p)
	file := filepath.Join(t.TempDir(), "process.json")
	os.WriteFile(file, b, 0o644)
	out := r.must("exec", "--process", file, id)
	if !strings.Contains(out, "from-process-json\n") || !strings.Contains(out, "NoNewPrivs:\t1") || !strings.HasSuffix(out, "2\n") {
		t.Errorf("output:\n%s", out)
	}
	// (The effective set of a non-root user is empty after execve
	// without ambient capabilities; the bounding set shows the file's.)
	if bnd := capLine(t, out, "CapBnd"); bnd != 1<<unix.CAP_KILL {
		t.Errorf("bounding set %#x, want only CAP_KILL", bnd)
	}
}

// The container's seccomp profile applies to exec'd processes too.
func TestExecSeccomp(t *testing.T) {
	r := newRT(t)
	s := testutil.Spec("", "sleep", "1000")
	eperm := uint(1)
	s.Linux.Seccomp = &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno, ErrnoRet: &eperm}},
	}
	id, _ := r.started(s)
	res := r.do("exec", id, "mkdir", "/tmp/x")
	if res.code == 0 || !strings.Contains(res.stdout+res.stderr, "Operation not permitted") {
		t.Errorf("mkdir under the profile: exit %d: %s%s", res.code, res.stdout, res.stderr)
	}
}

// --preserve-fds passes the caller's descriptors 3.. to the process.
func TestExecPreserveFDs(t *testing.T) {
	r := newRT(t)
	id, _ := r.started(testutil.Spec("", "sleep", "1000"))
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	res := r.run([]*os.File{pw}, nil, "exec", "--preserve-fds", "1", id, "sh", "-c", "echo through-fd3 >&3; ls /proc/self/fd")
	pw.Close()
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	buf := make([]byte, 64)
	n, _ := pr.Read(buf)
	if string(buf[:n]) != "through-fd3\n" {
		t.Errorf("read %q from the preserved pipe", buf[:n])
	}
	if strings.Contains(res.stdout, "\n5\n") {
		t.Errorf("descriptors beyond the preserved one reached the process: %q", res.stdout)
	}
}

// --tty --console-socket: the pty master goes to the socket, the process
// has the slave as its terminal.
func TestExecConsoleSocket(t *testing.T) {
	r := newRT(t)
	id, _ := r.started(testutil.Spec("", "sleep", "1000"))
	sockPath := filepath.Join(t.TempDir(), "console.sock")
	lfd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(lfd)
	if err := unix.Bind(lfd, &unix.SockaddrUnix{Name: sockPath}); err != nil {
		t.Fatal(err)
	}
	unix.Listen(lfd, 1)
	got := make(chan string, 1)
	go func() {
		cfd, _, err := unix.Accept(lfd)
		if err != nil {
			got <- err.Error()
			return
		}
		conn := os.NewFile(uintptr(cfd), "conn")
		defer conn.Close()
		master, err := lifecycle.ReceiveMaster(conn)
		if err != nil {
			got <- err.Error()
			return
		}
		defer master.Close()
		var out []byte
		buf := make([]byte, 256)
		for {
			n, err := master.Read(buf)
			out = append(out, buf[:n]...)
			if err != nil {
				break
			}
		}
		got <- string(out)
	}()
	pidFile := filepath.Join(t.TempDir(), "pid")
	r.must("exec", "--tty", "--detach", "--console-socket", sockPath, "--pid-file", pidFile, id, "sh", "-c", "tty; sleep 0.2")
	if out := <-got; !strings.Contains(out, "/dev/pts/") {
		t.Errorf("terminal output %q", out)
	}
}

// runc's words for the states exec refuses, and for an unknown container
// (containerd and podman look for "does not exist").
func TestExecRefuses(t *testing.T) {
	r := newRT(t)
	id, pid := r.started(testutil.Spec("", "sleep", "1000"))
	r.must("pause", id)
	res := r.do("exec", id, "true")
	if res.code == 0 || !strings.Contains(res.stderr, "cannot exec in a paused container (use --ignore-paused to override)") {
		t.Errorf("exec in a paused container: exit %d: %s", res.code, res.stderr)
	}
	r.must("resume", id)
	unix.Kill(pid, unix.SIGKILL)
	r.waitStopped(id)
	res = r.do("exec", id, "true")
	if res.code == 0 || !strings.Contains(res.stderr, "cannot exec in a stopped container") {
		t.Errorf("exec in a stopped container: exit %d: %s", res.code, res.stderr)
	}
	res = r.do("exec", "no-such-container-"+id, "true")
	if res.code == 0 || !strings.Contains(res.stderr, "does not exist") {
		t.Errorf("exec in an unknown container: exit %d: %s", res.code, res.stderr)
	}
	res = r.do("exec", id)
	if res.code == 0 {
		t.Errorf("exec without a command succeeded")
	}
}

// exec joins the container's session keyring (_ses.ID, the one its init
// made at create), and none when the container was created with
// --no-new-keyring: then the exec'd process, like the init, keeps its
// caller's (runc's setns init does the same).
func TestExecSessionKeyring(t *testing.T) {
	r := newRT(t)
	for _, noNewKeyring := range []bool{false, true} {
		s := testutil.Spec("", "sleep", "1000")
		// The default profile masks /proc/keys.
		s.Linux.MaskedPaths = slices.DeleteFunc(s.Linux.MaskedPaths, func(p string) bool { return p == "/proc/keys" })
		id := testutil.ID(t)
		create := []string{"create", "--bundle", testutil.Bundle(t, s)}
		if noNewKeyring {
			create = append(create, "--no-new-keyring")
		}
		r.must(append(create, id)...)
		t.Cleanup(func() { r.do("delete", "--force", id) })
		r.must("start", id)
		// Keyrings of that name anywhere (root sees them all): the init's
		// and, if exec made another, that one too.
		out := r.must("exec", id, "sh", "-c", "grep -cF ' _ses."+id+": ' /proc/keys; true")
		want := "1\n"
		if noNewKeyring {
			want = "0\n"
		}
		if out != want {
			t.Errorf("--no-new-keyring %v: %q keyrings named _ses.%s while exec'd, want %q", noNewKeyring, out, id, want)
		}
	}
}
