package process

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/pkg/capability"
	"github.com/oci-run/oci-run/pkg/console"
	"github.com/oci-run/oci-run/pkg/hooks"
	"github.com/oci-run/oci-run/pkg/rlimit"
	"github.com/oci-run/oci-run/pkg/seccompload"
	"github.com/oci-run/oci-run/pkg/stage"
	"github.com/oci-run/oci-run/pkg/syncsock"
	"github.com/oci-run/oci-run/pkg/trace"
	"github.com/oci-run/oci-run/pkg/user"
)

// Options are oci-exec's own command-line options.
type Options struct {
	// SessionKeyring names the session keyring to join (runc:
	// "_ses.<container id>"); empty keeps the inherited one
	// (runc --no-new-keyring).
	SessionKeyring string
	// ID is the container's id, for the state the startContainer hooks
	// get on their stdin.
	ID string
}

// handover is what the chain passed down in inherited descriptors.
type handover struct {
	fifo     int // -1: none
	console  int
	program  []unix.SockFilter
	preserve int
}

// Run sets up the calling process as the configuration's user process and
// execs process.args; it returns only on error. The caller has locked the
// goroutine to the main OS thread: credentials, capabilities,
// no_new_privs, the seccomp filter, the scheduler and the memory policy
// are per thread, and the exec happens from this one.
//
// The order follows runc's standard_init_linux.go; where it differs it
// says why.
func Run(s *stage.Stage, o Options) error {
	// The process runs in the container's pid namespace: nothing there may
	// ptrace it or open its /proc files (execve of the user program resets
	// the flag).
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_DUMPABLE, 0): %w", err)
	}
	// The Go runtime raised the soft RLIMIT_NOFILE for itself at start;
	// give back the inherited one now rather than at execve, where the
	// restoring prlimit call would run under the seccomp filter.
	stage.RestoreNofile()

	if s.Spec.Process == nil {
		return noProcess(s)
	}
	host, err := capability.ReadHost()
	if err != nil {
		return err
	}
	p, err := planFromRoot(s.Spec, host)
	if err != nil {
		return err
	}
	if err := CheckLSM(p); err != nil {
		return err
	}
	h, err := readHandover(s)
	if err != nil {
		return err
	}
	trace.Point("plan")
	for _, w := range p.Warnings {
		warn(s, w)
	}

	if o.SessionKeyring != "" {
		if err := joinSessionKeyring(o.SessionKeyring, p.UserNS); err != nil {
			return err
		}
	}
	if err := setupTerminal(p, h); err != nil {
		return err
	}
	// runc sets rlimits and oom_score_adj from its parent process; here
	// the process sets its own, while it still has every capability.
	if err := rlimit.Apply(p.Rlimits); err != nil {
		return err
	}
	if p.OOMScoreAdj != nil {
		if err := writeOOMScoreAdj(*p.OOMScoreAdj); err != nil {
			return err
		}
	}
	// cwd is created as root, inside the root we run in: after
	// pivot_root that is the container's rootfs (run alone, it is the
	// current root, like chroot(1)'s caller would expect).
	if err := os.MkdirAll(p.Cwd, 0o755); err != nil {
		return fmt.Errorf("process.cwd: create %q: %w", p.Cwd, err)
	}
	unix.Umask(int(p.Identity.Umask))
	if err := applyPlacement(p); err != nil {
		return err
	}
	trace.Point("process")
	path, err := lookPath(p.Args[0], Getenv(p.Env, "PATH"))
	if err != nil {
		return err
	}
	// runc marks descriptors close-on-exec in finalizeNamespace; doing it
	// before the filter keeps close_range(2) off the list of system calls
	// a strict profile must allow. The handover descriptors still open
	// (sync socket, fifo) are above the preserved range and stay usable
	// until execve.
	if err := CloseOnExecFrom(3 + h.preserve); err != nil {
		return err
	}
	listenerConn := -1
	if p.SeccompFlags&seccompload.FlagNewListener != 0 && s.Sync == nil && h.program != nil {
		// Alone, this stage sends the listener itself; connect before the
		// filter, which need not allow socket(2) and connect(2).
		if listenerConn, err = seccompload.DialListener(p.ListenerPath); err != nil {
			return err
		}
	}
	if err := applyLSM(p); err != nil {
		return err
	}
	chdirLater, err := prepareUser(p)
	if err != nil {
		return err
	}
	// Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load it
	// before the capabilities go (the profile then has to allow what
	// follows: setgroups, setresgid, setresuid, capset, prctl, ...).
	if h.program != nil && !p.NoNewPrivileges {
		if err := installSeccomp(s, p, h.program, listenerConn); err != nil {
			return err
		}
	}
	if err := becomeUser(p, chdirLater); err != nil {
		return err
	}
	trace.Point("user")
	if p.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("process.noNewPrivileges: prctl(PR_SET_NO_NEW_PRIVS): %w", err)
		}
	}
	// With no_new_privs the filter goes on last, so that the profile only
	// has to allow what the runtime does from here to execve: write(2)
	// (the ready message; sendmsg(2) for a notify listener), read(2) (the
	// exec fifo; the runtime's answer about the listener) and execve(2).
	if h.program != nil && p.NoNewPrivileges {
		if err := installSeccomp(s, p, h.program, listenerConn); err != nil {
			return err
		}
	}
	trace.Point("ready")
	stage.FlushTrace()
	if err := s.Send(syncsock.Message{Type: syncsock.TypeReady}); err != nil {
		return err
	}
	if h.fifo >= 0 {
		if err := waitFifo(h.fifo); err != nil {
			return err
		}
		// startContainer hooks run after start, inside the container, as
		// the process's user with its capabilities and filter (runc runs
		// them at the same point). Not for exec'd processes (no fifo).
		if err := startContainerHooks(s, o); err != nil {
			return err
		}
	}
	err = unix.Exec(path, p.Args, p.Env)
	return &os.PathError{Op: "exec", Path: path, Err: err}
}

