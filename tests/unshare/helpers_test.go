// Package unshare_test runs bin/oci-unshare alone, from a configuration on
// fd 3, against the real kernel, and reads the effect from inside (the
// command's /proc/self) and from the host (/proc/PID of the first process).
package unshare_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/internal/testutil"
	"github.com/oci-run/oci-run/pkg/syncsock"
)

func TestMain(m *testing.M) {
	// Detached first processes are re-parented to the nearest subreaper:
	// this test process, which then reaps them (PID 1 of this machine may
	// not reap zombies).
	unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	os.Exit(m.Run())
}

// nsNames are the /proc/PID/ns entries a process is in.
var nsNames = []string{"user", "mnt", "pid", "net", "ipc", "uts", "cgroup", "time"}

// newSpec returns a stage-only configuration with these namespaces.
func newSpec(ns ...specs.LinuxNamespace) *specs.Spec {
	return &specs.Spec{Version: specs.Version, Linux: &specs.Linux{Namespaces: ns}}
}

func nsNew(types ...specs.LinuxNamespaceType) []specs.LinuxNamespace {
	var out []specs.LinuxNamespace
	for _, t := range types {
		out = append(out, specs.LinuxNamespace{Type: t})
	}
	return out
}

// command builds `oci-unshare [opts] -- argv...` with s on fd 3.
func command(t *testing.T, s *specs.Spec, opts []string, argv ...string) *exec.Cmd {
	t.Helper()
	args := append(append([]string{}, opts...), "--")
	cmd := exec.Command(testutil.Bin(t, "oci-unshare"), append(args, argv...)...)
	cmd.ExtraFiles = []*os.File{testutil.SpecFile(t, s)}
	return cmd
}

type result struct {
	stdout, stderr string
	code           int
}

// run runs oci-unshare to the end.
func run(t *testing.T, s *specs.Spec, opts []string, argv ...string) result {
	t.Helper()
	cmd := command(t, s, opts, argv...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run oci-unshare: %v", err)
	}
	return r
}

// mustRun runs oci-unshare and fails the test unless it exits 0.
func mustRun(t *testing.T, s *specs.Spec, argv ...string) string {
	t.Helper()
	r := run(t, s, nil, argv...)
	if r.code != 0 {
		t.Fatalf("oci-unshare %q: exit %d, stderr: %s", argv, r.code, r.stderr)
	}
	return r.stdout
}

// nsScript prints "NAME LINK" for each namespace of the shell.
const nsScript = `for n in user mnt pid net ipc uts cgroup time; do echo "$n $(readlink /proc/self/ns/$n)"; done`

func parseNS(t *testing.T, out string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		name, link, ok := strings.Cut(line, " ")
		if ok && strings.Contains(link, ":[") {
			m[name] = link
		}
	}
	for _, n := range nsNames {
		if m[n] == "" {
			t.Fatalf("no %s namespace in output:\n%s", n, out)
		}
	}
	return m
}

// procNS reads the namespaces of a host process.
func procNS(t *testing.T, pid int) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, n := range nsNames {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, n))
		if err != nil {
			t.Fatal(err)
		}
		m[n] = l
	}
	return m
}

// holder is a process in namespaces of its own, made by util-linux
// unshare(1), for configurations to join by path. It is killed at cleanup.
type holder struct {
	pid int // the process inside (sleep), whose /proc/PID/ns the spec names
}

