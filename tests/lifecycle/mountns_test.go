package lifecycle_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-run/oci-run/internal/testutil"
)

// Containers whose rootfs is prepared in a mount namespace that is not
// their own: the runtime's (no "mount" entry, runtime-tools linux_ns_itype)
// and one joined by path (linux_ns_path). The container must see its
// rootfs; its mounts must land below the rootfs and nowhere else, without
// a propagation change of anything that was there; after delete the
// namespace's mount table must be what it was before create.

// table is the mount table of pid as full mountinfo lines (propagation
// included), without the mounts of other tests.
func (r *rt) table(pid int) []string {
	r.t.Helper()
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/mountinfo")
	if err != nil {
		r.t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) > 4 && len(r.ours([]string{fields[4]})) == 1 {
			out = append(out, sc.Text())
		}
	}
	return out
}

// checkAdded: every line of before is still in now, unchanged, and what
// was added is at or below rootfs.
func checkAdded(t *testing.T, what string, before, now []string, rootfs string) {
	t.Helper()
	have := map[string]bool{}
	for _, l := range now {
		have[l] = true
	}
	for _, l := range before {
		if !have[l] {
			t.Errorf("%s: mount changed or gone while the container exists: %s", what, l)
		}
		delete(have, l)
	}
	for l := range have {
		if p := strings.Fields(l)[4]; p != rootfs && !strings.HasPrefix(p, rootfs+"/") {
			t.Errorf("%s: mount outside the rootfs %s: %s", what, rootfs, l)
		}
	}
	if len(have) == 0 {
		t.Errorf("%s: no mount of the container below %s", what, rootfs)
	}
}

func mustRun(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %q: %v: %s", name, args, err, out)
	}
}

// mountTmpfs mounts a tmpfs at dir in the test's mount namespace (the
// host's) until the test ends.
func mountTmpfs(t *testing.T, dir string, opts ...string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "mount", append([]string{"-t", "tmpfs", "tmpfs", dir}, opts...)...)
	t.Cleanup(func() { detachUnder(t, dir) })
}

// detachUnder detaches everything mounted at or below dir in the test's
// namespace, so that a failing test leaves nothing on the host.
func detachUnder(t *testing.T, dir string) {
	for range 100 {
		var last string
		for _, m := range testutil.Mounts(t) {
			if m == dir || strings.HasPrefix(m, dir+"/") {
				last = m
			}
		}
		if last == "" || syscall.Unmount(last, syscall.MNT_DETACH) != nil {
			return
		}
	}
}

// withoutMountNS is the default spec with the mount namespace left out
// (shared) or joined at path.
func withoutMountNS(rootfs, path string, args ...string) *specs.Spec {
	s := testutil.Spec(rootfs, args...)
	var ns []specs.LinuxNamespace
	for _, n := range s.Linux.Namespaces {
		if n.Type != specs.MountNamespace {
			ns = append(ns, n)
		}
	}
	if path != "" {
		ns = append(ns, specs.LinuxNamespace{Type: specs.MountNamespace, Path: path})
	}
	s.Linux.Namespaces = ns
	return s
}

// createAndRun creates the container, checks the mount tables while it
// exists (check), starts it, waits for it to stop and deletes it; it
// returns what the container printed.
func (r *rt) createAndRun(s *specs.Spec, check func(pid int)) string {
	r.t.Helper()
	b := testutil.Bundle(r.t, s)
	id := testutil.ID(r.t)
	out := filepath.Join(r.t.TempDir(), "out")
	f, err := os.Create(out)
	if err != nil {
		r.t.Fatal(err)
	}
	cmd := exec.Command(r.bin, "--root", r.root, "create", "--bundle", b, id)
	cmd.Stdout, cmd.Stderr = f, f
	err = cmd.Run()
	f.Close()
	if err != nil {
		b, _ := os.ReadFile(out)
		r.t.Fatalf("create: %v: %s", err, b)
	}
	st := r.state(id)
	check(st.Pid)
	r.must("start", id)
	r.waitStatus(id, specs.StateStopped)
	r.must("delete", id)
	r.noLeaks(id, nil)
	b2, _ := os.ReadFile(out)
	return string(b2)
}

const showRoot = `cat /marker; readlink /proc/self/ns/mnt; cat /mnt/volume 2>&1; while read -r id p dev root point rest; do echo "mount $point"; done </proc/self/mountinfo`

