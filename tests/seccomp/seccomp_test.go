// Package seccomp_test runs oci-seccomp alone (installing the filter
// itself) and in front of oci-exec (handing the compiled program down),
// chrooted into a busybox rootfs, and shows the filter's effect from
// inside: denied system calls fail the configured way, the rest works.
package seccomp_test

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

type result struct {
	stdout, stderr string
	err            error
}

func run(t *testing.T, cmd *exec.Cmd, s *specs.Spec, env []string, extra ...*os.File) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.ExtraFiles = append([]*os.File{testutil.SpecFile(t, s)}, extra...)
	cmd.Env = append(os.Environ(), env...)
	err := cmd.Run()
	return result{stdout.String(), strings.TrimSpace(stderr.String()), err}
}

// spec is a non-root process with no capabilities at all, as a strict
// container would run.
func spec(nnp bool, args ...string) *specs.Spec {
	s := testutil.Spec("", args...)
	s.Root = nil
	s.Process.User = specs.User{UID: 1000, GID: 1000}
	s.Process.Capabilities = nil
	s.Process.NoNewPrivileges = nnp
	// linux stays as specgen made it (namespaces): the stages only read it.
	return s
}

func eperm(n uint) *uint { return &n }

const (
	errEXDEV  = 18 // "Invalid cross-device link": an errno nothing else returns here
	errEACCES = 13
)

func getcwdProfile() *specs.LinuxSeccomp {
	return &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
		Syscalls: []specs.LinuxSyscall{
			// runtime-tools' linux_seccomp: getcwd denied, the rest allowed.
			{Names: []string{"getcwd", "no_such_syscall_skipped"}, Action: specs.ActErrno, ErrnoRet: eperm(errEXDEV)},
		},
	}
}

const check = `grep -E '^(Seccomp|NoNewPrivs|Uid):' /proc/self/status; (exec pwd) 2>&1; echo "pwd rc=$?"; ` +
	`(exec mkdir /tmp/made) && echo "mkdir ok"`

func TestStandaloneInstallsItself(t *testing.T) {
	testutil.RequireRoot(t)
	rootfs := testutil.StageRootfs(t, "oci-seccomp")
	s := spec(true, "unused")
	s.Linux.Seccomp = getcwdProfile()
	cmd := testutil.InRootCommand(rootfs, "/oci-seccomp", "--", "/bin/sh", "-c", check)
	r := run(t, cmd, s, nil)
	if r.err != nil {
		t.Fatalf("oci-seccomp: %v: %s", r.err, r.stderr)
	}
	// Alone, oci-seccomp runs the command as its caller (root here) with
	// no_new_privs from process.noNewPrivileges.
	for _, want := range []string{"Seccomp:\t2\n", "NoNewPrivs:\t1\n", "pwd: getcwd: Invalid cross-device link\n", "pwd rc=1\n", "mkdir ok\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
}

// oci-seccomp compiles, oci-exec installs: with and without
// no_new_privs (without, the filter goes on before the capabilities are
// dropped, as loading it then needs CAP_SYS_ADMIN).
func TestHandoverToExec(t *testing.T) {
	testutil.RequireRoot(t)
	rootfs := testutil.StageRootfs(t, "oci-seccomp", "oci-exec")
	for _, nnp := range []bool{true, false} {
		t.Run(map[bool]string{true: "noNewPrivileges", false: "privileges"}[nnp], func(t *testing.T) {
			os.RemoveAll(filepath.Join(rootfs, "tmp/made"))
			s := spec(nnp, "sh", "-c", check)
			s.Linux.Seccomp = getcwdProfile()
			r := run(t, testutil.InRootCommand(rootfs, "/oci-seccomp", "--", "/oci-exec"), s, nil)
			if r.err != nil {
				t.Fatalf("chain: %v: %s", r.err, r.stderr)
			}
			nnpLine := map[bool]string{true: "NoNewPrivs:\t1\n", false: "NoNewPrivs:\t0\n"}[nnp]
			for _, want := range []string{"Seccomp:\t2\n", nnpLine, "Uid:\t1000\t1000\t1000\t1000\n",
				"pwd: getcwd: Invalid cross-device link\n", "pwd rc=1\n", "mkdir ok\n"} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("output lacks %q:\n%s", want, r.stdout)
				}
			}
		})
	}
}

