package seccomp_test

import (
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/internal/testutil"
	"github.com/oci-run/oci-run/pkg/seccompload"
	"github.com/oci-run/oci-run/pkg/syncsock"
)

// struct seccomp_notif and seccomp_notif_resp (linux/seccomp.h).
type notif struct {
	ID    uint64
	Pid   uint32
	Flags uint32
	Nr    int32
	Arch  uint32
	IP    uint64
	Args  [6]uint64
}

type notifResp struct {
	ID    uint64
	Val   int64
	Error int32
	Flags uint32
}

const (
	ioctlNotifRecv = 0xc0502100 // SECCOMP_IOCTL_NOTIF_RECV
	ioctlNotifSend = 0xc0182101 // SECCOMP_IOCTL_NOTIF_SEND
)

// agentResult is what the test agent saw.
type agentResult struct {
	state    specs.ContainerProcessState
	syscalls []int32
	err      error
}

// startAgent is a seccomp agent on listenerPath: it takes the state and
// the listener as runc sends them, then answers every notified system
// call with success (value 0) without performing it.
func startAgent(t *testing.T, path string) <-chan agentResult {
	t.Helper()
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan agentResult, 1)
	go func() {
		defer l.Close()
		var res agentResult
		defer func() { done <- res }()
		c, err := l.AcceptUnix()
		if err != nil {
			res.err = err
			return
		}
		defer c.Close()
		buf := make([]byte, 64<<10)
		oob := make([]byte, unix.CmsgSpace(4*4))
		n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
		if err != nil {
			res.err = err
			return
		}
		if err := json.Unmarshal(buf[:n], &res.state); err != nil {
			res.err = err
			return
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil || len(msgs) != 1 {
			res.err = errors.New("no SCM_RIGHTS message")
			return
		}
		fds, err := unix.ParseUnixRights(&msgs[0])
		if err != nil || len(fds) != 1 {
			res.err = errors.New("not one descriptor")
			return
		}
		listener := fds[0]
		defer unix.Close(listener)
		for {
			var req notif
			if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(listener), ioctlNotifRecv, uintptr(unsafe.Pointer(&req))); e != 0 {
				if e == unix.EINTR {
					continue
				}
				// ENOENT: every filtered process is gone.
				return
			}
			res.syscalls = append(res.syscalls, req.Nr)
			resp := notifResp{ID: req.ID}
			unix.Syscall(unix.SYS_IOCTL, uintptr(listener), ioctlNotifSend, uintptr(unsafe.Pointer(&resp)))
		}
	}()
	return done
}

func notifyProfile(path string) *specs.LinuxSeccomp {
	return &specs.LinuxSeccomp{
		DefaultAction:    specs.ActAllow,
		ListenerPath:     path,
		ListenerMetadata: "test-metadata",
		Flags:            []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagWaitKillableRecv},
		Syscalls:         []specs.LinuxSyscall{{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActNotify}},
	}
}

// The agent answers mkdir: the program sees success, no directory exists.
const notifyScript = `mkdir /tmp/by-agent && echo "mkdir rc=0"; [ -d /tmp/by-agent ] || echo "no directory"`

func checkAgent(t *testing.T, out string, done <-chan agentResult) agentResult {
	t.Helper()
	for _, want := range []string{"mkdir rc=0\n", "no directory\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	res := <-done
	if res.err != nil {
		t.Fatalf("agent: %v", res.err)
	}
	if len(res.syscalls) != 1 || res.syscalls[0] != unix.SYS_MKDIR {
		t.Errorf("agent answered syscalls %v, want [%d] (mkdir)", res.syscalls, unix.SYS_MKDIR)
	}
	st := res.state
	if st.Version != specs.Version || len(st.Fds) != 1 || st.Fds[0] != specs.SeccompFdName || st.Metadata != "test-metadata" ||
		st.State.Status != specs.StateCreating || st.Pid == 0 || st.State.Pid != st.Pid {
		t.Errorf("state %+v", st)
	}
	return res
}

// Alone (no sync socket), oci-exec delivers the listener itself, with
// the state it knows.
func TestNotifyStandalone(t *testing.T) {
	testutil.RequireRoot(t)
	rootfs := testutil.StageRootfs(t, "oci-seccomp", "oci-exec")
	// The socket lives in the rootfs: oci-exec connects from inside.
	path := filepath.Join(rootfs, "tmp/agent.sock")
	done := startAgent(t, path)
	s := spec(true, "sh", "-c", notifyScript)
	s.Linux.Seccomp = notifyProfile("/tmp/agent.sock")
	r := run(t, testutil.InRootCommand(rootfs, "/oci-seccomp", "--", "/oci-exec"), s, nil)
	if r.err != nil {
		t.Fatalf("chain: %v: %s", r.err, r.stderr)
	}
	res := checkAgent(t, r.stdout, done)
	if res.state.Pid != 1 {
		t.Errorf("state pid %d, want 1 (oci-exec is pid 1 of its pid namespace)", res.state.Pid)
	}
}

// With a sync socket oci-exec hands the listener to the runtime (the test
// plays oci-run) and waits; the runtime sends it to listenerPath with the
// container state, then lets oci-exec continue.
func TestNotifyThroughRuntime(t *testing.T) {
	testutil.RequireRoot(t)
	rootfs := testutil.StageRootfs(t, "oci-seccomp", "oci-exec")
	path := filepath.Join(t.TempDir(), "agent.sock")
	done := startAgent(t, path)
	runtimeEnd, stageEnd := testutil.SyncPair(t)
	s := spec(false, "sh", "-c", notifyScript)
	s.Linux.Seccomp = notifyProfile(path) // a host path: only oci-run opens it
	cmd := testutil.InRootCommand(rootfs, "/oci-seccomp", "--", "/oci-exec")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.ExtraFiles = []*os.File{testutil.SpecFile(t, s), stageEnd.File()}
	cmd.Env = append(os.Environ(), "OCI_SYNC_FD=4")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stageEnd.Close()
	for {
		m, err := runtimeEnd.Recv()
		if err != nil {
			t.Fatalf("sync socket: %v (output %q)", err, out.String())
		}
		if m.Type == syncsock.TypeSeccompListener {
			st := specs.State{ID: "notify-test", Pid: cmd.Process.Pid, Bundle: "/bundle"}
			if err := seccompload.Forward(m.Files, s.Linux.Seccomp, st); err != nil {
				t.Fatal(err)
			}
			if err := runtimeEnd.Send(syncsock.Message{Type: syncsock.TypeContinue}); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if m.Type == syncsock.TypeReady {
			break
		}
		if m.Type == syncsock.TypeError {
			t.Fatalf("stage error: %s", m.Error)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("chain: %v: %s", err, out.String())
	}
	res := checkAgent(t, out.String(), done)
	if res.state.State.ID != "notify-test" || res.state.State.Bundle != "/bundle" || res.state.Pid != cmd.Process.Pid {
		t.Errorf("state %+v", res.state)
	}
}
