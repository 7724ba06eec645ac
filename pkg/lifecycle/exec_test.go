package lifecycle

import (
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func baseSpec() *specs.Spec {
	return &specs.Spec{
		Hostname: "h",
		Process: &specs.Process{
			Args: []string{"sleep", "1"}, Env: []string{"PATH=/bin"}, Cwd: "/",
			User:         specs.User{UID: 0, GID: 0},
			Capabilities: &specs.LinuxCapabilities{Bounding: []string{"CAP_KILL"}, Effective: []string{"CAP_KILL"}},
		},
		Mounts: []specs.Mount{{Destination: "/proc", Type: "proc"}},
		Hooks:  &specs.Hooks{Poststop: []specs.Hook{{Path: "/x"}}},
		Linux: &specs.Linux{
			Namespaces:  []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace, Path: "/run/netns/x"}, {Type: specs.MountNamespace}},
			UIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}},
			MaskedPaths: []string{"/proc/kcore"},
			Seccomp:     &specs.LinuxSeccomp{DefaultAction: specs.ActAllow},
			CgroupsPath: "/c",
		},
	}
}

func TestExecProcessFlags(t *testing.T) {
	base := baseSpec()
	tty, nnp := true, true
	p, err := execProcess(base, ExecOptions{
		Args: []string{"sh"}, Tty: &tty, NoNewPrivs: &nnp, User: "5:6", AdditionalGids: []int64{7},
		Env: []string{"A=1"}, Cwd: "/tmp", Caps: []string{"net_raw"}, AppArmor: "prof",
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Args, []string{"sh"}) || !p.Terminal || !p.NoNewPrivileges || p.User.UID != 5 || p.User.GID != 6 ||
		!slices.Equal(p.User.AdditionalGids, []uint32{7}) || !slices.Equal(p.Env, []string{"PATH=/bin", "A=1"}) || p.Cwd != "/tmp" ||
		p.ApparmorProfile != "prof" || !slices.Contains(p.Capabilities.Bounding, "CAP_NET_RAW") || !slices.Contains(p.Capabilities.Permitted, "CAP_NET_RAW") {
		t.Errorf("process %+v caps %+v", p, p.Capabilities)
	}
	// The container's own process is not changed.
	if len(base.Process.Env) != 1 || len(base.Process.Capabilities.Bounding) != 1 || base.Process.Terminal {
		t.Errorf("base process changed: %+v", base.Process)
	}
	for _, bad := range []string{"x", "1:y", "-1"} {
		if _, err := execProcess(base, ExecOptions{Args: []string{"sh"}, User: bad}); err == nil {
			t.Errorf("--user %q accepted", bad)
		}
	}
}

func TestExecSpec(t *testing.T) {
	base := baseSpec()
	s := execSpec(base, &specs.Process{Args: []string{"id"}}, 4242)
	want := []specs.LinuxNamespace{
		{Type: specs.PIDNamespace, Path: "/proc/4242/ns/pid"},
		{Type: specs.NetworkNamespace, Path: "/proc/4242/ns/net"},
		{Type: specs.MountNamespace, Path: "/proc/4242/ns/mnt"},
	}
	if !slices.Equal(s.Linux.Namespaces, want) {
		t.Errorf("namespaces %v", s.Linux.Namespaces)
	}
	if s.Mounts != nil || s.Hooks != nil || s.Hostname != "" || s.Linux.UIDMappings != nil || s.Linux.MaskedPaths != nil {
		t.Errorf("container setup left in the exec spec: %+v", s)
	}
	if s.Linux.Seccomp == nil || s.Linux.CgroupsPath != "/c" || s.Process.Args[0] != "id" {
		t.Errorf("seccomp, cgroup or process lost: %+v", s.Linux)
	}
	if base.Linux.Namespaces[0].Path != "" || base.Mounts == nil {
		t.Error("the container's spec was changed")
	}
}