// oci-seccomp -- oci-exec: oci-exec's stage runs in oci-seccomp's
// process (stage.Def.Continues), as the trace lines say ("fuse"), with
// the filter installed and the process left with 0, 1, 2 only; its
// errors are oci-exec's.
func TestExecContinuesInSeccompProcess(t *testing.T) {
	testutil.RequireRoot(t)
	rootfs := testutil.StageRootfs(t, "oci-seccomp", "oci-exec")
	// "; true": sh forks ls rather than becoming it.
	s := spec(true, "sh", "-c", "grep ^Seccomp: /proc/self/status; ls /proc/$$/fd; true")
	s.Linux.Seccomp = getcwdProfile()
	r := run(t, testutil.InRootCommand(rootfs, "/oci-seccomp", "--", "/oci-exec"), s, []string{"OCI_TRACE=1"})
	if r.err != nil || r.stdout != "Seccomp:\t2\n0\n1\n2\n" {
		t.Fatalf("got %q, %v: %s", r.stdout, r.err, r.stderr)
	}
	if !strings.Contains(r.stderr, "oci-trace oci-seccomp ") || !strings.Contains(r.stderr, " fuse=") || !strings.Contains(r.stderr, "oci-trace oci-exec ") {
		t.Errorf("trace lines do not show oci-exec continuing in oci-seccomp's process:\n%s", r.stderr)
	}
	s.Process.Args = []string{"/nonexistent"}
	r = run(t, testutil.InRootCommand(rootfs, "/oci-seccomp", "--", "/oci-exec"), s, nil)
	want := `oci-exec: exec: "/nonexistent": stat /nonexistent: no such file or directory`
	if r.err == nil || r.stderr != want {
		t.Errorf("err %v, stderr %q: want %q", r.err, r.stderr, want)
	}
}

// Without OCI_SECCOMP_FD, oci-exec installs nothing: compiling is
// oci-seccomp's job (documented in both --help texts).
func TestExecAloneInstallsNoFilter(t *testing.T) {
	testutil.RequireRoot(t)
	rootfs := testutil.StageRootfs(t, "oci-exec")
	s := spec(true, "grep", "^Seccomp:", "/proc/self/status")
	s.Linux.Seccomp = getcwdProfile()
	r := run(t, testutil.InRootCommand(rootfs, "/oci-exec"), s, nil)
	if r.err != nil || r.stdout != "Seccomp:\t0\n" {
		t.Fatalf("got %q, %v: %s", r.stdout, r.err, r.stderr)
	}
}

func TestActions(t *testing.T) {
	testutil.RequireRoot(t)
	rootfs := testutil.StageRootfs(t, "oci-seccomp", "oci-exec")
	// mkdir runs in a child of the shell; 159 is 128 + SIGSYS.
	script := `(exec mkdir /tmp/a) 2>&1; echo "rc=$?"; [ -d /tmp/a ] && echo exists; echo alive`
	tests := []struct {
		action specs.LinuxSeccompAction
		ret    *uint
		want   []string
	}{
		{specs.ActKill, nil, []string{"rc=159\n", "alive\n"}},
		{specs.ActKillThread, nil, []string{"rc=159\n", "alive\n"}},
		{specs.ActKillProcess, nil, []string{"rc=159\n", "alive\n"}},
		{specs.ActTrap, nil, []string{"rc=159\n", "alive\n"}},
		{specs.ActErrno, eperm(errEXDEV), []string{"Invalid cross-device link\n", "rc=1\n", "alive\n"}},
		{specs.ActErrno, nil, []string{"Operation not permitted\n", "rc=1\n", "alive\n"}},
		// No tracer: the system call fails with ENOSYS.
		{specs.ActTrace, eperm(errEACCES), []string{"Function not implemented\n", "rc=1\n", "alive\n"}},
		{specs.ActLog, nil, []string{"rc=0\n", "exists\n", "alive\n"}},
		{specs.ActAllow, nil, []string{"rc=0\n", "exists\n", "alive\n"}},
	}
	for _, tt := range tests {
		t.Run(string(tt.action), func(t *testing.T) {
			os.RemoveAll(filepath.Join(rootfs, "tmp/a"))
			s := spec(true, "sh", "-c", script)
			// SCMP_ACT_ALLOW equals the default action: the rule is
			// redundant and dropped, as runc drops it.
			s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
				{Names: []string{"mkdir", "mkdirat"}, Action: tt.action, ErrnoRet: tt.ret},
			}}
			r := run(t, testutil.InRootCommand(rootfs, "/oci-seccomp", "--", "/oci-exec"), s, nil)
			if r.err != nil {
				t.Fatalf("chain: %v: %s", r.err, r.stderr)
			}
			for _, want := range tt.want {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("output lacks %q:\n%s", want, r.stdout)
				}
			}
		})
	}
}

