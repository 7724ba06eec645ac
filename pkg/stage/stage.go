// Package stage is the contract every oci-* stage binary follows:
//
//	oci-STAGE [--spec-fd N] [--bundle DIR] [stage options] -- NEXT...
//
// The configuration is read from fd N (default 3) without consuming it and
// the descriptor is left open for the next stage. Runtime-only data travels
// as inherited descriptors named by the OCI_* variables below. On failure a
// stage exits 1 after one line "oci-STAGE: what failed: why", sent on the
// sync socket when there is one (oci-run prints it), on stderr otherwise.
package stage

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/pkg/pipeline"
	"github.com/oci-run/oci-run/pkg/spec"
	"github.com/oci-run/oci-run/pkg/syncsock"
	"github.com/oci-run/oci-run/pkg/sysmon"
	"github.com/oci-run/oci-run/pkg/trace"
)

// The descriptors a chain hands down, by environment variable. This is the
// whole set; docs/architecture.md describes each. None of them reaches the
// user process: oci-exec gives it process.env only and closes every
// descriptor above the preserved ones.
const (
	// EnvSync: SOCK_SEQPACKET socket to oci-run (package syncsock).
	EnvSync = "OCI_SYNC_FD"
	// EnvFifo: the exec fifo, opened read-write; oci-exec blocks reading one
	// byte from it until `oci-run start` writes one.
	EnvFifo = "OCI_FIFO_FD"
	// EnvConsole: connected unix socket to send the pty master to
	// (--console-socket); oci-exec creates the pty.
	EnvConsole = "OCI_CONSOLE_FD"
	// EnvStageFDs: sealed executables of the stages still to come, as
	// "oci-mount=5,oci-exec=6"; a stage execs its successor from here when
	// listed, by path otherwise.
	EnvStageFDs = "OCI_STAGE_FDS"
	// EnvSeccomp: memfd holding the compiled seccomp program (struct
	// sock_filter array) for oci-exec to install right before execve.
	EnvSeccomp = "OCI_SECCOMP_FD"
	// EnvPreserve: number of descriptors after stderr the user process keeps
	// (--preserve-fds plus LISTEN_FDS).
	EnvPreserve = "OCI_PRESERVE_FDS"
	// EnvMountFDs: detached idmapped mount trees made on the host side
	// (package idmap), as "INDEX=FD" for mounts[INDEX]; oci-mount closes
	// them.
	EnvMountFDs = "OCI_MOUNT_FDS"
	// EnvCgroupJoin: set by oci-run when it started the container's first
	// process before the cgroup's v1 hierarchies existed: oci-mount waits
	// for their tasks files (syncsock.TypeCgroup) and joins them by thread
	// before anything else (JoinCgroup); "ns" makes the cgroup namespace
	// after the join. Carries no descriptor.
	EnvCgroupJoin = "OCI_CGROUP_JOIN"
)

// Def describes one stage binary.
type Def struct {
	Name string
	// Usage is the --help text after the synopsis: what the stage does,
	// its options (printed from the flag set) and a shell example.
	Synopsis string
	Usage    string
	// Flags registers the stage's own options.
	Flags func(fs *flag.FlagSet)
	// Terminal stages (oci-exec) take no pipeline after "--".
	Terminal bool
	// Checkable stages take --check: check the configuration for their
	// concern as they would apply it, print warnings on stdout, and exit
	// (1 with the error) without a next program and without changing
	// anything. oci-run check uses it where oci-run cannot do the check
	// itself (oci-seccomp: libseccomp).
	Checkable bool
	// Run does the stage's work; it normally ends in s.ExecNext.
	Run func(s *Stage) error
	// Continues are stages this binary also links: when the next program
	// of the pipeline is one of them, ExecNext runs it in this process
	// instead of exec'ing it (see Stage.ExecNext). The stage that
	// continues must leave the process as an exec would: nothing open
	// that is close-on-exec.
	Continues []Def
}

// Stage is what Run gets.
type Stage struct {
	Name   string
	Spec   *specs.Spec
	SpecFD int
	// Bundle is the absolute bundle directory; relative spec paths resolve
	// against it.
	Bundle string
	// Next is the rest of the pipeline, as given after "--".
	Next []string
	// Sync is the socket to oci-run, nil when the stage runs alone.
	Sync *syncsock.Conn
	// Check is --check (Def.Checkable): check, do not apply.
	Check bool

	continues []Def
}