// No "mount" entry: the rootfs is prepared in the runtime's mount
// namespace. The rootfs lies in a shared mount that has a peer elsewhere,
// and holds a volume the host mounted there: the shared mount stays
// shared, nothing of the container shows at the peer, and the volume
// stays after delete.
func TestSharedMountNamespace(t *testing.T) {
	r := newRT(t)
	dir := filepath.Dir(r.root)
	parent, peer := filepath.Join(dir, "parent"), filepath.Join(dir, "peer")
	mountTmpfs(t, parent)
	mustRun(t, "mount", "--make-shared", parent)
	if err := os.MkdirAll(peer, 0o755); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "mount", "--bind", parent, peer)
	t.Cleanup(func() { detachUnder(t, peer) })
	rootfs := filepath.Join(parent, "rootfs")
	if err := testutil.MakeRootfs(rootfs); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(rootfs, "marker"), []byte("shared-ns rootfs\n"), 0o644)
	mountTmpfs(t, filepath.Join(rootfs, "mnt"))
	os.WriteFile(filepath.Join(rootfs, "mnt", "volume"), []byte("host volume\n"), 0o644)

	self := os.Getpid()
	before := r.table(self)
	s := withoutMountNS(rootfs, "", "sh", "-c", showRoot)
	var checkInside []string
	out := r.createAndRun(s, func(pid int) {
		now := r.table(self)
		// The peer of the rootfs's shared parent receives a copy of what
		// is attached at the rootfs path: one plain bind of the rootfs,
		// nothing of what the container mounts below it.
		var inPeer []string
		old := map[string]bool{}
		for _, l := range before {
			old[l] = true
		}
		for _, l := range now {
			if p := strings.Fields(l)[4]; !old[l] && strings.HasPrefix(p, peer+"/") {
				inPeer = append(inPeer, l)
			} else {
				checkInside = append(checkInside, l)
			}
		}
		if len(inPeer) != 1 || strings.Fields(inPeer[0])[4] != filepath.Join(peer, "rootfs") {
			t.Errorf("propagated to the peer of the rootfs's parent: want one bind at %s/rootfs, got:\n%s", peer, strings.Join(inPeer, "\n"))
		}
		checkAdded(t, "host", before, checkInside, rootfs)
		if in, host := readlink(t, pid, "mnt"), readlink(t, self, "mnt"); in != host {
			t.Errorf("mount namespace %s, want the runtime's %s", in, host)
		}
	})
	if after := r.table(self); !reflect.DeepEqual(after, before) {
		t.Errorf("host mount table after delete:\n%s\nbefore create:\n%s", strings.Join(after, "\n"), strings.Join(before, "\n"))
	}
	checkView(t, out, readlink(t, self, "mnt"))
}

// The rootfs is itself a mount point: it stays one after delete.
func TestSharedMountNamespaceRootfsMountPoint(t *testing.T) {
	r := newRT(t)
	rootfs := filepath.Join(filepath.Dir(r.root), "rootfs")
	mountTmpfs(t, rootfs)
	if err := testutil.MakeRootfs(rootfs); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(rootfs, "marker"), []byte("shared-ns rootfs\n"), 0o644)
	self := os.Getpid()
	before := r.table(self)
	s := withoutMountNS(rootfs, "", "sh", "-c", showRoot)
	s.Linux.Namespaces = nil // nothing of its own, as linux_ns_itype
	s.Hostname = ""
	out := r.createAndRun(s, func(int) { checkAdded(t, "host", before, r.table(self), rootfs) })
	if after := r.table(self); !reflect.DeepEqual(after, before) {
		t.Errorf("host mount table after delete:\n%s\nbefore create:\n%s", strings.Join(after, "\n"), strings.Join(before, "\n"))
	}
	if !strings.HasPrefix(out, "shared-ns rootfs\n") {
		t.Errorf("container output %q", out)
	}
}

// mountNSOwner starts a process in a mount namespace of its own (util-linux
// unshare, then sleep), for a container to join by /proc/PID/ns/mnt, and
// returns its pid. It is killed at cleanup: call it before the container
// is made, so that the container is deleted first.
func mountNSOwner(t *testing.T) int {
	t.Helper()
	owner := exec.Command("unshare", "--mount", "--fork", "sh", "-c", "echo ready; exec sleep 1000")
	owner.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := owner.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := owner.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-owner.Process.Pid, syscall.SIGKILL)
		owner.Wait()
	})
	if line, _ := bufio.NewReader(stdout).ReadString('\n'); line != "ready\n" {
		t.Fatalf("unshare: %q", line)
	}
	return owner.Process.Pid
}

