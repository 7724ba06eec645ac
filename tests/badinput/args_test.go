package badinput

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oci-run/oci-run/internal/testutil"
)

// check lists every problem of a bundle, not just the first, each with
// its field, and creates nothing.
func TestCheckListsEveryProblem(t *testing.T) {
	r := testutil.NewRuntime(t)
	b := writeConfig(t,
		set("process", "args")([]any{}),
		set("process", "capabilities", "bounding", 0)("CAP_NOPE"),
		appendTo("linux", "maskedPaths")("relative"),
		set("linux", "seccomp")(obj("defaultAction", "SCMP_ACT_ALLOW", "syscalls", []any{
			obj("names", []any{"getcwd", "no_such_syscall"}, "action", "SCMP_ACT_ERRNO")})),
	)
	res := r.Run("check", "-b", b, "some-id")
	for _, want := range []string{
		"error: process.args: ",
		"error: process.capabilities.bounding[0]: ",
		"error: linux.maskedPaths[10]: ",
		`warning: linux.seccomp.syscalls[0].names[1]: "no_such_syscall"`,
	} {
		if !strings.Contains(res.Stdout, want) {
			t.Errorf("check output lacks %q:\n%s", want, res.Stdout)
		}
	}
	if res.Code == 0 || strings.Count(strings.TrimSpace(res.Stderr), "\n") != 0 {
		t.Errorf("check: exit %d, stderr %q", res.Code, res.Stderr)
	}
	if ents, _ := os.ReadDir(r.Root); len(ents) > 0 {
		t.Errorf("check created state: %v", ents)
	}
	if l := testutil.FindLeaks("some-id", r.Root, b); !l.Empty() {
		t.Errorf("check left: %s", l)
	}
}

// Container ids that are not ids: refused by every command, before
// anything is made.
func TestInvalidIDs(t *testing.T) {
	r := testutil.NewRuntime(t)
	b := writeConfig(t)
	long := strings.Repeat("x", 1025)
	for _, id := range []string{"../x", "a/b", "", ".", "..", "x y", "x\ny", "/abs", long, "-x"} {
		for _, cmd := range [][]string{
			{"create", "-b", b, id}, {"run", "-b", b, id}, {"start", id}, {"state", id},
			{"kill", id, "KILL"}, {"delete", id}, {"delete", "--force", id}, {"pause", id},
			{"resume", id}, {"ps", id}, {"events", "--stats", id}, {"explain", "-b", b, id},
			{"exec", id, "true"},
		} {
			if cmd[0] == "exec" && !hasExec(r) {
				continue
			}
			want := "container id"
			if id == "-x" {
				want = "-x" // taken for an option, and named as one
			}
			refused(t, r, "", want, nil, cmd...)
		}
	}
	if ents, _ := os.ReadDir(r.Root); len(ents) > 0 {
		t.Errorf("state left: %v", ents)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(r.Root), "x")); err == nil {
		t.Errorf("../x created outside the state root")
	}
}

// Every command on an id that does not exist.
func TestUnknownID(t *testing.T) {
	r := testutil.NewRuntime(t)
	id := testutil.ID(t)
	for _, cmd := range [][]string{
		{"start", id}, {"state", id}, {"kill", id}, {"kill", id, "TERM"}, {"kill", "--all", id, "TERM"},
		{"delete", id}, {"pause", id}, {"resume", id}, {"ps", id}, {"events", "--stats", id},
		{"update", "--memory", "1M", id},
	} {
		refused(t, r, id, id+" does not exist", nil, cmd...)
	}
	if hasExec(r) {
		refused(t, r, id, id+" does not exist", nil, "exec", id, "true")
	}
	// runc and crun: forcing the delete of nothing succeeds.
	r.Must("delete", "--force", id)
}

// Signals that are not signals, by name and by number.
func TestInvalidSignals(t *testing.T) {
	r := testutil.NewRuntime(t)
	b := writeConfig(t)
	id := testutil.ID(t)
	r.Must("create", "-b", b, id)
	defer r.Run("delete", "--force", id)
	for _, sig := range []string{"NOPE", "SIGNOPE", "0", "65", "9x", "SIG", "RTMIN+40", "SIGRTMAX-31", " 9", "99999999999999999999"} {
		refused(t, r, "", "signal", nil, "kill", id, sig)
	}
	// Taken for an option, and named as one.
	refused(t, r, "", "-1", nil, "kill", id, "-1")
	refused(t, r, "", "signal", nil, "kill", id, "")
	if st := r.Status(id); st != "created" {
		t.Errorf("status %q after refused kills", st)
	}
}

