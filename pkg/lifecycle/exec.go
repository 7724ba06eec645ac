package lifecycle

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/pkg/exeseal"
	"github.com/oci-run/oci-run/pkg/namespace"
	"github.com/oci-run/oci-run/pkg/pipeline"
	"github.com/oci-run/oci-run/pkg/proc"
	"github.com/oci-run/oci-run/pkg/process"
	ocisignal "github.com/oci-run/oci-run/pkg/signal"
	"github.com/oci-run/oci-run/pkg/spec"
	"github.com/oci-run/oci-run/pkg/stage"
	"github.com/oci-run/oci-run/pkg/state"
	"github.com/oci-run/oci-run/pkg/syncsock"
	"github.com/oci-run/oci-run/pkg/trace"
	"github.com/oci-run/oci-run/pkg/unshare"
)

// ExecOptions are the flags of `exec`.
type ExecOptions struct {
	ID string
	// ProcessFile is --process: a runtime-spec Process as JSON. With it,
	// Args and the process flags below are ignored (as runc does).
	ProcessFile string
	Args        []string

	Detach        bool
	ConsoleSocket string
	PidFile       string
	PreserveFDs   int
	IgnorePaused  bool
	// Cgroup is --cgroup: sub-cgroups of the container's to join.
	Cgroup []string

	// Flags that change the container's process.
	Tty            *bool
	User           string
	AdditionalGids []int64
	Env            []string
	Cwd            string
	Caps           []string
	NoNewPrivs     *bool
	AppArmor       string
	ProcessLabel   string
}

// Exec runs a new process in a running container: in every namespace of
// its init and in its cgroup, with the container's seccomp profile and the
// given (or the container's) process settings. In the foreground it waits
// and returns the process's exit code (128+N when killed by signal N);
// with Detach it returns once the process runs and leaves it to the
// caller's subreaper.
func (r *Runtime) Exec(o ExecOptions) (int, error) {
	c, err := r.Store.Peek(o.ID)
	if err != nil {
		return 1, err
	}
	r.wire(c)
	switch c.Status() {
	case state.Stopped:
		return 1, errors.New("cannot exec in a stopped container")
	case state.Paused:
		if !o.IgnorePaused {
			return 1, errors.New("cannot exec in a paused container (use --ignore-paused to override)")
		}
	case state.Creating:
		return 1, errors.New("cannot exec in a container that is being created")
	}
	trace.Point("state")
	base, _, err := spec.LoadFile(c.Path(state.ConfigFile))
	if err != nil {
		return 1, err
	}
	p, err := execProcess(base, o)
	if err != nil {
		return 1, err
	}
	s := execSpec(base, p, c.State.Pid)
	if err := spec.Validate(s, c.State.Bundle, spec.ForStage); err != nil {
		return 1, err
	}
	if len(p.Args) == 0 && p.CommandLine == "" {
		return 1, errors.New("process.args: must not be empty")
	}
	trace.Point("spec")
	raw, err := json.Marshal(s)
	trace.Point("encode")
	if err != nil {
		return 1, err
	}
	return r.runExec(c, s, raw, o, enteredByChroot(base))
}

// enteredByChroot: the container's mount namespace is not its own (the
// runtime's, or one joined by path), so oci-mount entered its rootfs with
// chroot, and the namespace's root, where joining it (or staying in the
// runtime's) puts a process, is not the container's. The exec'd process
// must take the init's root instead (oci-unshare --root-of).
func enteredByChroot(base *specs.Spec) bool {
	ns, ok := spec.HasNamespace(base, specs.MountNamespace)
	return !ok || ns.Path != ""
}