// Main parses the command line and the spec, runs the stage and exits.
func Main(d Def) {
	trace.Point("main")
	sysmon.Calm()
	traceName = d.Name
	run(d, os.Args[1:], nil)
}

// run parses args and the spec for d, runs it and exits. sync is the
// sync socket of the stage this one continues (nil: from OCI_SYNC_FD).
func run(d Def, args []string, sync *syncsock.Conn) {
	s, err := parse(d, args, sync)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		Fail(d.Name, sync, err)
	}
	current = s
	trace.Point("spec")
	if err := d.Run(s); err != nil {
		Fail(d.Name, s.Sync, err)
	}
	os.Exit(0)
}

func parse(d Def, args []string, sync *syncsock.Conn) (*Stage, error) {
	fs := flag.NewFlagSet(d.Name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	specFD := fs.Int("spec-fd", 3, "read the OCI configuration from this descriptor")
	bundle := fs.String("bundle", ".", "bundle directory that relative paths of the spec resolve against")
	fs.StringVar(bundle, "b", ".", "short for --bundle")
	if d.Flags != nil {
		d.Flags(fs)
	}
	var check bool
	if d.Checkable {
		fs.BoolVar(&check, "check", false, "check the configuration as this stage would apply it, print warnings, and exit without running anything")
	}
	// The flag package calls Usage on every parse error too: a bad option
	// gets one line on stderr, the full usage only --help.
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(d, fs)
			return nil, err
		}
		return nil, fmt.Errorf("%v (see --help)", err)
	}
	s := &Stage{Name: d.Name, SpecFD: *specFD, Next: fs.Args(), Check: check, continues: d.Continues}
	if (d.Terminal || check) && len(s.Next) > 0 {
		if check {
			return nil, fmt.Errorf("unexpected arguments %q: --check runs nothing", s.Next)
		}
		return nil, fmt.Errorf("unexpected arguments %q: %s runs process.args of the spec", s.Next, d.Name)
	}
	if !d.Terminal && !check && len(s.Next) == 0 {
		return nil, errors.New("nothing to run: give the next program after -- (see --help)")
	}
	if sync != nil {
		// One *os.File per descriptor: a second one would close it when
		// collected.
		s.Sync = sync
	} else if v := os.Getenv(EnvSync); v != "" {
		fd, err := inheritedFD(EnvSync, v)
		if err != nil {
			return nil, err
		}
		s.Sync = syncsock.FromFD(fd)
	}
	abs, err := filepath.Abs(*bundle)
	if err != nil {
		return nil, fmt.Errorf("--bundle: %w", err)
	}
	s.Bundle = abs
	raw, err := spec.ReadFD(s.SpecFD)
	if err != nil {
		if errors.Is(err, unix.EBADF) {
			return nil, fmt.Errorf("no configuration on fd %d: run as `%s %d<config.json ...` or pass --spec-fd", s.SpecFD, d.Name, s.SpecFD)
		}
		return nil, err
	}
	sp, err := spec.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("config on fd %d: %w", s.SpecFD, err)
	}
	if err := spec.Validate(sp, s.Bundle, spec.ForStage); err != nil {
		return nil, err
	}
	s.Spec = sp
	return s, nil
}

func printUsage(d Def, fs *flag.FlagSet) {
	w := os.Stdout
	fmt.Fprintf(w, "Usage: %s\n\n%s\n\nOptions:\n", d.Synopsis, strings.TrimSpace(d.Usage))
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	fmt.Fprintf(w, `
Handover descriptors (set by oci-run, optional when run alone):
  %s %s %s %s %s %s %s
%s=1 prints this stage's timing marks on stderr ("oci-trace" lines).
See docs/architecture.md.
`, EnvSync, EnvFifo, EnvConsole, EnvStageFDs, EnvSeccomp, EnvPreserve, EnvMountFDs, trace.Env)
}

// current is the running stage, for the trace hand-over at exec.
var current *Stage

// traceName names this process in the trace table.
var traceName string

