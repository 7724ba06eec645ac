// Package idmap makes idmapped bind mounts (mount options "idmap" and
// "ridmap"): a detached copy of a mount tree whose files appear with their
// owners shifted by a user namespace's mappings (mount_setattr(2) with
// MOUNT_ATTR_IDMAP).
//
// The kernel allows this only to a process with CAP_SYS_ADMIN over the
// filesystem's user namespace, which is the host's for a disk filesystem:
// a process inside a container's user namespace cannot do it. So the
// detached trees are made on the host side (Prepare, before the clone) and
// handed down as descriptors named by OCI_MOUNT_FDS ("3=7,5=8": mounts[3]
// is fd 7); oci-mount moves them into place. Run without a user namespace,
// oci-mount makes them itself.
package idmap

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/pkg/stage"
)

// EnvMountFDs names the descriptors of prepared idmapped trees.
const EnvMountFDs = stage.EnvMountFDs

// UsernsFD returns a descriptor of a new user namespace with the given
// mappings, made by a child that is stopped before it runs anything (it
// is traced and stops at exec) and killed once the namespace is open.
//
// The child's /proc entries are reached through a procfs instance of
// this process's own pid namespace: oci-mount runs as pid 1 of a new
// one while /proc still shows the host's.
func UsernsFD(uids, gids []specs.LinuxIDMapping) (*os.File, error) {
	proc, err := ownProcfs()
	if err != nil {
		return nil, fmt.Errorf("user namespace for idmap: %w", err)
	}
	defer unix.Close(proc)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cmd := exec.Command("/proc/self/exe")
	cmd.Args = []string{"idmap-userns"}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWUSER,
		// Stops at its execve with SIGTRAP: the namespace exists and
		// nothing of ours runs in it.
		Ptrace:    true,
		Pdeathsig: syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("user namespace for idmap: %w", err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	pid := strconv.Itoa(cmd.Process.Pid)
	if err := writeAt(proc, pid+"/uid_map", format(uids)); err != nil {
		return nil, fmt.Errorf("user namespace for idmap: uid_map: %w", err)
	}
	if err := writeAt(proc, pid+"/gid_map", format(gids)); err != nil {
		return nil, fmt.Errorf("user namespace for idmap: gid_map: %w", err)
	}
	fd, err := unix.Openat(proc, pid+"/ns/user", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("user namespace for idmap: %w", err)
	}
	return os.NewFile(uintptr(fd), "userns"), nil
}

// ownProcfs is a detached procfs mount of the caller's pid namespace.
func ownProcfs() (int, error) {
	fsfd, err := unix.Fsopen("proc", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("fsopen proc: %w", err)
	}
	defer unix.Close(fsfd)
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return -1, fmt.Errorf("create proc: %w", err)
	}
	mnt, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC)
	if err != nil {
		return -1, fmt.Errorf("fsmount proc: %w", err)
	}
	return mnt, nil
}

func writeAt(dir int, name, data string) error {
	fd, err := unix.Openat(dir, name, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	_, err = unix.Write(fd, []byte(data))
	return err
}

func format(m []specs.LinuxIDMapping) string {
	var b strings.Builder
	for _, x := range m {
		fmt.Fprintf(&b, "%d %d %d\n", x.ContainerID, x.HostID, x.Size)
	}
	return b.String()
}

// Tree returns a detached, idmapped copy of the mount tree at source:
// the submounts come along with recursive (rbind, ridmap), and are
// idmapped too with ridmap (runc does the same).
func Tree(source string, recursive, ridmap bool, uids, gids []specs.LinuxIDMapping) (*os.File, error) {
	userns, err := UsernsFD(uids, gids)
	if err != nil {
		return nil, err
	}
	defer userns.Close()
	return tree(source, recursive, ridmap, userns)
}

func tree(source string, recursive, ridmap bool, userns *os.File) (*os.File, error) {
	flags := uint(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC)
	setFlags := uint(unix.AT_EMPTY_PATH)
	if recursive || ridmap {
		flags |= unix.AT_RECURSIVE
	}
	if ridmap {
		setFlags |= unix.AT_RECURSIVE
	}
	fd, err := unix.OpenTree(unix.AT_FDCWD, source, flags)
	if err != nil {
		return nil, fmt.Errorf("open_tree %s: %w", source, err)
	}
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(userns.Fd())}
	if err := unix.MountSetattr(fd, "", setFlags, &attr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("idmap %s: %w", source, err)
	}
	return os.NewFile(uintptr(fd), "idmapped:"+source), nil
}

// Handed returns the prepared tree for mounts[index] from OCI_MOUNT_FDS.
func Handed(index int) (int, bool) {
	return stage.ListFD(os.Getenv(EnvMountFDs), strconv.Itoa(index))
}

// CloseHanded closes every descriptor named by OCI_MOUNT_FDS that is still
// open and drops the variable: they must not reach the container.
func CloseHanded() {
	CloseList(os.Getenv(EnvMountFDs))
	os.Unsetenv(EnvMountFDs)
}

// CloseList closes the descriptors of an OCI_MOUNT_FDS value.
func CloseList(v string) {
	if v == "" {
		return
	}
	for _, kv := range strings.Split(v, ",") {
		if _, v, ok := strings.Cut(kv, "="); ok {
			if fd, err := strconv.Atoi(v); err == nil && fd > 2 {
				unix.Close(fd)
			}
		}
	}
}