// execProcess is the process to run: --process, or the container's
// process changed by the flags, the way runc merges them.
func execProcess(base *specs.Spec, o ExecOptions) (*specs.Process, error) {
	if o.ProcessFile != "" {
		b, err := os.ReadFile(o.ProcessFile)
		if err != nil {
			return nil, fmt.Errorf("--process: %w", err)
		}
		var p specs.Process
		if err := json.Unmarshal(b, &p); err != nil {
			return nil, fmt.Errorf("--process %s: %w", o.ProcessFile, err)
		}
		return &p, nil
	}
	var p specs.Process
	if base.Process != nil {
		p = *base.Process
		p.Env = append([]string(nil), p.Env...)
		if caps := p.Capabilities; caps != nil {
			cp := *caps
			p.Capabilities = &cp
		}
	}
	p.Args = o.Args
	p.CommandLine = ""
	p.Terminal = false
	if o.Tty != nil {
		p.Terminal = *o.Tty
	}
	if o.Cwd != "" {
		p.Cwd = o.Cwd
	}
	if o.AppArmor != "" {
		p.ApparmorProfile = o.AppArmor
	}
	if o.ProcessLabel != "" {
		p.SelinuxLabel = o.ProcessLabel
	}
	if len(o.Caps) > 0 {
		if p.Capabilities == nil {
			p.Capabilities = &specs.LinuxCapabilities{}
		}
		caps := p.Capabilities
		for _, name := range o.Caps {
			name = strings.ToUpper(name)
			if !strings.HasPrefix(name, "CAP_") {
				name = "CAP_" + name
			}
			caps.Bounding = append(append([]string(nil), caps.Bounding...), name)
			caps.Effective = append(append([]string(nil), caps.Effective...), name)
			caps.Permitted = append(append([]string(nil), caps.Permitted...), name)
		}
	}
	p.Env = append(p.Env, o.Env...)
	if o.NoNewPrivs != nil {
		p.NoNewPrivileges = *o.NoNewPrivs
	}
	if o.User != "" {
		uid, gid, hasGid := strings.Cut(o.User, ":")
		if hasGid {
			n, err := strconv.ParseUint(gid, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("--user %q: parsing %s as int for gid failed: %w", o.User, gid, err)
			}
			p.User.GID = uint32(n)
		}
		n, err := strconv.ParseUint(uid, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("--user %q: parsing %s as int for uid failed: %w", o.User, uid, err)
		}
		p.User.UID = uint32(n)
	}
	for _, g := range o.AdditionalGids {
		if g < 0 || g > 1<<32-1 {
			return nil, fmt.Errorf("--additional-gids: %d is not a group id", g)
		}
		p.User.AdditionalGids = append(p.User.AdditionalGids, uint32(g))
	}
	return &p, nil
}

// execSpec derives the configuration of an exec'd process from the
// container's: its process, every namespace of the container joined
// through the init's /proc/PID/ns entries, the same cgroup and seccomp
// profile, and nothing that sets up a container (mounts, devices, paths,
// sysctl, hostname, mappings, hooks).
func execSpec(base *specs.Spec, p *specs.Process, initPid int) *specs.Spec {
	s := *base
	s.Process = p
	s.Mounts = nil
	s.Hooks = nil
	s.Hostname, s.Domainname = "", ""
	if base.Linux != nil {
		l := *base.Linux
		l.Namespaces = nil
		for _, ns := range base.Linux.Namespaces {
			k, ok := namespace.KindOf(ns.Type)
			if !ok {
				continue
			}
			l.Namespaces = append(l.Namespaces, specs.LinuxNamespace{
				Type: ns.Type,
				Path: fmt.Sprintf("/proc/%d/ns/%s", initPid, k.Proc),
			})
		}
		l.UIDMappings, l.GIDMappings = nil, nil
		l.TimeOffsets = nil
		l.Devices = nil
		l.MaskedPaths, l.ReadonlyPaths = nil, nil
		l.Sysctl = nil
		l.RootfsPropagation = ""
		l.MountLabel = ""
		s.Linux = &l
	}
	return &s
}

