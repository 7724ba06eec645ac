package cgroup

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/pkg/pipeline"
	"github.com/oci-run/oci-run/pkg/stage"
	"github.com/oci-run/oci-run/pkg/trace"
)

// StageOptions are the options of the oci-cgroup stage.
type StageOptions struct {
	// ID names the cgroup when linux.cgroupsPath is empty.
	ID string
	// Systemd: linux.cgroupsPath is "slice:prefix:name" and systemd owns
	// the cgroup (runc --systemd-cgroup).
	Systemd bool
	// Join an existing cgroup (exec) instead of creating one.
	Join bool
	// Sub are runc exec --cgroup values, with Join.
	Sub []string
	// PathsFile, with Join, holds the recorded Paths (JSON) to join instead
	// of computing them from the spec.
	PathsFile string
	// Rm runs the next program as a child, waits for it, removes the
	// cgroup and exits with its status: for use without oci-run.
	Rm bool
	// DeferPids leaves pids.limit to the caller (Cgroup.ApplyDeferred).
	DeferPids bool
}

// RunStage is the oci-cgroup stage: create the container's cgroup with the
// spec's limits and join it (or, with Join, join an existing one), then
// exec the rest of the pipeline.
func RunStage(s *stage.Stage, o StageOptions) error {
	id := o.ID
	if id == "" {
		id = "oci-cgroup-" + strconv.Itoa(os.Getpid())
	}
	// Before anything joins the cgroup (see sealBeforeJoin).
	if _, err := sealBeforeJoin(s.Next); err != nil {
		return err
	}
	trace.Point("seal")
	if o.Join {
		return join(s, id, o)
	}
	if len(o.Sub) > 0 || o.PathsFile != "" {
		return errors.New("--sub and --paths go with --join")
	}
	plan, err := NewPlan(s.Spec, id, o.Systemd)
	if err != nil {
		return err
	}
	plan.DeferPids = o.DeferPids
	trace.Point("plan")
	// A next program that cannot be found would leave a cgroup behind
	// with this process in it: look first.
	if err := checkRunnable(s.Next); err != nil {
		return err
	}
	if o.Rm {
		return runAndRemove(s, o, id, plan)
	}
	c, err := create(plan)
	if err != nil {
		return err
	}
	trace.Point("cgroup")
	err = s.ExecNext()
	// Only reached if exec failed: undo.
	if lerr := plan.Leave(os.Getpid()); lerr == nil {
		c.Destroy()
	}
	return err
}

func join(s *stage.Stage, id string, o StageOptions) error {
	if o.Rm {
		return errors.New("--rm cannot be used with --join: the cgroup is not ours to remove")
	}
	sub, err := ParseSub(o.Sub)
	if err != nil {
		return err
	}
	var p Paths
	if o.PathsFile != "" {
		b, err := os.ReadFile(o.PathsFile)
		if err != nil {
			return fmt.Errorf("--paths: %w", err)
		}
		if p, err = ParsePaths(b); err != nil {
			return fmt.Errorf("--paths %s: %w", o.PathsFile, err)
		}
	} else {
		plan, err := NewPlan(s.Spec, id, o.Systemd)
		if err != nil {
			return err
		}
		p = plan.Paths
	}
	c, err := Load(p)
	if err != nil {
		return err
	}
	if err := c.JoinThread(sub); err != nil {
		return err
	}
	return s.ExecNext()
}

// create makes the planned cgroup and moves this process into it: the
// calling (main) thread only, which execs next (JoinThread); systemd
// creates its scope with the whole process in it.
func create(plan *Plan) (*Cgroup, error) {
	if plan.Paths.Systemd != nil {
		return plan.Create(os.Getpid())
	}
	c, err := plan.Create(-1)
	if err != nil {
		return nil, err
	}
	if err := c.JoinThread(nil); err != nil {
		c.Destroy()
		return nil, err
	}
	return c, nil
}

func checkRunnable(next []string) error {
	prog := next[0]
	if pipeline.IsStage(prog) {
		if _, ok := stage.SealedFD(filepath.Base(prog)); ok {
			return nil
		}
	}
	_, err := stage.LookPath(prog, os.Environ())
	return err
}

