// Package mountclean removes the mounts a container made in a mount
// namespace that is not its own: the runtime's (no "mount" entry in
// linux.namespaces) or one joined by path. oci-mount prepares the rootfs
// there (binds the rootfs onto itself, mounts /proc, /dev, ... below it,
// chroots), and when the container is deleted those mounts would stay in
// someone else's mount table: runc and crun leave them.
//
// Take records, before the container is created, which mounts already
// exist at or below the rootfs in that namespace (a rootfs that is itself a
// mount point, a volume the host mounted inside it). Detach, at delete,
// enters the namespace again and lazily detaches (MNT_DETACH) every mount
// at or below the rootfs that is not in the record, topmost first, so that
// the namespace's mount table is what it was before create. Nothing
// outside the rootfs is touched, and nothing that was there before.
//
// A thread of the runtime enters the namespace: unshare(CLONE_FS) gives
// it a root and cwd of its own, which setns(CLONE_NEWNS) requires in a
// multi-threaded process, and the thread is locked and never given back
// to the Go scheduler, so it ends with its goroutine.
package mountclean

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"unsafe"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// Record is what Detach needs, kept in the container's state.
type Record struct {
	// NSPath is the linux.namespaces path of a joined mount namespace;
	// empty for the runtime's own.
	NSPath string `json:"nsPath,omitempty"`
	// NS identifies the namespace, so that a path that now names
	// another one (a reused pid) is not entered.
	NS Identity `json:"ns"`
	// Rootfs is the rootfs as the namespace's mount table names it
	// (symlinks resolved there).
	Rootfs string `json:"rootfs"`
	// Before are the mounts at or below Rootfs at create.
	Before []Mount `json:"before,omitempty"`
}

// Identity names a mount namespace. ID is the kernel's 64-bit namespace
// id (NS_GET_MNTNS_ID, never reused; 0 where the kernel lacks it), Dev and
// Ino those of its nsfs file (reused once the namespace is gone).
type Identity struct {
	ID  uint64 `json:"id,omitempty"`
	Dev uint64 `json:"dev"`
	Ino uint64 `json:"ino"`
}

// Mount is the part of a mountinfo line that tells mounts apart. Mount
// ids are reused once a mount is gone; with the device, the root in its
// filesystem and the mount point, a reused id is not taken for a mount
// that existed before.
type Mount struct {
	ID     int    `json:"id"`
	Parent int    `json:"parent"`
	Dev    string `json:"dev"`
	Root   string `json:"root"`
	Point  string `json:"point"`
}

func (m Mount) same(o Mount) bool {
	return m.ID == o.ID && m.Dev == o.Dev && m.Root == o.Root && m.Point == o.Point
}

// ErrUnreachable means the namespace recorded at create could not be
// found at delete: it is gone (and its mounts with it), or nothing this
// process can open still names it.
var ErrUnreachable = errors.New("the container's mount namespace is gone or out of reach")