// Argument conditions: all operators; conditions on different arguments
// are ANDed, conditions on one argument become separate rules (runc).
func TestArgumentConditions(t *testing.T) {
	testutil.RequireRoot(t)
	rootfs := testutil.StageRootfs(t, "oci-seccomp", "oci-exec")
	xdev := eperm(errEXDEV)
	s := spec(true, "sh", "-c", `touch /tmp/f
(exec chmod 4755 /tmp/f) 2>&1; echo "setuid bit rc=$?"
(exec chmod 0755 /tmp/f) 2>&1; echo "plain rc=$?"
kill -0 1 2>&1; echo "kill -0 1 rc=$?"
sleep 100 & kill -0 $! 2>&1; echo "kill -0 child rc=$?"; kill -9 $!
try() { sleep 100 & p=$!; renice -n $1 -p $p >/dev/null 2>&1; echo "nice $1 rc=$?"; kill -9 $p; }
try 5; try 19; try 10; try 1; try 2
`)
	s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
		// chmod(path, mode): (mode & 07000) == 04000.
		{Names: []string{"chmod", "fchmodat"}, Action: specs.ActErrno, ErrnoRet: xdev,
			Args: []specs.LinuxSeccompArg{{Index: 1, Op: specs.OpMaskedEqual, Value: 0o7000, ValueTwo: 0o4000}}},
		// kill(pid, sig): sig == 0 AND pid <= 1 (two arguments: one rule).
		{Names: []string{"kill"}, Action: specs.ActErrno, ErrnoRet: xdev,
			Args: []specs.LinuxSeccompArg{{Index: 1, Op: specs.OpEqualTo, Value: 0}, {Index: 0, Op: specs.OpLessEqual, Value: 1}}},
		// setpriority(which, who, prio) of renice on a fresh child
		// (nice 0): prio == 5, or prio > 18 (one
		// argument twice: two rules).
		{Names: []string{"setpriority"}, Action: specs.ActErrno, ErrnoRet: xdev,
			Args: []specs.LinuxSeccompArg{{Index: 2, Op: specs.OpEqualTo, Value: 5}, {Index: 2, Op: specs.OpGreaterThan, Value: 18}}},
		// prio >= 10 AND who != 12345; prio < 2.
		{Names: []string{"setpriority"}, Action: specs.ActErrno, ErrnoRet: eperm(errEACCES),
			Args: []specs.LinuxSeccompArg{{Index: 2, Op: specs.OpGreaterEqual, Value: 10}, {Index: 1, Op: specs.OpNotEqual, Value: 12345}}},
		{Names: []string{"setpriority"}, Action: specs.ActErrno, ErrnoRet: eperm(errEACCES),
			Args: []specs.LinuxSeccompArg{{Index: 2, Op: specs.OpLessThan, Value: 2}}},
	}}
	r := run(t, testutil.InRootCommand(rootfs, "/oci-seccomp", "--", "/oci-exec"), s, nil)
	if r.err != nil {
		t.Fatalf("chain: %v: %s", r.err, r.stderr)
	}
	for _, want := range []string{
		"chmod: /tmp/f: Invalid cross-device link\nsetuid bit rc=1\n", "plain rc=0\n",
		"Invalid cross-device link\nkill -0 1 rc=1\n", "kill -0 child rc=0\n",
		"nice 5 rc=", "nice 19 rc=", "nice 10 rc=", "nice 1 rc=", "nice 2 rc=0\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, denied := range []string{"nice 5 rc=0", "nice 19 rc=0", "nice 10 rc=0", "nice 1 rc=0"} {
		if strings.Contains(r.stdout, denied) {
			t.Errorf("%q: the rule did not apply:\n%s", denied, r.stdout)
		}
	}
}

func TestBadProfileNamesTheField(t *testing.T) {
	testutil.RequireRoot(t)
	rootfs := testutil.StageRootfs(t, "oci-seccomp", "oci-exec")
	s := spec(true, "true")
	s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
		{Names: []string{"getcwd"}, Action: "SCMP_ACT_MAYBE"}}}
	r := run(t, testutil.InRootCommand(rootfs, "/oci-seccomp", "--", "/oci-exec"), s, nil)
	want := `oci-seccomp: linux.seccomp.syscalls[0].action: unknown action "SCMP_ACT_MAYBE"`
	if r.err == nil || r.stderr != want {
		t.Fatalf("err %v, stderr %q, want %q", r.err, r.stderr, want)
	}
}

// Filter flags reach seccomp(2): the kernel accepts them and the process
// runs filtered.
func TestFlags(t *testing.T) {
	testutil.RequireRoot(t)
	rootfs := testutil.StageRootfs(t, "oci-seccomp", "oci-exec")
	s := spec(true, "sh", "-c", check)
	s.Linux.Seccomp = getcwdProfile()
	s.Linux.Seccomp.Flags = []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog, specs.LinuxSeccompFlagSpecAllow, "SECCOMP_FILTER_FLAG_TSYNC"}
	r := run(t, testutil.InRootCommand(rootfs, "/oci-seccomp", "--", "/oci-exec"), s, nil)
	if r.err != nil || !strings.Contains(r.stdout, "pwd: getcwd: Invalid cross-device link\n") {
		t.Fatalf("%v: %s\n%s", r.err, r.stderr, r.stdout)
	}
	s.Linux.Seccomp.Flags = []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_FOO"}
	r = run(t, testutil.InRootCommand(rootfs, "/oci-seccomp", "--", "/oci-exec"), s, nil)
	if want := `oci-seccomp: linux.seccomp.flags[0]: unknown flag "SECCOMP_FILTER_FLAG_FOO"`; r.err == nil || r.stderr != want {
		t.Fatalf("err %v, stderr %q, want %q", r.err, r.stderr, want)
	}
}
