package testutil

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// The tracer stops a command and every process it starts at each exec and
// each fork, so a test can act at an exact point of a create (SIGKILL a
// stage, look into the container) without any test-only code in the
// binaries: a stage boundary is an exec, and ptrace reports each one
// before the new program runs its first instruction.
//
// ptrace has to run in a process of its own: its tracer waits with
// wait4(-1, __WALL), which would also reap the test's other children.
// The test binary is that process: a package that uses the tracer calls
// TracerMain first thing in its TestMain.

const envTracer = "OCI_RUN_TEST_TRACER"

// TraceEvent is one stop of the traced tree. While the test holds it,
// the process is stopped (ptrace-stop); Continue lets it go on.
type TraceEvent struct {
	// Kind: "exec" (Pid has just exec'd Prog), "fork" (Parent made the
	// new process Pid, both stopped), "exit" (Pid is gone; nothing is
	// stopped), "done" (no traced process is left).
	Kind   string `json:"kind"`
	Pid    int    `json:"pid"`
	Parent int    `json:"parent,omitempty"`
	// Prog is the base name of argv[0] (exec) or of the parent's (fork).
	Prog string `json:"prog,omitempty"`
}

func (e TraceEvent) String() string {
	switch e.Kind {
	case "fork":
		return fmt.Sprintf("fork %s(%d)->%d", e.Prog, e.Parent, e.Pid)
	case "exec", "exit":
		return fmt.Sprintf("%s %s(%d)", e.Kind, e.Prog, e.Pid)
	}
	return e.Kind
}

// Tracer is a traced command.
type Tracer struct {
	t      testing.TB
	helper *exec.Cmd
	cmds   *os.File
	evFile *os.File
	events *bufio.Scanner
	// Pid is the traced command's pid.
	Pid  int
	done bool
}

// StartTraced runs argv under the tracer; its stdout and stderr go to the
// given files. The first event is the exec of argv[0] itself.
func StartTraced(t testing.TB, stdout, stderr *os.File, env []string, argv ...string) *Tracer {
	t.Helper()
	cmdR, cmdW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	evR, evW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	h := exec.Command(self, argv...)
	h.Env = append(append([]string(nil), env...), envTracer+"=1")
	h.Stdout, h.Stderr = stdout, stderr
	h.ExtraFiles = []*os.File{cmdR, evW}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	cmdR.Close()
	evW.Close()
	tr := &Tracer{t: t, helper: h, cmds: cmdW, evFile: evR, events: bufio.NewScanner(evR)}
	t.Cleanup(tr.Close)
	return tr
}

// Next returns the next event; the stopped process waits for Continue.
func (tr *Tracer) Next() TraceEvent {
	tr.t.Helper()
	if tr.done {
		return TraceEvent{Kind: "done"}
	}
	if !tr.events.Scan() {
		tr.done = true
		return TraceEvent{Kind: "done"}
	}
	var e TraceEvent
	if err := json.Unmarshal(tr.events.Bytes(), &e); err != nil {
		tr.t.Fatalf("tracer: %q: %v", tr.events.Text(), err)
	}
	if tr.Pid == 0 {
		tr.Pid = e.Pid
	}
	if e.Kind == "done" {
		tr.done = true
	}
	return e
}

// Continue resumes what the last event stopped.
func (tr *Tracer) Continue() { tr.send("c") }

// Free resumes everything and stops reporting: the processes stay traced
// (and run normally) until Close.
func (tr *Tracer) Free() {
	tr.send("f")
	tr.done = true
}

func (tr *Tracer) send(c string) {
	if tr.cmds != nil {
		fmt.Fprintln(tr.cmds, c)
	}
}

// Close ends the tracer; processes still traced are detached and run on.
func (tr *Tracer) Close() {
	if tr.cmds == nil {
		return
	}
	tr.cmds.Close()
	tr.cmds = nil
	tr.helper.Process.Kill()
	tr.helper.Wait()
	tr.evFile.Close()
}

