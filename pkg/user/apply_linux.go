package user

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Switch makes the calling thread run as id: supplementary groups, then
// gid, then uid (each change needs the privilege the next one drops). It
// uses the raw system calls, which act on the calling thread only: the
// standard library's versions change every thread of the process through
// signals, which is more system calls than needed and would run under a
// seccomp filter installed before this point. The caller execs from this
// thread, so the new process gets exactly these credentials.
func Switch(id Identity) error {
	if !id.KeepGroups {
		if err := setgroups(id.Groups); err != nil {
			return err
		}
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(id.GID), uintptr(id.GID), uintptr(id.GID)); e != 0 {
		return fmt.Errorf("process.user.gid: setresgid(%d): %w%s", id.GID, e, mappingHint(e, "gid"))
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(id.UID), uintptr(id.UID), uintptr(id.UID)); e != 0 {
		return fmt.Errorf("process.user.uid: setresuid(%d): %w%s", id.UID, e, mappingHint(e, "uid"))
	}
	return nil
}

func mappingHint(e unix.Errno, what string) string {
	if e == unix.EINVAL {
		return " (not mapped in the container's user namespace: see linux." + what + "Mappings)"
	}
	return ""
}

// SetgroupsAllowed reports whether setgroups(2) may be called: not in a
// user namespace whose /proc/self/setgroups says "deny" (an unprivileged
// one). Like runc, the inherited groups are then left alone, which is an
// error only when the configuration asks for groups.
func SetgroupsAllowed() bool {
	b, err := os.ReadFile("/proc/self/setgroups")
	return err != nil || string(bytes.TrimSpace(b)) != "deny"
}

func setgroups(groups []int) error {
	gids := make([]uint32, len(groups))
	for i, g := range groups {
		gids[i] = uint32(g)
	}
	var p unsafe.Pointer
	if len(gids) > 0 {
		p = unsafe.Pointer(&gids[0])
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(gids)), uintptr(p), 0); e != 0 {
		return fmt.Errorf("process.user.additionalGids: setgroups(%v): %w", groups, e)
	}
	return nil
}

// FixStdio gives the container's user its stdio, as runc does: a
// descriptor the caller handed in (a pty slave, a pipe) is usually owned by
// root, and a non-root process could not reopen /proc/self/fd/1 or its tty.
// /dev/null and descriptors already owned by the user are left alone; a
// change the kernel refuses (an owner not mapped in the user namespace, a
// read-only file system) is skipped.
func FixStdio(uid int) error {
	var null unix.Stat_t
	if err := unix.Stat("/dev/null", &null); err != nil {
		null.Rdev = ^uint64(0)
	}
	for fd := 0; fd <= 2; fd++ {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			if errors.Is(err, unix.EBADF) {
				continue
			}
			return fmt.Errorf("stat stdio fd %d: %w", fd, err)
		}
		if st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == null.Rdev {
			continue
		}
		if int(st.Uid) == uid {
			continue
		}
		if err := unix.Fchown(fd, uid, int(st.Gid)); err != nil {
			if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EROFS) {
				continue
			}
			return fmt.Errorf("chown stdio fd %d to uid %d: %w", fd, uid, err)
		}
	}
	return nil
}
