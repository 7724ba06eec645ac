// Package securepath resolves paths inside a container's root filesystem
// the way the container itself would see them: symlinks (absolute or
// relative) and ".." are resolved with the rootfs as "/", so a hostile image
// cannot point a mount destination, a masked path or a device node at the
// host (CVE-2021-30465, CVE-2025-31133 classes).
//
// Every lookup starts from a handle on the rootfs and ends in a handle on
// the target: openat2(2) with RESOLVE_IN_ROOT where the kernel has it, the
// user-space emulation of github.com/cyphar/filepath-securejoin otherwise.
// Callers then act on the handle (move_mount, mount_setattr, fchown), never
// on a path string, so a symlink swapped in after the check changes
// nothing. Magic links (/proc/self/root/...) are refused on the way.
package securepath

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	securejoin "github.com/cyphar/filepath-securejoin"
	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"
)

// Open resolves p inside root and opens it with flags (O_PATH for a
// handle). The final component is followed when it is a symlink, inside
// root.
func Open(root *os.File, p string, flags int) (*os.File, error) {
	how := unix.OpenHow{
		Flags:   uint64(flags | unix.O_CLOEXEC),
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	for range 16 {
		fd, err := unix.Openat2(int(root.Fd()), rel(p), &how)
		switch {
		case err == nil:
			return os.NewFile(uintptr(fd), filepath.Join(root.Name(), rel(p))), nil
		case errors.Is(err, unix.EINTR), errors.Is(err, unix.EAGAIN):
			// EAGAIN: a rename elsewhere raced with the lookup; retry.
			continue
		case errors.Is(err, unix.ENOSYS):
			return openEmulated(root, p, flags)
		default:
			return nil, &os.PathError{Op: "openat2", Path: p, Err: err}
		}
	}
	return nil, &os.PathError{Op: "openat2", Path: p, Err: unix.EAGAIN}
}

func openEmulated(root *os.File, p string, flags int) (*os.File, error) {
	h, err := pathrs.OpenatInRoot(root, rel(p))
	if err != nil {
		return nil, err
	}
	if flags&unix.O_PATH != 0 {
		return h, nil
	}
	defer h.Close()
	return pathrs.Reopen(h, flags)
}

// MkdirAll creates p and its missing parents inside root (mode for the
// new ones) and returns a handle on the directory.
func MkdirAll(root *os.File, p string, mode os.FileMode) (*os.File, error) {
	if rel(p) == "." {
		return Open(root, ".", unix.O_PATH|unix.O_DIRECTORY)
	}
	// Most destinations exist (/proc, /dev, /sys of any image): one
	// openat2 resolves them inside root as safely as MkdirAllHandle, which
	// also checks its handles through a procfs of its own (measured: a
	// third of oci-mount's work for the default mounts).
	if d, err := Open(root, p, unix.O_PATH|unix.O_DIRECTORY); err == nil {
		return d, nil
	}
	d, err := mkdirAll(root, rel(p), mode)
	if errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ENOENT) {
		// A dangling symlink along p (the image's link to a directory
		// it does not have): create what it names, inside root, like
		// the container would see it.
		if t := target(root, p); t != filepath.Clean("/"+p) {
			d, err = mkdirAll(root, rel(t), mode)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("mkdir %s: %w", p, unwrapPath(err))
	}
	return d, nil
}

// mkdirAll creates the missing directories of p (relative, clean) inside
// root, one at a time: each with mkdirat(2) in the handle of its parent,
// and each handle resolved from root the way Open resolves (openat2,
// RESOLVE_IN_ROOT), so a symlink swapped in meanwhile still leads to a
// directory inside root, and mkdirat never follows one. Without openat2
// it is filepath-securejoin's MkdirAllHandle, which checks its handles
// through a procfs of its own; that procfs handle stays open for the
// life of the process (a stage that goes on into the next one in the
// same process must not hold it, stage.Def.Continues).
func mkdirAll(root *os.File, p string, mode os.FileMode) (*os.File, error) {
	if !hasOpenat2() {
		return pathrs.MkdirAllHandle(root, p, mode)
	}
	parts := strings.Split(p, "/")
	var dir *os.File // parts[:i], nil for root
	for i := range parts {
		sub := strings.Join(parts[:i+1], "/")
		d, err := Open(root, sub, unix.O_PATH|unix.O_DIRECTORY)
		if errors.Is(err, unix.ENOENT) {
			parent := root
			if dir != nil {
				parent = dir
			}
			err = unix.Mkdirat(int(parent.Fd()), parts[i], uint32(mode.Perm()))
			if err == nil || errors.Is(err, unix.EEXIST) {
				// EEXIST: made meanwhile, or a dangling symlink, which
				// the lookup below reports as ENOENT.
				d, err = Open(root, sub, unix.O_PATH|unix.O_DIRECTORY)
			} else {
				err = &os.PathError{Op: "mkdirat", Path: sub, Err: err}
			}
		}
		if dir != nil {
			dir.Close()
		}
		if err != nil {
			return nil, err
		}
		dir = d
	}
	return dir, nil
}

// hasOpenat2 reports whether the kernel has openat2(2) (Linux 5.6).
var hasOpenat2 = sync.OnceValue(func() bool {
	fd, err := unix.Openat2(unix.AT_FDCWD, "/", &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC})
	if err == nil {
		unix.Close(fd)
	}
	return !errors.Is(err, unix.ENOSYS)
})

