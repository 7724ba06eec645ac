// Package exeseal makes the handles through which the runtime's own
// binaries run inside a container's namespaces.
//
// CVE-2019-5736: a process in the container's pid namespace could open
// /proc/PID/exe of a runtime process and, once that process had exec'd the
// user program, write through the handle into the host binary. A stage that
// runs where the container can see it is therefore exec'd from a handle
// that leads to no writable host file. Two kinds, the first that works:
//
//   - Overlay (no copy): a read-only overlayfs, made with the new mount API
//     and never attached anywhere, whose layers are the binary's directory
//     and an empty detached tmpfs (overlayfs needs two lower layers to run
//     without an upper one). The stage is exec'd from an O_PATH handle of
//     its file in that overlay: /proc/PID/exe names the overlay's file,
//     which has the overlay's own device number, cannot be opened for
//     writing (a read-only superblock with no upper layer: EROFS, even if
//     the mount were cloned and made writable), and nothing leads from it
//     to the layer below. The pages are the binary's own page cache: no
//     copy, no memory charged to anyone. runc ≥ 1.2 does the same. Needs
//     CAP_SYS_ADMIN and a kernel whose overlayfs takes layers by
//     descriptor (fsconfig FSCONFIG_SET_FD "lowerdir+", Linux 6.13).
//   - memfd copy: a memfd holding a copy of the binary with every seal
//     (F_SEAL_WRITE and the rest). Costs the copy (about 3 MiB per stage)
//     in time and in shared memory.
package exeseal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Seal returns a close-on-exec handle through which the executable at path
// can be exec'd (execveat AT_EMPTY_PATH) and never written.
func Seal(path string) (*os.File, error) {
	files, err := SealAll([]string{path})
	if err != nil {
		return nil, err
	}
	return files[0], nil
}

// SealAll seals several executables, sharing one overlay per directory.
func SealAll(paths []string) ([]*os.File, error) {
	out := make([]*os.File, len(paths))
	byDir := map[string][]int{}
	reals := make([]string, len(paths))
	for i, p := range paths {
		real, err := realPath(p)
		if err != nil {
			// /proc/self/exe of a process that runs from a handle made
			// here names no directory: copy what it opens.
			if out[i], err = Copy(p); err != nil {
				closeAll(out)
				return nil, err
			}
			continue
		}
		byDir[filepath.Dir(real)] = append(byDir[filepath.Dir(real)], i)
		reals[i] = real
	}
	for dir, idx := range byDir {
		names := make([]string, len(idx))
		for j, i := range idx {
			names[j] = filepath.Base(reals[i])
		}
		files, err := overlay(dir, names)
		if err != nil {
			// No overlay here (unprivileged, older kernel): copies.
			files = make([]*os.File, len(idx))
			for j, i := range idx {
				if files[j], err = Copy(reals[i]); err != nil {
					closeAll(out)
					closeAll(files)
					return nil, err
				}
			}
		}
		for j, i := range idx {
			out[i] = files[j]
		}
	}
	return out, nil
}

// realPath resolves a symlink (/proc/self/exe, a link to the binary) to
// the file itself: the overlay's layer must be the directory that really
// holds it. A path that is no symlink costs one lstat.
func realPath(p string) (string, error) {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return "", &os.PathError{Op: "lstat", Path: p, Err: err}
	}
	r := p
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		var err error
		if r, err = filepath.EvalSymlinks(p); err != nil {
			return "", err
		}
	}
	if !filepath.IsAbs(r) {
		return filepath.Abs(r)
	}
	return r, nil
}

