package lifecycle

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/pkg/hooks"
	"github.com/oci-run/oci-run/pkg/mountclean"
	"github.com/oci-run/oci-run/pkg/namespace"
	"github.com/oci-run/oci-run/pkg/pipeline"
	"github.com/oci-run/oci-run/pkg/proc"
	"github.com/oci-run/oci-run/pkg/rootfs"
	"github.com/oci-run/oci-run/pkg/seccompload"
	"github.com/oci-run/oci-run/pkg/spec"
	"github.com/oci-run/oci-run/pkg/stage"
	"github.com/oci-run/oci-run/pkg/state"
	"github.com/oci-run/oci-run/pkg/syncsock"
	"github.com/oci-run/oci-run/pkg/trace"
)

// CreateOptions are the flags of `create` (and `run`).
type CreateOptions struct {
	ID            string
	Bundle        string
	PidFile       string
	ConsoleSocket string
	NoPivot       bool
	NoNewKeyring  bool
	PreserveFDs   int

	// console is the socket handed to the chain as OCI_CONSOLE_FD: the
	// connection to --console-socket, or run's own socket pair.
	console *os.File
	// spec and raw are config.json when the caller (run) has read it
	// already from Bundle, which is then absolute.
	spec *specs.Spec
	raw  []byte
}

// Create sets up a container and leaves its init blocked on the exec fifo.
func (r *Runtime) Create(o CreateOptions) error {
	c, _, err := r.create(o)
	if err == nil {
		c.Close()
	}
	return err
}

// create is Create that keeps the container locked for run to start it.
func (r *Runtime) create(o CreateOptions) (*state.Container, *specs.Spec, error) {
	if err := state.ValidateID(o.ID); err != nil {
		return nil, nil, err
	}
	s, raw := o.spec, o.raw
	if s == nil {
		bundle, err := filepath.Abs(o.Bundle)
		if err != nil {
			return nil, nil, fmt.Errorf("bundle: %w", err)
		}
		o.Bundle = bundle
		if s, raw, err = spec.LoadFile(filepath.Join(bundle, "config.json")); err != nil {
			return nil, nil, err
		}
	}
	bundle := o.Bundle
	if err := spec.Validate(s, bundle, spec.ForContainer); err != nil {
		return nil, nil, fmt.Errorf("config.json: %w", err)
	}
	trace.Point("spec")
	// Each stage's own checks that need no host state, run here so that
	// bad input is refused before anything exists.
	plan, err := rootfs.Build(s, bundle, rootfs.Options{NoPivot: o.NoPivot})
	if err != nil {
		return nil, nil, fmt.Errorf("config.json: %w", err)
	}
	if err := namespace.Check(s); err != nil {
		return nil, nil, fmt.Errorf("config.json: %w", err)
	}
	if err := checkConsole(s, &o); err != nil {
		return nil, nil, err
	}
	if o.PreserveFDs < 0 {
		return nil, nil, fmt.Errorf("--preserve-fds: %d is negative", o.PreserveFDs)
	}
	if err := r.checkStages(); err != nil {
		return nil, nil, err
	}
	trace.Point("checks")
	cgPaths, err := cgroupPaths(s, o.ID, r.Systemd)
	if err != nil {
		return nil, nil, err
	}
	mounts, err := recordMounts(plan)
	if err != nil {
		return nil, nil, err
	}
	trace.Point("cgroup-plan")

	c, err := r.Store.Create(o.ID)
	if err != nil {
		return nil, nil, err
	}
	self, _ := proc.ReadStat(os.Getpid())
	c.State = state.State{
		ID:           o.ID,
		Bundle:       bundle,
		Rootfs:       spec.RootPath(s, bundle),
		Created:      time.Now().UTC(),
		Owner:        "",
		Annotations:  s.Annotations,
		CgroupPaths:  cgPaths,
		Mounts:       mounts,
		Systemd:      r.Systemd,
		NoNewKeyring: o.NoNewKeyring,
		Creator:      os.Getpid(),
		CreatorStart: self.StartTime,
	}
	err = c.Save()
	if err == nil {
		err = os.WriteFile(c.Path(state.ConfigFile), raw, 0o600)
	}
	trace.Point("state")
	if err == nil {
		err = r.runChain(c, s, raw, o)
	}
	if err != nil {
		r.destroy(c)
		return nil, nil, err
	}
	c.State.Creator, c.State.CreatorStart = 0, 0
	if err := c.Save(); err != nil {
		r.destroy(c)
		return nil, nil, err
	}
	trace.Point("saved")
	if o.PidFile != "" {
		if err := writePidFile(o.PidFile, c.State.Pid); err != nil {
			r.destroy(c)
			return nil, nil, err
		}
	}
	return c, s, nil
}