// CreateFile makes sure a non-directory exists at p inside root, creating
// an empty regular file (and the parents) when nothing is there, and
// returns an O_PATH handle on what p resolves to.
func CreateFile(root *os.File, p string, mode os.FileMode) (*os.File, error) {
	if h, err := Open(root, p, unix.O_PATH); err == nil {
		return h, nil
	} else if !errors.Is(err, unix.ENOENT) {
		return nil, err
	}
	dir, err := resolveParent(root, p)
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	base := filepath.Base(target(root, p))
	fd, err := unix.Openat(int(dir.Fd()), base, unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_WRONLY|unix.O_CLOEXEC, uint32(mode.Perm()))
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, fmt.Errorf("create %s: %w", p, err)
	}
	if err == nil {
		unix.Close(fd)
	}
	// Resolve again from the root: whatever p names now (a racing rename
	// included) is still inside root.
	return Open(root, p, unix.O_PATH)
}

// Parent returns a handle on the directory that will hold p's last
// component, creating missing parents, and that component's name. A
// dangling symlink at p is resolved (inside root) to the path it names.
func Parent(root *os.File, p string) (*os.File, string, error) {
	dir, err := resolveParent(root, p)
	if err != nil {
		return nil, "", err
	}
	return dir, filepath.Base(target(root, p)), nil
}

func resolveParent(root *os.File, p string) (*os.File, error) {
	t := target(root, p)
	if t == "/" {
		return nil, fmt.Errorf("%s: resolves to the root directory", p)
	}
	return MkdirAll(root, filepath.Dir(t), 0o755)
}

// target is p with every symlink along it resolved inside root, as far as
// they exist. It only chooses where to create something; the creation
// itself goes through handles, and the result is resolved again.
func target(root *os.File, p string) string {
	// root.Name() is the path the handle was opened with (Root below).
	rootPath := root.Name()
	full, err := securejoin.SecureJoin(rootPath, p)
	if err != nil {
		return filepath.Clean("/" + p)
	}
	r, err := filepath.Rel(rootPath, full)
	if err != nil || r == ".." || len(r) > 2 && r[:3] == "../" {
		return filepath.Clean("/" + p)
	}
	return filepath.Clean("/" + r)
}

func rel(p string) string {
	r := filepath.Clean("/" + p)[1:]
	if r == "" {
		return "."
	}
	return r
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Root opens a directory as the root handle for the functions above.
func Root(path string) (*os.File, error) {
	fd, err := unix.Open(path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), filepath.Clean(path)), nil
}
