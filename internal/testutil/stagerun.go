package testutil

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
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
