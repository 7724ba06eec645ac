// Package unshare is the oci-unshare stage: it puts the container's first
// process into the namespaces linux.namespaces asks for, new or joined by
// path, with the user namespace's id mappings, the time namespace's offsets,
// the hostname and the domainname, and reports that process's host pid.
//
// Three processes (or process images) share the work, because of what the
// kernel allows where (docs/architecture.md, "oci-unshare"):
//
//   - the runtime process ("parent") checks the spec against the host,
//     seals the stages still to come (pkg/exeseal), makes the idmapped
//     mount trees the child could not (pkg/idmap, OCI_MOUNT_FDS), opens
//     the namespaces to join, and, when it must join any but the mount namespace,
//     re-executes its sealed self so that the pkg/nsjoin constructor enters
//     them before the Go runtime starts;
//   - the parent then clones the first process with the CLONE_NEW* flags of
//     the new namespaces and writes its uid/gid maps before it goes on
//     (syscall.SysProcAttr), reports its pid and exits (--detach) or waits;
//   - the first process ("child") runs the sealed oci-unshare again: its
//     constructor joins the mount namespace when one is given; with
//     --root-of it then takes the root the parent opened before any join;
//     inside every namespace and as the container's root, it creates the time
//     namespace and writes its offsets, sets hostname and domainname, brings
//     up the loopback of a new network namespace, and execs the next stage.
package unshare

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/pkg/namespace"
	"github.com/oci-run/oci-run/pkg/nsjoin"
	"github.com/oci-run/oci-run/pkg/stage"
)

// Environment variables private to oci-unshare: set by the parent for its
// own re-execution and for the child, removed before the next stage runs.
const (
	// envChild marks the child image.
	envChild = "_OCI_UNSHARE_CHILD"
	// envSelf is the sealed copy of oci-unshare the parent re-executes and
	// the child runs from.
	envSelf = "_OCI_UNSHARE_SELF"
	// envMount is the mount namespace descriptor the parent hands to the
	// child, which joins it.
	envMount = "_OCI_UNSHARE_MNTNS"
	// envPid is the pid namespace descriptor the parent enters right
	// before the clone.
	envPid = "_OCI_UNSHARE_PIDNS"
)

func init() {
	// main runs on the process's main thread (the thread group leader):
	// the child unshares its time namespace on the thread that later
	// execs, and /proc/self/timens_offsets is the leader's.
	runtime.LockOSThread()
}

// Options are the stage's own command-line options.
type Options struct {
	// Detach: exit as soon as the first process is started and reported,
	// instead of waiting for it.
	Detach bool
	// RootOf: the first process takes this process's root directory
	// after joining the namespaces (nil: it keeps the root it is given).
	RootOf *RootOf
	// sigs queues the signals to forward (not detached).
	sigs chan os.Signal
}

// Run is the stage: the parent's work, or the child's in the child image.
func Run(s *stage.Stage, o Options) error {
	if os.Getenv(envChild) != "" {
		return runChild(s)
	}
	if !o.Detach {
		o.sigs = catchSignals()
	}
	return runParent(s, o)
}

// private lists the variables that must not reach the next stage.
var private = []string{envChild, envSelf, envMount, envPid, envRoot, envHandoff, envFork, nsjoin.Env}

// envHandoff asks the nsjoin constructor of the child image to exec the
// next stage itself, "FD:INDEX" (pkg/nsjoin/nsjoin.c).
const envHandoff = "_OCI_UNSHARE_HANDOFF"

func stripPrivate(env []string) []string {
	for _, k := range private {
		env = stage.SetEnv(env, k, "")
	}
	return env
}

// envFD reads a descriptor number from a private variable of env.
func envFD(env []string, name string) (int, bool) {
	var v string
	for _, e := range env {
		if val, ok := strings.CutPrefix(e, name+"="); ok {
			v = val
		}
	}
	if v == "" {
		return -1, false
	}
	fd, err := strconv.Atoi(v)
	if err != nil {
		return -1, false
	}
	return fd, true
}

// joinResult turns what the nsjoin constructor did into an error naming the
// spec field of the entry that failed. joins are the entries in the order
// they were listed in nsjoin.Env.
func joinResult(joins []namespace.Join) error {
	ran, failed, err := nsjoin.Result()
	if !ran {
		if !nsjoin.Available {
			return errors.New("joining namespaces needs oci-unshare built with cgo (make build does)")
		}
		return fmt.Errorf("%s was set but the namespaces were not joined", nsjoin.Env)
	}
	if err == nil {
		return nil
	}
	if failed < 0 || failed >= len(joins) {
		return fmt.Errorf("join namespaces: %w", err)
	}
	j := joins[failed]
	return fmt.Errorf("%s.path: join %s namespace %q: %w", j.Field, j.Kind.Type, j.Path, explainSetns(j, err))
}

// explainSetns adds the likely reason to the kernel's terse errors.
func explainSetns(j namespace.Join, err error) error {
	switch {
	case errors.Is(err, unix.EPERM):
		return fmt.Errorf("%w (the namespace is owned by a user namespace the runtime has no privileges in)", err)
	case errors.Is(err, unix.EINVAL) && j.Kind.Flag == unix.CLONE_NEWPID:
		return fmt.Errorf("%w (a pid namespace can only be joined from an ancestor)", err)
	}
	return err
}

func clearCloexec(fd int) error {
	_, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0)
	return err
}