// SetTraceName names this process in the trace table (default: the
// stage's name); oci-unshare's child image calls itself "oci-unshare child".
func SetTraceName(name string) { traceName = name }

// FlushTrace hands the marks recorded so far to oci-run (a "trace"
// message on the sync socket) or, alone, prints them on stderr. Exec calls
// it; a stage that ends otherwise (oci-exec before ready, oci-unshare's
// parent after the clone) calls it itself.
func FlushTrace() {
	if !trace.Enabled() {
		return
	}
	ms := trace.Take()
	if len(ms) == 0 {
		return
	}
	if current != nil && current.Sync != nil {
		if current.Sync.Send(syncsock.Message{Type: syncsock.TypeTrace, Stage: traceName, Trace: ms}) == nil {
			return
		}
	}
	fmt.Fprintln(os.Stderr, trace.Line(traceName, ms))
}

// Fail reports a stage's fatal error and exits 1.
func Fail(name string, sync *syncsock.Conn, err error) {
	msg := name + ": " + oneLine(err.Error())
	if sync == nil || sync.Send(syncsock.Message{Type: syncsock.TypeError, Stage: name, Error: msg}) != nil {
		fmt.Fprintln(os.Stderr, msg)
	}
	os.Exit(1)
}

func oneLine(s string) string {
	return strings.ReplaceAll(strings.TrimSpace(s), "\n", "; ")
}

// InheritedFD reads a descriptor number from an OCI_* variable; ok is false
// when the variable is unset.
func InheritedFD(env string) (fd int, ok bool, err error) {
	v := os.Getenv(env)
	if v == "" {
		return -1, false, nil
	}
	fd, err = inheritedFD(env, v)
	return fd, err == nil, err
}

func inheritedFD(env, v string) (int, error) {
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 0 {
		return -1, fmt.Errorf("%s=%q: not a descriptor number", env, v)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
		return -1, fmt.Errorf("%s=%d: descriptor not open: %w", env, fd, err)
	}
	return fd, nil
}

// Send sends a message to oci-run when there is a sync socket.
func (s *Stage) Send(m syncsock.Message) error {
	if s.Sync == nil {
		return nil
	}
	m.Stage = s.Name
	return s.Sync.Send(m)
}

// NextStages lists the stage programs still to come.
func (s *Stage) NextStages() []string { return pipeline.StageNames(s.Next) }

// ExecNext replaces the process with the next program of the pipeline.
// When that program is a stage this binary links (Def.Continues) and the
// process holds nothing an exec would close, it runs that stage here
// instead, from its own command line, exactly as the program would: one
// exec and Go start-up fewer. It then does not return.
func (s *Stage) ExecNext() error {
	if d, ok := s.continuation(); ok {
		trace.Point("fuse")
		FlushTrace()
		traceName = d.Name
		trace.Point("main")
		setComm(d.Name)
		run(d, s.Next[1:], s.Sync)
	}
	return Exec(s.Next, os.Environ())
}

func (s *Stage) continuation() (Def, bool) {
	if len(s.Next) == 0 || !pipeline.IsStage(s.Next[0]) {
		return Def{}, false
	}
	for _, d := range s.continues {
		if d.Name == filepath.Base(s.Next[0]) {
			return d, onlyInheritable()
		}
	}
	return Def{}, false
}

// Exec runs argv, a pipeline: a stage listed in OCI_STAGE_FDS is exec'd
// from its sealed descriptor, anything else by path (PATH lookup). A final
// command that is not a stage gets env without the OCI_* handover variables.
func Exec(argv []string, env []string) error {
	prog := argv[0]
	if pipeline.IsStage(prog) {
		if fd, ok := SealedFD(filepath.Base(prog)); ok {
			return execFD(fd, argv, env)
		}
	} else {
		env = StripEnv(env)
	}
	path, err := lookPath(prog, env)
	if err != nil {
		return err
	}
	trace.Point("exec")
	FlushTrace()
	if err := unix.Exec(path, argv, env); err != nil {
		return fmt.Errorf("exec %s: %w", path, err)
	}
	return nil
}

// SealedFD returns the sealed executable handed down for a stage.
func SealedFD(name string) (int, bool) {
	return ListFD(os.Getenv(EnvStageFDs), name)
}

