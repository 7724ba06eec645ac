// Package testutil builds what the integration tests run containers from:
// the repository's binaries, a busybox rootfs and bundles, plus the leak
// probes every test uses. Tests run as root against the real kernel.
package testutil

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-run/oci-run/pkg/specgen"
)

// RepoRoot is the top of the source tree.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// BinDir holds the built binaries: $OCI_RUN_BIN_DIR or <repo>/bin.
func BinDir() string {
	if d := os.Getenv("OCI_RUN_BIN_DIR"); d != "" {
		return d
	}
	return filepath.Join(RepoRoot(), "bin")
}

// Bin returns the path of a built binary; the test fails when it is missing
// (run `make build` first; `make test` does).
func Bin(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(BinDir(), name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s not built (run make build): %v", p, err)
	}
	return p
}

// RequireRoot skips tests that need root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

// ID returns a container id unique to this test run.
func ID(t testing.TB) string {
	b := make([]byte, 4)
	rand.Read(b)
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, t.Name())
	if len(name) > 40 {
		name = name[len(name)-40:]
	}
	return strings.Trim(name, "-") + "-" + hex.EncodeToString(b)
}

var (
	rootfsOnce sync.Once
	rootfsDir  string
	rootfsErr  error
)

// sharedRootfsPrefix names the shared rootfs of a test binary, with its
// pid: a test binary cannot remove it when it ends (nothing runs after
// the tests of a package but os.Exit), so the next one removes those of
// binaries that have ended.
const sharedRootfsPrefix = "oci-run-rootfs-"

// SharedRootfs is a busybox rootfs built once per test binary and shared
// read-only by bundles that do not change their rootfs.
func SharedRootfs(t testing.TB) string {
	t.Helper()
	rootfsOnce.Do(func() {
		removeStaleRootfs()
		dir, err := os.MkdirTemp("", sharedRootfsPrefix+strconv.Itoa(os.Getpid())+"-")
		if err == nil {
			// MkdirTemp makes it 0700: a container's non-root user could
			// not even reach its own root directory.
			err = os.Chmod(dir, 0o755)
		}
		if err == nil {
			err = MakeRootfs(dir)
		}
		rootfsDir, rootfsErr = dir, err
	})
	if rootfsErr != nil {
		t.Fatalf("build rootfs: %v", rootfsErr)
	}
	return rootfsDir
}

// removeStaleRootfs removes the shared rootfs of test binaries that are
// no longer running (a dead pid, or a directory named before the pid was
// part of the name).
func removeStaleRootfs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), sharedRootfsPrefix+"*"))
	for _, d := range dirs {
		pid, _, _ := strings.Cut(strings.TrimPrefix(filepath.Base(d), sharedRootfsPrefix), "-")
		if n, err := strconv.Atoi(pid); err == nil && n > 0 && (n == os.Getpid() || syscall.Kill(n, 0) == nil) {
			continue
		}
		os.RemoveAll(d)
	}
}

// NewRootfs builds a private busybox rootfs the test may change.
func NewRootfs(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "rootfs")
	if err := MakeRootfs(dir); err != nil {
		t.Fatalf("build rootfs: %v", err)
	}
	return dir
}

// MakeRootfs writes a minimal busybox rootfs into dir: /bin/busybox from
// busybox-static, one symlink per applet, /etc/passwd and /etc/group, and
// the usual empty mount points.
func MakeRootfs(dir string) error {
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		return fmt.Errorf("busybox-static not installed: %w", err)
	}
	for _, d := range []string{"bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "tmp", "root", "home", "var", "run", "mnt"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	// 0o1777 would lose the sticky bit: os.FileMode has its own flag for it.
	os.Chmod(filepath.Join(dir, "tmp"), 0o777|os.ModeSticky)
	data, err := os.ReadFile(busybox)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "bin", "busybox"), data, 0o755); err != nil {
		return err
	}
	out, err := exec.Command(busybox, "--list").Output()
	if err != nil {
		return fmt.Errorf("busybox --list: %w", err)
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet == "busybox" {
			continue
		}
		if err := os.Symlink("busybox", filepath.Join(dir, "bin", applet)); err != nil && !os.IsExist(err) {
			return err
		}
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
		"etc/group":  "root:x:0:\ndaemon:x:1:\ntty:x:5:\nusers:x:100:\nnogroup:x:65534:\n",
		"etc/hosts":  "127.0.0.1\tlocalhost\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Spec returns the default configuration for a non-interactive container
// running args on rootfs.
func Spec(rootfs string, args ...string) *specs.Spec {
	s := specgen.Default()
	s.Process.Terminal = false
	s.Process.Args = args
	s.Root.Path = rootfs
	return s
}

// Bundle writes s as config.json of a new bundle directory. With a nil
// rootfs in s, the shared busybox rootfs is used.
func Bundle(t testing.TB, s *specs.Spec) string {
	t.Helper()
	dir := t.TempDir()
	if s.Root == nil || s.Root.Path == "" {
		s.Root = &specs.Root{Path: SharedRootfs(t), Readonly: s.Root != nil && s.Root.Readonly}
	}
	WriteSpec(t, filepath.Join(dir, "config.json"), s)
	return dir
}

// WriteSpec writes a configuration file.
func WriteSpec(t testing.TB, path string, s *specs.Spec) {
	t.Helper()
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Mounts returns the mount points of the calling process's mount namespace,
// sorted, for before/after comparisons.
func Mounts(t testing.TB) []string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 {
			out = append(out, fields[4])
		}
	}
	sort.Strings(out)
	return out
}

// CgroupDirs lists every cgroup directory, in every mounted hierarchy,
// whose path contains substr.
func CgroupDirs(t testing.TB, substr string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir("/sys/fs/cgroup", func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() && strings.Contains(p, substr) {
			out = append(out, p)
			return filepath.SkipDir
		}
		return nil
	})
	return out
}

// ProcessesMatching lists host pids whose command line contains substr.
func ProcessesMatching(t testing.TB, substr string) []string {
	t.Helper()
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(b), substr) {
			out = append(out, e.Name()+": "+strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return out
}
