//go:build cgo

package seccomp

import (
	"fmt"
	"os"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/pkg/pipeline"
	"github.com/oci-run/oci-run/pkg/seccompload"
	"github.com/oci-run/oci-run/pkg/stage"
	"github.com/oci-run/oci-run/pkg/trace"
)

// Run is the oci-seccomp stage. It compiles linux.seccomp; when the next
// program is oci-exec it hands the program down in a sealed memfd named by
// OCI_SECCOMP_FD, for oci-exec to install right before execve, after its
// own setup. Otherwise (`oci-seccomp 3<cfg -- sh`) it installs the filter
// itself, on this thread, and execs the command under it.
func Run(s *stage.Stage) error {
	if s.Check {
		var sc *specs.LinuxSeccomp
		if s.Spec.Linux != nil {
			sc = s.Spec.Linux.Seccomp
		}
		warns, err := Check(sc)
		for _, w := range warns {
			fmt.Println(w)
		}
		return err
	}
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_DUMPABLE, 0): %w", err)
	}
	var sc *specs.LinuxSeccomp
	if s.Spec.Linux != nil {
		sc = s.Spec.Linux.Seccomp
	}
	if sc == nil {
		return s.ExecNext()
	}
	prog, flags, err := build(sc)
	if err != nil {
		return err
	}
	trace.Point("compile")
	if segs := pipeline.Split(s.Next); segs[0].Name() == "oci-exec" {
		fd, err := seccompload.Handover(prog)
		if err != nil {
			return err
		}
		// In the environment of this process: oci-exec may run in it
		// (stage.Def.Continues) as well as be exec'd with it.
		if err := os.Setenv(stage.EnvSeccomp, strconv.Itoa(fd)); err != nil {
			return err
		}
		return s.ExecNext()
	}
	return installAndExec(s, sc, prog, flags)
}

func build(sc *specs.LinuxSeccomp) ([]unix.SockFilter, uint, error) {
	flags, err := seccompload.Flags(sc)
	if err != nil {
		return nil, 0, err
	}
	plan, err := NewPlan(sc)
	if err != nil {
		return nil, 0, err
	}
	res, err := Compile(plan)
	if err != nil {
		return nil, 0, err
	}
	return res.Program, flags, nil
}

// installAndExec is the stand-alone path: the command runs under the
// filter with no_new_privs as process.noNewPrivileges says (without it,
// loading needs CAP_SYS_ADMIN). Everything that can fail or needs system
// calls the profile may deny (the PATH lookup, connecting to the
// listener) happens before the filter.
func installAndExec(s *stage.Stage, sc *specs.LinuxSeccomp, prog []unix.SockFilter, flags uint) error {
	argv := s.Next
	env := stage.StripEnv(os.Environ())
	if pipeline.IsStage(argv[0]) {
		env = os.Environ()
	}
	path, err := stage.LookPath(argv[0], env)
	if err != nil {
		return err
	}
	conn := -1
	if flags&seccompload.FlagNewListener != 0 {
		if sc.ListenerPath == "" {
			return fmt.Errorf("linux.seccomp.listenerPath: must be set when a rule uses SCMP_ACT_NOTIFY")
		}
		if conn, err = seccompload.DialListener(sc.ListenerPath); err != nil {
			return err
		}
	}
	if s.Spec.Process != nil && s.Spec.Process.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("process.noNewPrivileges: prctl(PR_SET_NO_NEW_PRIVS): %w", err)
		}
	}
	stage.RestoreNofile()
	listener, err := seccompload.Install(prog, flags)
	if err != nil {
		return fmt.Errorf("linux.seccomp: %w", err)
	}
	if listener >= 0 {
		st := specs.State{Version: specs.Version, Pid: os.Getpid(), Bundle: s.Bundle, Annotations: s.Spec.Annotations}
		if err := seccompload.SendListener(conn, seccompload.ListenerState(st, sc.ListenerMetadata), listener); err != nil {
			return err
		}
	}
	err = unix.Exec(path, argv, env)
	return fmt.Errorf("exec %s: %w", path, err)
}

// Check compiles linux.seccomp without installing it, for `oci-run
// check` (oci-run cannot link libseccomp): the error the stage would
// fail with, or warnings naming each syscall libseccomp does not know,
// whose rules the stage skips.
func Check(sc *specs.LinuxSeccomp) ([]string, error) {
	if sc == nil {
		return nil, nil
	}
	if _, err := seccompload.Flags(sc); err != nil {
		return nil, err
	}
	plan, err := NewPlan(sc)
	if err != nil {
		return nil, err
	}
	res, err := Compile(plan)
	if err != nil {
		return nil, err
	}
	skipped := map[string]bool{}
	for _, n := range res.Skipped {
		skipped[n] = true
	}
	var warns []string
	for i, sys := range sc.Syscalls {
		for j, n := range sys.Names {
			if skipped[n] {
				warns = append(warns, fmt.Sprintf("linux.seccomp.syscalls[%d].names[%d]: %q is not a system call libseccomp knows here: the rule is skipped for it", i, j, n))
			}
		}
	}
	return warns, nil
}
