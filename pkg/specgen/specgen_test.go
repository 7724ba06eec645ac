package specgen

import (
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestRootless(t *testing.T) {
	s := Default()
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	Rootless(s, 1000, 100)
	var types []specs.LinuxNamespaceType
	for _, n := range s.Linux.Namespaces {
		types = append(types, n.Type)
	}
	if slices.Contains(types, specs.NetworkNamespace) || slices.Index(types, specs.UserNamespace) != len(types)-1 {
		t.Errorf("namespaces %v: want no network, one user", types)
	}
	if m := s.Linux.UIDMappings; len(m) != 1 || m[0] != (specs.LinuxIDMapping{ContainerID: 0, HostID: 1000, Size: 1}) {
		t.Errorf("uid mappings %+v", m)
	}
	if m := s.Linux.GIDMappings; len(m) != 1 || m[0].HostID != 100 {
		t.Errorf("gid mappings %+v", m)
	}
	for _, m := range s.Mounts {
		switch {
		case m.Destination == "/sys" && (m.Type != "none" || m.Source != "/sys" || !slices.Contains(m.Options, "rbind") || !slices.Contains(m.Options, "ro")):
			t.Errorf("/sys: %+v, want a read-only rbind of the host's", m)
		case m.Destination == "/dev/pts" && slices.Contains(m.Options, "gid=5"):
			t.Errorf("/dev/pts keeps gid=5: %v", m.Options)
		}
	}
	if s.Linux.Resources != nil {
		t.Errorf("resources %+v", s.Linux.Resources)
	}
	// The default itself is untouched by another call's changes.
	if d := Default(); d.Linux.UIDMappings != nil || d.Linux.Resources == nil {
		t.Error("Default shares state with a rootless spec")
	}
}
