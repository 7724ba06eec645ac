package lifecycle_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/internal/testutil"
)

// Idmapped bind mounts in a container with a new user namespace (0 →
// host 100000, 65536 ids): the host side of the chain makes the trees
// before the clone (pkg/idmap, OCI_MOUNT_FDS), since the container's root
// has no privilege over the host's filesystem. runtime-spec mappings of a
// mount read as user namespace mappings: an on-disk id containerID+n is
// seen as the host id hostID+n, which the container's own mapping then
// shows inside. Runs in the chain oci-run picks, and with
// OCI_RUN_CHAIN=stages in the stage programs.

func userNSSpec(args ...string) *specs.Spec {
	s := testutil.Spec("", args...)
	s.Root = nil
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	s.Linux.GIDMappings = s.Linux.UIDMappings
	return s
}

// owners parses "PATH UID:GID" lines.
func owners(out string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if p, o, ok := strings.Cut(strings.TrimSpace(l), " "); ok && strings.HasPrefix(p, "/") {
			m[p] = o
		}
	}
	return m
}

// wantOwners checks the owners stat printed in out ("PATH UID:GID"
// lines) against want.
func wantOwners(t *testing.T, out string, want map[string]string) {
	t.Helper()
	got := owners(out)
	for p, w := range want {
		if got[p] != w {
			t.Errorf("%s owned by %q inside, want %s", p, got[p], w)
		}
	}
}

// mountOpts returns the per-mount options of mount point p in a mountinfo
// dump ("" when it is not mounted).
func mountOpts(mountinfo, p string) string {
	for _, l := range strings.Split(mountinfo, "\n") {
		f := strings.Fields(l)
		if len(f) > 5 && f[4] == p {
			return f[5]
		}
	}
	return ""
}

func TestIDMappedMountUserNamespace(t *testing.T) {
	r := newRT(t)
	before := testutil.Mounts(t)
	src := testutil.IDMapSource(t)
	s := userNSSpec("sh", "-c", `stat -c '%n %u:%g' /mnt/a /mnt/b /home/a /home/b /var/a
echo "fds $(cd /proc/self/fd && echo *)"
cat /proc/self/mountinfo`)
	s.Mounts = append(s.Mounts,
		// The container's own mappings.
		specs.Mount{Destination: "/mnt", Type: "bind", Source: src, Options: []string{"bind", "idmap"}},
		// The mount's own: uid 0 → 100010, gid 0 → 100020.
		specs.Mount{Destination: "/home", Type: "bind", Source: src, Options: []string{"bind", "idmap", "ro"},
			UIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100010, Size: 100}},
			GIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100020, Size: 100}}},
		specs.Mount{Destination: "/var", Type: "bind", Source: src, Options: []string{"bind"}})
	b := testutil.Bundle(t, s)
	id := testutil.ID(t)
	res := r.run("run", "-b", b, id)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	wantOwners(t, res.stdout, map[string]string{
		"/mnt/a": "0:0", "/mnt/b": "5:7",
		"/home/a": "10:20", "/home/b": "15:27",
		"/var/a": "65534:65534", // not mapped into the container
	})
	for p, want := range map[string]string{"/mnt": "idmapped", "/home": "idmapped", "/var": ""} {
		opts := mountOpts(res.stdout, p)
		if has := strings.Contains(opts, "idmapped"); has != (want != "") || opts == "" {
			t.Errorf("%s mount options %q", p, opts)
		}
	}
	if !strings.HasPrefix(mountOpts(res.stdout, "/home"), "ro,") {
		t.Errorf("/home not read-only: %q", mountOpts(res.stdout, "/home"))
	}
	// Invariant 1: the trees were host descriptors; none reached the
	// process (the glob's own directory may show as 3).
	if !strings.Contains(res.stdout, "fds 0 1 2\n") && !strings.Contains(res.stdout, "fds 0 1 2 3\n") {
		t.Errorf("descriptors in the container:\n%s", res.stdout)
	}
	r.noLeaks(id, before)
}

// ridmap on a tree with a submount: the submount comes along and is
// idmapped too; with rbind and idmap it comes along as it is.
func TestRIDMappedSubmount(t *testing.T) {
	r := newRT(t)
	src := testutil.IDMapSource(t)
	sub := filepath.Join(src, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", sub, "tmpfs", 0, "mode=755"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(sub, unix.MNT_DETACH) })
	if err := os.WriteFile(filepath.Join(sub, "c"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chown(filepath.Join(sub, "c"), 3, 4)
	before := testutil.Mounts(t)
	s := userNSSpec("sh", "-c", `stat -c '%n %u:%g' /mnt/a /mnt/sub/c /home/a /home/sub/c; cat /proc/self/mountinfo`)
	s.Mounts = append(s.Mounts,
		specs.Mount{Destination: "/mnt", Type: "bind", Source: src, Options: []string{"rbind", "ridmap"}},
		specs.Mount{Destination: "/home", Type: "bind", Source: src, Options: []string{"rbind", "idmap"}})
	b := testutil.Bundle(t, s)
	id := testutil.ID(t)
	res := r.run("run", "-b", b, id)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	wantOwners(t, res.stdout, map[string]string{
		"/mnt/a": "0:0", "/mnt/sub/c": "3:4",
		"/home/a": "0:0", "/home/sub/c": "65534:65534",
	})
	for p, idmapped := range map[string]bool{"/mnt": true, "/mnt/sub": true, "/home": true, "/home/sub": false} {
		opts := mountOpts(res.stdout, p)
		if opts == "" || strings.Contains(opts, "idmapped") != idmapped {
			t.Errorf("%s mount options %q, idmapped should be %v", p, opts, idmapped)
		}
	}
	r.noLeaks(id, before)
}

// A source that does not exist fails create with the field's path, and
// leaves nothing behind: no state dir, cgroup, mount or process.
func TestIDMappedMountBadSourceLeavesNothing(t *testing.T) {
	r := newRT(t)
	before := testutil.Mounts(t)
	s := userNSSpec("true")
	s.Mounts = append(s.Mounts, specs.Mount{Destination: "/mnt", Type: "bind", Source: "/nonexistent-idmap-source", Options: []string{"bind", "idmap"}})
	b := testutil.Bundle(t, s)
	id := testutil.ID(t)
	res := r.run("create", "-b", b, id)
	if res.code == 0 {
		r.run("delete", "--force", id)
		t.Fatal("create succeeded")
	}
	msg := strings.TrimSpace(res.stderr)
	want := "mounts[" + strconv.Itoa(len(s.Mounts)-1) + "].source"
	if strings.Contains(msg, "\n") || !strings.Contains(msg, want) || !strings.Contains(msg, "/nonexistent-idmap-source") {
		t.Errorf("error %q, want one line naming %s and the path", msg, want)
	}
	t.Logf("create: %s", msg)
	r.noLeaks(id, before)
}