func startContainerHooks(s *stage.Stage, o Options) error {
	list := hooks.Of(s.Spec.Hooks, hooks.StartContainer)
	if len(list) == 0 {
		return nil
	}
	st := specs.State{
		Version:     specs.Version,
		ID:          o.ID,
		Status:      specs.StateCreated,
		Pid:         os.Getpid(),
		Bundle:      s.Bundle,
		Annotations: s.Spec.Annotations,
	}
	return hooks.Run(hooks.StartContainer, list, st)
}

// planFromRoot reads the container's /etc/passwd and plans.
func planFromRoot(s *specs.Spec, host capability.Host) (*Plan, error) {
	var passwd io.Reader
	if f, err := os.Open("/etc/passwd"); err == nil {
		defer f.Close()
		passwd = f
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("process.user: %w", err)
	}
	return NewPlan(s, host, passwd)
}

func readHandover(s *stage.Stage) (*handover, error) {
	h := &handover{fifo: -1, console: -1}
	if v := os.Getenv(stage.EnvPreserve); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%s=%q: not a count of descriptors", stage.EnvPreserve, v)
		}
		h.preserve = n
	}
	inRange := func(fd int) bool { return fd >= 3 && fd < 3+h.preserve }
	named := map[string]int{"--spec-fd": s.SpecFD}
	if s.Sync != nil {
		named[stage.EnvSync] = int(s.Sync.File().Fd())
	}
	var err error
	var ok bool
	if h.fifo, ok, err = stage.InheritedFD(stage.EnvFifo); err != nil {
		return nil, err
	} else if !ok {
		h.fifo = -1
	} else {
		named[stage.EnvFifo] = h.fifo
	}
	if h.console, ok, err = stage.InheritedFD(stage.EnvConsole); err != nil {
		return nil, err
	} else if !ok {
		h.console = -1
	} else {
		named[stage.EnvConsole] = h.console
	}
	if fd, ok, err := stage.InheritedFD(stage.EnvSeccomp); err != nil {
		return nil, err
	} else if ok {
		if inRange(fd) {
			return nil, fmt.Errorf("%s=%d is among the %d descriptors %s keeps for the process", stage.EnvSeccomp, fd, h.preserve, stage.EnvPreserve)
		}
		if h.program, err = seccompload.Receive(fd); err != nil {
			return nil, fmt.Errorf("%s: %w", stage.EnvSeccomp, err)
		}
	}
	for name, fd := range named {
		if inRange(fd) {
			return nil, fmt.Errorf("%s=%d is among the %d descriptors %s keeps for the process", name, fd, h.preserve, stage.EnvPreserve)
		}
	}
	return h, nil
}

func warn(s *stage.Stage, msg string) {
	if s.Sync != nil {
		if s.Send(syncsock.Message{Type: syncsock.TypeWarning, Warning: msg}) == nil {
			return
		}
	}
	fmt.Fprintf(os.Stderr, "%s: warning: %s\n", s.Name, msg)
}

