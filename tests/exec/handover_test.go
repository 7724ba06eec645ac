package exec_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/internal/testutil"
	"github.com/oci-run/oci-run/pkg/syncsock"
)

// The test plays oci-run: it holds the runtime end of the sync socket and
// the exec fifo. oci-exec must say ready, then wait for start.
func TestReadyThenWaitOnFifo(t *testing.T) {
	testutil.RequireRoot(t)
	rootfs := testutil.StageRootfs(t, "oci-exec")
	runtimeEnd, stageEnd := testutil.SyncPair(t)
	fifo := testutil.ExecFifo(t)

	s := spec("sh", "-c", "echo started > /tmp/started")
	cmd := testutil.InRootCommand(rootfs, "/oci-exec")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.ExtraFiles = []*os.File{testutil.SpecFile(t, s), stageEnd.File(), fifo}
	cmd.Env = append(os.Environ(), "OCI_SYNC_FD=4", "OCI_FIFO_FD=5")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stageEnd.Close()
	// The default configuration's ambient set cannot be raised without an
	// inheritable set: reported as a warning, first.
	m, err := runtimeEnd.Recv()
	if err != nil || m.Type != syncsock.TypeWarning || !strings.Contains(m.Warning, "process.capabilities.ambient") {
		t.Fatalf("first message %+v, %v; want the ambient warning", m, err)
	}
	m, err = runtimeEnd.Recv()
	if err != nil || m.Type != syncsock.TypeReady {
		t.Fatalf("message %+v, %v; want ready (stderr %q)", m, err, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(rootfs, "tmp/started")); err == nil {
		t.Fatal("the program ran before start")
	}
	// oci-run start.
	if _, err := fifo.Write([]byte{0}); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("oci-exec: %v: %s", err, stderr.String())
	}
	if b, _ := os.ReadFile(filepath.Join(rootfs, "tmp/started")); string(b) != "started\n" {
		t.Errorf("program output %q", b)
	}
	if m, err := runtimeEnd.Recv(); err != io.EOF {
		t.Errorf("after exec: %+v, %v; want end of file (the socket is closed at exec)", m, err)
	}
}

// With a sync socket an error goes there, not to the container's stderr.
func TestErrorOnSyncSocket(t *testing.T) {
	testutil.RequireRoot(t)
	rootfs := testutil.StageRootfs(t, "oci-exec")
	runtimeEnd, stageEnd := testutil.SyncPair(t)
	s := spec("/x")
	s.Process.Capabilities.Ambient = nil
	cmd := testutil.InRootCommand(rootfs, "/oci-exec")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.ExtraFiles = []*os.File{testutil.SpecFile(t, s), stageEnd.File()}
	cmd.Env = append(os.Environ(), "OCI_SYNC_FD=4")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stageEnd.Close()
	m, err := runtimeEnd.Recv()
	want := `oci-exec: exec: "/x": stat /x: no such file or directory`
	if err != nil || m.Type != syncsock.TypeError || m.Error != want || m.Stage != "oci-exec" {
		t.Fatalf("got %+v, %v; want error %q", m, err, want)
	}
	if cmd.Wait() == nil {
		t.Error("oci-exec exited 0")
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr %q, want nothing", stderr.String())
	}
}

// process.terminal with a console socket: the test plays the engine
// (containerd's console.RecvFd) and talks to the program through the
// master it receives.
func TestTerminalOnConsoleSocket(t *testing.T) {
	testutil.RequireRoot(t)
	rootfs := testutil.StageRootfs(t, "oci-exec")
	// oci-mount's placeholder for the container init's console.
	if err := os.WriteFile(filepath.Join(rootfs, "dev/console"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	engine := os.NewFile(uintptr(fds[0]), "engine")
	runtimeSide := os.NewFile(uintptr(fds[1]), "console-socket")
	defer engine.Close()

	s := spec("sh", "-c", `tty; stty size; test -t 0 && echo stdin-tty; test -c /dev/console && echo console-bound; `+
		`ls -l $(tty) | awk '{print $3}'; grep -E '^(Uid|NoNewPrivs)' /proc/self/status; echo sid $(cut -d' ' -f6 /proc/self/stat) pid $$`)
	s.Process.Terminal = true
	s.Process.ConsoleSize = &specs.Box{Height: 40, Width: 100}
	s.Process.User = specs.User{UID: 1000, GID: 1000}
	cmd := testutil.InRootCommand(rootfs, "/oci-exec")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	cmd.ExtraFiles = []*os.File{testutil.SpecFile(t, s), runtimeSide}
	cmd.Env = append(os.Environ(), "OCI_CONSOLE_FD=4")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	runtimeSide.Close()
	master := recvFd(t, engine)
	defer master.Close()
	// The program's output comes through the master until the slave's
	// last holder exits (EIO then).
	var out bytes.Buffer
	io.Copy(&out, master)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("oci-exec: %v: %s", err, stderr.String())
	}
	got := strings.ReplaceAll(out.String(), "\r", "")
	for _, want := range []string{"/dev/pts/0\n", "40 100\n", "stdin-tty\n", "console-bound\n", "\n1000\n", "Uid:\t1000\t1000\t1000\t1000\n", "NoNewPrivs:\t1\n", "sid 1 pid 1\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("terminal output lacks %q:\n%s", want, got)
		}
	}
}

// recvFd is github.com/containerd/console's RecvFd: one descriptor, the
// payload is its name.
func recvFd(t *testing.T, sock *os.File) *os.File {
	t.Helper()
	name := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(int(sock.Fd()), name, oob, 0)
	if err != nil {
		t.Fatalf("recvmsg on the console socket: %v", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		t.Fatalf("control messages %v, %v", msgs, err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		t.Fatalf("rights %v, %v", fds, err)
	}
	syscall.CloseOnExec(fds[0])
	return os.NewFile(uintptr(fds[0]), string(name[:n]))
}
