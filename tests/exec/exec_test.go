// Package exec_test runs oci-exec alone, chrooted into a busybox rootfs in
// new mount and pid namespaces, and reads the effect from inside the
// process it execs.
package exec_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-run/oci-run/internal/testutil"
)

// status prints the lines of /proc/self/status the tests compare.
const status = `grep -E '^(Uid|Gid|Groups|Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp):' /proc/self/status`

type result struct {
	stdout, stderr string
	err            error
}

// runExec runs `oci-exec 3<config.json` in rootfs; extra descriptors
// follow the spec (fd 4 on).
func runExec(t *testing.T, rootfs string, s *specs.Spec, env []string, extra ...*os.File) result {
	t.Helper()
	cmd := testutil.InRootCommand(rootfs, "/oci-exec")
	return runCmd(t, cmd, s, env, extra...)
}

func runCmd(t *testing.T, cmd *exec.Cmd, s *specs.Spec, env []string, extra ...*os.File) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.ExtraFiles = append([]*os.File{testutil.SpecFile(t, s)}, extra...)
	cmd.Env = append(os.Environ(), env...)
	err := cmd.Run()
	return result{stdout.String(), strings.TrimSpace(stderr.String()), err}
}

func spec(args ...string) *specs.Spec {
	s := testutil.Spec("", args...)
	s.Root = nil
	return s
}

// fields parses "Key:\tvalue" lines.
func fields(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok {
			m[k] = strings.Join(strings.Fields(v), " ")
		}
	}
	return m
}

func TestUserCapabilitiesRlimitsAndMore(t *testing.T) {
	testutil.RequireRoot(t)
	rootfs := testutil.StageRootfs(t, "oci-exec")
	os.WriteFile(filepath.Join(rootfs, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n"), 0o644)
	s := spec("sh", "-c", status+`; echo "nofile: $(ulimit -Sn) $(ulimit -Hn)"; echo "core: $(ulimit -Sc) $(ulimit -Hc)"; `+
		`echo "oom: $(cat /proc/self/oom_score_adj)"; echo "cwd: $(pwd)"; echo "home: $HOME"; echo "path: $PATH"; echo "umask: $(umask)"; echo "env: $FOO"`)
	s.Process.User = specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{5, 100}}
	umask := uint32(0o027)
	s.Process.User.Umask = &umask
	s.Process.Cwd = "/work/dir"
	s.Process.Env = []string{"FOO=bar"}
	s.Process.Capabilities = &specs.LinuxCapabilities{
		Bounding:    []string{"CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHOWN"},
		Permitted:   []string{"CAP_KILL", "CAP_NET_BIND_SERVICE"},
		Effective:   []string{"CAP_KILL"},
		Inheritable: []string{"CAP_NET_BIND_SERVICE"},
		Ambient:     []string{"CAP_NET_BIND_SERVICE"},
	}
	s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 512}, {Type: "RLIMIT_CORE", Hard: 4096, Soft: 1024}}
	adj := 500
	s.Process.OOMScoreAdj = &adj
	s.Process.NoNewPrivileges = true
	r := runExec(t, rootfs, s, nil)
	if r.err != nil {
		t.Fatalf("oci-exec: %v: %s", r.err, r.stderr)
	}
	got := fields(r.stdout)
	// ulimit -c counts 512-byte blocks. CAP_CHOWN 0, CAP_KILL 5, CAP_NET_BIND_SERVICE 10. A non-root user
	// keeps across execve only its ambient set (raised into permitted and
	// effective) and its inheritable set.
	want := map[string]string{
		"Uid": "1000 1000 1000 1000", "Gid": "1000 1000 1000 1000", "Groups": "5 100",
		"CapBnd": "0000000000000421", "CapInh": "0000000000000400", "CapPrm": "0000000000000400",
		"CapEff": "0000000000000400", "CapAmb": "0000000000000400", "NoNewPrivs": "1", "Seccomp": "0",
		"nofile": "512 1024", "core": "2 8", "oom": "500", "cwd": "/work/dir", "home": "/home/alice",
		"path": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "umask": "0027", "env": "bar",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if fi, err := os.Stat(filepath.Join(rootfs, "work/dir")); err != nil || !fi.IsDir() {
		t.Errorf("cwd not created in the rootfs: %v", err)
	}
}

