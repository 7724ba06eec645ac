package unshare

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/pkg/exeseal"
	"github.com/oci-run/oci-run/pkg/idmap"
	"github.com/oci-run/oci-run/pkg/namespace"
	"github.com/oci-run/oci-run/pkg/nsjoin"
	"github.com/oci-run/oci-run/pkg/pipeline"
	"github.com/oci-run/oci-run/pkg/stage"
	"github.com/oci-run/oci-run/pkg/syncsock"
	"github.com/oci-run/oci-run/pkg/trace"
)

// runParent is the runtime side. It runs once, or twice when namespaces are
// joined: the second time in the re-executed image, after the nsjoin
// constructor entered them.
func runParent(s *stage.Stage, o Options) error {
	p := namespace.NewPlan(s.Spec)
	env := os.Environ()
	// Descriptors the child inherits are kept reachable (an unreachable
	// *os.File is closed by its finalizer) until the clone is done.
	var keep []*os.File
	defer runtime.KeepAlive(&keep)
	var trees *idmap.Trees

	if os.Getenv(nsjoin.Env) == "" {
		if err := namespace.Check(s.Spec); err != nil {
			return err
		}
		trace.Point("check")
		if Joinable(p) {
			return runDirect(s, o, p)
		}
		var err error
		if env, keep, err = prepare(s, p, env); err != nil {
			return err
		}
		if trees, env, err = prepareIDMapped(s, p, env); err != nil {
			return err
		}
		trace.Point("seal")
		if o.RootOf != nil {
			fd, err := o.RootOf.open()
			if err != nil {
				return err
			}
			env = stage.SetEnv(env, envRoot, strconv.Itoa(fd))
		}
		joins, err := openJoins(p, &keep)
		if err != nil {
			return err
		}
		// Every /proc/PID path is open now (the root, the namespaces that
		// oci-run exec names /proc/INIT/ns/TYPE).
		if err := o.RootOf.check(); err != nil {
			return err
		}
		if len(joins) > 0 {
			return reexecJoined(joins, env)
		}
	} else {
		if err := afterJoin(s.Spec, p); err != nil {
			return err
		}
		env = stage.SetEnv(env, nsjoin.Env, "")
	}

	self, ok := envFD(env, envSelf)
	if !ok {
		return errors.New("internal: no sealed copy of oci-unshare")
	}
	childEnv := stage.SetEnv(env, envChild, "1")
	if fd, ok := envFD(env, envMount); ok {
		childEnv = stage.SetEnv(childEnv, nsjoin.Env, nsjoin.Format([]nsjoin.Entry{{FD: fd, Flag: unix.CLONE_NEWNS}}))
	}
	if fd, ok := envFD(env, envPid); ok {
		// On this thread only, which clones next: the main thread,
		// locked to this goroutine since init; the Go runtime creates no
		// thread from a locked one.
		if err := unix.Setns(fd, unix.CLONE_NEWPID); err != nil {
			j := p.JoinPid
			return fmt.Errorf("%s.path: join %s namespace %q: %w", j.Field, j.Kind.Type, j.Path, explainSetns(*j, err))
		}
		unix.Close(fd)
		childEnv = stage.SetEnv(childEnv, envPid, "")
	}
	pid, err := clone(p, self, childEnv)
	if err != nil {
		return err
	}
	trace.Point("clone")
	// The idmapped trees are the child's now (re-executed, only their
	// numbers are known here).
	if trees != nil {
		trees.Close()
	} else {
		idmap.CloseList(os.Getenv(idmap.EnvMountFDs))
	}
	// The container's root is the child's business only.
	if fd, ok := envFD(env, envRoot); ok {
		unix.Close(fd)
	}
	return started(s, o, pid)
}

