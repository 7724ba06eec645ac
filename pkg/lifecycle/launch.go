package lifecycle

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/pkg/cgroup"
	"github.com/oci-run/oci-run/pkg/exeseal"
	"github.com/oci-run/oci-run/pkg/namespace"
	"github.com/oci-run/oci-run/pkg/pipeline"
	"github.com/oci-run/oci-run/pkg/stage"
	"github.com/oci-run/oci-run/pkg/state"
	"github.com/oci-run/oci-run/pkg/syncsock"
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
// hand-over each.
//
// Only where that changes nothing the container can see or reach:
//   - a new pid namespace: between its clone and its exec of the sealed
//     oci-mount, the first process is a copy of oci-run (its executable,
//     its descriptors); as pid 1 of an empty namespace nothing of the
//     container can look at it. In a joined one a neighbour could
//     (CVE-2019-5736, CVE-2024-21626), and oci-unshare, from its sealed
//     copy with only the handover descriptors, does the clone;
//   - a plan oci-unshare would start directly too (unshare.Direct: no
//     user namespace, no joined mount or time namespace, no time offsets);
//   - not with systemd, which puts a whole process into its scope.
//
// Everything else runs the programs.
func (r *Runtime) inProcess(s *specs.Spec) bool {
	if r.Systemd || os.Getenv(EnvChain) == "stages" {
		return false
	}
	p := namespace.NewPlan(s)
	return p.Mode(specs.PIDNamespace) == namespace.New && unshare.Direct(p)
}

// launch is the in-process host side. files are the child's descriptors
// from 3 on (preserved ones, spec, sync, fifo, console) and env its
// environment; next is the pipeline from oci-mount on; rt is the
// runtime's end of the sync socket. It returns the pid of the container's
// first process, a child of this process.
//
// Where the host has v1 hierarchies (a v1 or hybrid host, not systemd),
// the first process is cloned before they are made, and joins them
// itself once they are (earlyClone).
func (r *Runtime) launch(s *specs.Spec, o CreateOptions, rt *syncsock.Conn, files []*os.File, env, next []string) (int, error) {
	trees, err := idmappedTrees(s, o.Bundle)
	if err != nil {
		return 0, err
	}
	defer trees.Close()
	plan := o.cgroup
	if plan == nil {
		if plan, err = cgroup.NewPlan(s, o.ID, false); err != nil {
			return 0, err
		}
	}
	plan.DeferPids = true
	early := earlyClone(plan)

	// The stages of the container side, sealed (pkg/exeseal), placed
	// after the other descriptors. Sealing needs nothing of the cgroup's:
	// it runs on another thread while the cgroup is made (0.3 ms of its
	// 1.5 off the critical path).
	names := make([]string, 0, 3)
	paths := make([]string, 0, 3)
	for _, prog := range pipeline.StageNames(next) {
		names = append(names, filepath.Base(prog))
		paths = append(paths, prog)
	}
	type sealing struct {
		files []*os.File
		err   error
	}
	sealc := make(chan sealing, 1)
	go func() {
		f, err := exeseal.SealAll(paths)
		sealc <- sealing{f, err}
	}()
	var cg *cgroup.Cgroup
	var unified string
	if early {
		unified, err = plan.MakeUnified()
	} else if cg, err = plan.Create(-1); err == nil {
		unified = cg.Paths.Dir(cgroup.Unified)
	}
	sr := <-sealc
	sealed := sr.files
	defer func() {
		for _, f := range sealed {
			f.Close()
		}
	}()
	if err != nil {
		return 0, err
	}
	if sr.err != nil {
		return 0, sr.err
	}
	trace.Point("cgroup")
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
	fds, env = handTrees(trees, fds, env)
	trace.Point("seal")

	sys := &syscall.SysProcAttr{}
	if unified != "" {
		// cgroup2: born there (clone3 CLONE_INTO_CGROUP), so this process
		// never enters it and no cgroup.procs write waits for the kernel's
		// RCU grace period.
		dfd, err := unix.Open(unified, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return 0, fmt.Errorf("open cgroup %s: %w", unified, err)
		}
		defer unix.Close(dfd)
		sys.UseCgroupFD, sys.CgroupFD = true, dfd
	}
	ns := o.ns
	defer ns.end()
	if early {
		join := "1"
		if ns.plan.Clone&unix.CLONE_NEWCGROUP != 0 {
			join = "ns"
		}
		env = append(env, stage.EnvCgroupJoin+"="+join)
	}
	var pid int
	ns.run(func(p *namespace.Plan, entered error) {
		if err = entered; err != nil {
			return
		}
		if early {
			// The cgroup namespace comes after the join, from the
			// process itself (stage.JoinCgroup).
			q := *p
			q.Clone &^= unix.CLONE_NEWCGROUP
			pid, err = unshare.Start(&q, next, env, fds, o.Bundle, sys)
			return
		}
		if err = cg.JoinThreadV1(nil); err == nil {
			pid, err = unshare.Start(p, next, env, fds, o.Bundle, sys)
		}
	})
	if err != nil || !early {
		return pid, err
	}
	// The first process execs oci-mount and starts its Go runtime while
	// the v1 hierarchies are made; it waits for their tasks files before
	// it does anything of the container's.
	cg, err = plan.Create(-1)
	if err == nil {
		err = handCgroup(rt, cg)
	}
	if err != nil {
		killChild(pid)
		return 0, err
	}
	trace.Point("v1")
	return pid, nil
}