// Root keeps its sets across execve as the configuration gives them: what
// runtime-tools' process_capabilities reads.
func TestRootCapabilities(t *testing.T) {
	testutil.RequireRoot(t)
	rootfs := testutil.StageRootfs(t, "oci-exec")
	s := spec("sh", "-c", status)
	caps := []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}
	s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps, Inheritable: caps, Ambient: caps}
	s.Process.NoNewPrivileges = false
	r := runExec(t, rootfs, s, nil)
	if r.err != nil {
		t.Fatalf("oci-exec: %v: %s", r.err, r.stderr)
	}
	got := fields(r.stdout)
	for _, k := range []string{"CapBnd", "CapInh", "CapPrm", "CapEff", "CapAmb"} {
		if got[k] != "0000000020000420" {
			t.Errorf("%s = %q, want 0000000020000420", k, got[k])
		}
	}
	if got["Uid"] != "0 0 0 0" || got["Groups"] != "" || got["NoNewPrivs"] != "0" {
		t.Errorf("Uid %q Groups %q NoNewPrivs %q", got["Uid"], got["Groups"], got["NoNewPrivs"])
	}
}

func TestErrorsNameTheField(t *testing.T) {
	testutil.RequireRoot(t)
	rootfs := testutil.StageRootfs(t, "oci-exec")
	tests := []struct {
		name string
		mod  func(s *specs.Spec)
		want string
	}{
		{"missing absolute executable", func(s *specs.Spec) { s.Process.Args = []string{"/x"} },
			`oci-exec: exec: "/x": stat /x: no such file or directory`},
		{"missing executable in PATH", func(s *specs.Spec) { s.Process.Args = []string{"nosuch"} },
			`oci-exec: exec: "nosuch": executable file not found in $PATH`},
		{"unknown capability", func(s *specs.Spec) {
			s.Process.Capabilities.Bounding = append(s.Process.Capabilities.Bounding, "CAP_FOO")
		}, `oci-exec: process.capabilities.bounding[3]: unknown capability "CAP_FOO"`},
		{"capability this host lacks", func(s *specs.Spec) {
			s.Process.Capabilities.Bounding = append(s.Process.Capabilities.Bounding, "CAP_SYS_RESOURCE")
		}, "oci-exec: process.capabilities.bounding[3]: CAP_SYS_RESOURCE is not in the runtime's bounding set: this host does not grant it"},
		{"unknown rlimit", func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_TEST", Hard: 1024, Soft: 1024}}
		},
			`oci-exec: process.rlimits[0].type: unknown resource "RLIMIT_TEST"`},
		{"soft above hard", func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 2048}}
		},
			"oci-exec: process.rlimits[0]: soft limit 2048 is above hard limit 1024"},
		{"apparmor on a host without it", func(s *specs.Spec) { s.Process.ApparmorProfile = "docker-default" },
			`oci-exec: process.apparmorProfile: "docker-default": AppArmor is not enabled on this host`},
		{"selinux on a host without it", func(s *specs.Spec) { s.Process.SelinuxLabel = "system_u:system_r:container_t:s0" },
			`oci-exec: process.selinuxLabel: "system_u:system_r:container_t:s0": SELinux is not enabled on this host`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "capability this host lacks" && hostHas("CAP_SYS_RESOURCE") {
				t.Skip("this host has CAP_SYS_RESOURCE")
			}
			if strings.HasPrefix(tt.name, "apparmor") && fileExists("/sys/kernel/security/apparmor") ||
				strings.HasPrefix(tt.name, "selinux") && fileExists("/sys/fs/selinux/enforce") {
				t.Skip("this host runs the module")
			}
			s := spec("true")
			tt.mod(s)
			r := runExec(t, rootfs, s, nil)
			if r.err == nil || lastLine(r.stderr) != tt.want {
				t.Fatalf("err %v, stderr %q, want %q", r.err, r.stderr, tt.want)
			}
		})
	}
}