// setupTerminal gives the process its terminal. With a console socket it
// opens a pty in the container and sends the master to the engine (runc
// does this after the mounts and before finalizing the rootfs, where
// oci-mount hands over to us). Without one, a terminal process keeps the
// inherited stdio as it is (it may be the caller's tty already), and a
// non-terminal process starts a new session, as runc starts every
// container process.
func setupTerminal(p *Plan, h *handover) error {
	if !p.Terminal || h.console < 0 {
		if !p.Terminal {
			return console.NewSession()
		}
		return nil
	}
	pty, err := console.Open()
	if err != nil {
		return err
	}
	defer pty.Slave.Close()
	if err := pty.Resize(p.ConsoleSize); err != nil {
		pty.Master.Close()
		return err
	}
	if err := pty.SendMaster(h.console); err != nil {
		return err
	}
	unix.Close(h.console)
	if err := pty.BindConsole(); err != nil {
		return err
	}
	return pty.MakeStdio()
}

func writeOOMScoreAdj(v int) error {
	f, err := os.OpenFile("/proc/self/oom_score_adj", os.O_WRONLY, 0)
	if err == nil {
		_, err = f.WriteString(strconv.Itoa(v))
		f.Close()
	}
	if err != nil {
		hint := ""
		if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) {
			hint = " (lowering it needs CAP_SYS_RESOURCE)"
		}
		return fmt.Errorf("process.oomScoreAdj: write %d to /proc/self/oom_score_adj: %w%s", v, err, hint)
	}
	return nil
}

func applyPlacement(p *Plan) error {
	if p.Personality != nil {
		if err := applyPersonality(*p.Personality); err != nil {
			return err
		}
	}
	if p.Scheduler != nil {
		if err := applyScheduler(p.Scheduler); err != nil {
			return err
		}
	}
	if p.IOPriority != nil {
		if err := applyIOPriority(*p.IOPriority); err != nil {
			return err
		}
	}
	if p.Affinity != nil {
		if err := applyAffinity(p.Affinity); err != nil {
			return err
		}
	}
	if p.MemPolicy != nil {
		if err := applyMemPolicy(p.MemPolicy); err != nil {
			return err
		}
	}
	return nil
}

// lookPath resolves the program as runc does (exec.LookPath with the
// process's PATH), so a missing program fails create with runc's words,
// which engines match: Docker turns `exec: "/x": stat /x: no such file or
// directory` and "executable file not found in $PATH" into exit code 127.
func lookPath(prog, path string) (string, error) {
	if err := os.Setenv("PATH", path); err != nil {
		return "", err
	}
	name, err := exec.LookPath(prog)
	if errors.Is(err, exec.ErrDot) {
		err = nil
	}
	if err != nil {
		return "", err
	}
	// LookPath takes any x bit; eaccess is what execve will check.
	if err := unix.Faccessat(unix.AT_FDCWD, name, unix.X_OK, unix.AT_EACCESS); err != nil {
		return "", &os.PathError{Op: "exec", Path: name, Err: err}
	}
	return name, nil
}

// prepareUser does, before the seccomp filter, what becoming the user
// needs that a profile should not have to allow: the first chdir, the
// bounding set (dropping it needs CAP_SETPCAP, not the user switch), the
// ownership of stdio and the check of /proc/self/setgroups. It returns
// whether cwd still has to be entered as the user.
func prepareUser(p *Plan) (chdirLater bool, err error) {
	// Try cwd as root first: a directory the runtime can reach and the
	// user cannot still works; on EACCES try again as the user (a
	// root-squashed volume may be reachable by the user only).
	if err := unix.Chdir(p.Cwd); err != nil {
		if !errors.Is(err, unix.EACCES) && !errors.Is(err, unix.EPERM) {
			return false, fmt.Errorf("process.cwd: chdir to %q: %w", p.Cwd, err)
		}
		chdirLater = true
	}
	if err := capability.DropBounding(p.Caps.Bounding, p.LastCap); err != nil {
		return false, fmt.Errorf("process.capabilities.bounding: %w", err)
	}
	if err := user.FixStdio(p.Identity.UID); err != nil {
		return false, err
	}
	if !user.SetgroupsAllowed() {
		if len(p.Identity.Groups) > 0 {
			return false, errors.New("process.user.additionalGids: setgroups is denied in this user namespace (/proc/self/setgroups)")
		}
		p.Identity.KeepGroups = true
	}
	return chdirLater, nil
}