// recordMounts notes, for a container whose rootfs is prepared in a mount
// namespace that is not its own (the runtime's, or one joined by path),
// which mounts that namespace already has at or below the rootfs, so that
// delete detaches the container's and only those (package mountclean).
func recordMounts(p *rootfs.Plan) (*mountclean.Record, error) {
	if p.Empty() || p.MountNS == rootfs.NSNew {
		return nil, nil
	}
	rec, err := mountclean.Take(p.JoinedPath, p.Rootfs)
	if err != nil {
		return nil, fmt.Errorf("record the mounts of the %s mount namespace: %w", p.MountNS, err)
	}
	return rec, nil
}

func checkConsole(s *specs.Spec, o *CreateOptions) error {
	if o.console != nil {
		return nil
	}
	terminal := s.Process != nil && s.Process.Terminal
	switch {
	case o.ConsoleSocket != "" && !terminal:
		return errors.New("--console-socket given but process.terminal is false: there is no tty to send")
	case o.ConsoleSocket == "" && terminal:
		return errors.New("process.terminal is true: --console-socket is needed to receive the tty")
	case o.ConsoleSocket == "":
		return nil
	}
	f, err := dialConsole(o.ConsoleSocket)
	if err != nil {
		return err
	}
	o.console = f
	return nil
}

// runChain starts the stage pipeline and follows it until the container's
// init reports ready (blocked on the exec fifo) or a stage fails.
func (r *Runtime) runChain(c *state.Container, s *specs.Spec, raw []byte, o CreateOptions) error {
	fifo := c.Path(state.FifoFile)
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		return fmt.Errorf("create exec fifo: %w", err)
	}
	// Read-write so that opening never blocks and the init's blocking read
	// waits for data, not for a writer: `start` opens it write-only and
	// writes one byte; with no reader left (init gone), start gets ENXIO.
	fifoFile, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("open exec fifo: %w", err)
	}
	defer fifoFile.Close()
	specFD, err := spec.SealedMemfd("config.json", raw)
	if err != nil {
		return err
	}
	specFile := os.NewFile(uintptr(specFD), "config.json")
	defer specFile.Close()
	rt, st, err := syncsock.Pair()
	if err != nil {
		return err
	}
	defer rt.Close()
	if o.console != nil {
		defer o.console.Close()
	}

	// The user's preserved descriptors keep their numbers (3..3+N-1); the
	// handover descriptors go above them.
	n := o.PreserveFDs
	extra := make([]*os.File, 0, n+4)
	for i := 0; i < n; i++ {
		fd := 3 + i
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
			st.Close()
			return fmt.Errorf("--preserve-fds %d: descriptor %d is not open", n, fd)
		}
		extra = append(extra, os.NewFile(uintptr(fd), "preserved"))
	}
	fdSpec := 3 + len(extra)
	extra = append(extra, specFile, st.File(), fifoFile)
	fdSync, fdFifo := fdSpec+1, fdSpec+2
	env := stage.StripEnv(os.Environ())
	env = append(env,
		stage.EnvSync+"="+strconv.Itoa(fdSync),
		stage.EnvFifo+"="+strconv.Itoa(fdFifo),
		stage.EnvPreserve+"="+strconv.Itoa(n),
	)
	if o.console != nil {
		env = append(env, stage.EnvConsole+"="+strconv.Itoa(3+len(extra)))
		extra = append(extra, o.console)
	}
	argv, mountAt, err := r.pipeline(s, o, fdSpec)
	if err != nil {
		st.Close()
		return err
	}
	if trace.Enabled() {
		env = append(env, trace.Env+"=1")
	}
	if r.inProcess(s) {
		r.Log.Debugf("create %s: in oci-run, then %s", o.ID, pipeline.Quote(argv[mountAt:]))
		return r.runInProcess(c, s, o, rt, st, extra, env, argv[mountAt:])
	}
	r.Log.Debugf("create %s: %s", o.ID, pipeline.Quote(argv))

	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.ExtraFiles = extra
	cmd.Env = env
	cmd.Dir = o.Bundle
	trace.Point("spawn")
	if err := cmd.Start(); err != nil {
		st.Close()
		return fmt.Errorf("start %s: %w", argv[0], err)
	}
	r.TraceGroup("oci-run")
	st.Close()
	err = r.follow(c, s, rt, cmd.Process.Pid)
	trace.Point("ready")
	if err == nil {
		err = applyDeferred(c.State.CgroupPaths, s)
		trace.Point("limits")
	}
	werr := cmd.Wait()
	trace.Point("reaped")
	if err == nil && werr != nil {
		err = fmt.Errorf("%s: %w", filepath.Base(argv[0]), werr)
	}
	return err
}

