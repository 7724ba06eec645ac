package lifecycle

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/pkg/cgroup"
	"github.com/oci-run/oci-run/pkg/exeseal"
	"github.com/oci-run/oci-run/pkg/namespace"
	"github.com/oci-run/oci-run/pkg/pipeline"
	"github.com/oci-run/oci-run/pkg/stage"
	"github.com/oci-run/oci-run/pkg/trace"
	"github.com/oci-run/oci-run/pkg/unshare"
)

// EnvChain set to "stages" makes create run oci-cgroup and oci-unshare as
// programs even where oci-run would do their work itself (inProcess): for
// tests that compare both paths, and to debug.
const EnvChain = "OCI_RUN_CHAIN"

// inProcess decides whether oci-run does the host side of the chain
// itself: the work of oci-cgroup (create the cgroup, apply the limits,
// join it) and of oci-unshare's parent (namespaces, clone), with the same
// packages, in a thread of its own; the container's first process then
// starts straight into oci-mount. Measured here, each of those two
// programs cost about 2 ms of CPU and 3 ms of wall time for its exec and
// Go start-up alone, and their sync messages and state one more
// hand-over each. Only where that changes nothing the container sees:
// not with systemd (which puts a whole process into its scope), and only
// for a plan oci-unshare would start directly too (unshare.Direct: no
// user namespace, no joined mount or time namespace, no time offsets).
// Everything else runs the programs.
func (r *Runtime) inProcess(s *specs.Spec) bool {
	if r.Systemd || os.Getenv(EnvChain) == "stages" {
		return false
	}
	return unshare.Direct(namespace.NewPlan(s))
}

// launch is the in-process host side. files are the child's descriptors
// from 3 on (preserved ones, spec, sync, fifo, console) and env its
// environment; next is the pipeline from oci-mount on. It returns the pid
// of the container's first process, a child of this process.
func (r *Runtime) launch(s *specs.Spec, o CreateOptions, files []*os.File, env, next []string) (int, error) {
	plan, err := cgroup.NewPlan(s, o.ID, false)
	if err != nil {
		return 0, err
	}
	plan.DeferPids = true
	cg, err := plan.Create(-1)
	if err != nil {
		return 0, err
	}
	trace.Point("cgroup")

	// The stages of the container side, sealed (pkg/exeseal), placed
	// after the other descriptors.
	names := make([]string, 0, 3)
	paths := make([]string, 0, 3)
	for _, prog := range pipeline.StageNames(next) {
		names = append(names, filepath.Base(prog))
		paths = append(paths, prog)
	}
	sealed, err := exeseal.SealAll(paths)
	if err != nil {
		return 0, err
	}
	defer func() {
		for _, f := range sealed {
			f.Close()
		}
	}()
	fds := []uintptr{0, 1, 2}
	for _, f := range files {
		fds = append(fds, f.Fd())
	}
	nums := make([]int, len(sealed))
	for i, f := range sealed {
		nums[i] = len(fds)
		fds = append(fds, f.Fd())
	}
	env = append(env, stage.EnvStageFDs+"="+stage.FormatStageFDs(names, nums))
	trace.Point("seal")

	sys := &syscall.SysProcAttr{}
	if d := cg.Paths.Dir(cgroup.Unified); d != "" {
		// cgroup2: born there (clone3 CLONE_INTO_CGROUP), so this process
		// never enters it and no cgroup.procs write waits for the kernel's
		// RCU grace period.
		dfd, err := unix.Open(d, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return 0, fmt.Errorf("open cgroup %s: %w", d, err)
		}
		defer unix.Close(dfd)
		sys.UseCgroupFD, sys.CgroupFD = true, dfd
	}
	type result struct {
		pid int
		err error
	}
	done := make(chan result, 1)
	go func() {
		// Never unlocked: this thread joins the container's cgroup and
		// namespaces and ends with this goroutine.
		runtime.LockOSThread()
		if err := cg.JoinThreadV1(); err != nil {
			done <- result{err: err}
			return
		}
		pid, err := unshare.Launch(namespace.NewPlan(s), next, env, fds, o.Bundle, sys)
		done <- result{pid, err}
	}()
	res := <-done
	return res.pid, res.err
}

// killChild ends a first process started by launch and reaps it.
func killChild(pid int) {
	unix.Kill(pid, unix.SIGKILL)
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(pid, &ws, 0, nil)
		if !errors.Is(err, unix.EINTR) {
			return
		}
	}
}
