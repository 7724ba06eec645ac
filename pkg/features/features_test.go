package features

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestBuild(t *testing.T) {
	f := Build(nil, map[string]string{AnnotationVersion: "1"})
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"ociVersionMin", "ociVersionMax", "hooks", "mountOptions", "linux", "annotations"} {
		if _, ok := back[k]; !ok {
			t.Errorf("no %q in %s", k, b)
		}
	}
	if len(f.Hooks) != 6 {
		t.Errorf("hooks: %v", f.Hooks)
	}
	for _, o := range []string{"rro", "rbind", "tmpcopyup", "idmap", "nosymfollow", "rprivate"} {
		if !slices.Contains(f.MountOptions, o) {
			t.Errorf("mount option %q missing", o)
		}
	}
	if !slices.IsSorted(f.MountOptions) {
		t.Errorf("mount options not sorted: %v", f.MountOptions)
	}
	if f.Linux.Seccomp == nil || f.Linux.Seccomp.Enabled == nil || *f.Linux.Seccomp.Enabled {
		t.Errorf("seccomp without oci-seccomp: %+v", f.Linux.Seccomp)
	}
	if !slices.Contains(f.Linux.Namespaces, "mount") || !slices.Contains(f.Linux.Capabilities, "CAP_SYS_ADMIN") {
		t.Errorf("namespaces %v capabilities %v", f.Linux.Namespaces, f.Linux.Capabilities)
	}
}
