// Package seccompload installs a compiled seccomp program (an array of
// struct sock_filter) on the calling thread, hands such a program from one
// stage to the next, and delivers a notify listener to the process that
// linux.seccomp.listenerPath names. It is pure Go: oci-exec, which installs
// the filter, is built without cgo; compiling the profile is the job of
// package seccomp (libseccomp) in oci-seccomp.
//
// The filter belongs to the calling thread (no SECCOMP_FILTER_FLAG_TSYNC,
// as in runc): the caller locks itself to one OS thread and execs the user
// program from it, so the program starts with the filter while the other
// threads of the Go runtime, which die at execve, never run under it.
package seccompload

import (
	"errors"
	"fmt"
	"os"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/pkg/spec"
)

// The seccomp(2) filter flags (linux/seccomp.h).
const (
	FlagTsync            = 1 << 0
	FlagLog              = 1 << 1
	FlagSpecAllow        = 1 << 2
	FlagNewListener      = 1 << 3
	FlagTsyncESRCH       = 1 << 4
	FlagWaitKillableRecv = 1 << 5
)

// maxInsns is the kernel's limit for one filter (BPF_MAXINSNS).
const maxInsns = 4096

// Flags computes the seccomp(2) flags for linux.seccomp: the ones the
// configuration lists, plus SECCOMP_FILTER_FLAG_NEW_LISTENER when a rule
// uses SCMP_ACT_NOTIFY. SECCOMP_FILTER_FLAG_TSYNC is accepted and ignored
// as runc ignores it (the filter goes on the one thread that execs);
// SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV only means something with a
// listener and is dropped without one, as libseccomp does.
func Flags(sc *specs.LinuxSeccomp) (uint, error) {
	var flags uint
	if NeedsListener(sc) {
		flags |= FlagNewListener
	}
	for i, f := range sc.Flags {
		switch f {
		case specs.LinuxSeccompFlagLog:
			flags |= FlagLog
		case specs.LinuxSeccompFlagSpecAllow:
			flags |= FlagSpecAllow
		case specs.LinuxSeccompFlagWaitKillableRecv:
			if flags&FlagNewListener != 0 {
				flags |= FlagWaitKillableRecv
			}
		case "SECCOMP_FILTER_FLAG_TSYNC":
		default:
			return 0, fmt.Errorf("linux.seccomp.flags[%d]: unknown flag %q", i, f)
		}
	}
	return flags, nil
}

// NeedsListener reports whether a rule of sc uses SCMP_ACT_NOTIFY.
func NeedsListener(sc *specs.LinuxSeccomp) bool {
	for _, r := range sc.Syscalls {
		if r.Action == specs.ActNotify {
			return true
		}
	}
	return false
}

// Install loads prog on the calling thread with seccomp(2). Without
// no_new_privs this needs CAP_SYS_ADMIN. With FlagNewListener it returns
// the listener descriptor (close-on-exec), -1 otherwise.
func Install(prog []unix.SockFilter, flags uint) (int, error) {
	if len(prog) == 0 {
		return -1, errors.New("install seccomp filter: empty program")
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	r, _, e := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, uintptr(flags), uintptr(unsafe.Pointer(&fprog)))
	if e != 0 {
		hint := ""
		switch e {
		case unix.EACCES:
			hint = " (without no_new_privs loading a filter needs CAP_SYS_ADMIN)"
		case unix.EINVAL:
			hint = fmt.Sprintf(" (flags %#x: this kernel may not support one of them)", flags)
		}
		return -1, fmt.Errorf("install seccomp filter: %w%s", e, hint)
	}
	if flags&FlagNewListener != 0 {
		return int(r), nil
	}
	return -1, nil
}

// Encode turns a program into the bytes of a struct sock_filter array.
func Encode(prog []unix.SockFilter) []byte {
	if len(prog) == 0 {
		return nil
	}
	n := len(prog) * int(unsafe.Sizeof(prog[0]))
	return append([]byte(nil), unsafe.Slice((*byte)(unsafe.Pointer(&prog[0])), n)...)
}

// Decode is the inverse of Encode.
func Decode(b []byte) ([]unix.SockFilter, error) {
	size := int(unsafe.Sizeof(unix.SockFilter{}))
	if len(b) == 0 || len(b)%size != 0 {
		return nil, fmt.Errorf("seccomp program: %d bytes is not a whole number of %d-byte instructions", len(b), size)
	}
	if len(b)/size > maxInsns {
		return nil, fmt.Errorf("seccomp program: %d instructions, the kernel takes at most %d", len(b)/size, maxInsns)
	}
	prog := make([]unix.SockFilter, len(b)/size)
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&prog[0])), len(b)), b)
	return prog, nil
}

// Handover puts prog in a sealed memfd for the next stage and returns the
// descriptor, inheritable (not close-on-exec): its number goes in
// OCI_SECCOMP_FD.
func Handover(prog []unix.SockFilter) (int, error) {
	fd, err := spec.SealedMemfd("seccomp-bpf", Encode(prog))
	if err != nil {
		return -1, fmt.Errorf("seccomp handover: %w", err)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("seccomp handover: clear close-on-exec: %w", err)
	}
	return fd, nil
}

// Receive reads the program a previous stage handed over in fd and closes
// fd. The memfd must be sealed against writes: the program is trusted only
// because nobody can change it after the stage that compiled it.
func Receive(fd int) ([]unix.SockFilter, error) {
	f := os.NewFile(uintptr(fd), "seccomp-bpf")
	defer f.Close()
	seals, err := unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0)
	if err != nil || seals&unix.F_SEAL_WRITE == 0 {
		return nil, fmt.Errorf("seccomp program on fd %d: not a sealed memfd", fd)
	}
	b, err := spec.ReadFD(fd)
	if err != nil {
		return nil, fmt.Errorf("seccomp program on fd %d: %w", fd, err)
	}
	return Decode(b)
}
