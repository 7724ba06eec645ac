package devfilter

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The parts of union bpf_attr (include/uapi/linux/bpf.h) that the four
// commands read, laid out as the kernel has them. A shorter attr than the
// kernel's is fine: it zero-fills the rest.
type progLoadAttr struct {
	progType    uint32
	insnCnt     uint32
	insns       uint64 // pointer
	license     uint64 // pointer
	logLevel    uint32
	logSize     uint32
	logBuf      uint64 // pointer
	kernVersion uint32
	progFlags   uint32
	progName    [16]byte
}

type attachAttr struct {
	targetFD    uint32
	attachBPFFD uint32
	attachType  uint32
	attachFlags uint32
}

type queryAttr struct {
	targetFD    uint32
	attachType  uint32
	queryFlags  uint32
	attachFlags uint32
	progIDs     uint64 // pointer
	progCnt     uint32
	_           uint32
}

type getFDAttr struct {
	progID    uint32
	nextID    uint32
	openFlags uint32
}

// progName shows in bpftool prog and /proc/PID/fdinfo.
const progName = "oci_run_devices"

// bpf retries the interruptions: the verifier gives up with EAGAIN when a
// signal is pending, and the Go runtime's preemption signals are frequent.
func bpf(cmd int, attr unsafe.Pointer, size uintptr) (int, error) {
	for tries := 0; ; tries++ {
		r, _, errno := unix.Syscall(unix.SYS_BPF, uintptr(cmd), uintptr(attr), size)
		if errno == 0 {
			return int(r), nil
		}
		if (errno == unix.EAGAIN || errno == unix.EINTR) && tries < 50 {
			continue
		}
		return -1, errno
	}
}