// Commands in the wrong state, and a duplicate id: refused, and the
// container is not disturbed.
func TestWrongState(t *testing.T) {
	r := testutil.NewRuntime(t)
	b := writeConfig(t)
	id := testutil.ID(t)
	r.Must("create", "-b", b, id)
	defer r.Run("delete", "--force", id)
	pid := func() int { st, _ := r.State(id); return st.Pid }
	first := pid()
	refused(t, r, "", "exists", nil, "create", "-b", b, id)
	refused(t, r, "", "exists", nil, "run", "-b", b, id)
	refused(t, r, "", "not stopped", nil, "delete", id)
	refused(t, r, "", "not paused", nil, "resume", id)
	r.Must("start", id)
	refused(t, r, "", "already running", nil, "start", id)
	refused(t, r, "", "not stopped", nil, "delete", id)
	refused(t, r, "", "not paused", nil, "resume", id)
	r.Must("pause", id)
	if hasExec(r) {
		refused(t, r, "", "paused", nil, "exec", id, "true")
	}
	// runc's words for a paused container, created or running.
	refused(t, r, "", "in the paused state", nil, "start", id)
	refused(t, r, "", "not stopped", nil, "delete", id)
	r.Must("resume", id)
	if st := r.Status(id); st != "running" || pid() != first {
		t.Errorf("status %q pid %d (was %d) after the refused commands", st, pid(), first)
	}
	r.Must("kill", id, "KILL")
	r.WaitStatus(id, "stopped")
	refused(t, r, "", "stopped", nil, "start", id)
	refused(t, r, "", "not running", nil, "kill", id, "TERM")
	refused(t, r, "", "not running", nil, "pause", id)
	if hasExec(r) {
		refused(t, r, "", "stopped", nil, "exec", id, "true")
	}
	r.Must("delete", id)
	testutil.NoLeaks(t, id, r.Root, b)
}

// Options that cannot work, found before anything is created.
func TestBadOptions(t *testing.T) {
	r := testutil.NewRuntime(t)
	b := writeConfig(t)
	tb := writeConfig(t, set("process", "terminal")(true))
	id := testutil.ID(t)
	dirs := []string{b, tb}
	refused(t, r, id, "--preserve-fds", dirs, "create", "--preserve-fds", "5", "-b", b, id)
	refused(t, r, id, "--preserve-fds", dirs, "create", "--preserve-fds", "-1", "-b", b, id)
	refused(t, r, id, "--console-socket", dirs, "create", "--console-socket", "/nonexistent/sock", "-b", tb, id)
	refused(t, r, id, "--console-socket", dirs, "create", "-b", tb, id)
	refused(t, r, id, "--console-socket", dirs, "create", "--console-socket", "/x.sock", "-b", b, id)
	refused(t, r, id, "--pid-file", dirs, "create", "--pid-file", "/nonexistent/dir/pid", "-b", b, id)
	refused(t, r, id, "nosuchflag", dirs, "create", "--nosuchflag", "-b", b, id)
	refused(t, r, id, "nosuchcommand", dirs, "nosuchcommand", id)
	refused(t, r, id, "container id", dirs, "create", "-b", b)
	refused(t, r, id, "unexpected", dirs, "create", "-b", b, id, "extra")
	refused(t, r, id, "--log-format", dirs, "--log-format", "xml", "create", "-b", b, id)
	refused(t, r, id, "stage binary", dirs, "--stage-dir", "/nonexistent", "create", "-b", b, id)
}

// hasExec reports whether this build has oci-run exec.
func hasExec(r *testutil.Runtime) bool { return r.Run("exec", "--help").Code == 0 }

// A stage given an option it does not know says so in one line on stderr,
// prints nothing on stdout (its usage is for --help) and runs nothing.
func TestStageBadOption(t *testing.T) {
	for _, stage := range []string{"oci-cgroup", "oci-unshare", "oci-mount", "oci-seccomp", "oci-exec"} {
		cmd := exec.Command(testutil.Bin(t, stage), "--no-such-option", "--", "true")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		lines := strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n")
		if err == nil || stdout.Len() != 0 || len(lines) != 1 || !strings.HasPrefix(lines[0], stage+": ") || !strings.Contains(lines[0], "no-such-option") {
			t.Errorf("%s --no-such-option: %v\nstdout %q\nstderr %q", stage, err, stdout.String(), stderr.String())
		}
	}
}
