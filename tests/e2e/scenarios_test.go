//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPodman(t *testing.T) { scenarios(t, "podman", newPodman) }
func TestCtr(t *testing.T)    { scenarios(t, "ctr", newCtr) }
func TestDocker(t *testing.T) { scenarios(t, "dockerd", newDocker) }

func scenarios(t *testing.T, bin string, setup func() (client, error)) {
	if _, err := exec.LookPath(bin); err != nil {
		t.Fatalf("%s is not installed (scripts/e2e-deps installs the engines): %v", bin, err)
	}
	c, err := setup()
	if err != nil {
		t.Fatal(err)
	}
	before := callLogSize()
	// Every engine here sends --log FILE --log-format json (podman because
	// the runtime is listed in runtime_supports_json) and reads errors from
	// there: the scenarios with errors depend on it.
	defer func() {
		creates := 0
		for _, l := range callsSince(t, before) {
			if !strings.Contains(l, " create ") {
				continue
			}
			creates++
			if !strings.Contains(l, "--log-format=json") && !strings.Contains(l, "--log-format json") {
				t.Errorf("%s called the runtime without the JSON log: %s", c.Name(), l)
			}
		}
		if creates == 0 {
			t.Errorf("%s never called the runtime's create", c.Name())
		}
	}()
	for _, sc := range []struct {
		name string
		fn   func(*testing.T, client)
	}{
		{"run-output-exit-code", testRun},
		{"run-missing-executable", testMissingExecutable},
		{"detached-exec-stop-rm", testDetachedExec},
		{"tty", testTTY},
		{"memory-pids-limits", testLimits},
		{"cap-drop", testCapDrop},
		{"read-only-rootfs", testReadOnly},
		{"bind-mount", testBind},
		{"pause-unpause", testPause},
		{"update", testUpdate},
		{"top-ps", testTop},
		{"stats", testStats},
	} {
		t.Run(sc.name, func(t *testing.T) { sc.fn(t, c) })
	}
}

func callLogSize() int64 {
	fi, err := os.Stat(e.callLog)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// callsSince returns the runtime calls logged after offset.
func callsSince(t *testing.T, offset int64) []string {
	b, err := os.ReadFile(e.callLog)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b[offset:])), "\n")
}

func expect(t *testing.T, what string, r result, code int, substr ...string) {
	t.Helper()
	if r.err != nil {
		t.Fatalf("%s: %v\n%s", what, r.err, r.out)
	}
	if r.code != code {
		t.Errorf("%s: exit code %d, want %d; output:\n%s", what, r.code, code, r.out)
	}
	for _, s := range substr {
		if !strings.Contains(r.out, s) {
			t.Errorf("%s: output lacks %q:\n%s", what, s, r.out)
		}
	}
}

func testRun(t *testing.T, c client) {
	r := c.Run(t, runOpts{}, "sh", "-c", "echo hello-$((6*7)); echo to-stderr >&2; exit 3")
	expect(t, "run", r, 3, "hello-42", "to-stderr")
}

// An executable that does not exist: the engines map the runtime's error
// text to 127 (docker, podman) or report it.
func testMissingExecutable(t *testing.T, c client) {
	r := c.Run(t, runOpts{}, "/no/such/program")
	if r.err != nil || r.code == 0 {
		t.Fatalf("run of a missing program: exit %d %v\n%s", r.code, r.err, r.out)
	}
	if c.Name() != "ctr" && r.code != 127 {
		t.Errorf("exit code %d, want 127 (the engine did not recognise the runtime's error):\n%s", r.code, r.out)
	}
	if !strings.Contains(r.out, "no such file or directory") {
		t.Errorf("the error does not say \"no such file or directory\":\n%s", r.out)
	}
}

func testDetachedExec(t *testing.T, c client) {
	id := c.Start(t, runOpts{}, "sleep", "600")
	expect(t, "exec", c.Exec(t, id, false, "sh", "-c", "echo in-exec; exit 5"), 5, "in-exec")
	// Same pid namespace and root as the init.
	expect(t, "exec ps", c.Exec(t, id, false, "cat", "/proc/1/cmdline"), 0, "sleep")
	r := c.Exec(t, id, false, "/no/such/program")
	if r.code == 0 || !(strings.Contains(r.out, "no such file or directory") || strings.Contains(r.out, "not found")) {
		t.Errorf("exec of a missing program: exit %d\n%s", r.code, r.out)
	}
	pid := c.Pid(t, id)
	c.Remove(t, id)
	if !waitFor(10*time.Second, func() bool { _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); return err != nil }) {
		t.Errorf("init %d still exists after remove", pid)
	}
}

func testTTY(t *testing.T, c client) {
	expect(t, "run -t", c.Run(t, runOpts{tty: true}, "tty"), 0, "/dev/pts/")
	id := c.Start(t, runOpts{}, "sleep", "600")
	defer c.Remove(t, id)
	expect(t, "exec -t", c.Exec(t, id, true, "tty"), 0, "/dev/pts/")
}

