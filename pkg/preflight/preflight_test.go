package preflight

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oci-run/oci-run/pkg/specgen"
)

func bundle(t *testing.T, edit func(c map[string]any)) string {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "rootfs"), 0o755)
	s := specgen.Default()
	s.Root.Path = "rootfs"
	b, _ := json.Marshal(s)
	var c map[string]any
	json.Unmarshal(b, &c)
	if edit != nil {
		edit(c)
	}
	b, _ = json.Marshal(c)
	os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644)
	return dir
}

func TestBundleCollectsEveryProblemOnce(t *testing.T) {
	dir := bundle(t, func(c map[string]any) {
		p := c["process"].(map[string]any)
		p["args"] = []any{}
		p["cwd"] = "relative"
		caps := p["capabilities"].(map[string]any)
		caps["bounding"] = []any{"CAP_NOPE"}
		l := c["linux"].(map[string]any)
		l["maskedPaths"] = []any{"relative"}
	})
	r := Bundle(Options{ID: "x", Bundle: dir})
	var got []string
	for _, e := range r.Errors {
		got = append(got, e.Error())
	}
	for _, want := range []string{"process.args: ", "process.cwd: ", "process.capabilities.bounding[0]: ", "linux.maskedPaths[0]: "} {
		n := 0
		for _, g := range got {
			if strings.HasPrefix(g, want) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%q reported %d times in %q", want, n, got)
		}
	}
	if r.Err() == nil || r.Spec == nil {
		t.Errorf("Err %v, Spec %v", r.Err(), r.Spec)
	}
}

func TestBundleUnreadable(t *testing.T) {
	r := Bundle(Options{ID: "x", Bundle: t.TempDir()})
	if r.Spec != nil || len(r.Errors) != 1 || !strings.Contains(r.Err().Error(), "config.json: no such file") {
		t.Errorf("%v", r.Errors)
	}
	dir := bundle(t, nil)
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"process":[]}`), 0o644)
	r = Bundle(Options{ID: "x", Bundle: dir})
	if r.Spec != nil || r.Err() == nil || r.Err().Error() != "config.json: process: expected object, got JSON array" {
		t.Errorf("%v", r.Err())
	}
}

func TestBundleGood(t *testing.T) {
	dir := bundle(t, nil)
	r := Bundle(Options{ID: "x", Bundle: dir})
	if r.Err() != nil {
		t.Fatalf("default configuration: %v", r.Errors)
	}
	if r.Rootfs == nil || r.Rootfs.Rootfs != filepath.Join(dir, "rootfs") || len(r.Cgroup.Dirs) == 0 {
		t.Errorf("plans: rootfs %+v, cgroup %+v", r.Rootfs, r.Cgroup)
	}
}

func TestHostReportsTheKernel(t *testing.T) {
	r := &Result{}
	fs := Host(r, nil)
	names := map[string]string{}
	for _, f := range fs {
		names[f.Name] = f.Value
	}
	if names["kernel"] == "" || names["memfd_create(MFD_ALLOW_SEALING)"] != "yes" || names["pidfd_open"] != "yes" {
		t.Errorf("host features %v", fs)
	}
}