// TracerMain runs the tracer when the test binary was started as one (by
// StartTraced); otherwise it returns at once.
func TracerMain() {
	if os.Getenv(envTracer) == "" {
		return
	}
	if err := traceMain(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "tracer:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

type tracer struct {
	cmds   *bufio.Scanner
	events *os.File
	free   bool
	// procs are the live traced processes (thread group leaders), by pid,
	// with their program name.
	procs map[int]string
}

func traceMain(argv []string) error {
	// Every ptrace request must come from the thread that is the tracer.
	runtime.LockOSThread()
	tr := &tracer{
		cmds:   bufio.NewScanner(os.NewFile(3, "commands")),
		events: os.NewFile(4, "events"),
		procs:  map[int]string{},
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return err
	}
	// The command stops itself before it execs argv, so that it can be
	// seized (PTRACE_SEIZE, not PTRACE_TRACEME): seized processes and
	// their auto-attached children carry no stray SIGSTOP, and run on
	// unharmed when the tracer goes away at any point.
	cmd := exec.Command("/bin/sh", append([]string{"-c", `kill -STOP $$ && exec "$@"`, "sh"}, argv...)...)
	cmd.Env = stripEnv(os.Environ(), envTracer)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	pid := cmd.Process.Pid
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, unix.WUNTRACED, nil); err != nil {
		return err
	}
	if !ws.Stopped() {
		return fmt.Errorf("%s did not stop before its exec: %v", argv[0], ws)
	}
	opts := unix.PTRACE_O_TRACEEXEC | unix.PTRACE_O_TRACECLONE | unix.PTRACE_O_TRACEFORK | unix.PTRACE_O_TRACEVFORK
	if _, _, errno := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_SEIZE, uintptr(pid), 0, uintptr(opts), 0, 0); errno != 0 {
		return fmt.Errorf("PTRACE_SEIZE: %w", errno)
	}
	tr.procs[pid] = "sh"
	unix.Kill(pid, unix.SIGCONT)
	for {
		wpid, err := unix.Wait4(-1, &ws, unix.WALL, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if errors.Is(err, unix.ECHILD) {
			tr.report(TraceEvent{Kind: "done"})
			return nil
		}
		if err != nil {
			return err
		}
		tr.handle(wpid, ws)
	}
}

func (tr *tracer) handle(pid int, ws unix.WaitStatus) {
	if ws.Exited() || ws.Signaled() {
		if prog, ok := tr.procs[pid]; ok {
			delete(tr.procs, pid)
			tr.report(TraceEvent{Kind: "exit", Pid: pid, Prog: prog})
		}
		return
	}
	if !ws.Stopped() {
		return
	}
	sig := ws.StopSignal()
	event := int(ws) >> 16
	switch {
	case event == unix.PTRACE_EVENT_EXEC:
		// A multi-threaded process execs on any thread; it continues as
		// the leader's pid, which is what is reported here.
		tr.procs[pid] = progName(pid)
		tr.report(TraceEvent{Kind: "exec", Pid: pid, Prog: tr.procs[pid]})
		unix.PtraceCont(pid, 0)
	case event == unix.PTRACE_EVENT_FORK || event == unix.PTRACE_EVENT_VFORK || event == unix.PTRACE_EVENT_CLONE:
		msg, _ := unix.PtraceGetEventMsg(pid)
		child := int(msg)
		if tgid(child) == child {
			parent := tgid(pid)
			prog := tr.procs[parent]
			tr.procs[child] = prog
			tr.report(TraceEvent{Kind: "fork", Pid: child, Parent: parent, Prog: prog})
		}
		unix.PtraceCont(pid, 0)
	case event == unix.PTRACE_EVENT_STOP:
		// A new task's first stop, or a group-stop (SIGSTOP to the
		// traced tree, which nothing here sends): go on.
		unix.PtraceCont(pid, 0)
	default:
		// A signal on its way to the process: deliver it.
		unix.PtraceCont(pid, int(sig))
	}
}

// report sends an event and, unless free or the event stops nothing,
// waits for the test to say go on.
func (tr *tracer) report(e TraceEvent) {
	if tr.free {
		return
	}
	b, _ := json.Marshal(e)
	if _, err := tr.events.Write(append(b, '\n')); err != nil {
		tr.free = true
		return
	}
	if e.Kind == "exit" || e.Kind == "done" {
		return
	}
	if !tr.cmds.Scan() || tr.cmds.Text() == "f" {
		tr.free = true
	}
}

// progName is the base name of argv[0] of a process.
func progName(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || len(b) == 0 {
		return "?"
	}
	arg0, _, _ := strings.Cut(string(b), "\x00")
	return filepath.Base(arg0)
}

// tgid is the thread group of a task (its process's pid).
func tgid(tid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(tid) + "/status")
	if err != nil {
		return tid
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Tgid:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err == nil {
				return n
			}
		}
	}
	return tid
}

func stripEnv(env []string, key string) []string {
	var out []string
	for _, e := range env {
		if !strings.HasPrefix(e, key+"=") {
			out = append(out, e)
		}
	}
	return out
}