// runExec starts oci-cgroup --join → oci-unshare → [oci-seccomp] → oci-exec
// and follows it until the process runs.
func (r *Runtime) runExec(c *state.Container, s *specs.Spec, raw []byte, o ExecOptions, initRoot bool) (int, error) {
	var console *os.File
	var tty *ttyProxy
	terminal := s.Process.Terminal
	switch {
	case o.ConsoleSocket != "" && !terminal:
		return 1, errors.New("--console-socket given but the process has no terminal (--tty / process.terminal)")
	case o.ConsoleSocket != "":
		f, err := dialConsole(o.ConsoleSocket)
		if err != nil {
			return 1, err
		}
		defer f.Close()
		console = f
	case terminal && o.Detach:
		return 1, errors.New("cannot allocate tty if runc will detach without setting console socket")
	case terminal:
		t, err := newTTYProxy()
		if err != nil {
			return 1, err
		}
		defer t.Close()
		tty, console = t, t.peer
	}
	if o.PreserveFDs < 0 {
		return 1, fmt.Errorf("--preserve-fds: %d is negative", o.PreserveFDs)
	}
	specFD, err := spec.SealedMemfd("config.json", raw)
	if err != nil {
		return 1, err
	}
	specFile := os.NewFile(uintptr(specFD), "config.json")
	defer specFile.Close()
	paths, err := json.Marshal(c.State.CgroupPaths)
	if err != nil {
		return 1, err
	}
	pathsFD, err := spec.SealedMemfd("cgroup-paths.json", paths)
	if err != nil {
		return 1, err
	}
	pathsFile := os.NewFile(uintptr(pathsFD), "cgroup-paths.json")
	defer pathsFile.Close()
	rt, st, err := syncsock.Pair()
	if err != nil {
		return 1, err
	}
	defer rt.Close()

	n := o.PreserveFDs
	extra := make([]*os.File, 0, n+4)
	for i := 0; i < n; i++ {
		fd := 3 + i
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
			st.Close()
			return 1, fmt.Errorf("--preserve-fds %d: descriptor %d is not open", n, fd)
		}
		extra = append(extra, os.NewFile(uintptr(fd), "preserved"))
	}
	fdSpec := 3 + len(extra)
	extra = append(extra, specFile, pathsFile, st.File())
	fdPaths, fdSync := fdSpec+1, fdSpec+2
	env := append(stageEnv(), stageProcs,
		stage.EnvSync+"="+strconv.Itoa(fdSync),
		stage.EnvPreserve+"="+strconv.Itoa(n),
	)
	if console != nil {
		env = append(env, stage.EnvConsole+"="+strconv.Itoa(3+len(extra)))
		extra = append(extra, console)
	}
	argv, err := r.execPipeline(c, s, o, fdSpec, fdPaths, initRoot)
	if err != nil {
		st.Close()
		return 1, err
	}
	var sigs chan os.Signal
	var early <-chan struct{}
	if !o.Detach {
		// In the foreground this process waits for the exec'd one: it is
		// its subreaper (oci-unshare --detach exits once its child runs)
		// and forwards the signals it gets (caught in the background
		// meanwhile). Waiting in oci-unshare would cost its Go runtime
		// another 65 signal registrations.
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			st.Close()
			return 1, fmt.Errorf("become subreaper: %w", err)
		}
		sigs = make(chan os.Signal, 128)
		early = ocisignal.CatchEarly(sigs)
	}
	if trace.Enabled() {
		env = append(env, trace.Env+"=1")
	}
	// The caller's stray descriptors (not close-on-exec, not preserved)
	// must not go into the container, where a directory would be a way
	// out (CVE-2024-21626).
	if err := process.CloseOnExecFrom(3 + n); err != nil {
		st.Close()
		return 1, err
	}
	if early != nil {
		// Nothing is started before a SIGTERM would reach the process.
		<-early
	}
	var sealed []*os.File
	defer func() {
		for _, f := range sealed {
			f.Close()
		}
	}()
	selfPath := ""
	joinCgroup := r.execJoinsCgroup(c)
	if joinCgroup {
		// oci-run joins the cgroup: the chain starts at oci-unshare,
		// exec'd from a sealed handle placed after the other descriptors.
		r.Log.Debugf("exec %s: %s (the cgroup joined by oci-run)", o.ID, pipeline.Quote(argv))
		argv = argv[slices.Index(argv, "--")+1:]
		tail := argv[slices.Index(argv, "--")+1:]
		progs := append([]string{argv[0]}, pipeline.StageNames(tail)...)
		if sealed, err = exeseal.SealAll(progs); err != nil {
			st.Close()
			return 1, err
		}
		self := 3 + len(extra)
		extra = append(extra, sealed...)
		selfPath = "/proc/self/fd/" + strconv.Itoa(self)
		names := make([]string, len(progs)-1)
		nums := make([]int, len(progs)-1)
		for i := range names {
			names[i], nums[i] = filepath.Base(progs[i+1]), self+1+i
		}
		stageFDs := stage.EnvStageFDs + "=" + stage.FormatStageFDs(names, nums)
		p := namespace.NewPlan(s)
		if unshare.Joinable(p) && p.Clone == 0 && !p.NewTime {
			// oci-unshare's child image alone, in fork mode: its
			// constructor joins every namespace and forks the process
			// (no oci-unshare parent and its Go runtime).
			var rootOf *unshare.RootOf
			if initRoot {
				rootOf = &unshare.RootOf{Pid: c.State.Pid, Start: c.State.PidStart}
			}
			img, err := unshare.Fork(p, tail, append(env, stageFDs), self, fdSync, 3+len(extra), fdSpec, c.State.Bundle, rootOf)
			if err != nil {
				st.Close()
				return 1, err
			}
			sealed = append(sealed, img.Files...)
			extra = append(extra, img.Files...)
			argv, env = append([]string{argv[0]}, img.Argv[1:]...), img.Env
		} else {
			env = append(env, stage.EnvStageFDs+"=oci-unshare="+strconv.Itoa(self))
		}
	}
	r.Log.Debugf("exec %s: %s", o.ID, pipeline.Quote(argv))

	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.ExtraFiles = extra
	cmd.Env = env
	trace.Point("spawn")
	if joinCgroup {
		// Born in the container's cgroup, the chain can be found by
		// delete whatever happens to this process.
		cmd.Path = selfPath
		err = startInCgroup(c, o.Cgroup, cmd)
		runtime.KeepAlive(sealed)
	} else {
		// As create: if this process dies while the chain sets the
		// process up, the chain dies with it rather than go on outside
		// the container's cgroup, where delete would not find it (the
		// process itself, its child, does not inherit the signal).
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		err = cmd.Start()
	}
	r.TraceGroup("oci-run")
	if err != nil {
		st.Close()
		return 1, fmt.Errorf("start %s: %w", argv[0], err)
	}
	st.Close()
	pid, err := r.followExec(c, s, rt, 0)
	trace.Point("ready")
	// From here on nobody reads the sync socket: a stage that fails after
	// "ready" (execve itself) must find it closed and print its error on
	// the process's stderr instead.
	rt.Close()
	if err != nil {
		// The chain reports its own failure; make sure nothing of it stays.
		cmd.Process.Kill()
		cmd.Wait()
		return 1, err
	}
	if o.PidFile != "" {
		if err := writePidFile(o.PidFile, pid); err != nil {
			unix.Kill(pid, unix.SIGKILL)
			cmd.Wait()
			return 1, err
		}
	}
	// oci-unshare --detach exits once its child runs; the child is then
	// the caller's (its subreaper's) to wait for, this process's in the
	// foreground.
	if err := cmd.Wait(); err != nil {
		unix.Kill(pid, unix.SIGKILL)
		return 1, fmt.Errorf("%s: %w", argv[0], err)
	}
	if o.Detach {
		return 0, nil
	}
	if tty != nil {
		if err := tty.Attach(); err != nil {
			unix.Kill(pid, unix.SIGKILL)
			return 1, err
		}
	}
	start := uint64(0)
	if ps, err := proc.ReadStat(pid); err == nil {
		start = ps.StartTime
	}
	code := waitInit(pid, start, sigs, tty)
	trace.Point("exited")
	if tty != nil {
		tty.Drain()
	}
	return code, nil
}

