package unshare

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/pkg/namespace"
	"github.com/oci-run/oci-run/pkg/nsjoin"
	"github.com/oci-run/oci-run/pkg/stage"
	"github.com/oci-run/oci-run/pkg/trace"
)

// runChild is the container's first process, in its namespaces (the mount
// namespace joined by the nsjoin constructor when there is one) and, in a
// user namespace, as its root. It finishes what only a process inside can
// do, then execs the next stage.
func runChild(s *stage.Stage) error {
	stage.SetTraceName("oci-unshare child")
	// Other processes of a container being joined must neither ptrace this
	// process nor open its /proc files while it holds the runtime's
	// descriptors (CVE-2016-9962). The next exec makes the next program
	// dumpable again; every stage turns that off first thing.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("make non-dumpable: %w", err)
	}
	p := namespace.NewPlan(s.Spec)
	if os.Getenv(envFork) != "" {
		// Fork mode (oci-run exec): here only when the constructor did
		// not hand off. In the process that joined: a join or the fork
		// failed. In its fork: the hand-off failed, and what follows does
		// the same steps and reports.
		if err := joinResult(ForkJoins(p)); err != nil {
			return err
		}
		if err := nsjoin.ForkError(); err != nil {
			return fmt.Errorf("fork into the container's pid namespace: %w", err)
		}
		if err := closeJoined(); err != nil {
			return err
		}
	}
	if fd, ok := envFD(os.Environ(), envMount); ok && p.JoinMount != nil {
		if err := joinResult([]namespace.Join{*p.JoinMount}); err != nil {
			return err
		}
		unix.Close(fd)
	}
	// After the mount namespace: joining it sets the root to the
	// namespace's, which for a container entered by chroot is not its own.
	if fd, ok := envFD(os.Environ(), envRoot); ok {
		if err := enterRoot(fd); err != nil {
			return err
		}
	}
	if p.NewTime {
		if err := newTimeNamespace(p); err != nil {
			return err
		}
	}
	if err := setNames(p); err != nil {
		return err
	}
	trace.Point("setup")
	if self, ok := envFD(os.Environ(), envSelf); ok {
		if provided, ok := stage.SealedFD("oci-unshare"); !ok || provided != self {
			unix.Close(self)
		}
	}
	return stage.Exec(s.Next, stripPrivate(os.Environ()))
}

// newTimeNamespace creates the time namespace the next program is exec'd
// into (since Linux 6.0 execve moves a process into its
// time_for_children namespace; unshare only sets that) and writes its
// offsets, which the kernel accepts only until a process has entered it.
// Being created here, it is owned by the container's user namespace, as the
// other new namespaces are.
func newTimeNamespace(p *namespace.Plan) error {
	if err := unix.Unshare(unix.CLONE_NEWTIME); err != nil {
		return fmt.Errorf("create the time namespace: %w", err)
	}
	if len(p.TimeOffsets) == 0 {
		return nil
	}
	// In a user namespace, the /proc files of a non-dumpable process belong
	// to the host's root, and the container's root could not open its own
	// timens_offsets: dumpable for the time of the write, as runc does.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("linux.timeOffsets: make dumpable: %w", err)
	}
	err := writeFile("/proc/self/timens_offsets", p.TimeOffsetsFile())
	if err2 := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err == nil && err2 != nil {
		err = fmt.Errorf("make non-dumpable: %w", err2)
	}
	if err != nil {
		return fmt.Errorf("linux.timeOffsets: %w", err)
	}
	return nil
}

// writeFile writes s in one write(2), as /proc files that parse the whole
// buffer need.
func writeFile(path, s string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.Write([]byte(s))
	if err2 := f.Close(); err == nil {
		err = err2
	}
	if err != nil {
		return fmt.Errorf("write %q to %s: %w", s, path, err)
	}
	return nil
}

func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}