// becomeUser switches to the user keeping the permitted capabilities
// across the switch, enters cwd if that had to wait, and sets the
// capability sets, in runc's finalizeNamespace order. Without
// no_new_privs it runs under the seccomp filter: prctl, setgroups,
// setresgid, setresuid, capset (and chdir when it had to wait).
func becomeUser(p *Plan, chdirLater bool) error {
	if err := capability.KeepCaps(true); err != nil {
		return err
	}
	if err := user.Switch(p.Identity); err != nil {
		return err
	}
	if chdirLater {
		if err := unix.Chdir(p.Cwd); err != nil {
			return fmt.Errorf("process.cwd: chdir to %q as %s: %w", p.Cwd, p.Identity, err)
		}
	}
	if err := capability.KeepCaps(false); err != nil {
		return err
	}
	if err := capability.Apply(p.Caps); err != nil {
		return fmt.Errorf("process.capabilities: %w", err)
	}
	return nil
}

// installSeccomp loads the handed-over program and delivers the notify
// listener, when there is one, before anything else runs under the filter
// (a notified syscall would otherwise wait for an agent that has no
// listener yet). With a sync socket the runtime gets the listener and
// sends it to listenerPath with the container's state; alone, this stage
// sends it on the connection it opened before, with the state it knows.
func installSeccomp(s *stage.Stage, p *Plan, prog []unix.SockFilter, conn int) error {
	listener, err := seccompload.Install(prog, p.SeccompFlags)
	if err != nil {
		return fmt.Errorf("linux.seccomp: %w", err)
	}
	if listener < 0 {
		return nil
	}
	if s.Sync != nil {
		f := os.NewFile(uintptr(listener), "seccomp-listener")
		if err := s.Send(syncsock.Message{Type: syncsock.TypeSeccompListener, Files: []*os.File{f}}); err != nil {
			return err
		}
		m, err := s.Sync.Recv()
		if err != nil {
			return fmt.Errorf("linux.seccomp.listenerPath: waiting for the runtime: %w", err)
		}
		if m.Type != syncsock.TypeContinue {
			return fmt.Errorf("linux.seccomp.listenerPath: runtime answered %s: %s", m.Type, m.Error)
		}
		return nil
	}
	if conn < 0 {
		return errors.New("linux.seccomp.listenerPath: no connection to send the listener on")
	}
	st := specs.State{Version: specs.Version, Pid: os.Getpid(), Bundle: s.Bundle, Annotations: s.Spec.Annotations}
	return seccompload.SendListener(conn, seccompload.ListenerState(st, p.ListenerMetadata), listener)
}

// CloseOnExecFrom marks every descriptor from first on close-on-exec:
// close_range(2) where the kernel has CLOSE_RANGE_CLOEXEC (5.11), the
// list in /proc/self/fd otherwise.
func CloseOnExecFrom(first int) error {
	err := unix.CloseRange(uint(first), ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS) {
		return fmt.Errorf("mark descriptors from %d close-on-exec: %w", first, err)
	}
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("mark descriptors from %d close-on-exec: %w", first, err)
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("mark descriptors from %d close-on-exec: %w", first, err)
	}
	for _, n := range names {
		fd, err := strconv.Atoi(n)
		if err != nil || fd < first || fd == int(d.Fd()) {
			continue
		}
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); err != nil && !errors.Is(err, unix.EBADF) {
			return fmt.Errorf("mark descriptor %d close-on-exec: %w", fd, err)
		}
	}
	return nil
}

// noProcess is the init of a container created without process
// (runtime-spec: process is optional at create, start then fails): it
// holds the namespaces until the container is deleted.
func noProcess(s *stage.Stage) error {
	fifo, ok, err := stage.InheritedFD(stage.EnvFifo)
	if err != nil {
		return err
	}
	if !ok {
		return errors.New("process: not set in the configuration: nothing to run")
	}
	if err := s.Send(syncsock.Message{Type: syncsock.TypeReady}); err != nil {
		return err
	}
	if err := waitFifo(fifo); err != nil {
		return err
	}
	return errors.New("process: not set in the configuration: nothing to start")
}

// waitFifo blocks until `oci-run start` writes a byte into the exec fifo.
func waitFifo(fd int) error {
	var b [1]byte
	for {
		n, err := unix.Read(fd, b[:])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("wait on the exec fifo: %w", err)
		}
		if n == 0 {
			return errors.New("wait on the exec fifo: closed before start")
		}
		return nil
	}
}
