package unshare

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/pkg/namespace"
	"github.com/oci-run/oci-run/pkg/nsjoin"
	"github.com/oci-run/oci-run/pkg/pipeline"
	"github.com/oci-run/oci-run/pkg/stage"
	"github.com/oci-run/oci-run/pkg/trace"
)

// Direct reports whether the container's first process can be started
// straight into the next program, without the child image (a second
// oci-unshare, about 2 ms of CPU for its exec and Go start-up): when no
// user namespace is involved, everything the child image does from inside
// can be done by the launching thread instead (Launch), because the
// namespaces it would act in are owned by the runtime's user namespace
// anyway. Not direct: a new or joined user namespace (the new namespaces
// must be owned by it, and setns of a user namespace needs a
// single-threaded process), a joined mount or time namespace (same
// restriction), time offsets (written through /proc/PID, the thread group
// leader's, before the namespace has a process).
func Direct(p *namespace.Plan) bool {
	if p.User() != namespace.Shared || p.JoinMount != nil || len(p.TimeOffsets) > 0 {
		return false
	}
	for _, j := range p.Join {
		if j.Kind.Flag == unix.CLONE_NEWTIME {
			return false
		}
	}
	return true
}

// inThread are the new namespaces Launch creates on its thread with
// unshare(2) rather than in the clone: per-thread namespaces that the
// thread must be in to set the hostname and bring up lo.
const inThread = unix.CLONE_NEWUTS | unix.CLONE_NEWNET | unix.CLONE_NEWIPC | unix.CLONE_NEWTIME

// Joinable reports whether Launch can start the first process of plan p
// with the child image doing only its mount-namespace part (JoinMount,
// --root-of): everything Direct allows, plus a joined mount namespace.
// That is `oci-run exec` into a container without a user namespace.
func Joinable(p *namespace.Plan) bool {
	q := *p
	q.JoinMount = nil
	return Direct(&q)
}

// Child describes the child image Launch starts when the plan joins a
// mount namespace or takes another process's root: the sealed oci-unshare
// to run (its number among files), and its stage options.
type Child struct {
	// Self is the sealed oci-unshare's descriptor in the child.
	Self int
	// Argv0 and Opts make its command line: Argv0 --spec-fd ... -- argv.
	Argv0 string
	Opts  []string
	// RootOf is the process whose root the first process takes.
	RootOf *RootOf
}

// Launch starts the container's first process directly (see Direct) and
// returns its pid. It must run on a locked OS thread that it changes for
// good: that thread joins the namespaces given by path (net, ipc, uts,
// cgroup; pid right before the clone), creates the new uts, net, ipc and
// time namespaces, sets the hostname and domainname, brings lo up, and
// clones the process with the remaining new namespaces (mount, pid,
// cgroup), which execs argv. The caller lets the thread end (a goroutine
// that exits locked ends its thread; oci-unshare's main thread exits with
// the process).
//
// files are the child's descriptors (files[i] becomes fd i), dir its
// working directory ("" = this one); sys may carry what the caller adds to
// the clone (CLONE_INTO_CGROUP).
//
// With child (a plan that is Joinable but not Direct, or --root-of), the
// first process is oci-unshare's child image instead: its constructor
// enters the mount namespace (single-threaded, before the Go runtime
// starts), it takes the root, and execs argv. The namespace and the root
// are opened here, before anything is joined.
func Launch(p *namespace.Plan, argv, env []string, files []uintptr, dir string, child *Child, sys *syscall.SysProcAttr) (int, error) {
	if child == nil && !Direct(p) || child != nil && !Joinable(p) {
		return 0, errors.New("internal: unshare.Launch with a plan that needs oci-unshare's parent")
	}
	if child != nil {
		var opened []*os.File
		var err error
		if argv, env, opened, err = childImage(p, argv, env, child); err != nil {
			return 0, err
		}
		defer closeAll(opened)
	}
	if err := Enter(p); err != nil {
		return 0, err
	}
	prog, argv, env, err := resolve(argv, env, files)
	if child != nil {
		prog, err = "/proc/self/fd/"+strconv.Itoa(child.Self), nil
	}
	if err != nil {
		return 0, err
	}
	return spawn(p, prog, argv, env, files, dir, sys)
}

// Enter is the first half of Launch for a Direct plan, for a caller
// that prepares the thread ahead of the clone (oci-run makes the
// namespaces while it writes the state and creates the cgroup): it joins
// the namespaces given by path and creates the new uts, net, ipc and time
// ones on the calling locked thread, and names the host. Start is the
// second half.
func Enter(p *namespace.Plan) error {
	for _, j := range p.Join {
		if err := setnsPath(&j); err != nil {
			return err
		}
	}
	if flags := p.Clone&inThread | newTimeFlag(p); flags != 0 {
		if err := unix.Unshare(int(flags)); err != nil {
			return fmt.Errorf("create namespaces (flags %#x): %w", flags, err)
		}
	}
	if err := setNames(p); err != nil {
		return err
	}
	if p.JoinPid != nil {
		if err := setnsPath(p.JoinPid); err != nil {
			return err
		}
	}
	return nil
}

// Start is the second half of Launch for a Direct plan, on the thread
// that Enter prepared: it clones the first process with the remaining
// new namespaces, which execs argv.
func Start(p *namespace.Plan, argv, env []string, files []uintptr, dir string, sys *syscall.SysProcAttr) (int, error) {
	if !Direct(p) {
		return 0, errors.New("internal: unshare.Start with a plan that needs oci-unshare's parent")
	}
	prog, argv, env, err := resolve(argv, env, files)
	if err != nil {
		return 0, err
	}
	return spawn(p, prog, argv, env, files, dir, sys)
}