// newHolder starts `unshare OPTS --fork sleep`. With maps ("0 100000
// 65536"), --user is among opts and the maps are written as the holder's
// uid and gid maps. A script then runs in all the holder's namespaces, as
// root of its user namespace (nsenter --all -S 0 -G 0). With maps set ("0 100000 65536"), --user is among opts and the
// holder's uid and gid maps are written before script runs.
func newHolder(t *testing.T, maps, script string, unshareOpts ...string) *holder {
	t.Helper()
	sh := "echo started; read go; echo ready; exec sleep 100000"
	args := append(append([]string{}, unshareOpts...), "--fork", "sh", "-c", sh)
	cmd := exec.Command("unshare", args...)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(startGroup(t, cmd))
	if l := readLine(t, r); l != "started" {
		t.Fatalf("holder: %q", l)
	}
	// unshare --fork has one child: the shell, which becomes sleep.
	kids, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", cmd.Process.Pid, cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	if _, err := fmt.Sscan(string(kids), &pid); err != nil {
		t.Fatalf("holder child of %d: %q: %v", cmd.Process.Pid, kids, err)
	}
	if maps != "" {
		for _, f := range []string{"uid_map", "gid_map"} {
			if err := os.WriteFile(fmt.Sprintf("/proc/%d/%s", pid, f), []byte(maps), 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	if script != "" {
		out, err := exec.Command("nsenter", "--all", "-t", strconv.Itoa(pid), "-S", "0", "-G", "0", "sh", "-c", script).CombinedOutput()
		if err != nil {
			t.Fatalf("holder setup %q: %v: %s", script, err, out)
		}
	}
	io.WriteString(in, "go\n")
	if l := readLine(t, r); l != "ready" {
		t.Fatalf("holder: %q", l)
	}
	return &holder{pid: pid}
}

// startGroup starts cmd in a process group of its own, with the test's
// stderr, and returns its stdout; the whole group is killed at cleanup.
func startGroup(t *testing.T, cmd *exec.Cmd) io.Reader {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &unix.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		unix.Kill(-cmd.Process.Pid, unix.SIGKILL)
		cmd.Wait()
	})
	return out
}

func (h *holder) path(name string) string { return fmt.Sprintf("/proc/%d/ns/%s", h.pid, name) }

// withSync runs cmd with a sync socket on fd 4 and returns the runtime end.
func withSync(t *testing.T, cmd *exec.Cmd) *syncsock.Conn {
	t.Helper()
	rt, st, err := syncsock.Pair()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	cmd.ExtraFiles = append(cmd.ExtraFiles, st.File())
	cmd.Env = append(os.Environ(), fmt.Sprintf("OCI_SYNC_FD=%d", 3+len(cmd.ExtraFiles)-1))
	t.Cleanup(func() { st.Close() })
	return rt
}

func bufioReader(r io.Reader) *bufio.Reader { return bufio.NewReader(r) }

// readLine reads one line from r.
func readLine(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("read: %q %v", line, err)
	}
	return strings.TrimSpace(line)
}

// oneLine checks that an error output is one line mentioning each of want.
func oneLine(t *testing.T, stderr string, want ...string) {
	t.Helper()
	s := strings.TrimSpace(stderr)
	if s == "" || strings.Contains(s, "\n") {
		t.Fatalf("want one line of error, got %q", stderr)
	}
	if !strings.HasPrefix(s, "oci-unshare: ") {
		t.Errorf("error %q does not start with oci-unshare:", s)
	}
	for _, w := range want {
		if !strings.Contains(s, w) {
			t.Errorf("error %q does not mention %q", s, w)
		}
	}
}

// refused runs oci-unshare with a configuration it must refuse: the
// command never starts, the error is one line mentioning each of want,
// and no process is left.
func refused(t *testing.T, s *specs.Spec, want ...string) {
	t.Helper()
	m := marker(t)
	r := run(t, s, nil, "sh", "-c", "echo started; : "+m)
	if r.code == 0 || strings.Contains(r.stdout, "started") {
		t.Fatalf("started: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	oneLine(t, r.stderr, want...)
	noProcesses(t, m)
}

// marker is a string unique to a test, put in a command line to find its
// processes afterwards.
func marker(t *testing.T) string { return "oci-unshare-test-" + testutil.ID(t) }

func noProcesses(t *testing.T, m string) {
	t.Helper()
	if ps := testutil.ProcessesMatching(t, m); len(ps) > 0 {
		t.Errorf("processes left behind: %q", ps)
	}
}