// overlay opens names in a read-only overlay of dir.
func overlay(dir string, names []string) ([]*os.File, error) {
	empty, err := detachedTmpfs()
	if err != nil {
		return nil, err
	}
	defer unix.Close(empty)
	ctx, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("fsopen overlay: %w", err)
	}
	defer unix.Close(ctx)
	// Layers by descriptor: the directory is the one opened here, whatever
	// a path string would name later. dir on top, so that nothing in the
	// empty layer can hide a binary.
	dfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	defer unix.Close(dfd)
	if err := fsconfigSetFD(ctx, "lowerdir+", dfd); err != nil {
		return nil, fmt.Errorf("overlay lowerdir+ %s: %w", dir, err)
	}
	if err := fsconfigSetFD(ctx, "lowerdir+", empty); err != nil {
		return nil, fmt.Errorf("overlay lowerdir+ (empty tmpfs): %w", err)
	}
	// xino would be switched on automatically when the layers are on
	// different filesystems, with a kernel log line each time; unneeded.
	_ = unix.FsconfigSetString(ctx, "xino", "off")
	if err := unix.FsconfigCreate(ctx); err != nil {
		return nil, fmt.Errorf("create overlay of %s: %w", dir, err)
	}
	mnt, err := unix.Fsmount(ctx, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOSUID)
	if err != nil {
		return nil, fmt.Errorf("fsmount overlay of %s: %w", dir, err)
	}
	defer unix.Close(mnt)
	files := make([]*os.File, 0, len(names))
	for _, n := range names {
		fd, err := unix.Openat(mnt, n, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			closeAll(files)
			return nil, fmt.Errorf("open %s in the overlay of %s: %w", n, dir, err)
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
			unix.Close(fd)
			closeAll(files)
			return nil, fmt.Errorf("seal %s: not a regular file", filepath.Join(dir, n))
		}
		files = append(files, os.NewFile(uintptr(fd), "sealed:"+n))
	}
	return files, nil
}

// detachedTmpfs is an empty, read-only tmpfs that no mount table shows.
func detachedTmpfs() (int, error) {
	ctx, err := unix.Fsopen("tmpfs", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("fsopen tmpfs: %w", err)
	}
	defer unix.Close(ctx)
	// The smallest tmpfs there is: nothing is ever written to it.
	_ = unix.FsconfigSetString(ctx, "size", "4k")
	_ = unix.FsconfigSetString(ctx, "nr_inodes", "1")
	if err := unix.FsconfigCreate(ctx); err != nil {
		return -1, fmt.Errorf("create tmpfs: %w", err)
	}
	mnt, err := unix.Fsmount(ctx, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_RDONLY)
	if err != nil {
		return -1, fmt.Errorf("fsmount tmpfs: %w", err)
	}
	return mnt, nil
}

// fsconfigSetFD is fsconfig(FSCONFIG_SET_FD), which x/sys/unix lacks.
func fsconfigSetFD(ctx int, key string, fd int) error {
	k, err := unix.BytePtrFromString(key)
	if err != nil {
		return err
	}
	_, _, errno := unix.Syscall6(unix.SYS_FSCONFIG, uintptr(ctx), unix.FSCONFIG_SET_FD, uintptr(unsafe.Pointer(k)), 0, uintptr(fd), 0)
	if errno != 0 {
		return errno
	}
	return nil
}

func closeAll(files []*os.File) {
	for _, f := range files {
		if f != nil {
			f.Close()
		}
	}
}

// Copy returns a close-on-exec, fully sealed memfd holding a copy of the
// executable at path.
func Copy(path string) (*os.File, error) {
	src, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("seal %s: %w", path, err)
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return nil, fmt.Errorf("seal %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("seal %s: not a regular file", path)
	}
	fd, err := unix.MemfdCreate(filepath.Base(path), unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("seal %s: memfd_create: %w", path, err)
	}
	dst := os.NewFile(uintptr(fd), "sealed:"+filepath.Base(path))
	if err := copyAll(fd, int(src.Fd()), fi.Size()); err != nil {
		dst.Close()
		return nil, fmt.Errorf("seal %s: copy: %w", path, err)
	}
	if err := unix.Fchmod(fd, 0o555); err != nil {
		dst.Close()
		return nil, fmt.Errorf("seal %s: chmod: %w", path, err)
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
		dst.Close()
		return nil, fmt.Errorf("seal %s: add seals: %w", path, err)
	}
	return dst, nil
}

func copyAll(dst, src int, size int64) error {
	for size > 0 {
		n, err := unix.Sendfile(dst, src, nil, int(min(size, 1<<30)))
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return errors.New("short read")
		}
		size -= int64(n)
	}
	return nil
}

// IsSealed reports whether fd is a handle made here: a memfd that can no
// longer be written, or a file of a read-only overlay.
func IsSealed(fd int) bool {
	if seals, err := unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0); err == nil {
		return seals&unix.F_SEAL_WRITE != 0
	}
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(fd, &sfs); err != nil {
		return false
	}
	return sfs.Type == unix.OVERLAYFS_SUPER_MAGIC && sfs.Flags&unix.ST_RDONLY != 0
}
