package spec

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestValidateNamespaceRules(t *testing.T) {
	ns := func(list ...specs.LinuxNamespace) *specs.Spec {
		return &specs.Spec{Linux: &specs.Linux{Namespaces: list}}
	}
	user := specs.LinuxNamespace{Type: specs.UserNamespace}
	root := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	withMaps := func(s *specs.Spec, u, g []specs.LinuxIDMapping) *specs.Spec {
		s.Linux.UIDMappings, s.Linux.GIDMappings = u, g
		return s
	}
	cases := []struct {
		name string
		spec *specs.Spec
		want string // "" = valid; else the start of the first error
	}{
		{"plain", ns(specs.LinuxNamespace{Type: specs.PIDNamespace}), ""},
		{"hostname without uts", func() *specs.Spec { s := ns(); s.Hostname = "x"; return s }(), "hostname: cannot be set without a uts namespace"},
		{"hostname no linux", &specs.Spec{Hostname: "x"}, "hostname: cannot be set"},
		{"hostname joined uts", func() *specs.Spec {
			s := ns(specs.LinuxNamespace{Type: specs.UTSNamespace, Path: "/proc/1/ns/uts"})
			s.Hostname = "x"
			return s
		}(), ""},
		{"domainname too long", func() *specs.Spec {
			s := ns(specs.LinuxNamespace{Type: specs.UTSNamespace})
			s.Domainname = strings.Repeat("d", 65)
			return s
		}(), "domainname: is 65 bytes long"},
		{"user ok", withMaps(ns(user), root, root), ""},
		{"user multiple ranges", withMaps(ns(user), []specs.LinuxIDMapping{idm(0, 1000, 1000), idm(1000, 5000, 10)}, root), ""},
		{"user without maps", ns(user), "linux.uidMappings: must be set with a new user namespace (linux.namespaces[0])"},
		{"root unmapped", withMaps(ns(user), []specs.LinuxIDMapping{idm(1, 1000, 10)}, root), "linux.uidMappings: does not map the container's root"},
		{"maps without user", withMaps(ns(), nil, root), "linux.gidMappings: set without a user namespace"},
		{"joined user with maps", withMaps(ns(specs.LinuxNamespace{Type: specs.UserNamespace, Path: "/proc/1/ns/user"}), root, root), ""},
		{"size 0", withMaps(ns(user), []specs.LinuxIDMapping{idm(0, 1000, 1), idm(5, 7, 0)}, root), "linux.uidMappings[1].size: must not be 0"},
		{"container overlap", withMaps(ns(user), root, []specs.LinuxIDMapping{idm(0, 1000, 10), idm(5, 5000, 10)}), "linux.gidMappings[1]: container gids 5..14 overlap linux.gidMappings[0]"},
		{"host overlap", withMaps(ns(user), []specs.LinuxIDMapping{idm(0, 1000, 10), idm(100, 1009, 1)}, root), "linux.uidMappings[1]: host uids 1009..1009 overlap linux.uidMappings[0]"},
		{"past the end", withMaps(ns(user), []specs.LinuxIDMapping{idm(0, 4294967295, 1)}, root), "linux.uidMappings[0]: host uids 4294967295..4294967295 go past 4294967294"},
		{"too many", withMaps(ns(user), func() []specs.LinuxIDMapping {
			var m []specs.LinuxIDMapping
			for i := uint32(0); i < 341; i++ {
				m = append(m, specs.LinuxIDMapping{ContainerID: i, HostID: 1000 + i, Size: 1})
			}
			return m
		}(), root), "linux.uidMappings: has 341 ranges"},
		{"new user joined mount", withMaps(ns(user, specs.LinuxNamespace{Type: specs.MountNamespace, Path: "/proc/1/ns/mnt"}), root, root), "linux.namespaces[1].path: a mount namespace cannot be joined from a new user namespace"},
		{"offsets", func() *specs.Spec {
			s := ns(specs.LinuxNamespace{Type: specs.TimeNamespace})
			s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 10}, "boottime": {Secs: -5, Nanosecs: 3}}
			return s
		}(), ""},
		{"offsets without time", func() *specs.Spec {
			s := ns()
			s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 10}}
			return s
		}(), "linux.timeOffsets: set without a time namespace"},
		{"offsets joined time", func() *specs.Spec {
			s := ns(specs.LinuxNamespace{Type: specs.TimeNamespace, Path: "/proc/1/ns/time"})
			s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 10}}
			return s
		}(), "linux.timeOffsets: cannot be set for a joined time namespace (linux.namespaces[0].path)"},
		{"offsets bad clock", func() *specs.Spec {
			s := ns(specs.LinuxNamespace{Type: specs.TimeNamespace})
			s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"realtime": {Secs: 10}}
			return s
		}(), "linux.timeOffsets.realtime: unknown clock"},
		{"offsets nanosecs", func() *specs.Spec {
			s := ns(specs.LinuxNamespace{Type: specs.TimeNamespace})
			s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"boottime": {Nanosecs: 1e9}}
			return s
		}(), "linux.timeOffsets.boottime.nanosecs: 1000000000 is not below one second"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Validate(c.spec, "/", ForStage)
			if c.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), c.want) {
				t.Fatalf("error %v, want %q...", err, c.want)
			}
		})
	}
}

func idm(c, h, n uint32) specs.LinuxIDMapping {
	return specs.LinuxIDMapping{ContainerID: c, HostID: h, Size: n}
}