func testLimits(t *testing.T, c client) {
	o := runOpts{memory: 64 << 20}
	if c.Supports("pids") {
		o.pids = 42
	}
	id := c.Start(t, o, "sleep", "600")
	defer c.Remove(t, id)
	pid := c.Pid(t, id)
	if got := cgroupFile(t, pid, "memory", "memory.limit_in_bytes"); got != "67108864" {
		t.Errorf("memory.limit_in_bytes = %s, want 67108864", got)
	}
	if o.pids > 0 {
		if got := cgroupFile(t, pid, "pids", "pids.max"); got != "42" {
			t.Errorf("pids.max = %s, want 42", got)
		}
	}
	// The exec'd process is in the same cgroup.
	out := c.Exec(t, id, false, "cat", "/proc/self/cgroup")
	if !strings.Contains(out.out, cgroupOf(t, pid, "memory")) {
		t.Errorf("exec'd process not in the init's memory cgroup %s:\n%s", cgroupOf(t, pid, "memory"), out.out)
	}
}

// CAP_CHOWN is in every engine's default set: dropping it must make chown
// fail, keeping it must not.
func testCapDrop(t *testing.T, c client) {
	script := "touch /tmp/f && chown 1 /tmp/f; echo rc=$?"
	expect(t, "default caps", c.Run(t, runOpts{}, "sh", "-c", script), 0, "rc=0")
	expect(t, "cap-drop CHOWN", c.Run(t, runOpts{capDrop: []string{"CHOWN"}}, "sh", "-c", script), 0, "rc=1")
}

func testReadOnly(t *testing.T, c client) {
	r := c.Run(t, runOpts{readOnly: true}, "sh", "-c", "touch /x; echo rc=$?")
	expect(t, "read-only", r, 0, "rc=1", "Read-only file system")
}

func testBind(t *testing.T, c client) {
	dir := t.TempDir()
	os.Chmod(dir, 0o777)
	if err := os.WriteFile(filepath.Join(dir, "in"), []byte("from-host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := c.Run(t, runOpts{bind: [2]string{dir, "/data"}}, "sh", "-c", "cat /data/in && echo from-container > /data/out")
	expect(t, "bind", r, 0, "from-host")
	b, err := os.ReadFile(filepath.Join(dir, "out"))
	if err != nil || string(b) != "from-container\n" {
		t.Errorf("file written in the container: %q %v", b, err)
	}
}

func testPause(t *testing.T, c client) {
	id := c.Start(t, runOpts{}, "sleep", "600")
	defer c.Remove(t, id)
	pid := c.Pid(t, id)
	c.Pause(t, id)
	if st := cgroupFile(t, pid, "freezer", "freezer.state"); st != "FROZEN" {
		t.Errorf("after pause: freezer.state = %s", st)
	}
	c.Unpause(t, id)
	if st := cgroupFile(t, pid, "freezer", "freezer.state"); st != "THAWED" {
		t.Errorf("after unpause: freezer.state = %s", st)
	}
	expect(t, "exec after unpause", c.Exec(t, id, false, "echo", "alive"), 0, "alive")
}

func testUpdate(t *testing.T, c client) {
	if !c.Supports("update") {
		t.Skipf("%s cannot update resources", c.Name())
	}
	id := c.Start(t, runOpts{memory: 64 << 20}, "sleep", "600")
	defer c.Remove(t, id)
	pid := c.Pid(t, id)
	c.Update(t, id, 128<<20)
	if got := cgroupFile(t, pid, "memory", "memory.limit_in_bytes"); got != "134217728" {
		t.Errorf("after update: memory.limit_in_bytes = %s, want 134217728", got)
	}
}

func testTop(t *testing.T, c client) {
	id := c.Start(t, runOpts{}, "sleep", "600")
	defer c.Remove(t, id)
	pid := c.Pid(t, id)
	out := c.Top(t, id)
	// docker top and ctr task ps show host pids (from the runtime's ps);
	// podman top reads /proc and shows the container's view.
	if !strings.Contains(out, fmt.Sprint(pid)) && !strings.Contains(out, "sleep 600") {
		t.Errorf("top/ps lists neither the init's host pid %d nor its command:\n%s", pid, out)
	}
}

func testStats(t *testing.T, c client) {
	id := c.Start(t, runOpts{memory: 64 << 20}, "sleep", "600")
	defer c.Remove(t, id)
	out := c.Stats(t, id)
	if strings.TrimSpace(out) == "" {
		t.Errorf("no stats")
	}
	t.Logf("stats: %s", strings.TrimSpace(out))
}

// cgroupOf is the path of pid's cgroup in a v1 hierarchy.
func cgroupOf(t *testing.T, pid int, controller string) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(l, ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, ctl := range strings.Split(parts[1], ",") {
			if ctl == controller {
				return parts[2]
			}
		}
	}
	t.Fatalf("pid %d has no %s cgroup:\n%s", pid, controller, b)
	return ""
}

func cgroupFile(t *testing.T, pid int, controller, file string) string {
	t.Helper()
	p := filepath.Join("/sys/fs/cgroup", controller, cgroupOf(t, pid, controller), file)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