// runAndRemove runs the rest of the pipeline in the cgroup as a child,
// waits for it, removes the cgroup and exits with the child's status. The
// child is this program again in --join mode, so this process never
// enters the cgroup: a Go process there counts its threads against
// pids.max and its memory against the limit, and would make its own fork
// fail under a small pids limit.
func runAndRemove(s *stage.Stage, o StageOptions, id string, plan *Plan) error {
	c, err := plan.Create(-1)
	if err != nil {
		return err
	}
	pid, err := forkJoin(s, o, id)
	if err != nil {
		c.Destroy()
		return err
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT)
	go func() {
		for sig := range sigs {
			unix.Kill(pid, sig.(syscall.Signal))
		}
	}()
	var ws unix.WaitStatus
	for {
		_, err = unix.Wait4(pid, &ws, 0, nil)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	signal.Stop(sigs)
	if derr := c.Destroy(); derr != nil {
		return derr
	}
	if err != nil {
		return fmt.Errorf("wait for %s: %w", s.Next[0], err)
	}
	switch {
	case ws.Exited():
		os.Exit(ws.ExitStatus())
	case ws.Signaled():
		os.Exit(128 + int(ws.Signal()))
	}
	os.Exit(1)
	return nil
}

// forkJoin starts "oci-cgroup --join" for the same cgroup with the same
// pipeline, with every inherited descriptor at its own number.
func forkJoin(s *stage.Stage, o StageOptions, id string) (int, error) {
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	argv := []string{"oci-cgroup", "--spec-fd", strconv.Itoa(s.SpecFD), "--bundle", s.Bundle, "--id", id, "--join"}
	if o.Systemd {
		argv = append(argv, "--systemd")
	}
	argv = append(append(argv, "--"), s.Next...)
	files, err := inheritedFiles()
	if err != nil {
		return 0, err
	}
	pid, err := syscall.ForkExec(self, argv, &syscall.ProcAttr{Env: os.Environ(), Files: files})
	if err != nil {
		return 0, fmt.Errorf("start %s: %w", self, err)
	}
	return pid, nil
}

// inheritedFiles lists descriptors 0..max for ForkExec, each open
// inheritable one at its own number and the others closed.
func inheritedFiles() ([]uintptr, error) {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil, err
	}
	keep := map[int]bool{}
	maxFD := 2
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil || flags&unix.FD_CLOEXEC != 0 {
			continue
		}
		keep[fd] = true
		maxFD = max(maxFD, fd)
	}
	files := make([]uintptr, maxFD+1)
	for i := range files {
		if keep[i] || i <= 2 {
			files[i] = uintptr(i)
		} else {
			files[i] = ^uintptr(0)
		}
	}
	return files, nil
}

// StageUsage is the --help text of oci-cgroup.
var StageUsage = strings.TrimSpace(`
Creates the container's cgroup from the configuration on the spec fd, applies
linux.resources (memory, cpu, cpuset, pids, blockIO, hugepages, network,
rdma, devices, unified), moves itself into it and execs the rest of the
pipeline, which therefore runs under the limits. Works on cgroup v1, v2 and
hybrid hosts (v1 controllers + cgroup2 at /sys/fs/cgroup/unified: both are
joined).

linux.cgroupsPath: absolute = from the root of each hierarchy; relative =
under this process's own cgroup in each hierarchy; empty = --id under it.
With --systemd it is "slice:prefix:name" and systemd creates the scope.
An existing cgroup is reused only if it is empty and not frozen.

With --destroy or --update (management mode, no spec fd, no pipeline) an
existing cgroup given by its recorded paths (--paths FILE, JSON) is
removed, or gets the linux.resources of --resources FILE|- (JSON); with
--systemd through systemd. oci-run uses it for the cgroups systemd owns.

With --join the cgroup must exist; nothing is created and no limit is
touched (oci-run exec). --sub PATH or --sub CTRL[,CTRL]:PATH joins an
existing sub-cgroup of it (runc exec --cgroup).

Run alone, the cgroup stays after the program ends (the program exec'd
into it) unless --rm is given.

Example: run make with the limits of config.json, then remove the cgroup:
  oci-cgroup --rm 3<config.json -- make -j2
`)