// runInProcess is runChain when oci-run does the host side itself
// (inProcess): the container's first process is its child, started into
// next (oci-mount ...).
func (r *Runtime) runInProcess(c *state.Container, s *specs.Spec, o CreateOptions, rt, st *syncsock.Conn, files []*os.File, env, next []string) error {
	pid, err := r.launch(s, o, files, env, next)
	st.Close()
	r.TraceGroup("oci-run")
	if err != nil {
		return err
	}
	stat, err := proc.ReadStat(pid)
	if err == nil {
		// Written with the final state, not now: a create that dies
		// before then reads as stopped (its creator is gone), and delete
		// kills the init through the container's cgroup, where it and
		// everything it started are.
		c.State.Pid, c.State.PidStart = pid, stat.StartTime
	}
	if err == nil {
		err = r.follow(c, s, rt, pid)
		trace.Point("ready")
	}
	if err == nil {
		err = applyDeferred(c.State.CgroupPaths, s)
		trace.Point("limits")
	}
	if err != nil {
		// destroy would wait for the init to disappear, and our child
		// stays a zombie until we reap it.
		killChild(pid)
	}
	return err
}

// follow reads the chain's messages until ready.
//
// The pid comes from oci-unshare (head, the process oci-run started),
// sent after its clone returns, while the clone already runs the next
// stages, which write the same socket: their messages can come first.
// Those that need the pid (hooks get it in their state, the seccomp
// listener's state too; ready ends the loop) wait for it, as long as head
// is alive to send it.
func (r *Runtime) follow(c *state.Container, s *specs.Spec, rt *syncsock.Conn, head int) error {
	var waiting []syncsock.Message
	for {
		var m syncsock.Message
		var err error
		switch {
		case len(waiting) > 0 && c.State.Pid != 0:
			m, waiting = waiting[0], waiting[1:]
		case len(waiting) > 0:
			m, err = rt.RecvTimeout(100 * time.Millisecond)
			if errors.Is(err, syncsock.ErrTimeout) {
				if st, serr := proc.ReadStat(head); serr == nil && st.State != 'Z' {
					continue
				}
				if m, err = rt.RecvTimeout(0); err != nil {
					return fmt.Errorf("the container's init sent %q but its pid was never reported", waiting[0].Type)
				}
			}
		default:
			m, err = rt.Recv()
		}
		if err == nil && c.State.Pid == 0 && (m.Type == syncsock.TypeHook || m.Type == syncsock.TypeSeccompListener || m.Type == syncsock.TypeReady) {
			waiting = append(waiting, m)
			continue
		}
		if errors.Is(err, io.EOF) {
			return errors.New("container init exited before it was ready (see the container's stderr)")
		}
		if err != nil {
			return err
		}
		switch m.Type {
		case syncsock.TypePid:
			st, err := proc.ReadStat(m.Pid)
			if err != nil {
				return fmt.Errorf("container init %d: %w", m.Pid, err)
			}
			c.State.Pid, c.State.PidStart = m.Pid, st.StartTime
			// Recorded at once: if this process dies now, delete --force
			// still finds the init.
			if err := c.Save(); err != nil {
				return err
			}
		case syncsock.TypeError:
			return errors.New(m.Error)
		case syncsock.TypeReady:
			return nil
		case syncsock.TypeHook:
			if m.Hook != hooks.CreateRuntime {
				rt.Send(syncsock.Message{Type: syncsock.TypeError, Error: "unknown hook phase " + m.Hook})
				return fmt.Errorf("%s asked for hooks of unknown phase %q", m.Stage, m.Hook)
			}
			if err := r.createHooks(c, s, rt); err != nil {
				return err
			}
		case syncsock.TypeSeccompListener:
			if err := r.deliverListener(c, s, m, rt); err != nil {
				return err
			}
		case syncsock.TypeWarning:
			r.Log.Warnf("%s: %s", m.Stage, m.Warning)
		case syncsock.TypeTrace:
			r.Traces = append(r.Traces, trace.Group{Process: m.Stage, Marks: m.Trace})
		default:
			r.Log.Debugf("ignoring sync message %q from %s", m.Type, m.Stage)
		}
	}
}

