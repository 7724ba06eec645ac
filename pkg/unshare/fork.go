package unshare

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/pkg/namespace"
	"github.com/oci-run/oci-run/pkg/nsjoin"
	"github.com/oci-run/oci-run/pkg/pipeline"
	"github.com/oci-run/oci-run/pkg/stage"
)

// envFork puts the child image in fork mode: its constructor joins every
// namespace (the pid one included), forks, reports the child's pid on the
// sync socket whose number it holds, and exits; the child hands off to the
// next stage (pkg/nsjoin/nsjoin.c).
const envFork = "_OCI_UNSHARE_FORK"

// ForkJoins is the order in which fork mode joins the namespaces of a
// Joinable plan: the thread-joinable ones, then mount, then pid (which
// takes effect for the fork). Its index is what the constructor reports a
// failure by.
func ForkJoins(p *namespace.Plan) []namespace.Join {
	joins := append([]namespace.Join(nil), p.Join...)
	if p.JoinMount != nil {
		joins = append(joins, *p.JoinMount)
	}
	if p.JoinPid != nil {
		joins = append(joins, *p.JoinPid)
	}
	return joins
}

// ForkImage is how to start oci-unshare's child image in fork mode from a
// process outside the container's namespaces (oci-run exec): a process
// that enters them with nothing of the Go runtime started, and whose
// fork is the exec'd process. Files are placed from descriptor Base on
// in the child, in order.
type ForkImage struct {
	Argv  []string
	Env   []string
	Files []*os.File
}

// Fork prepares the child image for plan p (Joinable, no new namespace),
// running next. self is the sealed oci-unshare's descriptor in the child
// and sync the sync socket's; base is the child's number for the first of
// the files returned; env is the environment the next stage would get
// (OCI_STAGE_FDS naming next's sealed stages).
func Fork(p *namespace.Plan, next, env []string, self, sync, base, specFD int, bundle string, rootOf *RootOf) (_ *ForkImage, err error) {
	if !Joinable(p) || p.Clone != 0 || p.NewTime {
		return nil, fmt.Errorf("internal: unshare.Fork of a plan that creates namespaces")
	}
	img := &ForkImage{}
	defer func() {
		if err != nil {
			closeAll(img.Files)
		}
	}()
	add := func(f *os.File) int {
		img.Files = append(img.Files, f)
		return base + len(img.Files) - 1
	}
	var entries []nsjoin.Entry
	for _, j := range ForkJoins(p) {
		f, err := namespace.Open(j.Path, j.Kind)
		if err != nil {
			return nil, fmt.Errorf("%s.path: %w", j.Field, err)
		}
		entries = append(entries, nsjoin.Entry{FD: add(f), Flag: j.Kind.Flag})
	}
	env = stage.SetEnv(env, envChild, "1")
	env = stage.SetEnv(env, envSelf, strconv.Itoa(self))
	env = stage.SetEnv(env, nsjoin.Env, nsjoin.Format(entries))
	env = stage.SetEnv(env, envFork, strconv.Itoa(sync))
	if rootOf != nil {
		rfd, err := rootOf.open()
		if err != nil {
			return nil, err
		}
		unix.CloseOnExec(rfd)
		env = stage.SetEnv(env, envRoot, strconv.Itoa(add(os.NewFile(uintptr(rfd), "root"))))
	}
	// Every /proc/PID path is open now: PID must still be the process it
	// was.
	if err := rootOf.check(); err != nil {
		return nil, err
	}
	argv := []string{"oci-unshare", "--spec-fd", strconv.Itoa(specFD), "--bundle", bundle, "--"}
	argv = append(argv, next...)
	if pipeline.IsStage(next[0]) {
		if fd, ok := stage.SealedFDIn(env, filepathBase(next[0])); ok {
			env = stage.SetEnv(env, envHandoff, fmt.Sprintf("%d:%d", fd, len(argv)-len(next)))
		}
	}
	img.Argv, img.Env = argv, env
	return img, nil
}

// closeJoined closes the namespace descriptors the constructor joined, so
// that no later stage holds them.
func closeJoined() error {
	entries, err := nsjoin.Parse(os.Getenv(nsjoin.Env))
	if err != nil {
		return err
	}
	for _, e := range entries {
		unix.Close(e.FD)
	}
	return nil
}