// runDirect starts the first process without re-executing this program
// (Joinable): the main thread, locked since init, joins and creates the
// namespaces a thread can and clones from there, straight into the next
// program (Direct) or into the child image for the mount namespace and
// the root (whose constructor then execs the next program itself).
func runDirect(s *stage.Stage, o Options, p *namespace.Plan) error {
	env, keep, err := sealStages(s.Next, os.Environ())
	if err != nil {
		return err
	}
	// Until the clone: an unreachable *os.File is closed by its finalizer.
	defer func() { runtime.KeepAlive(keep) }()
	var child *Child
	if !Direct(p) || o.RootOf != nil {
		self, err := sealSelf()
		if err != nil {
			return err
		}
		fd, _ := stage.SealedFD("oci-unshare")
		if self != nil {
			keep = append(keep, self)
			fd = int(self.Fd())
		}
		child = &Child{Self: fd, Argv0: os.Args[0], Opts: []string{"--spec-fd", strconv.Itoa(s.SpecFD), "--bundle", s.Bundle}, RootOf: o.RootOf}
	}
	trace.Point("seal")
	pid, err := Launch(p, s.Next, env, stdio(), "", child, nil)
	if err != nil {
		return err
	}
	return started(s, o, pid)
}

// started reports the first process and waits for it unless detached.
func started(s *stage.Stage, o Options, pid int) error {
	stage.FlushTrace()
	if err := s.Send(syncsock.Message{Type: syncsock.TypePid, Pid: pid}); err != nil {
		unix.Kill(pid, unix.SIGKILL)
		reap(pid)
		return err
	}
	if o.Detach {
		return nil
	}
	os.Exit(waitForward(pid, o.sigs))
	return nil
}

// prepare does the parent's first-pass work: seal the stages still to come
// and oci-unshare itself, and open the namespaces to join (checking their
// type on the very descriptor that will be joined).
func prepare(s *stage.Stage, p *namespace.Plan, env []string) ([]string, []*os.File, error) {
	env, keep, err := sealStages(s.Next, env)
	if err != nil {
		return nil, nil, err
	}
	self, err := sealSelf()
	if err != nil {
		return nil, nil, err
	}
	if self != nil {
		keep = append(keep, self)
		env = stage.SetEnv(env, envSelf, strconv.Itoa(int(self.Fd())))
	} else {
		fd, _ := stage.SealedFD("oci-unshare")
		env = stage.SetEnv(env, envSelf, strconv.Itoa(fd))
	}
	for _, x := range []struct {
		j   *namespace.Join
		env string
	}{{p.JoinMount, envMount}, {p.JoinPid, envPid}} {
		if x.j == nil {
			continue
		}
		f, err := openInherited(x.j)
		if err != nil {
			return nil, nil, err
		}
		keep = append(keep, f)
		env = stage.SetEnv(env, x.env, strconv.Itoa(int(f.Fd())))
	}
	return env, keep, nil
}

// PreparesIDMapped reports whether the host side (oci-unshare's parent,
// or oci-run when it launches the first process itself) makes the
// idmapped trees of the spec before the clone (idmap.Prepare): when the
// container has a user namespace of its own, new or joined, where
// oci-mount has no privilege over the host's filesystems. Without one,
// oci-mount makes them itself; with a joined mount namespace the sources
// are that namespace's paths, and oci-mount tries there.
func PreparesIDMapped(p *namespace.Plan) bool {
	return p.User() != namespace.Shared && p.JoinMount == nil
}

// prepareIDMapped makes the idmapped trees (PreparesIDMapped) before any
// namespace is joined, and names them in OCI_MOUNT_FDS at their own
// numbers: inherited across the re-execution for the joins and the clone,
// closed by oci-mount. A caller that prepared them already is trusted.
func prepareIDMapped(s *stage.Stage, p *namespace.Plan, env []string) (*idmap.Trees, []string, error) {
	if !PreparesIDMapped(p) || os.Getenv(idmap.EnvMountFDs) != "" {
		return nil, env, nil
	}
	t, err := idmap.Prepare(s.Spec, s.Bundle)
	if err != nil || t == nil {
		return nil, env, err
	}
	for _, f := range t.Files {
		if err := clearCloexec(int(f.Fd())); err != nil {
			t.Close()
			return nil, nil, fmt.Errorf("hand down idmapped mounts: %w", err)
		}
	}
	return t, stage.SetEnv(env, idmap.EnvMountFDs, t.Env(nil)), nil
}

