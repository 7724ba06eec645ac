package securepath

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// A tree with symlinks that try to leave it: every lookup and every
// creation stays inside.
func TestStaysInRoot(t *testing.T) {
	outside := t.TempDir()
	rootPath := filepath.Join(t.TempDir(), "root")
	os.MkdirAll(filepath.Join(rootPath, "etc"), 0o755)
	os.WriteFile(filepath.Join(rootPath, "etc", "passwd"), []byte("inside"), 0o644)
	os.WriteFile(filepath.Join(outside, "passwd"), []byte("outside"), 0o644)
	for name, target := range map[string]string{
		"abs":      outside,
		"rel":      strings.Repeat("../", 10) + outside,
		"etc-link": "/etc",
		"dangling": outside + "/new-file",
	} {
		os.Symlink(target, filepath.Join(rootPath, name))
	}
	root, err := Root(rootPath)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()

	f, err := Open(root, "/etc-link/passwd", unix.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 16)
	n, _ := f.Read(b)
	f.Close()
	if string(b[:n]) != "inside" {
		t.Errorf("/etc-link/passwd read %q", b[:n])
	}
	for _, p := range []string{"/abs/passwd", "/rel/passwd", "/../../" + outside + "/passwd"} {
		if f, err := Open(root, p, unix.O_RDONLY); err == nil {
			f.Close()
			t.Errorf("%s: opened something (only the outside file exists)", p)
		}
	}
	d, err := MkdirAll(root, "/abs/a/b", 0o755)
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	h, err := CreateFile(root, "/dangling", 0o644)
	if err != nil {
		t.Fatal(err)
	}
	h.Close()
	if _, err := os.Stat(filepath.Join(rootPath, outside, "a", "b")); err != nil {
		t.Errorf("directory not created inside: %v", err)
	}
	if _, err := os.Stat(filepath.Join(rootPath, outside, "new-file")); err != nil {
		t.Errorf("file not created inside: %v", err)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 1 {
		t.Errorf("something was created outside: %v", ents)
	}
}
