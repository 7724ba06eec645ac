package lifecycle

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/pkg/cgroup"
	"github.com/oci-run/oci-run/pkg/hooks"
	"github.com/oci-run/oci-run/pkg/memtrim"
	"github.com/oci-run/oci-run/pkg/mountclean"
	"github.com/oci-run/oci-run/pkg/namespace"
	"github.com/oci-run/oci-run/pkg/pipeline"
	"github.com/oci-run/oci-run/pkg/preflight"
	"github.com/oci-run/oci-run/pkg/proc"
	"github.com/oci-run/oci-run/pkg/process"
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

	// listen is how many of the preserved descriptors (the first ones)
	// are systemd socket activation's (LISTEN_FDS): the process is told
	// in its environment, as runc tells it.
	listen int

	// console is the socket handed to the chain as OCI_CONSOLE_FD: the
	// connection to --console-socket, or run's own socket pair.
	console *os.File
	// raw and spec are config.json as run already read it.
	raw  []byte
	spec *specs.Spec
	// fatalCaught (run in the foreground) is closed once the signals sent
	// to end this process are caught (pkg/signal CatchEarly):
	// the container's state, the first thing left behind, waits for it.
	fatalCaught <-chan struct{}
	// cgroup is the plan the checks made (the hierarchies read once).
	cgroup *cgroup.Plan
	// ns (the host side done here, inProcess) is the thread that makes
	// the namespaces ahead of the clone, started after the checks.
	ns *nsThread
	// saveAfterStart (run): create leaves the created state unsaved; run
	// saves it once it has started the container, holding the lock all
	// along, so that the write overlaps the container's own start.
	saveAfterStart bool
}

// Create sets up a container and leaves its init blocked on the exec fifo.
func (r *Runtime) Create(o CreateOptions) error {
	c, _, err := r.create(o)
	if err == nil {
		c.Close()
	}
	return err
}

// create is Create that keeps the container locked, for run to start it
// without anything coming between, and returns its configuration.
func (r *Runtime) create(o CreateOptions) (*state.Container, *specs.Spec, error) {
	pf, err := r.prepare(&o)
	if err != nil {
		return nil, nil, err
	}
	trace.Point("checks")
	s, raw, bundle, cgPaths := pf.Spec, pf.Raw, o.Bundle, pf.Cgroup
	if r.inProcess(s) {
		o.ns = enterEarly(namespace.NewPlan(s))
		defer o.ns.end()
	}
	o.cgroup = pf.CgroupPlan
	// pf.Warnings are left to the stages, which report them as they act.
	mounts, err := recordMounts(pf.Rootfs)
	if err != nil {
		return nil, nil, err
	}
	if err := connectConsole(&o); err != nil {
		return nil, nil, err
	}
	if o.fatalCaught != nil {
		<-o.fatalCaught
	}
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
	trace.Point("state")
	// The copy of the configuration (for exec, update and poststop
	// hooks) is written on another thread while the container is made:
	// nothing reads it before create returns.
	saved := make(chan error, 1)
	if err == nil {
		go func() { saved <- os.WriteFile(c.Path(state.ConfigFile), raw, 0o600) }()
	} else {
		saved <- nil
	}
	if err == nil && o.listen > 0 {
		// The saved configuration stays the bundle's: exec does not
		// get the activation's environment.
		raw, err = withListenEnv(raw, o.listen)
	}
	if err == nil {
		err = r.runChain(c, s, raw, o)
	}
	if serr := <-saved; err == nil && serr != nil {
		err = fmt.Errorf("save the configuration: %w", serr)
	}
	if err != nil {
		r.destroy(c)
		return nil, nil, err
	}
	c.State.Creator, c.State.CreatorStart = 0, 0
	c.State.Chain, c.State.ChainStart = 0, 0
	if !o.saveAfterStart {
		if err := c.Save(); err != nil {
			r.destroy(c)
			return nil, nil, err
		}
		trace.Point("saved")
	}
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

// checkConsole checks that the console options match process.terminal.
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
	}
	return nil
}

// connectConsole connects to --console-socket, for the chain to send the
// pty master there.
func connectConsole(o *CreateOptions) error {
	if o.console != nil || o.ConsoleSocket == "" {
		return nil
	}
	f, err := dialConsole(o.ConsoleSocket)
	if err != nil {
		return err
	}
	o.console = f
	return nil
}

