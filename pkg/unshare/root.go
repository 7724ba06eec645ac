package unshare

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/pkg/proc"
)

// envRoot is the descriptor of the root the child enters (--root-of),
// opened by the parent before any namespace is joined.
const envRoot = "_OCI_UNSHARE_ROOT"

// RootOf names the process whose root directory the first process takes
// (--root-of PID[:START]), as nsenter --root does: oci-run exec into a
// container whose mount namespace is not its own (the runtime's, or one
// joined by path) was entered by chroot, and joining the namespace alone
// lands at the namespace's root, not at the container's.
type RootOf struct {
	Pid int
	// Start is the process's start time (field 22 of /proc/PID/stat); 0
	// leaves it unchecked. With it, a pid reused by another process is
	// refused.
	Start uint64
}

// ParseRootOf reads the value of --root-of: PID or PID:START.
func ParseRootOf(v string) (*RootOf, error) {
	pid, start, hasStart := strings.Cut(v, ":")
	r := &RootOf{}
	n, err := strconv.Atoi(pid)
	if err != nil || n <= 0 {
		return nil, fmt.Errorf("%q: not PID or PID:START", v)
	}
	r.Pid = n
	if hasStart {
		if r.Start, err = strconv.ParseUint(start, 10, 64); err != nil || r.Start == 0 {
			return nil, fmt.Errorf("%q: START must be a start time in clock ticks (field 22 of /proc/PID/stat)", v)
		}
	}
	return r, nil
}

func (r *RootOf) String() string {
	if r.Start == 0 {
		return strconv.Itoa(r.Pid)
	}
	return fmt.Sprintf("%d:%d", r.Pid, r.Start)
}

// open opens the process's root directory as an O_PATH descriptor that
// the child inherits. It is opened before any setns: afterwards /proc
// may be another pid namespace's, and the descriptor keeps naming that
// root (mount and directory) whatever happens to the path later.
func (r *RootOf) open() (int, error) {
	path := fmt.Sprintf("/proc/%d/root", r.Pid)
	// Not close-on-exec: the re-executed parent and the child inherit it.
	fd, err := unix.Open(path, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return -1, fmt.Errorf("--root-of %s: open %s: %w", r, path, err)
	}
	return fd, nil
}

// check verifies, after every /proc/PID path of the process was opened
// (its root, the namespaces listed as /proc/PID/ns/TYPE), that PID is
// still the process that started at Start: then it was that process
// throughout, and everything opened is its. A pid reused in between
// would show another start time.
func (r *RootOf) check() error {
	if r == nil || r.Start == 0 {
		return nil
	}
	if !proc.Alive(r.Pid, r.Start) {
		return fmt.Errorf("--root-of %s: process %d is gone (its pid is not the process that started at %d)", r, r.Pid, r.Start)
	}
	return nil
}

// enterRoot makes the descriptor's directory this process's root and
// working directory (fchdir, then chroot to "."), and closes it: nothing
// of the runtime's stays open for the stages after this one.
func enterRoot(fd int) error {
	err := unix.Fchdir(fd)
	if err == nil {
		err = unix.Chroot(".")
	}
	if cerr := unix.Close(fd); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("--root-of: enter the root: %w", explainChroot(err))
	}
	return nil
}

func explainChroot(err error) error {
	if errors.Is(err, unix.EPERM) {
		return fmt.Errorf("%w (chroot needs CAP_SYS_CHROOT in the joined user namespace)", err)
	}
	return err
}