// execPipeline builds the chain for an exec'd process; with initRoot it
// starts in the init's root directory.
func (r *Runtime) execPipeline(c *state.Container, s *specs.Spec, o ExecOptions, fdSpec, fdPaths int, initRoot bool) ([]string, error) {
	chain := &chainArgv{r: r, sfd: strconv.Itoa(fdSpec)}
	add := chain.add
	cg := []string{"--bundle", c.State.Bundle, "--id", o.ID, "--join", "--paths", "/proc/self/fd/" + strconv.Itoa(fdPaths)}
	if c.State.Systemd {
		cg = append(cg, "--systemd")
	}
	for _, sub := range o.Cgroup {
		cg = append(cg, "--sub", sub)
	}
	if err := add("oci-cgroup", cg...); err != nil {
		return nil, err
	}
	// Detached in the foreground too: oci-run waits (runExec).
	un := []string{"--bundle", c.State.Bundle, "--detach"}
	if initRoot {
		// With the start time: oci-unshare refuses a reused pid, after it
		// opened the init's root and the /proc/INIT/ns/TYPE paths.
		un = append(un, "--root-of", fmt.Sprintf("%d:%d", c.State.Pid, c.State.PidStart))
	}
	if err := add("oci-unshare", un...); err != nil {
		return nil, err
	}
	if s.Linux != nil && s.Linux.Seccomp != nil {
		if err := add("oci-seccomp"); err != nil {
			return nil, err
		}
	}
	// runc's exec'd processes join the session keyring of the
	// container's name, unless the container was created without one
	// (--no-new-keyring): then they keep the caller's, as the init did.
	ex := []string{"--bundle", c.State.Bundle}
	if !c.State.NoNewKeyring {
		ex = append(ex, "--session-keyring", "_ses."+o.ID)
	}
	if err := add("oci-exec", ex...); err != nil {
		return nil, err
	}
	return chain.argv, nil
}

