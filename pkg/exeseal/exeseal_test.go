package exeseal

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// Both kinds of handle run the program, lead to no writable file, and are
// not the host file (device and inode differ).
func TestSealedHandles(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("overlayfs needs root")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "prog")
	b, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Skip(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	var host unix.Stat_t
	if err := unix.Stat(bin, &host); err != nil {
		t.Fatal(err)
	}
	overlaid, err := Seal(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer overlaid.Close()
	copied, err := Copy(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer copied.Close()
	for name, f := range map[string]*os.File{"seal": overlaid, "copy": copied} {
		if !IsSealed(int(f.Fd())) {
			t.Errorf("%s: IsSealed is false", name)
		}
		proc := "/proc/self/fd/" + strconv.Itoa(int(f.Fd()))
		// A sealed memfd opens for writing but refuses the write; the
		// overlay refuses the open.
		if w, err := os.OpenFile(proc, os.O_WRONLY|os.O_APPEND, 0); err == nil {
			if _, err := w.Write([]byte{0}); err == nil {
				t.Errorf("%s: %s can be written", name, proc)
			}
			w.Close()
		}
		var st unix.Stat_t
		if err := unix.Fstat(int(f.Fd()), &st); err != nil {
			t.Fatal(err)
		}
		if st.Dev == host.Dev && st.Ino == host.Ino {
			t.Errorf("%s: the handle is the host file (%d:%d)", name, st.Dev, st.Ino)
		}
		cmd := exec.Command("/proc/self/fd/3")
		cmd.ExtraFiles = []*os.File{f}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: exec: %v: %s", name, err, out)
		}
	}
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(int(overlaid.Fd()), &sfs); err == nil && sfs.Type != unix.OVERLAYFS_SUPER_MAGIC {
		t.Logf("no overlay here (statfs type %#x): Seal fell back to a copy", sfs.Type)
	}
}
