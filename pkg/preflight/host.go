package preflight

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/pkg/capability"
	"github.com/oci-run/oci-run/pkg/cgroup"
	"github.com/oci-run/oci-run/pkg/spec"
)

// Feature is one thing the host has or lacks, for `oci-run check`.
type Feature struct {
	Name string
	// Value is what the host has ("yes", a version, a list).
	Value string
	// Missing, when set, says what the runtime does without it.
	Missing string
}

// Host probes what the chain needs from this kernel and host, without
// changing anything, and adds a problem to r for each missing piece the
// configuration s needs (s may be nil: only what every container needs).
// The probes are harmless system calls: they create a descriptor and
// close it, or fail with EINVAL/EBADF on a kernel that has the call and
// ENOSYS on one that does not.
func Host(r *Result, s *specs.Spec) []Feature {
	var fs []Feature
	need := func(name string, ok bool, what string) {
		if !ok {
			fs = append(fs, Feature{Name: name, Value: "no", Missing: "needed: " + what})
			r.add(fmt.Errorf("host: %s is missing: it is needed: %s", name, what))
			return
		}
		fs = append(fs, Feature{Name: name, Value: "yes"})
	}
	want := func(name string, ok bool, without string) {
		if !ok {
			fs = append(fs, Feature{Name: name, Value: "no", Missing: without})
			r.Warn(fmt.Sprintf("host: %s is missing: %s", name, without))
			return
		}
		fs = append(fs, Feature{Name: name, Value: "yes"})
	}

	var uts unix.Utsname
	unix.Uname(&uts)
	fs = append(fs, Feature{Name: "kernel", Value: unix.ByteSliceToString(uts.Release[:])})

	need("memfd_create(MFD_ALLOW_SEALING)", probeMemfd(), "the configuration and the stages that run in the container are handed over as sealed memfds (CVE-2019-5736)")
	need("pidfd_open", probePidfd(), "the runtime signals and waits for the container's init through a pidfd, immune to pid reuse")
	need("mount API (fsopen, open_tree, move_mount, mount_setattr)", probeMountAPI(), "oci-mount builds every mount detached and attaches it by handle (Linux 5.12)")
	want("openat2(RESOLVE_IN_ROOT)", probeOpenat2(), "paths in the rootfs are resolved in userspace (filepath-securejoin) instead")
	want("close_range(CLOSE_RANGE_CLOEXEC)", probeCloseRange(), "oci-exec marks descriptors close-on-exec one by one through /proc/self/fd instead")

	if h, err := cgroup.ReadHost(); err != nil {
		r.add(fmt.Errorf("host: cgroups: %w", err))
	} else {
		var parts []string
		for _, hi := range h.Hierarchies {
			if hi.Controllers[0] == cgroup.Unified {
				parts = append(parts, "cgroup2")
				continue
			}
			parts = append(parts, strings.Join(hi.Controllers, ","))
		}
		fs = append(fs, Feature{Name: "cgroups", Value: h.Mode.String() + ": " + strings.Join(parts, " ")})
	}

	lsm := "none"
	if b, err := os.ReadFile("/sys/kernel/security/lsm"); err == nil {
		lsm = strings.TrimSpace(string(b))
	}
	fs = append(fs, Feature{Name: "security modules", Value: lsm})

	if host, err := capability.ReadHost(); err == nil {
		var missing []string
		for c := 0; c <= host.LastCap; c++ {
			if host.Bounding&(1<<c) == 0 {
				missing = append(missing, capability.Name(c))
			}
		}
		note := fmt.Sprintf("%d of %d in the runtime's bounding set", host.LastCap+1-len(missing), host.LastCap+1)
		if len(missing) > 0 {
			note += ", without " + strings.Join(missing, " ")
		}
		fs = append(fs, Feature{Name: "capabilities", Value: note})
	}

	if s == nil || s.Linux == nil {
		return fs
	}
	if _, ok := spec.HasNamespace(s, specs.UserNamespace); ok {
		n, err := readInt("/proc/sys/user/max_user_namespaces")
		if err == nil && n == 0 {
			r.add(&spec.FieldError{Field: "linux.namespaces", Msg: "a user namespace is asked for, but user.max_user_namespaces is 0 on this host"})
		}
	}
	if s.Linux.Seccomp != nil {
		if !seccompFilters() {
			r.add(&spec.FieldError{Field: "linux.seccomp", Msg: "this kernel has no seccomp filters (CONFIG_SECCOMP_FILTER)"})
		}
	}
	return fs
}

func readInt(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

func probeMemfd() bool {
	fd, err := unix.MemfdCreate("oci-run-check", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	_, err = unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_WRITE)
	return err == nil
}

func probePidfd() bool {
	fd, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != nil {
		return false
	}
	unix.Close(fd)
	return true
}

func probeMountAPI() bool {
	fd, err := unix.Fsopen("tmpfs", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return false
	}
	unix.Close(fd)
	// mount_setattr is the newest of the set: on a bad descriptor it
	// fails with EBADF where it exists.
	err = unix.MountSetattr(-1, "", unix.AT_EMPTY_PATH, &unix.MountAttr{})
	return !errors.Is(err, unix.ENOSYS)
}

func probeOpenat2() bool {
	fd, err := unix.Openat2(unix.AT_FDCWD, "/", &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT})
	if err != nil {
		return false
	}
	unix.Close(fd)
	return true
}

func probeCloseRange() bool {
	fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	return unix.CloseRange(uint(fd), uint(fd), unix.CLOSE_RANGE_CLOEXEC) == nil
}

// seccompFilters reports CONFIG_SECCOMP_FILTER: asking whether the kernel
// knows SECCOMP_RET_ALLOW (SECCOMP_GET_ACTION_AVAIL) loads nothing.
func seccompFilters() bool {
	const getActionAvail, retAllow = 2, 0x7fff0000
	action := uint32(retAllow)
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, getActionAvail, 0, uintptr(unsafe.Pointer(&action)))
	return errno == 0
}