// load loads prog as a BPF_PROG_TYPE_CGROUP_DEVICE program and returns its
// fd. A rejection is loaded again with the verifier's log, which goes into
// the error.
func load(prog []byte) (int, error) {
	license := []byte("Apache-2.0\x00")
	attr := progLoadAttr{
		progType: unix.BPF_PROG_TYPE_CGROUP_DEVICE,
		insnCnt:  uint32(len(prog) / insnSize),
		insns:    uint64(uintptr(unsafe.Pointer(&prog[0]))),
		license:  uint64(uintptr(unsafe.Pointer(&license[0]))),
	}
	copy(attr.progName[:], progName)
	var log []byte
	fd, err := bpf(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	if errors.Is(err, unix.EPERM) {
		// Before 5.11 programs are charged to RLIMIT_MEMLOCK, whose
		// default (64 KiB) a few programs exhaust; runc lifts it too.
		if unix.Setrlimit(unix.RLIMIT_MEMLOCK, &unix.Rlimit{Cur: unix.RLIM_INFINITY, Max: unix.RLIM_INFINITY}) == nil {
			fd, err = bpf(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
		}
	}
	if err != nil && !errors.Is(err, unix.EPERM) {
		log = make([]byte, 64<<10)
		attr.logLevel = 1
		attr.logSize = uint32(len(log))
		attr.logBuf = uint64(uintptr(unsafe.Pointer(&log[0])))
		fd, err = bpf(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	}
	runtime.KeepAlive(prog)
	runtime.KeepAlive(license)
	runtime.KeepAlive(log)
	if err != nil {
		if n := bytes.IndexByte(log, 0); n > 0 {
			msg := bytes.TrimSpace(log[:n])
			if len(msg) > 2048 {
				msg = msg[len(msg)-2048:] // the reason is at the end
			}
			return -1, fmt.Errorf("bpf prog load: %w: verifier: %s", err, msg)
		}
		return -1, fmt.Errorf("bpf prog load: %w", err)
	}
	return fd, nil
}

// attached returns the ids of the device programs attached to the cgroup
// itself (not those it inherits) and the flags they were attached with.
func attached(cgroup int) ([]uint32, uint32, error) {
	ids := make([]uint32, 8)
	for {
		attr := queryAttr{
			targetFD:   uint32(cgroup),
			attachType: unix.BPF_CGROUP_DEVICE,
			progIDs:    uint64(uintptr(unsafe.Pointer(&ids[0]))),
			progCnt:    uint32(len(ids)),
		}
		_, err := bpf(unix.BPF_PROG_QUERY, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
		runtime.KeepAlive(ids)
		if errors.Is(err, unix.ENOSPC) {
			// progCnt is now the number attached.
			ids = make([]uint32, attr.progCnt+8)
			continue
		}
		if err != nil {
			return nil, 0, fmt.Errorf("bpf prog query: %w", err)
		}
		return ids[:attr.progCnt], attr.attachFlags, nil
	}
}

func attach(cgroup, prog int, flags uint32) error {
	attr := attachAttr{
		targetFD:    uint32(cgroup),
		attachBPFFD: uint32(prog),
		attachType:  unix.BPF_CGROUP_DEVICE,
		attachFlags: flags,
	}
	if _, err := bpf(unix.BPF_PROG_ATTACH, unsafe.Pointer(&attr), unsafe.Sizeof(attr)); err != nil {
		return fmt.Errorf("bpf prog attach: %w", err)
	}
	return nil
}

// detach takes the program id off the cgroup. A program that went away
// meanwhile is not an error. One whose fd the caller may not have (an
// LSM's decision) stays, as in runc: attached programs all have to allow
// an access, so one left behind can only refuse more.
func detach(cgroup int, id uint32) error {
	get := getFDAttr{progID: id}
	prog, err := bpf(unix.BPF_PROG_GET_FD_BY_ID, unsafe.Pointer(&get), unsafe.Sizeof(get))
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EPERM) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("bpf prog get fd by id %d: %w", id, err)
	}
	defer unix.Close(prog)
	attr := attachAttr{
		targetFD:    uint32(cgroup),
		attachBPFFD: uint32(prog),
		attachType:  unix.BPF_CGROUP_DEVICE,
	}
	if _, err := bpf(unix.BPF_PROG_DETACH, unsafe.Pointer(&attr), unsafe.Sizeof(attr)); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("bpf prog detach id %d: %w", id, err)
	}
	return nil
}

// Apply loads the program for rules and attaches it to the cgroup2
// directory dir (BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI), then detaches the
// device programs that were attached to dir before. Between the two, both
// apply (an access needs every program's allow), so an update never
// leaves a moment without rules. Rules that allow everything attach no
// program, as runc does; the old ones are still detached.
func Apply(dir string, rules []Rule) error {
	checked, err := check(rules)
	if err != nil {
		return err
	}
	rs := prune(checked)
	cg, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("device rules: %w", &os.PathError{Op: "open", Path: dir, Err: err})
	}
	defer unix.Close(cg)
	old, oldFlags, err := attached(cg)
	if err != nil {
		return fmt.Errorf("device rules of %s: %w", dir, err)
	}
	// A program attached without BPF_F_ALLOW_MULTI (by another tool or
	// an old runc) admits no other beside it, but one attached with its
	// flags takes its place at once.
	flags := uint32(unix.BPF_F_ALLOW_MULTI)
	if len(old) > 0 && oldFlags&unix.BPF_F_ALLOW_MULTI == 0 {
		flags = oldFlags
	}
	if !allowsAll(rs) {
		prog, err := program(rs)
		if err != nil {
			return err
		}
		fd, err := load(prog)
		if err != nil {
			return fmt.Errorf("device rules of %s: %w", dir, err)
		}
		err = attach(cg, fd, flags)
		unix.Close(fd) // the attachment holds the program
		if err != nil {
			return fmt.Errorf("device rules of %s: %w", dir, err)
		}
	}
	for _, id := range old {
		if err := detach(cg, id); err != nil {
			return fmt.Errorf("device rules of %s: %w", dir, err)
		}
	}
	return nil
}

// Attached returns the ids of the device programs attached to the cgroup2
// directory dir.
func Attached(dir string) ([]uint32, error) {
	cg, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(cg)
	ids, _, err := attached(cg)
	if err != nil {
		return nil, fmt.Errorf("device programs of %s: %w", dir, err)
	}
	return ids, nil
}