// earlyClone decides whether launch clones the first process before the
// v1 hierarchies of its cgroup exist: on a v1 or hybrid host, where
// making them is a mkdir and the control files per hierarchy (1 ms with
// the limits here), and where the process can join them by thread
// without the RCU grace period of a whole-process move. It then starts
// oci-mount meanwhile (1.5 ms of exec and Go start-up here) and oci-mount
// joins before anything else (stage.JoinCgroup): its main thread writes
// "0" to each hierarchy's tasks file, and it makes the cgroup namespace
// after. On cgroup v2 the process is born in its cgroup (one mkdir),
// which it cannot join by thread later.
//
// What differs from a process born in its cgroup: its exec and Go
// start-up are billed to oci-run's cgroup (the design prefers the
// runtime's own stages not billed to the container), and the Go
// runtime's threads of oci-mount stay in oci-run's v1 cgroups until the
// exec of the user program ends them. Nothing of the container runs
// before the join.
func earlyClone(p *cgroup.Plan) bool {
	return p.Host.Mode != cgroup.V2 && p.Paths.Systemd == nil
}

// handCgroup sends the first process the tasks files of the v1
// hierarchies (syncsock.TypeCgroup).
func handCgroup(rt *syncsock.Conn, cg *cgroup.Cgroup) error {
	files, err := cg.TasksFiles()
	if err != nil {
		return err
	}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	return rt.Send(syncsock.Message{Type: syncsock.TypeCgroup, Files: files})
}

// nsThread is the throwaway thread (onThrowawayThread) the container's
// first process is cloned from. It is started as soon as the checks have
// passed, and makes the new uts, ipc and net namespaces (unshare.Enter)
// while this process writes the state and creates the cgroup: 0.6 ms
// here, most of it the network namespace, that were in the critical
// path. Only then does it clone: into the cgroup it made, or, with
// earlyClone, before the v1 hierarchies, which the first process joins
// itself. The namespaces are
// charged to this process's memory cgroup instead of the container's, as
// crun's are (runc makes them from its init, already in the cgroup).
// A create that fails before the clone ends the thread, and the
// namespaces with it: nothing is left behind.
type nsThread struct {
	plan *namespace.Plan
	do   chan func()
	gone chan struct{}
	once sync.Once
	// entered is unshare.Enter's error, read on the thread only.
	entered error
}

