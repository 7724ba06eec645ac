package testutil

import (
	"os"
	"path/filepath"
	"testing"
)

// IDMapSource makes a host directory for idmapped mount tests, whose
// files are owned on disk by 0:0 ("a") and 5:7 ("b"). Its path is made
// searchable for a container's mapped root (a plain bind of it needs
// that; an idmapped one does not).
func IDMapSource(t testing.TB) string {
	t.Helper()
	src := t.TempDir()
	for d := src; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	for _, f := range []struct {
		name     string
		uid, gid int
	}{{"a", 0, 0}, {"b", 5, 7}} {
		p := filepath.Join(src, f.name)
		if err := os.WriteFile(p, []byte(f.name), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, f.uid, f.gid); err != nil {
			t.Fatal(err)
		}
	}
	return src
}
