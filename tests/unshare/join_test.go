package unshare_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-run/oci-run/internal/testutil"
)

const holderMaps = "0 100000 65536"

// Each type joined alone: that namespace is the holder's, the others the
// host's.
func TestJoinEachTypeByPath(t *testing.T) {
	testutil.RequireRoot(t)
	host := procNS(t, os.Getpid())
	for _, c := range []struct {
		typ  specs.LinuxNamespaceType
		proc string
		opts []string
		maps string
	}{
		{specs.PIDNamespace, "pid", []string{"--pid"}, ""},
		{specs.NetworkNamespace, "net", []string{"--net"}, ""},
		{specs.IPCNamespace, "ipc", []string{"--ipc"}, ""},
		{specs.UTSNamespace, "uts", []string{"--uts"}, ""},
		{specs.MountNamespace, "mnt", []string{"--mount"}, ""},
		{specs.CgroupNamespace, "cgroup", []string{"--cgroup"}, ""},
		{specs.TimeNamespace, "time", []string{"--time", "--boottime", "1000"}, ""},
		{specs.UserNamespace, "user", []string{"--user"}, holderMaps},
	} {
		t.Run(c.proc, func(t *testing.T) {
			h := newHolder(t, c.maps, "", c.opts...)
			theirs := procNS(t, h.pid)
			s := newSpec(specs.LinuxNamespace{Type: c.typ, Path: h.path(c.proc)})
			inside := parseNS(t, mustRun(t, s, "sh", "-c", nsScript))
			for _, n := range nsNames {
				want, whose := host[n], "host's"
				if n == c.proc {
					want, whose = theirs[n], "joined"
				}
				if inside[n] != want {
					t.Errorf("%s namespace %s, want the %s %s", n, inside[n], whose, want)
				}
			}
		})
	}
}

