package state

import (
	"path/filepath"
	"strings"
	"testing"
)

// FuzzValidateID: an accepted container id names exactly one directory
// right under the state root, whatever it contains.
func FuzzValidateID(f *testing.F) {
	for _, id := range []string{"abc", "a-b_c.d+e", "..", ".", "../x", "a/b", "", "x\x00y",
		"f0e1d2c3b4a5968778695a4b3c2d1e0ff0e1d2c3b4a5968778695a4b3c2d1e0f", "k8s_POD_nginx_default_1234_0", "-x", "..."} {
		f.Add(id)
	}
	f.Fuzz(func(t *testing.T, id string) {
		err := ValidateID(id)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("multi-line error %q", err)
			}
			return
		}
		root := "/run/oci-run"
		p := filepath.Join(root, id)
		if filepath.Dir(p) != root || filepath.Base(p) != id {
			t.Errorf("id %q names %s, not a directory right under %s", id, p, root)
		}
		if strings.ContainsAny(id, "/\x00") || id == "." || id == ".." {
			t.Errorf("id %q accepted", id)
		}
	})
}