// Raising a hard limit needs CAP_SYS_RESOURCE, which this VM's bounding
// set lacks: the error says so instead of "operation not permitted".
func TestRlimitAboveHostHardLimit(t *testing.T) {
	testutil.RequireRoot(t)
	if hostHas("CAP_SYS_RESOURCE") {
		t.Skip("this host can raise hard limits")
	}
	rootfs := testutil.StageRootfs(t, "oci-exec")
	s := spec("true")
	s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_MEMLOCK", Hard: 1 << 40, Soft: 1024}}
	r := runExec(t, rootfs, s, nil)
	if r.err == nil || !strings.Contains(r.stderr, "process.rlimits[0]: RLIMIT_MEMLOCK hard limit 1099511627776 is above the current hard limit") ||
		!strings.Contains(r.stderr, "needs CAP_SYS_RESOURCE") {
		t.Fatalf("err %v, stderr %q", r.err, r.stderr)
	}
}

// Invariant 1: the process starts with 0, 1, 2 and the preserved
// descriptors only: not the spec, not the handover descriptors.
func TestOnlyStdioAndPreservedDescriptors(t *testing.T) {
	testutil.RequireRoot(t)
	rootfs := testutil.StageRootfs(t, "oci-exec")
	preserved, err := os.CreateTemp(t.TempDir(), "preserved")
	if err != nil {
		t.Fatal(err)
	}
	junk, err := os.Open("/etc/hostname")
	if err != nil {
		t.Fatal(err)
	}
	defer junk.Close()
	// ls runs as a child and lists the shell's descriptors.
	s := spec("sh", "-c", "ls /proc/$$/fd | xargs; echo through-3 >&3")
	// fd 3 spec, 4 preserved, 5 junk: the spec moves to 5 and junk to 3.
	cmd := testutil.InRootCommand(rootfs, "/oci-exec", "--spec-fd", "5")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.ExtraFiles = []*os.File{preserved, junk, testutil.SpecFile(t, s)}
	cmd.Env = append(os.Environ(), "OCI_PRESERVE_FDS=1")
	if err := cmd.Run(); err != nil {
		t.Fatalf("oci-exec: %v: %s", err, stderr.String())
	}
	if got := strings.TrimSpace(stdout.String()); got != "0 1 2 3" {
		t.Errorf("descriptors %q, want \"0 1 2 3\"", got)
	}
	if b, _ := os.ReadFile(preserved.Name()); string(b) != "through-3\n" {
		t.Errorf("preserved file holds %q", b)
	}
}

func TestHandoverDescriptorInPreservedRangeRefused(t *testing.T) {
	testutil.RequireRoot(t)
	rootfs := testutil.StageRootfs(t, "oci-exec")
	r := runExec(t, rootfs, spec("true"), []string{"OCI_PRESERVE_FDS=1"})
	want := "oci-exec: --spec-fd=3 is among the 1 descriptors OCI_PRESERVE_FDS keeps for the process"
	if r.err == nil || r.stderr != want {
		t.Fatalf("err %v, stderr %q, want %q", r.err, r.stderr, want)
	}
}

func TestSessionKeyring(t *testing.T) {
	testutil.RequireRoot(t)
	rootfs := testutil.StageRootfs(t, "oci-exec")
	s := spec("sh", "-c", "grep -c '_ses.oci-exec-test' /proc/keys")
	cmd := testutil.InRootCommand(rootfs, "/oci-exec", "--session-keyring", "_ses.oci-exec-test")
	r := runCmd(t, cmd, s, nil)
	if r.err != nil {
		t.Fatalf("oci-exec: %v: %s", r.err, r.stderr)
	}
	if strings.TrimSpace(r.stdout) != "1" {
		t.Errorf("session keyring not joined: %q", r.stdout)
	}
}

func hostHas(name string) bool {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapBnd:"); ok {
			var set uint64
			for _, c := range strings.TrimSpace(v) {
				set <<= 4
				switch {
				case c >= '0' && c <= '9':
					set |= uint64(c - '0')
				case c >= 'a' && c <= 'f':
					set |= uint64(c-'a') + 10
				}
			}
			return set&(1<<24) != 0 // CAP_SYS_RESOURCE
		}
	}
	return false
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
