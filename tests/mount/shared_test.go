package mount

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-run/oci-run/internal/testutil"
)

// sharedRun runs oci-mount alone in the caller's mount namespace (the
// spec has no "mount" entry). The caller is a throwaway namespace made by
// unshare -m, with "/" made rshared first so that a propagation change
// would show; standalone, nothing removes the mounts afterwards, and the
// namespace takes them with it. It returns that namespace's mountinfo
// before and after, and what the container printed.
func sharedRun(t *testing.T, s *specs.Spec, script string) (before, after []string, out string, err error) {
	t.Helper()
	testutil.RequireRoot(t)
	bundle := t.TempDir()
	testutil.WriteSpec(t, filepath.Join(bundle, "config.json"), s)
	dir := t.TempDir()
	wrapper := `set -e
mount --make-rshared /
cat /proc/self/mountinfo > "$D/before"
set +e
"$M" --bundle "$B" 3<"$B/config.json" -- /bin/sh -c "$S" > "$D/out" 2>&1
echo $? > "$D/rc"
cat /proc/self/mountinfo > "$D/after"
`
	cmd := exec.Command("unshare", "-m", "sh", "-c", wrapper)
	cmd.Env = append(os.Environ(), "D="+dir, "M="+testutil.Bin(t, "oci-mount"), "B="+bundle, "S="+script)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("unshare: %v: %s", err, b)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	before = strings.Split(strings.TrimSpace(read("before")), "\n")
	after = strings.Split(strings.TrimSpace(read("after")), "\n")
	out = read("out")
	if rc := strings.TrimSpace(read("rc")); rc != "0" {
		err = &exec.ExitError{}
		out = "exit " + rc + ": " + out
	}
	return before, after, out, err
}

func sharedSpec(t *testing.T) (*specs.Spec, string) {
	rootfs := newRootfs(t)
	if err := os.WriteFile(filepath.Join(rootfs, "marker"), []byte("the rootfs\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := testutil.Spec(rootfs, "sh")
	s.Linux.Namespaces = nil
	s.Hostname = ""
	return s, rootfs
}

// No "mount" entry: oci-mount prepares the rootfs in the caller's mount
// namespace and enters it with chroot. Every mount the caller had is still
// there unchanged ("/" still shared), and every new one is at or below
// the rootfs; masked and read-only paths apply inside the rootfs only,
// also when the image points them at the host's paths.
func TestSharedMountNamespaceAlone(t *testing.T) {
	s, rootfs := sharedSpec(t)
	if err := os.Symlink("../../../../../../../../../etc", filepath.Join(rootfs, "escape")); err != nil {
		t.Fatal(err)
	}
	s.Linux.MaskedPaths = append(s.Linux.MaskedPaths, "/escape/passwd")
	s.Linux.ReadonlyPaths = append(s.Linux.ReadonlyPaths, "/escape")
	before, after, out, err := sharedRun(t, s, `cat /marker; cat /proc/keys | wc -c; cat /etc/passwd | wc -c; while read -r a b c d point opts e; do echo "mount $point ${opts%%,*}"; done </proc/self/mountinfo`)
	if err != nil {
		t.Fatalf("oci-mount: %s", out)
	}
	if !strings.HasPrefix(out, "the rootfs\n0\n0\n") {
		t.Errorf("container output (want the marker, /proc/keys and /etc/passwd masked):\n%s", out)
	}
	for _, m := range []string{"/etc ro", "/etc/passwd rw", "/ ro", "/proc rw", "/dev rw", "/dev/pts rw", "/sys ro", "/proc/keys rw", "/proc/sys ro"} {
		if !strings.Contains(out, "mount "+m+"\n") {
			t.Errorf("the container does not see %s:\n%s", m, out)
		}
	}
	old := map[string]bool{}
	for _, l := range before {
		old[l] = true
	}
	now := map[string]bool{}
	for _, l := range after {
		now[l] = true
		if p := strings.Fields(l)[4]; !old[l] && p != rootfs && !strings.HasPrefix(p, rootfs+"/") {
			t.Errorf("mount outside the rootfs: %s", l)
		}
	}
	for _, l := range before {
		if !now[l] {
			t.Errorf("the caller's mount changed: %s", l)
		}
	}
	if len(after) <= len(before) {
		t.Errorf("no mount added below %s", rootfs)
	}
}

// A failure, before the chroot (a mount) or after it (process.cwd),
// leaves the caller's mount table as it was.
func TestSharedMountNamespaceAloneFailure(t *testing.T) {
	for name, mutate := range map[string]func(*specs.Spec){
		"mount": func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/late", Type: "nosuchfs", Source: "x"})
		},
		"cwd": func(s *specs.Spec) { s.Process.Cwd = "/marker/below-a-file" },
	} {
		t.Run(name, func(t *testing.T) {
			s, _ := sharedSpec(t)
			mutate(s)
			before, after, out, err := sharedRun(t, s, "echo SHOULD-NOT-RUN")
			if err == nil || strings.Contains(out, "SHOULD-NOT-RUN") {
				t.Fatalf("oci-mount succeeded: %s", out)
			}
			if strings.Join(before, "\n") != strings.Join(after, "\n") {
				t.Errorf("mount table changed by a failed oci-mount (%s):\nbefore\n%s\nafter\n%s", out, strings.Join(before, "\n"), strings.Join(after, "\n"))
			}
		})
	}
}