// openJoins opens the namespaces of p.Join for the nsjoin constructor, in
// joining order.
func openJoins(p *namespace.Plan, keep *[]*os.File) ([]nsjoin.Entry, error) {
	entries := make([]nsjoin.Entry, len(p.Join))
	for i, j := range p.Join {
		f, err := openInherited(&j)
		if err != nil {
			return nil, err
		}
		*keep = append(*keep, f)
		entries[i] = nsjoin.Entry{FD: int(f.Fd()), Flag: j.Kind.Flag}
	}
	return entries, nil
}

// reexecJoined re-executes the sealed oci-unshare with entries listed for
// the nsjoin constructor. It returns only on error.
func reexecJoined(entries []nsjoin.Entry, env []string) error {
	self, _ := envFD(env, envSelf)
	env = stage.SetEnv(env, nsjoin.Env, nsjoin.Format(entries))
	return stage.ExecFD(self, os.Args, env)
}

// openInherited opens a namespace to join, checks its type, and leaves the
// descriptor open across exec.
func openInherited(j *namespace.Join) (*os.File, error) {
	f, err := namespace.Open(j.Path, j.Kind)
	if err != nil {
		return nil, fmt.Errorf("%s.path: %w", j.Field, err)
	}
	if err := clearCloexec(int(f.Fd())); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s.path: %w", j.Field, err)
	}
	return f, nil
}

// afterJoin runs in the re-executed parent: it reports a failed join,
// closes the joined descriptors, and checks a joined user namespace.
func afterJoin(s *specs.Spec, p *namespace.Plan) error {
	if err := joinResult(p.Join); err != nil {
		return err
	}
	entries, err := nsjoin.Parse(os.Getenv(nsjoin.Env))
	if err != nil {
		return err
	}
	for _, e := range entries {
		unix.Close(e.FD)
	}
	if p.User() == namespace.Joined {
		if err := checkJoinedMappings(s, p); err != nil {
			return err
		}
		// The first process becomes root of the joined namespace (see
		// clone); it should not keep the runtime's supplementary groups.
		// setgroups is refused in a namespace where it is denied: then
		// there is nothing to drop either way that the kernel allows.
		_ = unix.Setgroups(nil)
	}
	return nil
}

// checkJoinedMappings: when the spec lists mappings with a joined user
// namespace, they must be the namespace's own (runc does the same check).
func checkJoinedMappings(s *specs.Spec, p *namespace.Plan) error {
	for _, m := range []struct {
		field, file string
		want        []specs.LinuxIDMapping
	}{
		{"linux.uidMappings", "/proc/self/uid_map", p.UIDMappings},
		{"linux.gidMappings", "/proc/self/gid_map", p.GIDMappings},
	} {
		if len(m.want) == 0 {
			continue
		}
		b, err := os.ReadFile(m.file)
		if err != nil {
			return fmt.Errorf("%s: read the joined user namespace's mappings: %w", m.field, err)
		}
		have := parseIDMap(string(b))
		want := slices.Clone(m.want)
		sortMappings(have)
		sortMappings(want)
		if !slices.Equal(have, want) {
			j := p.Join[len(p.Join)-1] // the user namespace is joined last
			return fmt.Errorf("%s: %s do not match the mappings of the joined user namespace (%s.path %q): %s",
				m.field, formatMappings(want), j.Field, j.Path, formatMappings(have))
		}
	}
	return nil
}

func parseIDMap(s string) []specs.LinuxIDMapping {
	var out []specs.LinuxIDMapping
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		var v [3]uint64
		for i := range f {
			v[i], _ = strconv.ParseUint(f[i], 10, 32)
		}
		out = append(out, specs.LinuxIDMapping{ContainerID: uint32(v[0]), HostID: uint32(v[1]), Size: uint32(v[2])})
	}
	return out
}

