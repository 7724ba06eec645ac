// Package namespace turns the namespace part of an OCI configuration
// (linux.namespaces, uid/gid mappings, time offsets, hostname, domainname)
// into a plan, and checks it against the host before anything is created.
//
// The plan says, for each of the eight namespace types, whether the
// container gets a new one (created by the clone of its first process), joins
// an existing one by path (setns), or shares the runtime's. Where each of
// those operations has to happen (before the Go runtime starts, in the
// runtime process, or in the container's first process) is decided by the
// kernel's rules, written down in docs/architecture.md ("oci-unshare").
package namespace

import (
	"errors"
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Kind ties a namespace type of the spec to its clone flag and to its name
// in /proc/PID/ns.
type Kind struct {
	Type specs.LinuxNamespaceType
	Flag uintptr
	Proc string
}

// Kinds lists the eight namespace types Linux has.
var Kinds = []Kind{
	{specs.UserNamespace, unix.CLONE_NEWUSER, "user"},
	{specs.MountNamespace, unix.CLONE_NEWNS, "mnt"},
	{specs.PIDNamespace, unix.CLONE_NEWPID, "pid"},
	{specs.NetworkNamespace, unix.CLONE_NEWNET, "net"},
	{specs.IPCNamespace, unix.CLONE_NEWIPC, "ipc"},
	{specs.UTSNamespace, unix.CLONE_NEWUTS, "uts"},
	{specs.CgroupNamespace, unix.CLONE_NEWCGROUP, "cgroup"},
	{specs.TimeNamespace, unix.CLONE_NEWTIME, "time"},
}

// KindOf returns the Kind of a spec namespace type.
func KindOf(t specs.LinuxNamespaceType) (Kind, bool) {
	for _, k := range Kinds {
		if k.Type == t {
			return k, true
		}
	}
	return Kind{}, false
}

// kindOfFlag returns the Kind whose clone flag is f.
func kindOfFlag(f uintptr) (Kind, bool) {
	for _, k := range Kinds {
		if k.Flag == f {
			return k, true
		}
	}
	return Kind{}, false
}

// ChildProc is the /proc/PID/ns entry that names the namespace a process's
// children get: pid and time namespaces apply to children only, so the
// "_for_children" entry is the one a new process ends up in.
func (k Kind) ChildProc() string {
	if k.Type == specs.PIDNamespace || k.Type == specs.TimeNamespace {
		return k.Proc + "_for_children"
	}
	return k.Proc
}

// nsGetNstype is NS_GET_NSTYPE from linux/nsfs.h: _IO(0xb7, 0x3).
const nsGetNstype = 0xb703

// TypeOfFD returns the kind of namespace fd refers to; an error wrapping
// ErrNotNamespace when it is not a namespace.
func TypeOfFD(fd int) (Kind, error) {
	v, err := unix.IoctlRetInt(fd, nsGetNstype)
	if err != nil {
		if errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EINVAL) {
			return Kind{}, ErrNotNamespace
		}
		return Kind{}, err
	}
	k, ok := kindOfFlag(uintptr(v))
	if !ok {
		return Kind{}, fmt.Errorf("unknown namespace type %#x", v)
	}
	return k, nil
}

// ErrNotNamespace says a path is not a namespace file.
var ErrNotNamespace = errors.New("not a namespace")

// Open opens a namespace file and checks that it is a namespace of kind k.
// The descriptor is close-on-exec. Errors are phrased for a message that
// names the path ("is a pid namespace, the entry says network").
func Open(path string, k Kind) (*os.File, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	got, err := TypeOfFD(fd)
	if err != nil {
		f.Close()
		if errors.Is(err, ErrNotNamespace) {
			return nil, fmt.Errorf("%q is not a namespace file", path)
		}
		return nil, fmt.Errorf("%q: %w", path, err)
	}
	if got.Type != k.Type {
		f.Close()
		return nil, fmt.Errorf("%q is a %s namespace, the entry says %s", path, got.Type, k.Type)
	}
	return f, nil
}

// ID identifies a namespace (device and inode of its nsfs file), to compare
// two namespaces.
type ID struct{ Dev, Ino uint64 }

// IDOf returns the identity of the namespace at path.
func IDOf(path string) (ID, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return ID{}, err
	}
	return ID{st.Dev, st.Ino}, nil
}

// IDOfFD returns the identity of the namespace fd refers to.
func IDOfFD(fd int) (ID, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return ID{}, err
	}
	return ID{st.Dev, st.Ino}, nil
}
