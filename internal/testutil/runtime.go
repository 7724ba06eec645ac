package testutil

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Runtime runs bin/oci-run with a state root of its own.
type Runtime struct {
	T    testing.TB
	Root string
	Bin  string
}

// NewRuntime is a Runtime with a fresh state root; it needs root.
func NewRuntime(t testing.TB) *Runtime {
	t.Helper()
	RequireRoot(t)
	return &Runtime{T: t, Root: t.TempDir(), Bin: Bin(t, "oci-run")}
}

// Result is one finished oci-run command.
type Result struct {
	Stdout, Stderr string
	Code           int
}

// Command is oci-run with the state root and args, not started.
func (r *Runtime) Command(args ...string) *exec.Cmd {
	return exec.Command(r.Bin, append([]string{"--root", r.Root}, args...)...)
}

// Run runs oci-run to the end. stdout and stderr are files, not pipes: a
// detached container inherits them and would keep a pipe open.
func (r *Runtime) Run(args ...string) Result {
	r.T.Helper()
	return r.RunIn(nil, args...)
}

// RunIn is Run with stdin.
func (r *Runtime) RunIn(stdin []byte, args ...string) Result {
	r.T.Helper()
	return r.RunFiles(nil, stdin, args...)
}

// RunFiles is RunIn with extra descriptors for oci-run (fd 3 on).
func (r *Runtime) RunFiles(extra []*os.File, stdin []byte, args ...string) Result {
	r.T.Helper()
	cmd := r.Command(args...)
	out, errf := OutputFiles(r.T)
	defer out.Close()
	defer errf.Close()
	cmd.Stdout, cmd.Stderr = out, errf
	cmd.ExtraFiles = extra
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		r.T.Fatalf("oci-run %q: %v", args, err)
	}
	o, _ := os.ReadFile(out.Name())
	e, _ := os.ReadFile(errf.Name())
	return Result{string(o), string(e), code}
}

// OutputFiles makes a pair of files for a command's stdout and stderr.
func OutputFiles(t testing.TB) (*os.File, *os.File) {
	dir := t.TempDir()
	out, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	errf, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	return out, errf
}

// Must runs oci-run and fails the test unless it exits 0.
func (r *Runtime) Must(args ...string) string {
	r.T.Helper()
	res := r.Run(args...)
	if res.Code != 0 {
		r.T.Fatalf("oci-run %q: exit %d: %s%s", args, res.Code, res.Stderr, res.Stdout)
	}
	return res.Stdout
}

// State is the state document of a container; ok is false when oci-run
// state fails (no such container).
func (r *Runtime) State(id string) (st struct {
	Status string `json:"status"`
	Pid    int    `json:"pid"`
}, ok bool) {
	r.T.Helper()
	res := r.Run("state", id)
	if res.Code != 0 {
		return st, false
	}
	if err := json.Unmarshal([]byte(res.Stdout), &st); err != nil {
		r.T.Fatalf("state %s: %v: %s", id, err, res.Stdout)
	}
	return st, true
}

// SpecState is the runtime-spec state document of a container that must
// exist.
func (r *Runtime) SpecState(id string) specs.State {
	r.T.Helper()
	var st specs.State
	if err := json.Unmarshal([]byte(r.Must("state", id)), &st); err != nil {
		r.T.Fatal(err)
	}
	return st
}

// Status is the container's status, "" when it does not exist.
func (r *Runtime) Status(id string) string {
	r.T.Helper()
	st, _ := r.State(id)
	return st.Status
}

// WaitStatus polls until the container has the status. Processes end when
// they end: the only limit is the test's own timeout.
func (r *Runtime) WaitStatus(id, want string) {
	r.T.Helper()
	for r.Status(id) != want {
		time.Sleep(5 * time.Millisecond)
	}
}