func sortMappings(m []specs.LinuxIDMapping) {
	slices.SortFunc(m, func(a, b specs.LinuxIDMapping) int { return int(int64(a.ContainerID) - int64(b.ContainerID)) })
}

func formatMappings(m []specs.LinuxIDMapping) string {
	parts := make([]string, len(m))
	for i, x := range m {
		parts[i] = fmt.Sprintf("%d→%d×%d", x.ContainerID, x.HostID, x.Size)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// sealStages seals every stage named in the pipeline that OCI_STAGE_FDS
// does not provide yet, and lists them there: the stages after oci-unshare
// run inside the container's namespaces (CVE-2019-5736, pkg/exeseal).
func sealStages(next []string, env []string) ([]string, []*os.File, error) {
	v, files, err := stage.SealStages(pipeline.StageNames(next), env)
	if err != nil || v == "" {
		return env, files, err
	}
	return stage.SetEnv(env, stage.EnvStageFDs, v), files, nil
}

// sealSelf returns a sealed copy of the running oci-unshare, or nil when
// oci-run already provides one in OCI_STAGE_FDS.
func sealSelf() (*os.File, error) {
	if _, ok := stage.SealedFD("oci-unshare"); ok {
		return nil, nil
	}
	f, err := exeseal.Seal("/proc/self/exe")
	if err != nil {
		return nil, err
	}
	if err := clearCloexec(int(f.Fd())); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// clone starts the first process in the new namespaces, running the sealed
// oci-unshare (the child image). For a new user namespace the maps are
// written from here before the child goes on; in a new or joined user
// namespace the child then becomes the namespace's root, so that it keeps
// its capabilities across exec.
func clone(p *namespace.Plan, self int, env []string) (int, error) {
	sys := &syscall.SysProcAttr{Cloneflags: p.Clone}
	switch p.User() {
	case namespace.New:
		sys.UidMappings = sysMappings(p.UIDMappings)
		sys.GidMappings = sysMappings(p.GIDMappings)
		// A privileged writer may leave setgroups allowed (the container's
		// root needs it to set supplementary groups); without privileges
		// the kernel requires "deny" before gid_map can be written.
		sys.GidMappingsEnableSetgroups = os.Geteuid() == 0
		sys.Credential = &syscall.Credential{Uid: 0, Gid: 0}
	case namespace.Joined:
		sys.Credential = &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: true}
	}
	argv0 := fmt.Sprintf("/proc/self/fd/%d", self)
	pid, err := syscall.ForkExec(argv0, os.Args, &syscall.ProcAttr{Env: env, Files: stdio(), Sys: sys})
	if err != nil {
		return 0, cloneError(p, err)
	}
	return pid, nil
}

func cloneError(p *namespace.Plan, err error) error {
	if p.User() == namespace.New && (errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EPERM)) {
		return fmt.Errorf("linux.uidMappings/linux.gidMappings: the kernel refused the mappings %s / %s or root (0) of the new user namespace: %w",
			formatMappings(p.UIDMappings), formatMappings(p.GIDMappings), err)
	}
	return fmt.Errorf("start the container's first process (clone flags %#x): %w", p.Clone, err)
}

func sysMappings(m []specs.LinuxIDMapping) []syscall.SysProcIDMap {
	if len(m) == 0 {
		return nil
	}
	out := make([]syscall.SysProcIDMap, len(m))
	for i, x := range m {
		out[i] = syscall.SysProcIDMap{ContainerID: int(x.ContainerID), HostID: int(x.HostID), Size: int(x.Size)}
	}
	return out
}

// stdio passes 0, 1 and 2 through, or closed when they are closed here.
func stdio() []uintptr {
	files := make([]uintptr, 3)
	for i := range files {
		files[i] = uintptr(i)
		if _, err := unix.FcntlInt(uintptr(i), unix.F_GETFD, 0); err != nil {
			files[i] = ^uintptr(0) // -1: closed in the child too
		}
	}
	return files
}
