package namespace

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Check reads the host: the namespaces of this test process serve as the
// paths to check.
func TestCheck(t *testing.T) {
	one := func(typ specs.LinuxNamespaceType, path string) *specs.Spec {
		return &specs.Spec{Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: typ, Path: path}}}}
	}
	cases := []struct {
		name string
		spec *specs.Spec
		want string
	}{
		{"right type", one(specs.NetworkNamespace, "/proc/self/ns/net"), ""},
		{"pid for children", one(specs.PIDNamespace, "/proc/self/ns/pid_for_children"), ""},
		{"wrong type", one(specs.NetworkNamespace, "/proc/self/ns/pid"), `linux.namespaces[1].path: "/proc/self/ns/pid" is a pid namespace, the entry says network`},
		{"not a namespace", one(specs.IPCNamespace, "/proc/self/status"), `linux.namespaces[1].path: "/proc/self/status" is not a namespace file`},
		{"missing", one(specs.UTSNamespace, "/nonexistent/ns"), `linux.namespaces[1].path: "/nonexistent/ns": no such file or directory`},
		{"hostname in the runtime's uts namespace", func() *specs.Spec {
			s := one(specs.UTSNamespace, "/proc/self/ns/uts")
			s.Hostname = "x"
			return s
		}(), `hostname: cannot be set: linux.namespaces[1].path "/proc/self/ns/uts" is the runtime's own uts namespace`},
		{"network devices", func() *specs.Spec {
			s := one(specs.NetworkNamespace, "")
			s.Linux.NetDevices = map[string]specs.LinuxNetDevice{"dummy0": {Name: "eth1"}}
			return s
		}(), `linux.netDevices: moving network devices into the container is not supported by oci-run`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Check(c.spec)
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
}