// What `oci-run exec` does: join all eight namespaces of a running
// container whose mount namespace was pivoted into a rootfs. The process
// lands at that root, in the container's pid namespace (not as its pid 1),
// as root of its user namespace with its mappings.
func TestJoinAllLikeExec(t *testing.T) {
	testutil.RequireRoot(t)
	rootfs := testutil.NewRootfs(t)
	chown(t, rootfs, 100000, 100000)
	traversable(t, rootfs)
	if err := os.WriteFile(filepath.Join(rootfs, "marker"), []byte("inside the rootfs\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The holder becomes a container: its own namespaces of every type, its
	// root pivoted into the rootfs.
	pivot := fmt.Sprintf("mount --make-rprivate / && mount --bind %s %s && cd %s && mkdir -p .old && pivot_root . .old && mount -t proc proc /proc && umount -l /.old", rootfs, rootfs, rootfs)
	h := newHolder(t, holderMaps, pivot, "--user", "--mount", "--pid", "--net", "--ipc", "--uts", "--cgroup", "--time")
	theirs := procNS(t, h.pid)
	var ns []specs.LinuxNamespace
	for _, k := range []struct {
		typ  specs.LinuxNamespaceType
		proc string
	}{
		{specs.PIDNamespace, "pid"}, {specs.NetworkNamespace, "net"}, {specs.IPCNamespace, "ipc"}, {specs.UTSNamespace, "uts"},
		{specs.MountNamespace, "mnt"}, {specs.CgroupNamespace, "cgroup"}, {specs.UserNamespace, "user"}, {specs.TimeNamespace, "time"},
	} {
		ns = append(ns, specs.LinuxNamespace{Type: k.typ, Path: h.path(k.proc)})
	}
	s := newSpec(ns...)
	s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	s.Linux.GIDMappings = s.Linux.UIDMappings
	out := mustRun(t, s, "/bin/sh", "-c", nsScript+`; echo "pid $$"; echo "id $(id -u):$(id -g)"; echo "cwd $(pwd)"; cat /marker /proc/self/uid_map`)
	inside := parseNS(t, out)
	for _, n := range nsNames {
		if inside[n] != theirs[n] {
			t.Errorf("%s namespace %s, want the joined %s", n, inside[n], theirs[n])
		}
	}
	for _, want := range []string{"id 0:0", "cwd /", "inside the rootfs", "0     100000      65536"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "pid 1\n") {
		t.Errorf("the joined process is pid 1 of the container:\n%s", out)
	}
}

// A Kubernetes pod with user namespaces: the container joins the pod's
// user and network namespaces and gets new mount, pid and uts namespaces,
// owned by the joined user namespace (its root can set the hostname there).
func TestNewNamespacesInsideAJoinedUserNamespace(t *testing.T) {
	testutil.RequireRoot(t)
	h := newHolder(t, holderMaps, "", "--user", "--net")
	theirs := procNS(t, h.pid)
	host := procNS(t, os.Getpid())
	s := newSpec(
		specs.LinuxNamespace{Type: specs.UserNamespace, Path: h.path("user")},
		specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: h.path("net")},
		specs.LinuxNamespace{Type: specs.MountNamespace},
		specs.LinuxNamespace{Type: specs.PIDNamespace},
		specs.LinuxNamespace{Type: specs.UTSNamespace},
	)
	s.Hostname = "pod-member"
	out := mustRun(t, s, "sh", "-c", nsScript+"; hostname; echo pid $$; id -u")
	inside := parseNS(t, out)
	for _, n := range []string{"user", "net"} {
		if inside[n] != theirs[n] {
			t.Errorf("%s namespace %s, want the joined %s", n, inside[n], theirs[n])
		}
	}
	for _, n := range []string{"mnt", "pid", "uts"} {
		if inside[n] == theirs[n] || inside[n] == host[n] {
			t.Errorf("%s namespace %s is not new", n, inside[n])
		}
	}
	for _, want := range []string{"pod-member\n", "pid 1\n", "\n0\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// Bad paths fail with one line naming the field; nothing is started.
func TestJoinErrors(t *testing.T) {
	testutil.RequireRoot(t)
	h := newHolder(t, holderMaps, "", "--user", "--net")
	before := host(t)
	self := fmt.Sprintf("/proc/%d/ns/", os.Getpid())
	cases := []struct {
		name string
		spec *specs.Spec
		want []string
	}{
		{"wrong type", newSpec(nsNew(specs.PIDNamespace)[0], specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: self + "pid"}),
			[]string{"linux.namespaces[1].path", "is a pid namespace, the entry says network"}},
		{"wrong type of the holder", newSpec(specs.LinuxNamespace{Type: specs.UserNamespace, Path: h.path("net")}),
			[]string{"linux.namespaces[0].path", "is a network namespace, the entry says user"}},
		{"not a namespace", newSpec(specs.LinuxNamespace{Type: specs.IPCNamespace, Path: "/etc/hostname"}),
			[]string{"linux.namespaces[0].path", `"/etc/hostname" is not a namespace file`}},
		{"missing", newSpec(specs.LinuxNamespace{Type: specs.MountNamespace, Path: "/proc/999999999/ns/mnt"}),
			[]string{"linux.namespaces[0].path", "no such file or directory"}},
		{"relative", newSpec(specs.LinuxNamespace{Type: specs.MountNamespace, Path: "ns/mnt"}),
			[]string{"linux.namespaces[0].path", "not an absolute path"}},
		{"hostname in the runtime's uts namespace", func() *specs.Spec {
			s := newSpec(specs.LinuxNamespace{Type: specs.UTSNamespace, Path: self + "uts"})
			s.Hostname = "nope"
			return s
		}(), []string{"hostname", "the runtime's own uts namespace"}},
		{"mappings of another user namespace", func() *specs.Spec {
			s := newSpec(specs.LinuxNamespace{Type: specs.UserNamespace, Path: h.path("user")})
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 200000, Size: 65536}}
			return s
		}(), []string{"linux.uidMappings", "do not match the mappings of the joined user namespace", "linux.namespaces[0].path"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			refused(t, c.spec, c.want...)
		})
	}
	if got := host(t); got != before {
		t.Errorf("hostname changed to %q", got)
	}
}

func host(t *testing.T) string {
	h, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// chown changes the owner of every file under dir, symlinks themselves
// included.
func chown(t *testing.T, dir string, uid, gid int) {
	t.Helper()
	err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// traversable opens the directories above dir (t.TempDir makes them 0700)
// to the mapped root of a user namespace, which is not the host's root.
func traversable(t *testing.T, dir string) {
	t.Helper()
	for d := filepath.Dir(dir); d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}
