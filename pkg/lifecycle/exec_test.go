package lifecycle

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-run/oci-run/pkg/state"
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

// The chain of an exec'd process: oci-unshare takes the init's root (with
// its start time) only for a container entered by chroot, and oci-exec
// joins the container's session keyring unless create had
// --no-new-keyring.
func TestExecPipeline(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"oci-cgroup", "oci-unshare", "oci-seccomp", "oci-exec"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	r := &Runtime{StageDir: dir}
	own := []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.MountNamespace}}
	for _, c := range []struct {
		name         string
		ns           []specs.LinuxNamespace
		noNewKeyring bool
		rootOf       bool
	}{
		{"own mount namespace", own, false, false},
		{"own mount namespace, no new keyring", own, true, false},
		{"runtime's mount namespace", []specs.LinuxNamespace{{Type: specs.PIDNamespace}}, false, true},
		{"nothing of its own", nil, true, true},
		{"joined mount namespace", []specs.LinuxNamespace{{Type: specs.MountNamespace, Path: "/proc/7/ns/mnt"}}, false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			base := baseSpec()
			base.Linux.Namespaces = c.ns
			ct := &state.Container{State: state.State{ID: "c1", Bundle: "/b", Pid: 4242, PidStart: 99, NoNewKeyring: c.noNewKeyring}}
			s := execSpec(base, base.Process, ct.State.Pid)
			argv, err := r.execPipeline(ct, s, ExecOptions{ID: "c1"}, 5, 6, enteredByChroot(base))
			if err != nil {
				t.Fatal(err)
			}
			segs := splitPipeline(argv)
			if len(segs) != 4 {
				t.Fatalf("pipeline %q", argv)
			}
			unshare, ex := segs[1], segs[3]
			if got := slices.Contains(unshare, "--root-of"); got != c.rootOf {
				t.Errorf("oci-unshare %q: --root-of %v, want %v", unshare, got, c.rootOf)
			} else if got && unshare[slices.Index(unshare, "--root-of")+1] != "4242:99" {
				t.Errorf("oci-unshare %q: --root-of names another process than the init 4242:99", unshare)
			}
			keyring := slices.Contains(ex, "--session-keyring")
			if keyring == c.noNewKeyring {
				t.Errorf("oci-exec %q: --session-keyring %v with --no-new-keyring %v", ex, keyring, c.noNewKeyring)
			} else if keyring && ex[slices.Index(ex, "--session-keyring")+1] != "_ses.c1" {
				t.Errorf("oci-exec %q: keyring is not the container's _ses.c1", ex)
			}
		})
	}
}

func splitPipeline(argv []string) [][]string {
	var out [][]string
	cur := []string{}
	for _, a := range argv {
		if a == "--" {
			out = append(out, cur)
			cur = []string{}
			continue
		}
		cur = append(cur, a)
	}
	return append(out, cur)
}
