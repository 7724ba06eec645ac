package sysctl

import (
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func spec(sysctl map[string]string, hostname string, ns ...specs.LinuxNamespaceType) *specs.Spec {
	s := &specs.Spec{Hostname: hostname, Linux: &specs.Linux{Sysctl: sysctl}}
	for _, t := range ns {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: t})
	}
	return s
}

func TestPlan(t *testing.T) {
	got, err := Plan(spec(map[string]string{
		"net.ipv4.ip_forward":               "1",
		"kernel.shmmax":                     "1024",
		"fs.mqueue.msg_max":                 "20",
		"kernel.domainname":                 "example",
		"net/ipv4/conf/eth0.100/forwarding": "1",
	}, "", specs.NetworkNamespace, specs.IPCNamespace, specs.UTSNamespace))
	if err != nil {
		t.Fatal(err)
	}
	want := []Setting{
		{"fs.mqueue.msg_max", "fs/mqueue/msg_max", "20"},
		{"kernel.domainname", "kernel/domainname", "example"},
		{"kernel.shmmax", "kernel/shmmax", "1024"},
		{"net.ipv4.ip_forward", "net/ipv4/ip_forward", "1"},
		{"net/ipv4/conf/eth0.100/forwarding", "net/ipv4/conf/eth0.100/forwarding", "1"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
}

func TestPlanErrors(t *testing.T) {
	tests := []struct {
		spec *specs.Spec
		want string
	}{
		{spec(map[string]string{"net.ipv4.ip_forward": "1"}, ""), `linux.sysctl["net.ipv4.ip_forward"]: belongs to the network namespace`},
		{spec(map[string]string{"kernel.shmmax": "1"}, "", specs.NetworkNamespace), `linux.sysctl["kernel.shmmax"]: belongs to the ipc namespace`},
		{spec(map[string]string{"fs.mqueue.msg_max": "1"}, ""), `belongs to the ipc namespace`},
		{spec(map[string]string{"kernel.hostname": "x"}, "h", specs.UTSNamespace), `linux.sysctl["kernel.hostname"]: conflicts with the hostname field`},
		{spec(map[string]string{"kernel.domainname": "x"}, ""), `belongs to the uts namespace`},
		{spec(map[string]string{"vm.swappiness": "1"}, "", specs.NetworkNamespace), `linux.sysctl["vm.swappiness"]: is not namespaced`},
		{spec(map[string]string{"net.ipv4..x": "1"}, "", specs.NetworkNamespace), `is not a sysctl key`},
		{spec(map[string]string{"net/../kernel/x": "1"}, "", specs.NetworkNamespace), `is not a sysctl key`},
		{spec(map[string]string{"": "1"}, "", specs.NetworkNamespace), `empty key`},
	}
	for _, tt := range tests {
		_, err := Plan(tt.spec)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("got %v, want %s", err, tt.want)
		}
	}
}