func spawn(p *namespace.Plan, prog string, argv, env []string, files []uintptr, dir string, sys *syscall.SysProcAttr) (int, error) {
	if sys == nil {
		sys = &syscall.SysProcAttr{}
	}
	sys.Cloneflags = p.Clone &^ inThread
	trace.Point("clone")
	pid, err := syscall.ForkExec(prog, argv, &syscall.ProcAttr{Dir: dir, Env: env, Files: files, Sys: sys})
	if err != nil {
		return 0, cloneError(p, err)
	}
	return pid, nil
}

// childImage turns argv into the child image's command line and
// environment, and opens the mount namespace and the root it enters,
// inherited at their own numbers (files must pass the process's
// inheritable descriptors through, as stdio() with ForkExec does). opened
// are to be closed once the child is started.
func childImage(p *namespace.Plan, argv, env []string, c *Child) (_ []string, _ []string, opened []*os.File, err error) {
	defer func() {
		if err != nil {
			closeAll(opened)
		}
	}()
	full := append([]string{c.Argv0}, c.Opts...)
	full = append(append(full, "--"), argv...)
	env = stage.SetEnv(env, envChild, "1")
	env = stage.SetEnv(env, envSelf, strconv.Itoa(c.Self))
	// Launch has made every namespace but the mount one, and the child
	// image has only that and the root left to do: its constructor does
	// both and execs the next stage itself (pkg/nsjoin, hand-off).
	if pipeline.IsStage(argv[0]) {
		if fd, ok := stage.SealedFDIn(env, filepathBase(argv[0])); ok {
			env = stage.SetEnv(env, envHandoff, fmt.Sprintf("%d:%d", fd, len(full)-len(argv)))
		}
	}
	if j := p.JoinMount; j != nil {
		f, err := openInherited(j)
		if err != nil {
			return nil, nil, opened, err
		}
		opened = append(opened, f)
		fd := int(f.Fd())
		env = stage.SetEnv(env, envMount, strconv.Itoa(fd))
		env = stage.SetEnv(env, nsjoin.Env, nsjoin.Format([]nsjoin.Entry{{FD: fd, Flag: unix.CLONE_NEWNS}}))
	}
	if c.RootOf != nil {
		rfd, err := c.RootOf.open()
		if err != nil {
			return nil, nil, opened, err
		}
		opened = append(opened, os.NewFile(uintptr(rfd), "root"))
		env = stage.SetEnv(env, envRoot, strconv.Itoa(rfd))
		// Every /proc/PID path is open now: PID must still be the process
		// it was.
		if err := c.RootOf.check(); err != nil {
			return nil, nil, opened, err
		}
	}
	return full, env, opened, nil
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

func newTimeFlag(p *namespace.Plan) uintptr {
	if p.NewTime {
		return unix.CLONE_NEWTIME
	}
	return 0
}

// setNames is the hostname, domainname and loopback part of the child
// image, for the calling thread's namespaces.
func setNames(p *namespace.Plan) error {
	if p.Hostname != "" {
		if err := unix.Sethostname([]byte(p.Hostname)); err != nil {
			return fmt.Errorf("hostname: set %q: %w", p.Hostname, err)
		}
	}
	if p.Domainname != "" {
		if err := unix.Setdomainname([]byte(p.Domainname)); err != nil {
			return fmt.Errorf("domainname: set %q: %w", p.Domainname, err)
		}
	}
	if p.LoopbackUp {
		if err := loopbackUp(); err != nil {
			return fmt.Errorf("bring up lo in the new network namespace: %w", err)
		}
	}
	return nil
}

func setnsPath(j *namespace.Join) error {
	f, err := namespace.Open(j.Path, j.Kind)
	if err != nil {
		return fmt.Errorf("%s.path: %w", j.Field, err)
	}
	defer f.Close()
	if err := unix.Setns(int(f.Fd()), int(j.Kind.Flag)); err != nil {
		return fmt.Errorf("%s.path: join %s namespace %q: %w", j.Field, j.Kind.Type, j.Path, explainSetns(*j, err))
	}
	return nil
}

// resolve finds what the clone execs: a stage from its sealed handle
// (OCI_STAGE_FDS), anything
// else by PATH with the handover variables removed, as stage.Exec does.
func resolve(argv, env []string, files []uintptr) (string, []string, []string, error) {
	prog := argv[0]
	if pipeline.IsStage(prog) {
		if fd, ok := stage.SealedFDIn(env, filepathBase(prog)); ok {
			// The number is the child's: files puts it there, or it is
			// inherited at its own.
			return "/proc/self/fd/" + strconv.Itoa(fd), argv, env, nil
		}
	} else {
		env = stage.StripEnv(env)
	}
	path, err := stage.LookPath(prog, env)
	if err != nil {
		return "", nil, nil, err
	}
	// What the child image's exec would have said; ForkExec's own error
	// cannot tell a failed exec from a failed clone.
	if err := unix.Access(path, unix.X_OK); err != nil {
		return "", nil, nil, fmt.Errorf("exec %s: %w", path, err)
	}
	return path, argv, env, nil
}

func filepathBase(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[i+1:]
		}
	}
	return p
}
