package faults

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/internal/testutil"
	"github.com/oci-run/oci-run/pkg/state"
)

// The container's init killed from outside, created or running: the
// container reads as stopped, cannot be started or signalled, and a plain
// delete (no --force) removes everything.
func TestInitKilledFromOutside(t *testing.T) {
	r := testutil.NewRuntime(t)
	bundle := testutil.Bundle(t, testutil.Spec("", "sleep", "1000"))
	for _, started := range []bool{false, true} {
		id := testutil.ID(t)
		r.Must("create", "-b", bundle, id)
		if started {
			r.Must("start", id)
		}
		st, _ := r.State(id)
		if st.Pid == 0 {
			t.Fatalf("no pid: %+v", st)
		}
		unix.Kill(st.Pid, unix.SIGKILL)
		r.WaitStatus(id, "stopped")
		if res := r.Run("start", id); res.Code == 0 || !strings.Contains(res.Stderr, "stopped") {
			t.Errorf("start of a killed container: %+v", res)
		}
		if res := r.Run("kill", id, "TERM"); res.Code == 0 || !strings.Contains(res.Stderr, "not running") {
			t.Errorf("kill of a killed container: %+v", res)
		}
		r.Must("delete", id)
		waitNoLeaks(t, id, r.Root, bundle)
	}
}

// A state directory whose init pid now belongs to another process (the
// kernel reused it) is not taken for a live container: status stopped,
// kill refused, delete removes the directory and leaves the process
// alone. The reuse is real where the kernel lets us place a pid
// (ns_last_pid); the recorded start time is what tells them apart.
func TestStalePidReused(t *testing.T) {
	r := testutil.NewRuntime(t)
	bundle := testutil.Bundle(t, testutil.Spec("", "sleep", "1000"))
	id := testutil.ID(t)
	r.Must("create", "-b", bundle, id)
	r.Must("start", id)
	st, _ := r.State(id)
	old := st.Pid
	// Take the container's init away behind the runtime's back, the way
	// a reboot-less crash of the machinery would.
	unix.Kill(old, unix.SIGKILL)
	waitReaped(t, old)

	stranger := spawnWithPid(t, old)
	defer func() { stranger.Process.Kill(); stranger.Wait() }()
	if stranger.Process.Pid != old {
		t.Logf("could not place a process at pid %d (got %d): faking the reuse in state.json", old, stranger.Process.Pid)
		rewriteState(t, r, id, func(s *state.State) { s.Pid = stranger.Process.Pid })
	}
	if got := r.Status(id); got != "stopped" {
		t.Errorf("status %q with the pid reused by another process, want stopped", got)
	}
	if res := r.Run("kill", id, "KILL"); res.Code == 0 {
		t.Errorf("kill succeeded on a reused pid")
	}
	r.Must("delete", id)
	if err := unix.Kill(stranger.Process.Pid, 0); err != nil {
		t.Errorf("the process that reused the pid is gone: %v", err)
	}
	if b, _ := os.ReadFile("/proc/" + strconv.Itoa(stranger.Process.Pid) + "/stat"); strings.Contains(string(b), ") Z") {
		t.Errorf("the process that reused the pid was killed")
	}
	waitNoLeaks(t, id, r.Root, bundle)
}

// The same for a create's own process: a state dir left by a create
// whose oci-run pid is now another process reads as stopped, not
// creating, and delete does not touch that process.
func TestStaleCreatorPidReused(t *testing.T) {
	r := testutil.NewRuntime(t)
	bundle := testutil.Bundle(t, testutil.Spec("", "true"))
	id := testutil.ID(t)
	r.Must("create", "-b", bundle, id)
	r.Must("delete", "--force", id)
	stranger := exec.Command("sleep", "1000")
	stranger.Start()
	defer func() { stranger.Process.Kill(); stranger.Wait() }()
	// What a create killed right after its first state write leaves.
	dir := filepath.Join(r.Root, id)
	os.MkdirAll(dir, 0o711)
	b, _ := json.Marshal(state.State{ID: id, Bundle: bundle, Creator: stranger.Process.Pid, CreatorStart: 1,
		Chain: stranger.Process.Pid, ChainStart: 1})
	os.WriteFile(filepath.Join(dir, state.StateFile), b, 0o600)
	if got := r.Status(id); got != "stopped" {
		t.Errorf("status %q, want stopped", got)
	}
	r.Must("delete", id)
	if unix.Kill(stranger.Process.Pid, 0) != nil {
		t.Errorf("delete killed the process that reused the creator's pid")
	}
	waitNoLeaks(t, id, r.Root, bundle)
}

func rewriteState(t *testing.T, r *testutil.Runtime, id string, f func(*state.State)) {
	p := filepath.Join(r.Root, id, state.StateFile)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var s state.State
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	f(&s)
	b, _ = json.Marshal(&s)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// waitReaped waits until a pid is free again (its zombie reaped).
func waitReaped(t *testing.T, pid int) {
	for {
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err != nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// spawnWithPid starts a sleep with the given pid when the kernel hands it
// out next (ns_last_pid); other processes on the machine may take it
// first, so it tries a few times and returns whatever it got last.
func spawnWithPid(t *testing.T, pid int) *exec.Cmd {
	var cmd *exec.Cmd
	for i := 0; i < 20; i++ {
		if cmd != nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
		if err := os.WriteFile("/proc/sys/kernel/ns_last_pid", []byte(strconv.Itoa(pid-1)), 0); err != nil {
			t.Logf("ns_last_pid: %v", err)
		}
		cmd = exec.Command("sleep", "1000")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if cmd.Process.Pid == pid {
			return cmd
		}
	}
	return cmd
}
