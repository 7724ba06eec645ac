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
	"github.com/oci-run/oci-run/pkg/state"
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
	var pid int
	onThrowawayThread(func() {
		if err = cg.JoinThreadV1(nil); err == nil {
			pid, err = unshare.Launch(namespace.NewPlan(s), next, env, fds, o.Bundle, nil, sys)
		}
	})
	return pid, err
}

// onThrowawayThread runs f on an OS thread of its own that ends with it:
// f joins the container's cgroup and namespaces, and nothing else of
// this process may run there afterwards. Never the main thread: it is
// the thread group leader, whose cgroup is the one the whole process's
// memory is charged to (the mm's owner), and which cannot end before the
// process (the Go runtime would keep it, in the container's cgroup).
func onThrowawayThread(f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			// Holding the main thread, the goroutine started next runs
			// on another.
			onThrowawayThread(f)
			runtime.UnlockOSThread()
			return
		}
		// Never unlocked: the thread ends with this goroutine.
		f()
	}()
	<-done
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

// execInProcess is inProcess for `exec`: oci-run joins the container's
// cgroup and namespaces itself (a thread of its own: cgroup v1 by thread,
// cgroup2 at the clone, net/ipc/uts/cgroup/pid with setns) instead of
// running oci-cgroup --join and oci-unshare, whose parent re-executed
// itself to join through its constructor: three Go programs fewer. The
// mount namespace (and the root of a container entered by chroot) is
// still entered by oci-unshare's child image, whose constructor runs
// before its Go runtime: setns of a mount namespace needs a process that
// shares its filesystem context with no other thread, and the next stage
// must be exec'd from its sealed handle before the container's /proc is
// the one in view. Not with a user or time namespace (setns of those
// needs a single-threaded process) or systemd.
func (r *Runtime) execInProcess(s *specs.Spec, c *state.Container) bool {
	if c.State.Systemd || os.Getenv(EnvChain) == "stages" {
		return false
	}
	return unshare.Joinable(namespace.NewPlan(s))
}

// launchExec starts the exec'd process from oci-run (execInProcess).
// unshareSeg is oci-unshare's segment of the pipeline (program and its
// options), next what follows it.
func (r *Runtime) launchExec(c *state.Container, s *specs.Spec, o ExecOptions, files []*os.File, env, unshareSeg, next []string, initRoot bool) (int, error) {
	cg, err := cgroup.Load(c.State.CgroupPaths)
	if err != nil {
		return 0, err
	}
	sub, err := cgroup.ParseSub(o.Cgroup)
	if err != nil {
		return 0, err
	}
	p := namespace.NewPlan(s)
	var child *unshare.Child
	paths := []string{}
	names := []string{}
	for _, prog := range pipeline.StageNames(next) {
		names = append(names, filepath.Base(prog))
		paths = append(paths, prog)
	}
	if p.JoinMount != nil || initRoot {
		paths = append(paths, unshareSeg[0])
		child = &unshare.Child{Argv0: unshareSeg[0], Opts: childOpts(unshareSeg[1:])}
		if initRoot {
			child.RootOf = &unshare.RootOf{Pid: c.State.Pid, Start: c.State.PidStart}
		}
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
	trace.Point("seal")
	fds := []uintptr{0, 1, 2}
	for _, f := range files {
		fds = append(fds, f.Fd())
	}
	nums := make([]int, len(names))
	for i := range names {
		nums[i] = len(fds)
		fds = append(fds, sealed[i].Fd())
	}
	if child != nil {
		// Not listed in OCI_STAGE_FDS: the child image closes its own
		// handle before it execs the next stage.
		child.Self = len(fds)
		fds = append(fds, sealed[len(sealed)-1].Fd())
	}
	env = append(env, stage.EnvStageFDs+"="+stage.FormatStageFDs(names, nums))
	sys := &syscall.SysProcAttr{}
	if d := cg.JoinDir(cgroup.Unified, sub); d != "" {
		dfd, err := unix.Open(d, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return 0, fmt.Errorf("container cgroup %s does not exist (is the container running?)", d)
		}
		defer unix.Close(dfd)
		sys.UseCgroupFD, sys.CgroupFD = true, dfd
	}
	var pid int
	onThrowawayThread(func() {
		if err = cg.JoinThreadV1(sub); err == nil {
			pid, err = unshare.Launch(p, next, env, fds, "", child, sys)
		}
	})
	return pid, err
}

// childOpts keeps the options of oci-unshare's segment that its child
// image reads (--spec-fd, --bundle); --detach and --root-of are the
// parent's, done here.
func childOpts(opts []string) []string {
	var out []string
	for i := 0; i < len(opts); i++ {
		switch opts[i] {
		case "--detach":
		case "--root-of":
			i++
		default:
			out = append(out, opts[i])
		}
	}
	return out
}