// The mount namespace of another process, joined by path: the rootfs is
// prepared there (the owner sees the container's mounts below the rootfs
// while it exists), its owner keeps its root (no pivot_root), and delete
// restores its mount table. A volume the owner mounted in the rootfs
// stays; nothing reaches the host's namespace.
func TestJoinedMountNamespace(t *testing.T) {
	r := newRT(t)
	rootfs := filepath.Join(filepath.Dir(r.root), "rootfs")
	if err := testutil.MakeRootfs(rootfs); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(rootfs, "marker"), []byte("joined-ns rootfs\n"), 0o644)
	opid := mountNSOwner(t)
	ns := "/proc/" + strconv.Itoa(opid) + "/ns/mnt"
	mustRun(t, "nsenter", "--mount="+ns, "sh", "-c", "mount -t tmpfs vol "+rootfs+"/mnt && echo 'owner volume' > "+rootfs+"/mnt/volume")

	self := os.Getpid()
	hostBefore, ownerBefore := r.table(self), r.table(opid)
	s := withoutMountNS(rootfs, ns, "sh", "-c", showRoot)
	out := r.createAndRun(s, func(pid int) {
		checkAdded(t, "owner", ownerBefore, r.table(opid), rootfs)
		if host := r.table(self); !reflect.DeepEqual(host, hostBefore) {
			t.Errorf("host mount table changed:\n%s", strings.Join(host, "\n"))
		}
		if in, want := readlink(t, pid, "mnt"), readlink(t, opid, "mnt"); in != want {
			t.Errorf("mount namespace %s, want the joined %s", in, want)
		}
		// The owner's root is still its own.
		if _, err := os.Stat("/proc/" + strconv.Itoa(opid) + "/root" + rootfs + "/marker"); err != nil {
			t.Errorf("the owner lost its root: %v", err)
		}
	})
	if after := r.table(opid); !reflect.DeepEqual(after, ownerBefore) {
		t.Errorf("owner's mount table after delete:\n%s\nbefore create:\n%s", strings.Join(after, "\n"), strings.Join(ownerBefore, "\n"))
	}
	if after := r.table(self); !reflect.DeepEqual(after, hostBefore) {
		t.Errorf("host mount table after delete:\n%s", strings.Join(after, "\n"))
	}
	if !strings.HasPrefix(out, "joined-ns rootfs\n"+readlink(t, opid, "mnt")+"\nowner volume\n") {
		t.Errorf("container output:\n%s", out)
	}
	if !strings.Contains(out, "mount /proc\n") || !strings.Contains(out, "mount /dev/pts\n") {
		t.Errorf("the container does not see its mounts:\n%s", out)
	}
}

func readlink(t *testing.T, pid int, ns string) string {
	t.Helper()
	l, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/" + ns)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// checkView: the container saw its rootfs, the volume the host mounted in
// it, the runtime's mount namespace, and its own mounts relative to its
// root.
func checkView(t *testing.T, out, mntns string) {
	t.Helper()
	if !strings.HasPrefix(out, "shared-ns rootfs\n"+mntns+"\nhost volume\n") {
		t.Errorf("container output:\n%s", out)
	}
	for _, m := range []string{"/", "/proc", "/dev", "/dev/pts", "/sys", "/mnt"} {
		if !strings.Contains(out, "mount "+m+"\n") {
			t.Errorf("the container does not see %s in its mountinfo:\n%s", m, out)
		}
	}
}

// A create that fails after oci-mount made its mounts (the program is
// missing) leaves nothing in the runtime's mount namespace either.
func TestSharedMountNamespaceFailedCreate(t *testing.T) {
	r := newRT(t)
	rootfs := filepath.Join(filepath.Dir(r.root), "rootfs")
	if err := testutil.MakeRootfs(rootfs); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { detachUnder(t, rootfs) })
	self := os.Getpid()
	before := r.table(self)
	b := testutil.Bundle(t, withoutMountNS(rootfs, "", "/nonexistent"))
	id := testutil.ID(t)
	res := r.run("create", "--bundle", b, id)
	if res.code == 0 || !strings.Contains(res.stderr, "no such file or directory") {
		t.Fatalf("create: %+v", res)
	}
	r.noLeaks(id, nil)
	if after := r.table(self); !reflect.DeepEqual(after, before) {
		t.Errorf("host mount table after a failed create:\n%s", strings.Join(after, "\n"))
	}
}