// pipeline builds the stage chain for a new container. A stage the spec
// does not need is left out (no seccomp profile, no oci-seccomp).
// mountAt is where the container side (oci-mount ...) begins.
func (r *Runtime) pipeline(s *specs.Spec, o CreateOptions, fdSpec int) (argv []string, mountAt int, err error) {
	sfd := strconv.Itoa(fdSpec)
	add := func(name string, opts ...string) error {
		p, err := r.stagePath(name)
		if err != nil {
			return err
		}
		if len(argv) > 0 {
			argv = append(argv, "--")
		}
		argv = append(argv, p, "--spec-fd", sfd)
		argv = append(argv, opts...)
		return nil
	}
	cg := []string{"--bundle", o.Bundle, "--id", o.ID, "--defer-pids"}
	if r.Systemd {
		cg = append(cg, "--systemd")
	}
	if err := add("oci-cgroup", cg...); err != nil {
		return nil, 0, err
	}
	if err := add("oci-unshare", "--bundle", o.Bundle, "--detach"); err != nil {
		return nil, 0, err
	}
	mnt := []string{"--bundle", o.Bundle}
	if o.NoPivot {
		mnt = append(mnt, "--no-pivot")
	}
	mountAt = len(argv) + 1
	if err := add("oci-mount", mnt...); err != nil {
		return nil, 0, err
	}
	if s.Linux != nil && s.Linux.Seccomp != nil {
		if err := add("oci-seccomp"); err != nil {
			return nil, 0, err
		}
	}
	ex := []string{"--bundle", o.Bundle, "--id", o.ID}
	if !o.NoNewKeyring {
		// runc names the keyring _ses.ID.
		ex = append(ex, "--session-keyring", "_ses."+o.ID)
	}
	if err := add("oci-exec", ex...); err != nil {
		return nil, 0, err
	}
	return argv, mountAt, nil
}

func writePidFile(path string, pid int) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	if err := state.WriteFileAtomic(abs, []byte(strconv.Itoa(pid)), 0o644); err != nil {
		return fmt.Errorf("write --pid-file: %w", err)
	}
	return nil
}

// deliverListener sends the seccomp notify listener that oci-exec got from
// the kernel to linux.seccomp.listenerPath with the container's state, as
// runc does, then lets oci-exec go on.
func (r *Runtime) deliverListener(c *state.Container, s *specs.Spec, m syncsock.Message, rt *syncsock.Conn) error {
	defer func() {
		for _, f := range m.Files {
			f.Close()
		}
	}()
	if len(m.Files) != 1 || s.Linux == nil || s.Linux.Seccomp == nil || s.Linux.Seccomp.ListenerPath == "" {
		rt.Send(syncsock.Message{Type: syncsock.TypeError, Error: "unexpected seccomp listener"})
		return errors.New("linux.seccomp.listenerPath: oci-exec sent a listener the configuration does not ask for")
	}
	st := c.OCIState(state.Creating).State
	err := seccompload.Deliver(s.Linux.Seccomp.ListenerPath, seccompload.ListenerState(st, s.Linux.Seccomp.ListenerMetadata), int(m.Files[0].Fd()))
	if err != nil {
		rt.Send(syncsock.Message{Type: syncsock.TypeError, Error: err.Error()})
		return err
	}
	return rt.Send(syncsock.Message{Type: syncsock.TypeContinue})
}