// prepare checks everything create is given before anything is created
// (explain runs the same): the container id, the bundle and its
// configuration against the spec and this host (pkg/preflight), the
// console and descriptor options, and the stage binaries. It makes
// o.Bundle absolute.
func (r *Runtime) prepare(o *CreateOptions) (*preflight.Result, error) {
	if err := state.ValidateID(o.ID); err != nil {
		return nil, err
	}
	bundle, err := filepath.Abs(o.Bundle)
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	o.Bundle = bundle
	if o.PreserveFDs < 0 {
		return nil, fmt.Errorf("--preserve-fds: %d is negative", o.PreserveFDs)
	}
	// Socket activation's descriptors come first (3...), the preserved
	// ones after them, as runc passes them.
	o.listen = activationFDs()
	for fd := 3; fd < 3+o.listen; fd++ {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
			return nil, fmt.Errorf("LISTEN_FDS=%d: descriptor %d is not open", o.listen, fd)
		}
	}
	for fd := 3 + o.listen; fd < 3+o.listen+o.PreserveFDs; fd++ {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
			return nil, fmt.Errorf("--preserve-fds %d: descriptor %d is not open", o.PreserveFDs, fd)
		}
	}
	o.PreserveFDs += o.listen
	pf := preflight.Bundle(preflight.Options{ID: o.ID, Bundle: bundle, NoPivot: o.NoPivot, Systemd: r.Systemd, Raw: o.raw, Spec: o.spec})
	if err := pf.Err(); err != nil {
		if pf.Spec != nil {
			err = fmt.Errorf("config.json: %w", err)
		}
		return nil, err
	}
	if err := r.checkStages(); err != nil {
		return nil, err
	}
	if err := checkConsole(pf.Spec, o); err != nil {
		return nil, err
	}
	return pf, nil
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

	ch, err := r.chain(s, o, fifo)
	if err != nil {
		st.Close()
		return err
	}
	files := map[string]*os.File{fdSpecName: specFile, stage.EnvSync: st.File(), stage.EnvFifo: fifoFile, stage.EnvConsole: o.console}
	extra := make([]*os.File, len(ch.FDs))
	for i, d := range ch.FDs {
		if extra[i] = files[d.Name]; d.Name == fdPreserved {
			extra[i] = os.NewFile(uintptr(d.Num), "preserved")
		}
	}
	env := append(stageEnv(), ch.Env...)
	if trace.Enabled() {
		env = append(env, trace.Env+"=1")
	}
	argv := ch.Argv
	// Descriptors this process inherited without close-on-exec, other
	// than the preserved ones, are the caller's strays: they would go
	// down the chain and sit in the container's init until its exec.
	if err := process.CloseOnExecFrom(3 + o.PreserveFDs); err != nil {
		st.Close()
		return err
	}
	r.Log.Debugf("create %s: %s", o.ID, pipeline.Quote(argv))
	// create started the thread that makes the namespaces exactly when
	// oci-run does the host side itself (inProcess).
	if o.ns != nil {
		r.Log.Debugf("oci-run does the work of oci-cgroup and oci-unshare for %s itself", o.ID)
		return r.runInProcess(c, s, o, rt, st, extra, env, containerSide(argv))
	}

	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.ExtraFiles = extra
	cmd.Env = env
	cmd.Dir = o.Bundle
	// If this process dies during create, the chain dies with it rather
	// than go on to make a cgroup after a delete has cleaned up (the
	// signal is for the first process only: the container's init, its
	// child, does not inherit it).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	trace.Point("spawn")
	if err := cmd.Start(); err != nil {
		st.Close()
		return fmt.Errorf("start %s: %w", argv[0], err)
	}
	r.TraceGroup("oci-run")
	st.Close()
	if ps, err := proc.ReadStat(cmd.Process.Pid); err == nil {
		c.State.Chain, c.State.ChainStart = cmd.Process.Pid, ps.StartTime
		if err := c.Save(); err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			return err
		}
	}
	err = r.follow(c, s, rt, cmd.Process.Pid)
	trace.Point("ready")
	if err == nil {
		err = r.applyDeferred(c.State.CgroupPaths, s)
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
	pid, err := r.launch(s, o, rt, files, env, next)
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
		err = r.applyDeferred(c.State.CgroupPaths, s)
		trace.Point("limits")
	}
	if err != nil {
		// destroy would wait for the init to disappear, and our child
		// stays a zombie until we reap it.
		killChild(pid)
	}
	return err
}

// containerSide is the part of a create pipeline from oci-mount on (after
// oci-cgroup's and oci-unshare's segments).
func containerSide(argv []string) []string {
	seen := 0
	for i, a := range argv {
		if a == "--" {
			if seen++; seen == 2 {
				return argv[i+1:]
			}
		}
	}
	return nil
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
	// From here this process mostly waits while the container is set
	// up: it gives back its code pages (pkg/memtrim), for about 40 page
	// faults afterwards.
	_ = memtrim.Code()
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