// Take records the mounts at or below rootfs in the mount namespace at
// nsPath ("" for the caller's own).
func Take(nsPath, rootfs string) (*Record, error) {
	path := nsPath
	if path == "" {
		path = "/proc/self/ns/mnt"
	}
	ns, id, err := openNS(path)
	if err != nil {
		return nil, fmt.Errorf("mount namespace %s: %w", path, err)
	}
	defer ns.Close()
	r := &Record{NSPath: nsPath, NS: id}
	err = inNamespace(ns, func(task *os.File) error {
		resolved, err := filepath.EvalSymlinks(rootfs)
		if err != nil {
			return fmt.Errorf("root.path: %w", err)
		}
		r.Rootfs = resolved
		all, err := readMounts(task)
		if err != nil {
			return err
		}
		for _, m := range all {
			if Under(r.Rootfs, m.Point) {
				r.Before = append(r.Before, m)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// Detach enters the recorded namespace and detaches every mount at or
// below the rootfs that was not there at create. It returns the mount
// points it detached. ErrUnreachable when the namespace cannot be found.
func (r *Record) Detach() ([]string, error) {
	ns, err := r.find()
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	var done []string
	err = inNamespace(ns, func(task *os.File) error {
		// Each round detaches the topmost new mounts; a mount stacked
		// on one of them at the same point hides it until the next.
		for {
			now, err := readMounts(task)
			if err != nil {
				return err
			}
			todo := ToDetach(r.Rootfs, r.Before, now)
			if len(todo) == 0 {
				return nil
			}
			isNew := map[int]bool{}
			for _, m := range New(r.Rootfs, r.Before, now) {
				isNew[m.ID] = true
			}
			progress := false
			for _, m := range todo {
				did, err := detachTop(m.Point, isNew)
				if err != nil {
					return err
				}
				if did {
					progress = true
					done = append(done, m.Point)
				}
			}
			if !progress {
				return fmt.Errorf("mount %d at %s cannot be reached: a mount that was there before covers it", todo[0].ID, todo[0].Point)
			}
		}
	})
	return done, err
}

// find opens the recorded namespace: through the joined path, or, for the
// runtime's own, this process's namespace or init's. A candidate counts
// only when its identity is the recorded one.
func (r *Record) find() (*os.File, error) {
	var candidates []string
	if r.NSPath != "" {
		candidates = append(candidates, r.NSPath)
	}
	candidates = append(candidates, "/proc/self/ns/mnt", "/proc/1/ns/mnt")
	for _, p := range candidates {
		f, id, err := openNS(p)
		if err != nil {
			continue
		}
		if id.matches(r.NS) {
			return f, nil
		}
		f.Close()
	}
	return nil, fmt.Errorf("%w (mnt:[%d])", ErrUnreachable, r.NS.Ino)
}

func (id Identity) matches(o Identity) bool {
	if id.ID != 0 && o.ID != 0 {
		return id.ID == o.ID
	}
	return id.Dev == o.Dev && id.Ino == o.Ino
}

// Under reports whether the mount point p is root or below it.
func Under(root, p string) bool {
	return p == root || strings.HasPrefix(p, strings.TrimSuffix(root, "/")+"/")
}

// New returns the mounts of now at or below rootfs that are not in before.
func New(rootfs string, before, now []Mount) []Mount {
	var out []Mount
	for _, m := range now {
		if !Under(rootfs, m.Point) {
			continue
		}
		old := false
		for _, b := range before {
			if m.same(b) {
				old = true
				break
			}
		}
		if !old {
			out = append(out, m)
		}
	}
	return out
}

// ToDetach returns the new mounts (New) whose parent is not itself new:
// detaching one of them (MNT_DETACH) takes every mount below it along.
func ToDetach(rootfs string, before, now []Mount) []Mount {
	fresh := New(rootfs, before, now)
	isNew := map[int]bool{}
	for _, m := range fresh {
		isNew[m.ID] = true
	}
	var out []Mount
	for _, m := range fresh {
		if !isNew[m.Parent] || m.Parent == m.ID {
			out = append(out, m)
		}
	}
	return out
}

// detachTop detaches the mount on top of point, after checking that it is
// one of the new mounts: a mount point is reached without following
// symlinks, and its mount id read from the handle.
func detachTop(point string, isNew map[int]bool) (bool, error) {
	fd, err := unix.Openat2(unix.AT_FDCWD, point, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
	if errors.Is(err, unix.ENOENT) {
		// Gone with an earlier one.
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("open mount point %s: %w", point, err)
	}
	defer unix.Close(fd)
	var st unix.Statx_t
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH, unix.STATX_MNT_ID, &st); err != nil {
		return false, fmt.Errorf("statx %s: %w", point, err)
	}
	if !isNew[int(st.Mnt_id)] {
		return false, nil
	}
	if err := unix.Unmount(point, unix.MNT_DETACH|unix.UMOUNT_NOFOLLOW); err != nil {
		return false, fmt.Errorf("detach %s: %w", point, err)
	}
	return true, nil
}

// openNS opens a mount namespace file and reads its identity.
func openNS(path string) (*os.File, Identity, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, Identity{}, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		f.Close()
		return nil, Identity{}, err
	}
	t, err := unix.IoctlRetInt(int(f.Fd()), unix.NS_GET_NSTYPE)
	if err != nil || t != unix.CLONE_NEWNS {
		f.Close()
		return nil, Identity{}, fmt.Errorf("not a mount namespace")
	}
	id := Identity{Dev: st.Dev, Ino: st.Ino}
	var nsid uint64
	// Recent kernels only; older ones answer ENOTTY and the inode
	// stands in.
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), unix.NS_GET_MNTNS_ID, uintptr(unsafe.Pointer(&nsid))); e == 0 {
		id.ID = nsid
	}
	return f, id, nil
}

// inNamespace runs fn on a thread that has entered the mount namespace
// ns, with its root and cwd at the namespace's root. fn gets this thread's
// /proc/thread-self directory, opened before the switch: the namespace's
// own /proc may be of a pid namespace where this process does not exist.
func inNamespace(ns *os.File, fn func(task *os.File) error) error {
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the thread no longer shares the process's
		// root, cwd and mount namespace, and must not run other
		// goroutines; it exits with this one.
		runtime.LockOSThread()
		task, err := os.Open("/proc/thread-self")
		if err != nil {
			errc <- err
			return
		}
		defer task.Close()
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			errc <- fmt.Errorf("unshare(CLONE_FS): %w", err)
			return
		}
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNS); err != nil {
			errc <- fmt.Errorf("enter mount namespace: %w", err)
			return
		}
		errc <- fn(task)
	}()
	return <-errc
}

// readMounts reads the mount table of the thread whose /proc directory is
// task, as that thread sees it.
func readMounts(task *os.File) ([]Mount, error) {
	fd, err := unix.Openat(int(task.Fd()), "mountinfo", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open mountinfo: %w", err)
	}
	f := os.NewFile(uintptr(fd), "mountinfo")
	defer f.Close()
	return parseMounts(f)
}

func parseMounts(r io.Reader) ([]Mount, error) {
	infos, err := mountinfo.GetMountsFromReader(r, nil)
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	out := make([]Mount, 0, len(infos))
	for _, i := range infos {
		out = append(out, Mount{
			ID: i.ID, Parent: i.Parent,
			Dev:  fmt.Sprintf("%d:%d", i.Major, i.Minor),
			Root: i.Root, Point: i.Mountpoint,
		})
	}
	return out, nil
}