// enterEarly starts the thread and has it enter the namespaces of plan.
func enterEarly(plan *namespace.Plan) *nsThread {
	t := &nsThread{plan: plan, do: make(chan func()), gone: make(chan struct{})}
	go func() {
		defer close(t.gone)
		onThrowawayThread(func() {
			t.entered = unshare.Enter(plan)
			for f := range t.do {
				f()
			}
		})
	}()
	return t
}

// run runs f on the thread, with Enter's result, and waits for it.
func (t *nsThread) run(f func(p *namespace.Plan, entered error)) {
	done := make(chan struct{})
	t.do <- func() {
		defer close(done)
		f(t.plan, t.entered)
	}
	<-done
}

// end lets the thread end and waits until it is gone. Idempotent; nil
// is a no-op.
func (t *nsThread) end() {
	if t == nil {
		return
	}
	t.once.Do(func() {
		close(t.do)
		<-t.gone
	})
}

// onThrowawayThread runs f on an OS thread of its own that ends with it:
// f joins the container's cgroup and namespaces, and nothing else of
// this process may run there afterwards. Never the main thread: it is
// the thread group leader, whose cgroup is the one the whole process's
// memory is charged to (the mm's owner), and which cannot end before the
// process (the Go runtime would keep it, in the container's cgroup).
func onThrowawayThread(f func()) {
	done := make(chan struct{})
	tid := 0
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
		tid = unix.Gettid()
		// Never unlocked: the thread ends with this goroutine.
		f()
	}()
	<-done
	waitThreadGone(tid)
}

// waitThreadGone waits until thread tid of this process has ended. The
// goroutine's end comes before its thread's: until the thread is gone it
// is still in the container's cgroup, where it makes this whole process
// one of the container's (cgroup.procs), and a create that fails at once
// would freeze it and kill itself in its cleanup. tgkill finds the thread
// until it is released, after it has left its cgroups.
func waitThreadGone(tid int) {
	if tid == 0 {
		return
	}
	pid := unix.Getpid()
	for i := 0; i < 20000 && unix.Tgkill(pid, tid, 0) == nil; i++ {
		// A raw nanosleep: a Go timer this short would wait for the
		// netpoller, whose resolution is a millisecond.
		ts := unix.NsecToTimespec(50_000)
		_ = unix.Nanosleep(&ts, nil)
	}
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

// execJoinsCgroup decides whether `exec` joins the container's cgroup in
// oci-run instead of running oci-cgroup --join: a thread of oci-run
// joins the v1 hierarchies (tasks) and starts oci-unshare from there, born
// in the cgroup2 directory (CLONE_INTO_CGROUP). One Go program fewer, and
// no cgroup.procs write waiting for an RCU grace period. oci-unshare still
// enters the namespaces: the process that crosses into the container's
// pid namespace must run from a sealed binary and hold nothing but the
// handover descriptors (CVE-2019-5736, CVE-2024-21626), which a copy of
// oci-run between its fork and its exec would not. Not with systemd,
// which moves whole processes.
func (r *Runtime) execJoinsCgroup(c *state.Container) bool {
	return !c.State.Systemd && os.Getenv(EnvChain) != "stages"
}

// startInCgroup starts cmd (oci-unshare, from its sealed handle) in the
// container's cgroup, sub-cgroups of exec --cgroup included.
func startInCgroup(c *state.Container, subs []string, cmd *exec.Cmd) error {
	cg, err := cgroup.Load(c.State.CgroupPaths)
	if err != nil {
		return err
	}
	sub, err := cgroup.ParseSub(subs)
	if err != nil {
		return err
	}
	if d := cg.JoinDir(cgroup.Unified, sub); d != "" {
		dfd, err := unix.Open(d, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("container cgroup %s does not exist (is the container running?)", d)
		}
		defer unix.Close(dfd)
		if cmd.SysProcAttr == nil {
			cmd.SysProcAttr = &syscall.SysProcAttr{}
		}
		cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, dfd
	}
	onThrowawayThread(func() {
		if err = cg.JoinThreadV1(sub); err == nil {
			err = cmd.Start()
		}
	})
	return err
}