// SealedFDIn is SealedFD for the OCI_STAGE_FDS of env, an environment
// being prepared for a child.
func SealedFDIn(env []string, name string) (int, bool) {
	v := ""
	for _, e := range env {
		if s, ok := strings.CutPrefix(e, EnvStageFDs+"="); ok {
			v = s
		}
	}
	return ListFD(v, name)
}

// ListFD returns the descriptor paired with name in a handover list of
// NAME=FD entries joined by commas (OCI_STAGE_FDS, OCI_MOUNT_FDS).
func ListFD(list, name string) (int, bool) {
	if list == "" {
		return -1, false
	}
	for _, kv := range strings.Split(list, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k != name {
			continue
		}
		fd, err := strconv.Atoi(v)
		if err != nil {
			return -1, false
		}
		return fd, true
	}
	return -1, false
}

// FormatStageFDs renders the OCI_STAGE_FDS value for name→fd pairs, in order.
func FormatStageFDs(names []string, fds []int) string {
	parts := make([]string, len(names))
	for i := range names {
		parts[i] = fmt.Sprintf("%s=%d", filepath.Base(names[i]), fds[i])
	}
	return strings.Join(parts, ",")
}

// ExecFD replaces the process with the executable open at fd
// (execveat with AT_EMPTY_PATH), for sealed copies that have no path.
func ExecFD(fd int, argv, env []string) error { return execFD(fd, argv, env) }

func execFD(fd int, argv, env []string) error {
	RestoreNofile()
	argvp, err := syscall.SlicePtrFromStrings(argv)
	if err != nil {
		return err
	}
	envp, err := syscall.SlicePtrFromStrings(env)
	if err != nil {
		return err
	}
	empty, _ := unix.BytePtrFromString("")
	trace.Point("exec")
	FlushTrace()
	_, _, errno := unix.Syscall6(unix.SYS_EXECVEAT, uintptr(fd), uintptr(unsafePointer(empty)),
		uintptr(unsafePointer(&argvp[0])), uintptr(unsafePointer(&envp[0])), unix.AT_EMPTY_PATH, 0)
	return fmt.Errorf("exec %s from sealed fd %d: %w", argv[0], fd, errno)
}

// StripEnv removes the OCI_* handover variables.
func StripEnv(env []string) []string {
	out := env[:0:0]
	for _, e := range env {
		if isHandover(e) {
			continue
		}
		out = append(out, e)
	}
	return out
}

func isHandover(kv string) bool {
	for _, k := range []string{EnvSync, EnvFifo, EnvConsole, EnvStageFDs, EnvSeccomp, EnvPreserve, EnvMountFDs, EnvCgroupJoin, trace.Env} {
		if strings.HasPrefix(kv, k+"=") {
			return true
		}
	}
	return false
}

// SetEnv returns env with key set to value (or removed when value is "").
func SetEnv(env []string, key, value string) []string {
	out := make([]string, 0, len(env)+1)
	for _, e := range env {
		if !strings.HasPrefix(e, key+"=") {
			out = append(out, e)
		}
	}
	if value != "" {
		out = append(out, key+"="+value)
	}
	return out
}

// lookPath resolves prog like execvp(3), with PATH taken from env.
func lookPath(prog string, env []string) (string, error) {
	if strings.Contains(prog, "/") {
		return prog, nil
	}
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, prog)
		if err := unix.Access(p, unix.X_OK); err == nil {
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
				return p, nil
			}
		}
	}
	return "", fmt.Errorf("exec: %q: executable file not found in $PATH", prog)
}

// LookPath is lookPath for callers outside the package.
func LookPath(prog string, env []string) (string, error) { return lookPath(prog, env) }

// RestoreNofile gives the process back the soft RLIMIT_NOFILE it
// inherited. The Go runtime raises its own soft limit at start and puts
// the old one back only inside syscall.Exec and os/exec; a stage that
// execs by other means (execveat of a sealed stage, a raw execve under a
// seccomp filter) would pass the raised limit on to the user process.
// syscall.Exec of an empty path restores the limit, forgets it, and fails
// with ENOENT without doing anything else.
func RestoreNofile() {
	syscall.Exec("", []string{""}, nil)
}
