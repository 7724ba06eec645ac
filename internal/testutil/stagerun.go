package testutil

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/pkg/syncsock"
)

// StageRootfs builds a private busybox rootfs with the named stage
// binaries copied to its top directory (/oci-exec, ...), so a stage can
// run alone inside it the way it runs after pivot_root.
func StageRootfs(t testing.TB, stages ...string) string {
	t.Helper()
	dir := NewRootfs(t)
	for _, name := range stages {
		b, err := os.ReadFile(Bin(t, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// SpecFile writes s to a file and opens it for reading, to hand to a
// stage as its spec descriptor.
func SpecFile(t testing.TB, s *specs.Spec) *os.File {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.json")
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// SyncPair is a sync socket for a stage run alone, the test playing
// oci-run: the test keeps the runtime end (closed at cleanup) and hands
// the stage end to the stage (and closes its copy once it started).
func SyncPair(t testing.TB) (runtimeEnd, stageEnd *syncsock.Conn) {
	t.Helper()
	runtimeEnd, stageEnd, err := syncsock.Pair()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { runtimeEnd.Close() })
	return runtimeEnd, stageEnd
}

// ExecFifo makes the exec fifo oci-run makes at create and opens it read
// and write, so that neither the stage's open nor the test's write waits
// for the other side (closed at cleanup). A byte written to it is oci-run
// start.
func ExecFifo(t testing.TB) *os.File {
	t.Helper()
	p := filepath.Join(t.TempDir(), "exec.fifo")
	if err := unix.Mkfifo(p, 0o600); err != nil {
		t.Fatal(err)
	}
	fifo, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fifo.Close() })
	return fifo
}

// InRootCommand returns a command that runs argv (paths inside rootfs)
// chrooted into rootfs, in new mount and pid namespaces, with /proc and a
// private devpts (and /dev/ptmx) mounted there: what a stage after
// oci-mount sees, without the other stages. Everything mounted goes away
// with the mount namespace. The caller adds ExtraFiles (fd 3 on) and Env.
func InRootCommand(rootfs string, argv ...string) *exec.Cmd {
	script := `set -e
R="$1"; shift
mount -t proc proc "$R/proc"
mkdir -p "$R/dev/pts"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts "$R/dev/pts"
[ -e "$R/dev/ptmx" ] || ln -s pts/ptmx "$R/dev/ptmx"
[ -e "$R/dev/null" ] || touch "$R/dev/null" && mount --bind /dev/null "$R/dev/null"
exec chroot "$R" "$@"`
	args := append([]string{"-m", "-p", "-f", "--propagation", "private", "/bin/sh", "-c", script, "sh", rootfs}, argv...)
	return exec.Command("unshare", args...)
}
