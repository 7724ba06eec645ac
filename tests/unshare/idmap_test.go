package unshare_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-run/oci-run/internal/testutil"
)

// idmapChainSpec is a full container (rootfs, mounts, process) in a user
// namespace mapping 0→100000×65536, with src idmapped on /mnt through the
// container's own mappings and bound plainly on /home.
func idmapChainSpec(t *testing.T, src string, user specs.LinuxNamespace, args ...string) *specs.Spec {
	s := testutil.Spec(testutil.SharedRootfs(t), args...)
	s.Linux.Namespaces = append(s.Linux.Namespaces, user)
	s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	s.Linux.GIDMappings = s.Linux.UIDMappings
	s.Mounts = append(s.Mounts,
		specs.Mount{Destination: "/mnt", Type: "bind", Source: src, Options: []string{"bind", "idmap"}},
		specs.Mount{Destination: "/home", Type: "bind", Source: src, Options: []string{"bind"}})
	return s
}

const idmapScript = `stat -c '%n %u:%g' /mnt/a /mnt/b /home/a
grep -c ' /mnt .*idmapped' /proc/self/mountinfo
echo "fds $(cd /proc/self/fd && echo *)"
env | grep ^OCI_ || true`

// checkIdmapOutput: through the idmapped mount the on-disk owners show
// unchanged inside (0 on disk → host 100000 → 0 in the container), through
// the plain bind they are unmapped (nobody); the mount is idmapped and no
// host descriptor or handover variable reached the process.
func checkIdmapOutput(t *testing.T, out string) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	want := []string{"/mnt/a 0:0", "/mnt/b 5:7", "/home/a 65534:65534", "1"}
	if len(lines) < len(want)+1 {
		t.Fatalf("output:\n%s", out)
	}
	for i, w := range want {
		if lines[i] != w {
			t.Errorf("line %d: %q, want %q\n%s", i, lines[i], w, out)
		}
	}
	// The glob's own directory descriptor may show as one more.
	if f := strings.Fields(lines[len(want)]); len(f) < 4 || strings.Join(f[:4], " ") != "fds 0 1 2" || len(f) > 5 {
		t.Errorf("descriptors in the container: %q", lines[len(want)])
	}
	if len(lines) > len(want)+1 {
		t.Errorf("handover variables reached the process: %q", lines[len(want)+1:])
	}
}

// The stage chain alone, oci-unshare -- oci-mount -- oci-exec with the
// spec on fd 3: oci-unshare's parent makes the idmapped tree with the
// host's privilege and hands it down (OCI_MOUNT_FDS); oci-mount, root of
// the new user namespace, could not.
//
// The source of the second idmapped mount is below a directory only the
// host's root may search: oci-mount takes the handed tree as it is, never
// its path.
func TestIDMappedMountStageChain(t *testing.T) {
	testutil.RequireRoot(t)
	src := testutil.IDMapSource(t)
	private := filepath.Join(src, "private", "data")
	if err := os.MkdirAll(private, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(private, "c"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chown(filepath.Join(private, "c"), 3, 3)
	s := idmapChainSpec(t, src, specs.LinuxNamespace{Type: specs.UserNamespace}, "sh", "-c", idmapScript+`; stat -c '%n %u:%g' /var/c`)
	s.Mounts = append(s.Mounts, specs.Mount{Destination: "/var", Type: "bind", Source: private, Options: []string{"rbind", "idmap"}})
	m := marker(t)
	s.Process.Args = append(s.Process.Args, m)
	r := run(t, s, nil, testutil.Bin(t, "oci-mount"), "--", testutil.Bin(t, "oci-exec"))
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	out, last, _ := strings.Cut(strings.TrimSpace(r.stdout), "\n/var/c ")
	checkIdmapOutput(t, out)
	if last != "3:3" {
		t.Errorf("/var/c owner %q, want 3:3:\n%s", last, r.stdout)
	}
	noProcesses(t, m)
}

// A joined user namespace (a Kubernetes pod's): the trees are made before
// oci-unshare re-executes itself to join, and survive that exec.
func TestIDMappedMountJoinedUserNamespace(t *testing.T) {
	testutil.RequireRoot(t)
	h := newHolder(t, "0 100000 65536", "", "--user")
	src := testutil.IDMapSource(t)
	s := idmapChainSpec(t, src, specs.LinuxNamespace{Type: specs.UserNamespace, Path: h.path("user")}, "sh", "-c", idmapScript)
	r := run(t, s, nil, testutil.Bin(t, "oci-mount"), "--", testutil.Bin(t, "oci-exec"))
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	checkIdmapOutput(t, r.stdout)
}

// A source that does not exist: oci-unshare says which mount, before
// anything is cloned.
func TestIDMappedMountBadSource(t *testing.T) {
	testutil.RequireRoot(t)
	s := idmapChainSpec(t, "/nonexistent-idmap-source", specs.LinuxNamespace{Type: specs.UserNamespace}, "true")
	r := run(t, s, nil, testutil.Bin(t, "oci-mount"), "--", testutil.Bin(t, "oci-exec"))
	if r.code == 0 {
		t.Fatal("succeeded")
	}
	oneLine(t, r.stderr, "mounts[", "].source", "/nonexistent-idmap-source")
}
