// Package mount holds the integration tests of oci-mount. Each test runs
// the real binary alone, as the brief of every stage asks:
//
//	unshare -m -p -f [-n -i -U -C ...] oci-mount --bundle B 3<config.json -- /bin/sh -c SCRIPT
//
// and reads the effect from inside the container (mountinfo, stat, writes
// that must fail) and from the host (mount table, files next to the rootfs).
package mount

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-run/oci-run/internal/testutil"
)

// run is one standalone oci-mount invocation.
type run struct {
	// Unshare are the extra unshare(1) flags (-m -p -f are always given).
	Unshare []string
	// Args are extra oci-mount options (--no-pivot).
	Args []string
	// Next replaces the default "/bin/sh -c script" after "--".
	Next []string
	// UserNS starts oci-mount the way oci-unshare does, with clone(2)
	// flags and id maps written by the parent (unshare(1) would need
	// newuidmap for ranges), instead of through unshare(1).
	UserNS *syscall.SysProcAttr
}

type result struct {
	Stdout, Stderr string
	Err            error
}

// container runs script inside the rootfs prepared from s and returns
// what it printed. The host's mount table must be the same afterwards.
func container(t *testing.T, s *specs.Spec, script string, r run) result {
	t.Helper()
	testutil.RequireRoot(t)
	bundle := t.TempDir()
	if s.Root == nil || s.Root.Path == "" {
		t.Fatal("test spec needs root.path")
	}
	cfg := filepath.Join(bundle, "config.json")
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, b, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	next := r.Next
	if next == nil {
		next = []string{"/bin/sh", "-c", script}
	}
	argv := append([]string{"-m", "-p", "-f"}, r.Unshare...)
	argv = append(argv, testutil.Bin(t, "oci-mount"), "--bundle", bundle)
	argv = append(argv, r.Args...)
	argv = append(argv, "--")
	argv = append(argv, next...)
	before := hostMounts(t)
	cmd := exec.Command("unshare", argv...)
	if r.UserNS != nil {
		cmd = exec.Command(argv[3+len(r.Unshare)], argv[4+len(r.Unshare):]...)
		cmd.SysProcAttr = r.UserNS
	}
	cmd.ExtraFiles = []*os.File{f}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	after := hostMounts(t)
	if strings.Join(before, "\n") != strings.Join(after, "\n") {
		t.Errorf("host mount table changed:\nbefore: %v\nafter:  %v", before, after)
	}
	return result{Stdout: stdout.String(), Stderr: stderr.String(), Err: err}
}

// hostMounts is the host's mount table without the mounts other tests
// make in the host's namespace under their own temporary directories
// (tests/lifecycle runs containers that share it); this test's
// directories and the shared rootfs stay in.
func hostMounts(t *testing.T) []string {
	t.Helper()
	mine := filepath.Dir(t.TempDir())
	var out []string
	for _, m := range testutil.Mounts(t) {
		if strings.HasPrefix(m, filepath.Join(os.TempDir(), "Test")) && !strings.HasPrefix(m, mine+"/") {
			continue
		}
		out = append(out, m)
	}
	return out
}

// ok is container that must succeed.
func ok(t *testing.T, s *specs.Spec, script string, r ...run) string {
	t.Helper()
	var rr run
	if len(r) > 0 {
		rr = r[0]
	}
	res := container(t, s, script, rr)
	if res.Err != nil {
		t.Fatalf("oci-mount failed: %v\nstderr: %s\nstdout: %s", res.Err, res.Stderr, res.Stdout)
	}
	return res.Stdout
}

// fails is container that must fail; it returns stderr.
func fails(t *testing.T, s *specs.Spec, r ...run) string {
	t.Helper()
	var rr run
	if len(r) > 0 {
		rr = r[0]
	}
	res := container(t, s, "echo SHOULD-NOT-RUN", rr)
	if res.Err == nil || strings.Contains(res.Stdout, "SHOULD-NOT-RUN") {
		t.Fatalf("oci-mount succeeded, want an error\nstdout: %s\nstderr: %s", res.Stdout, res.Stderr)
	}
	return strings.TrimSpace(res.Stderr)
}

// baseSpec is the default runc spec (busybox rootfs, read-only root) with
// the namespaces unshare(1) gives in these tests.
func baseSpec(t *testing.T, rootfs string) *specs.Spec {
	if rootfs == "" {
		rootfs = testutil.SharedRootfs(t)
	}
	s := testutil.Spec(rootfs, "sh")
	// The tests create the namespaces with unshare(1); what the spec
	// lists is what oci-mount believes it has.
	s.Linux.Namespaces = []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.MountNamespace}}
	s.Hostname = ""
	return s
}

// mountEntry is one line of /proc/self/mountinfo.
type mountEntry struct {
	Root, Point, Opts, Optional, FSType, Source, Super string
}

func parseMountinfo(t *testing.T, out string) []mountEntry {
	t.Helper()
	var list []mountEntry
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 10 {
			continue
		}
		i := 6
		for i < len(f) && f[i] != "-" {
			i++
		}
		if i+3 >= len(f) {
			continue
		}
		list = append(list, mountEntry{
			Root: f[3], Point: f[4], Opts: f[5], Optional: strings.Join(f[6:i], " "),
			FSType: f[i+1], Source: f[i+2], Super: f[i+3],
		})
	}
	return list
}

// find returns the last (topmost) mount at point.
func find(list []mountEntry, point string) (mountEntry, bool) {
	var m mountEntry
	found := false
	for _, e := range list {
		if e.Point == point {
			m, found = e, true
		}
	}
	return m, found
}

func hasOpt(opts, o string) bool {
	for _, x := range strings.Split(opts, ",") {
		if x == o {
			return true
		}
	}
	return false
}

// section cuts the output of a script that prints "== name" headers.
func section(out, name string) string {
	start := strings.Index(out, "== "+name+"\n")
	if start < 0 {
		return ""
	}
	rest := out[start+len("== "+name+"\n"):]
	if end := strings.Index(rest, "\n== "); end >= 0 {
		return rest[:end+1]
	}
	return rest
}

func newRootfs(t *testing.T) string { return testutil.NewRootfs(t) }

func assertFile(t *testing.T, path, want string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("%s: %v", path, err)
		return
	}
	if string(b) != want {
		t.Errorf("%s: %q, want %q", path, b, want)
	}
}

// runNoUnshare runs oci-mount in the test's own namespaces (the host's).
func runNoUnshare(t *testing.T, s *specs.Spec) result {
	return runNoUnshareSpec(t, s, "echo SHOULD-NOT-RUN")
}

func runNoUnshareSpec(t *testing.T, s *specs.Spec, script string) result {
	t.Helper()
	testutil.RequireRoot(t)
	f := testutil.SpecFile(t, s)
	before := hostMounts(t)
	cmd := exec.Command(testutil.Bin(t, "oci-mount"), "--", "/bin/sh", "-c", script)
	cmd.ExtraFiles = []*os.File{f}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if after := hostMounts(t); strings.Join(before, "\n") != strings.Join(after, "\n") {
		t.Errorf("host mount table changed:\nbefore: %v\nafter:  %v", before, after)
	}
	return result{Stdout: stdout.String(), Stderr: stderr.String(), Err: err}
}

// userNS is a clone into new user (ids 0-65535 mapped to the same host
// ids), mount, pid and ipc namespaces.
func userNS() *syscall.SysProcAttr {
	m := []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 65536}}
	return &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWIPC,
		UidMappings: m, GidMappings: m,
	}
}