// followExec reads the chain's messages until the process is about to
// exec; it returns the process's host pid (given, or from oci-unshare).
func (r *Runtime) followExec(c *state.Container, s *specs.Spec, rt *syncsock.Conn, pid int) (int, error) {
	// As in create (follow): a message can overtake the pid.
	var waiting []syncsock.Message
	for {
		var m syncsock.Message
		var err error
		if len(waiting) > 0 && pid != 0 {
			m, waiting = waiting[0], waiting[1:]
		} else {
			m, err = rt.Recv()
		}
		if err == nil && pid == 0 && (m.Type == syncsock.TypeSeccompListener || m.Type == syncsock.TypeReady) {
			waiting = append(waiting, m)
			continue
		}
		if errors.Is(err, io.EOF) {
			return 0, errors.New("exec'd process exited before it was ready (see its stderr)")
		}
		if err != nil {
			return 0, err
		}
		switch m.Type {
		case syncsock.TypePid:
			pid = m.Pid
		case syncsock.TypeError:
			return 0, errors.New(m.Error)
		case syncsock.TypeReady:
			return pid, nil
		case syncsock.TypeSeccompListener:
			if err := r.deliverExecListener(c, s, pid, m, rt); err != nil {
				return 0, err
			}
		case syncsock.TypeWarning:
			r.Log.Warnf("%s: %s", m.Stage, m.Warning)
		case syncsock.TypeHook:
			rt.Send(syncsock.Message{Type: syncsock.TypeContinue})
		case syncsock.TypeTrace:
			r.Traces = append(r.Traces, trace.Group{Process: m.Stage, Marks: m.Trace})
		default:
			r.Log.Debugf("ignoring sync message %q from %s", m.Type, m.Stage)
		}
	}
}

func (r *Runtime) deliverExecListener(c *state.Container, s *specs.Spec, pid int, m syncsock.Message, rt *syncsock.Conn) error {
	saved := c.State.Pid
	c.State.Pid = pid
	defer func() { c.State.Pid = saved }()
	return r.deliverListener(c, s, m, rt)
}

// dialConsole connects to a --console-socket.
func dialConsole(path string) (*os.File, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("--console-socket: %w", err)
	}
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("--console-socket %s: connect: %w", path, err)
	}
	return os.NewFile(uintptr(fd), "console-socket"), nil
}
