package rootfs

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/pkg/devices"
	"github.com/oci-run/oci-run/pkg/idmap"
	"github.com/oci-run/oci-run/pkg/mountopt"
	"github.com/oci-run/oci-run/pkg/securepath"
	"github.com/oci-run/oci-run/pkg/sysctl"
	"github.com/oci-run/oci-run/pkg/trace"
)

// Hooks is the point between preparing the rootfs and pivot_root where
// the runtime runs createRuntime and createContainer hooks.
type Hooks func() error

// Apply prepares the rootfs as planned and enters it. In the container's
// own mount namespace (CheckMountNamespace) the rootfs becomes "/" with
// pivot_root; in a namespace that is not its own (p.MountNS) nothing
// outside the rootfs is changed and the rootfs is entered with chroot. On
// return the process has its root in the container's rootfs and its cwd
// at p.Cwd. When it fails in a namespace that is not the container's, the
// bind of the rootfs, and every mount below it, is detached again.
func Apply(p *Plan, hooks Hooks) (err error) {
	old := unix.Umask(0)
	defer unix.Umask(old)
	var root *os.File
	var foreign *rootBind
	if p.MountNS == NSNew {
		if err := setPropagation(unix.AT_FDCWD, "/", p.HostPropagation); err != nil {
			return fmt.Errorf("make / %s: %w", p.HostPropagation, err)
		}
		// After a recursive change to anything but shared (the default
		// rslave, rprivate) no mount here is shared: the parent of the
		// rootfs needs no look-up in mountinfo (a parse of the whole
		// table, 0.1 ms of every start).
		if !p.HostPropagation.Recursive || p.HostPropagation.Type == unix.MS_SHARED {
			if err := makeParentPrivate(p.Rootfs); err != nil {
				return err
			}
		}
		root, err = bindRootfs(p.Rootfs)
	} else {
		foreign, err = bindRootfsForeign(p.Rootfs)
		if err == nil {
			root = foreign.root
			defer func() {
				if err != nil {
					foreign.undo()
				} else {
					foreign.done()
				}
			}()
		}
	}
	if err != nil {
		return err
	}
	defer root.Close()
	a := &applier{p: p, root: root}
	trace.Point("rootfs")
	for i := range p.Mounts {
		if err := a.mount(&p.Mounts[i]); err != nil {
			return err
		}
	}
	trace.Point("mounts")
	if err := a.setupDev(); err != nil {
		return err
	}
	trace.Point("dev")
	// ---- hook point (prestart, createRuntime, createContainer) ----
	// The container's mounts exist and the process is still in the host's
	// root: the "hook" sync message goes to the runtime from here
	// (hookPoint, docs/architecture.md, sync messages).
	if hooks != nil {
		if err := hooks(); err != nil {
			return err
		}
	}
	switch {
	case foreign != nil:
		err = foreign.enter()
	case p.NoPivot:
		err = moveRoot(p.Rootfs)
	default:
		err = pivotRoot(p.Rootfs)
	}
	if err != nil {
		return fmt.Errorf("enter rootfs %s: %w", p.Rootfs, err)
	}
	trace.Point("pivot")
	err = finish(p)
	trace.Point("paths")
	return err
}

// finish runs inside the new root: everything that acts on the
// container's own /proc and on "/" itself.
func finish(p *Plan) error {
	root, err := securepath.Root("/")
	if err != nil {
		return err
	}
	defer root.Close()
	// The cwd is created while the root may still be written (runc does
	// the same), and entered by handle: it is inside the new root.
	if p.Cwd != "" {
		d, err := securepath.MkdirAll(root, p.Cwd, 0o755)
		if err != nil {
			return fmt.Errorf("process.cwd: %w", err)
		}
		defer d.Close()
		if err := unix.Fchdir(int(d.Fd())); err != nil {
			return fmt.Errorf("process.cwd: chdir %s: %w", p.Cwd, err)
		}
	}
	if err := sysctl.Apply("/proc/sys", p.Sysctl); err != nil {
		return err
	}
	for i, rp := range p.ReadonlyPaths {
		if err := readonlyPath(root, rp); err != nil {
			return fmt.Errorf("linux.readonlyPaths[%d]: %w", i, err)
		}
	}
	for i, mp := range p.MaskedPaths {
		label := ""
		if selinuxEnabled() {
			label = p.MountLabel
		}
		if err := maskPath(root, mp, label); err != nil {
			return fmt.Errorf("linux.maskedPaths[%d]: %w", i, err)
		}
	}
	if p.DevReadonly {
		if err := setReadonly(root, "/dev"); err != nil {
			return fmt.Errorf("make /dev read-only: %w", err)
		}
	}
	if p.Readonly {
		if err := setReadonly(root, "/"); err != nil {
			return fmt.Errorf("root.readonly: %w", err)
		}
	}
	// Last: an unbindable root would refuse the binds of the read-only
	// and masked paths above.
	if p.RootPropagation != nil {
		if err := setPropagation(unix.AT_FDCWD, "/", *p.RootPropagation); err != nil {
			return fmt.Errorf("linux.rootfsPropagation: make / %s: %w", *p.RootPropagation, err)
		}
	}
	return nil
}

type applier struct {
	p    *Plan
	root *os.File
}

func (a *applier) errorf(m *Mount, err error) error {
	return fmt.Errorf("%s: mount %q on %q (rootfs %s): %w", m.Field, m.Source, m.Destination, a.p.Rootfs, err)
}

func (a *applier) mount(m *Mount) error {
	var err error
	switch m.Kind {
	case KindBind:
		err = a.bind(m)
	case KindNew:
		err = a.newMount(m)
	case KindCgroup:
		err = a.cgroup(m)
	case KindRemount:
		err = a.remount(m)
	}
	if err != nil {
		return a.errorf(m, err)
	}
	return nil
}

// destination resolves (creating if missing) the mount point of m inside
// the rootfs: a directory, or a file when the source is not a directory.
func (a *applier) destination(dest string, dir bool) (*os.File, error) {
	if dir {
		return securepath.MkdirAll(a.root, dest, 0o755)
	}
	return securepath.CreateFile(a.root, dest, 0o644)
}

func (a *applier) bind(m *Mount) error {
	var st unix.Stat_t
	var err error
	if fd, ok := handedTree(m); ok {
		// The host side resolved the source: in the container's user
		// namespace its path may not even be reachable.
		err = unix.Fstat(fd, &st)
	} else {
		err = unix.Stat(m.Source, &st)
	}
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	dest, err := a.destination(m.Destination, st.Mode&unix.S_IFMT == unix.S_IFDIR)
	if err != nil {
		return err
	}
	defer dest.Close()
	return a.bindFrom(m, unix.AT_FDCWD, m.Source, dest)
}

func (a *applier) bindFrom(m *Mount, dirfd int, path string, dest *os.File) error {
	flags := uint(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC)
	if m.Opts.Recursive {
		flags |= unix.AT_RECURSIVE
	}
	if path == "" {
		flags |= unix.AT_EMPTY_PATH
	}
	var tree int
	var err error
	if m.Opts.IDMap || m.Opts.RIDMap {
		tree, err = idmappedTree(m, path)
	} else {
		tree, err = unix.OpenTree(dirfd, path, flags)
	}
	if err != nil {
		return fmt.Errorf("open_tree: %w", err)
	}
	defer unix.Close(tree)
	if err := setAttrs(tree, m.Opts); err != nil {
		return err
	}
	if err := moveMount(tree, dest); err != nil {
		return err
	}
	return propagate(tree, m.Opts)
}

// handedTree is the idmapped tree of m the host side prepared.
func handedTree(m *Mount) (int, bool) {
	if !m.Opts.IDMap && !m.Opts.RIDMap {
		return -1, false
	}
	return idmap.Handed(m.Index)
}

// idmappedTree is the detached idmapped copy of m's source: handed down
// by the host side (OCI_MOUNT_FDS), or made here when this process has the
// privilege (no user namespace of its own).
func idmappedTree(m *Mount, source string) (int, error) {
	if fd, ok := handedTree(m); ok {
		// A copy: the handed descriptor itself is closed with the rest
		// of them (idmap.CloseHanded) before the next exec.
		return unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 3)
	}
	t, err := idmap.Tree(source, m.Opts.Recursive, m.Opts.RIDMap, m.UIDMappings, m.GIDMappings)
	if err != nil {
		if errors.Is(err, unix.EPERM) {
			return -1, fmt.Errorf("%w (in a user namespace, the runtime must prepare idmapped mounts before the clone and pass them in %s)", err, idmap.EnvMountFDs)
		}
		return -1, err
	}
	fd, err := unix.Dup(int(t.Fd()))
	t.Close()
	if err != nil {
		return -1, err
	}
	unix.CloseOnExec(fd)
	return fd, nil
}

func (a *applier) newMount(m *Mount) error {
	dest, err := a.destination(m.Destination, true)
	if err != nil {
		return err
	}
	defer dest.Close()
	if err := checkLabels(m); err != nil {
		return err
	}
	label := ""
	if labelTakesContext(m.Type) {
		label = a.mountLabel()
	}
	mnt, err := newFS(m.Type, m.Source, m.Opts, label)
	if m.Type == "sysfs" && errors.Is(err, unix.EPERM) {
		// sysfs of another network namespace cannot be mounted from a
		// user namespace that does not own it: bind the host's /sys
		// instead, read-only or as asked, like runc.
		bm := *m
		bm.Opts.Recursive = true
		return a.bindFrom(&bm, unix.AT_FDCWD, "/sys", dest)
	}
	if err != nil {
		return err
	}
	defer unix.Close(mnt)
	if m.Opts.TmpCopyUp {
		if err := copyUp(dest, mnt); err != nil {
			return fmt.Errorf("tmpcopyup: %w", err)
		}
	}
	if err := moveMount(mnt, dest); err != nil {
		return err
	}
	return propagate(mnt, m.Opts)
}

// labelTakesContext: runc gives the SELinux mount label to every new
// filesystem but proc, sysfs and cgroups, which have their own labels.
func labelTakesContext(typ string) bool {
	switch typ {
	case "proc", "sysfs", "cgroup", "cgroup2", "bind":
		return false
	}
	return true
}

// newFS creates a detached mount of a new filesystem instance with every
// attribute already set: it never appears half-configured in the tree.
func newFS(typ, source string, o mountopt.Options, label string) (int, error) {
	fsfd, err := unix.Fsopen(typ, unix.FSOPEN_CLOEXEC)
	if err != nil {
		if errors.Is(err, unix.ENODEV) {
			return -1, fmt.Errorf("filesystem type %q is not supported by the kernel: %w", typ, err)
		}
		return -1, fmt.Errorf("fsopen %s: %w", typ, err)
	}
	defer unix.Close(fsfd)
	if source != "" {
		if err := unix.FsconfigSetString(fsfd, "source", source); err != nil {
			return -1, fsError(fsfd, "source="+source, err)
		}
	}
	for _, f := range o.SBFlags {
		if err := unix.FsconfigSetFlag(fsfd, f); err != nil {
			return -1, fsError(fsfd, f, err)
		}
	}
	for _, pa := range o.Params {
		var err error
		if pa.Flag {
			err = unix.FsconfigSetFlag(fsfd, pa.Key)
		} else {
			err = unix.FsconfigSetString(fsfd, pa.Key, pa.Value)
		}
		if err != nil {
			return -1, fsError(fsfd, pa.String(), err)
		}
	}
	if label != "" {
		if err := unix.FsconfigSetString(fsfd, "context", label); err != nil {
			return -1, fsError(fsfd, "context="+label, err)
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return -1, fsError(fsfd, "", err)
	}
	mnt, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, o.Attr.FsmountFlags())
	if err != nil {
		return -1, fmt.Errorf("fsmount: %w", err)
	}
	if !o.RecAttr.Empty() {
		if err := mountSetattr(mnt, true, o.RecAttr.Unix()); err != nil {
			unix.Close(mnt)
			return -1, err
		}
	}
	return mnt, nil
}

// fsError adds what the filesystem said (the fs_context log) to err.
func fsError(fsfd int, param string, err error) error {
	var msgs []string
	buf := make([]byte, 1024)
	for {
		n, rerr := unix.Read(fsfd, buf)
		if rerr != nil || n <= 0 {
			break
		}
		msg := strings.TrimSpace(string(buf[:n]))
		// Each message starts with its level: "e ", "w ", "i ".
		if len(msg) > 2 && msg[1] == ' ' {
			msg = msg[2:]
		}
		msgs = append(msgs, msg)
	}
	what := "create filesystem"
	if param != "" {
		what = fmt.Sprintf("option %q", param)
	}
	if len(msgs) > 0 {
		return fmt.Errorf("%s: %w (%s)", what, err, strings.Join(msgs, "; "))
	}
	return fmt.Errorf("%s: %w", what, err)
}

func (a *applier) remount(m *Mount) error {
	dest, err := securepath.Open(a.root, m.Destination, unix.O_PATH)
	if err != nil {
		return err
	}
	defer dest.Close()
	if err := setAttrs(int(dest.Fd()), m.Opts); err != nil {
		return err
	}
	return propagate(int(dest.Fd()), m.Opts)
}

func setAttrs(mnt int, o mountopt.Options) error {
	if !o.Attr.Empty() {
		if err := mountSetattr(mnt, false, o.Attr.Unix()); err != nil {
			return err
		}
	}
	if !o.RecAttr.Empty() {
		if err := mountSetattr(mnt, true, o.RecAttr.Unix()); err != nil {
			return err
		}
	}
	return nil
}

func propagate(mnt int, o mountopt.Options) error {
	for _, pr := range o.Propagation {
		if err := setPropagation(mnt, "", pr); err != nil {
			return fmt.Errorf("make %s: %w", pr, err)
		}
	}
	return nil
}

func mountSetattr(fd int, recursive bool, attr unix.MountAttr) error {
	flags := uint(unix.AT_EMPTY_PATH)
	if recursive {
		flags |= unix.AT_RECURSIVE
	}
	if err := unix.MountSetattr(fd, "", flags, &attr); err != nil {
		return fmt.Errorf("mount_setattr: %w", err)
	}
	return nil
}

// setPropagation changes propagation of the mount at dirfd/path (path ""
// for the mount dirfd names).
func setPropagation(dirfd int, path string, pr mountopt.Propagation) error {
	var flags uint
	if path == "" {
		flags |= unix.AT_EMPTY_PATH
	}
	if pr.Recursive {
		flags |= unix.AT_RECURSIVE
	}
	attr := unix.MountAttr{Propagation: pr.Type}
	return unix.MountSetattr(dirfd, path, flags, &attr)
}

func moveMount(mnt int, dest *os.File) error {
	if err := unix.MoveMount(mnt, "", int(dest.Fd()), "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return fmt.Errorf("move_mount: %w", err)
	}
	return nil
}

// makeParentPrivate makes the mount that holds the rootfs private, so that
// the bind of the rootfs onto itself (and everything below it) propagates
// nowhere, and pivot_root accepts it.
func makeParentPrivate(rootfs string) error {
	mounts, err := mountinfo.GetMounts(mountinfo.ParentsFilter(rootfs))
	if err != nil {
		return fmt.Errorf("read mountinfo: %w", err)
	}
	var parent *mountinfo.Info
	for _, m := range mounts {
		if parent == nil || len(m.Mountpoint) > len(parent.Mountpoint) {
			parent = m
		}
	}
	if parent == nil || !strings.Contains(parent.Optional, "shared:") {
		return nil
	}
	if err := setPropagation(unix.AT_FDCWD, parent.Mountpoint, mountopt.Propagation{Type: unix.MS_PRIVATE}); err != nil {
		return fmt.Errorf("make %s private: %w", parent.Mountpoint, err)
	}
	return nil
}

// bindRootfs bind-mounts the rootfs onto itself (pivot_root needs a mount
// point) and returns a handle on the new mount's root.
func bindRootfs(rootfs string) (*os.File, error) {
	tree, err := unix.OpenTree(unix.AT_FDCWD, rootfs, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
	if err != nil {
		return nil, fmt.Errorf("bind rootfs %s: %w", rootfs, err)
	}
	defer unix.Close(tree)
	if err := unix.MoveMount(tree, "", unix.AT_FDCWD, rootfs, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return nil, fmt.Errorf("bind rootfs %s: %w", rootfs, err)
	}
	return securepath.Root(rootfs)
}

// rootBind is the rootfs bound onto itself in a mount namespace that is
// not the container's: two mounts at the rootfs path, a shield below and
// the container's root on top (bindRootfsForeign).
type rootBind struct {
	path string
	// root is the container's root, held from its open_tree handle:
	// whatever is mounted on the rootfs path later, this is the root.
	root *os.File
	// ids of the top and the shield, as mountID reads them.
	top, shield uint64
	// oldRoot is the root before enter, to get back to the rootfs path
	// when undoing after the chroot.
	oldRoot *os.File
}

// bindRootfsForeign binds the rootfs onto itself in a mount namespace
// that is not the container's, without changing any mount outside it:
//
//   - the container's root ("top") is a recursive copy of the rootfs, so
//     it shows what the host mounted below the rootfs; it is made rslave
//     as soon as it is attached, so nothing mounted below it later
//     propagates anywhere (its copies of shared host mounts would
//     otherwise pass the container's mounts on to the host);
//   - below it, a non-recursive bind of the rootfs ("shield"), private:
//     when the mount holding the rootfs is shared, attaching anything at
//     the rootfs propagates a copy to that mount's peers and slaves, and
//     only an attach there can. The shield is what propagates: a single
//     mount with nothing below it, which its removal at delete (or at
//     undo) takes away everywhere again. A recursive copy would take the
//     host's mounts below the rootfs along, and copies with mounts below
//     them are not removed by propagation.
//
// The top is cloned before the shield is attached: afterwards the rootfs
// path shows the shield, without the host's mounts.
func bindRootfsForeign(rootfs string) (*rootBind, error) {
	tree, err := unix.OpenTree(unix.AT_FDCWD, rootfs, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
	if err != nil {
		return nil, fmt.Errorf("bind rootfs %s: %w", rootfs, err)
	}
	b := &rootBind{path: rootfs, root: os.NewFile(uintptr(tree), rootfs)}
	fail := func(what string, err error) (*rootBind, error) {
		b.undo()
		return nil, fmt.Errorf("bind rootfs %s: %s: %w", rootfs, what, err)
	}
	shield, err := unix.OpenTree(unix.AT_FDCWD, rootfs, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return fail("open_tree", err)
	}
	defer unix.Close(shield)
	// Each mount's id is read from its handle right after it is
	// attached, while it is the top mount at the rootfs path (undo finds
	// the mounts by path and id).
	if err := unix.MoveMount(shield, "", unix.AT_FDCWD, rootfs, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fail("attach", err)
	}
	if b.shield, err = mountID(shield); err != nil {
		unix.Unmount(rootfs, unix.MNT_DETACH)
		return fail("statx", err)
	}
	if err := setPropagation(shield, "", mountopt.Propagation{Type: unix.MS_PRIVATE}); err != nil {
		return fail("make private", err)
	}
	if err := unix.MoveMount(tree, "", unix.AT_FDCWD, rootfs, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fail("attach", err)
	}
	if b.top, err = mountID(tree); err != nil {
		unix.Unmount(rootfs, unix.MNT_DETACH)
		return fail("statx", err)
	}
	if err := setPropagation(tree, "", mountopt.Propagation{Type: unix.MS_SLAVE, Recursive: true}); err != nil {
		return fail("make rslave", err)
	}
	return b, nil
}

// undo detaches the top (with everything mounted below it) and the
// shield, each only while it is the top mount at the rootfs path. After
// the chroot, the process first returns to the root it had.
func (b *rootBind) undo() {
	if b.oldRoot != nil {
		if unix.Fchdir(int(b.oldRoot.Fd())) == nil {
			unix.Chroot(".")
		}
		b.oldRoot.Close()
	}
	for _, id := range []uint64{b.top, b.shield} {
		if id != 0 && isMount(b.path, id) {
			unix.Unmount(b.path, unix.MNT_DETACH)
		}
	}
	b.root.Close()
}

// enter makes the top the process's root: chroot, not pivot_root, which
// would move the root of every process of the namespace.
func (b *rootBind) enter() error {
	old, err := os.Open("/")
	if err != nil {
		return err
	}
	b.oldRoot = old
	if err := unix.Fchdir(int(b.root.Fd())); err != nil {
		return err
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	return unix.Chdir("/")
}

// done drops what undo would need, once the container is set up.
func (b *rootBind) done() {
	if b.oldRoot != nil {
		b.oldRoot.Close()
		b.oldRoot = nil
	}
}

// mountID is the id of the mount a handle is on: the unique 64-bit id
// where the kernel has one (Linux 6.8), the mountinfo id otherwise.
func mountID(fd int) (uint64, error) {
	var st unix.Statx_t
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH, unix.STATX_MNT_ID_UNIQUE, &st); err != nil {
		return 0, err
	}
	if st.Mask&unix.STATX_MNT_ID_UNIQUE == 0 {
		if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH, unix.STATX_MNT_ID, &st); err != nil {
			return 0, err
		}
	}
	return st.Mnt_id, nil
}

// isMount reports whether the top mount at path has the given id. The
// path is root.path, followed like open_tree followed it.
func isMount(path string, id uint64) bool {
	fd, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	got, err := mountID(fd)
	return err == nil && got == id
}

func (a *applier) setupDev() error {
	p := a.p
	for _, d := range p.Devices {
		if err := devices.Create(a.root, d, p.UserNS); err != nil {
			return fmt.Errorf("%w (rootfs %s)", err, p.Rootfs)
		}
	}
	if !p.SetupDev {
		return nil
	}
	for _, l := range p.DevLinks {
		if err := symlink(a.root, l); err != nil {
			return fmt.Errorf("symlink %s -> %s (rootfs %s): %w", l.Path, l.Target, p.Rootfs, err)
		}
	}
	if p.Console {
		if err := consolePlaceholder(a.root); err != nil {
			return fmt.Errorf("create /dev/console (rootfs %s): %w", p.Rootfs, err)
		}
	}
	return nil
}

func symlink(root *os.File, l Link) error {
	dir, name, err := securepath.Parent(root, l.Path)
	if err != nil {
		return err
	}
	defer dir.Close()
	err = unix.Symlinkat(l.Target, int(dir.Fd()), name)
	if errors.Is(err, unix.EEXIST) {
		if cur, rerr := readlinkat(int(dir.Fd()), name); rerr == nil && cur == l.Target {
			return nil
		}
		if uerr := unix.Unlinkat(int(dir.Fd()), name, 0); uerr != nil {
			return fmt.Errorf("replace existing entry: %w", uerr)
		}
		err = unix.Symlinkat(l.Target, int(dir.Fd()), name)
	}
	return err
}

func readlinkat(dirfd int, name string) (string, error) {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(dirfd, name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// consolePlaceholder leaves /dev/console as an empty regular file: oci-exec
// bind-mounts the pty slave onto it after the pivot (runc's mount point
// for the console is the same: an empty file, mode 0666).
func consolePlaceholder(root *os.File) error {
	dir, name, err := securepath.Parent(root, "/dev/console")
	if err != nil {
		return err
	}
	defer dir.Close()
	if err := unix.Unlinkat(int(dir.Fd()), name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("remove existing entry: %w", err)
	}
	fd, err := unix.Openat(int(dir.Fd()), name, unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_WRONLY|unix.O_CLOEXEC, 0o666)
	if err != nil {
		return err
	}
	return unix.Close(fd)
}

// pivotRoot makes rootfs the root and detaches the old one, the way runc
// does it without a directory for the old root: pivot_root(".", ".")
// stacks the old root on top of the new one, and unmounting "." removes it.
func pivotRoot(rootfs string) error {
	oldroot, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(oldroot)
	newroot, err := unix.Open(rootfs, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(newroot)
	if err := unix.Fchdir(newroot); err != nil {
		return err
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Fchdir(oldroot); err != nil {
		return err
	}
	// The old root must not pass its unmount on to the host's copies.
	if err := setPropagation(unix.AT_FDCWD, ".", mountopt.Propagation{Type: unix.MS_SLAVE, Recursive: true}); err != nil {
		return fmt.Errorf("make old root rslave: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach old root: %w", err)
	}
	return unix.Chdir("/")
}

// moveRoot is --no-pivot: move the rootfs mount over "/" and chroot into
// it, for filesystems where pivot_root is not possible (initramfs).
func moveRoot(rootfs string) error {
	if err := unix.Chdir(rootfs); err != nil {
		return err
	}
	if err := unix.MoveMount(unix.AT_FDCWD, rootfs, unix.AT_FDCWD, "/", 0); err != nil {
		return fmt.Errorf("move %s to /: %w", rootfs, err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	return unix.Chdir("/")
}

// readonlyPath makes p (inside root) a read-only bind of itself; a path
// that does not exist is skipped, as runtime-spec allows.
func readonlyPath(root *os.File, p string) error {
	h, err := securepath.Open(root, p, unix.O_PATH)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	defer h.Close()
	tree, err := unix.OpenTree(int(h.Fd()), "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE|unix.AT_EMPTY_PATH)
	if err != nil {
		return fmt.Errorf("bind %s: %w", p, err)
	}
	defer unix.Close(tree)
	if err := mountSetattr(tree, true, unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}); err != nil {
		return fmt.Errorf("make %s read-only: %w", p, err)
	}
	if err := moveMount(tree, h); err != nil {
		return fmt.Errorf("mount %s read-only: %w", p, err)
	}
	return nil
}

// maskPath covers p: a directory with an empty read-only tmpfs, anything
// else with /dev/null. A path that does not exist is skipped.
func maskPath(root *os.File, p, label string) error {
	h, err := securepath.Open(root, p, unix.O_PATH)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	defer h.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(h.Fd()), &st); err != nil {
		return err
	}
	var mnt int
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		mnt, err = newFS("tmpfs", "tmpfs", mountopt.Options{
			SBFlags: []string{"ro"},
			Attr:    mountopt.Attr{Set: unix.MOUNT_ATTR_RDONLY},
		}, label)
	} else {
		mnt, err = devNullTree(root)
	}
	if err != nil {
		return fmt.Errorf("mask %s: %w", p, err)
	}
	defer unix.Close(mnt)
	if err := moveMount(mnt, h); err != nil {
		return fmt.Errorf("mask %s: %w", p, err)
	}
	return nil
}

// devNullTree clones the container's /dev/null, after checking it is the
// null device and not something the image put there.
func devNullTree(root *os.File) (int, error) {
	h, err := securepath.Open(root, "/dev/null", unix.O_PATH)
	if err != nil {
		return -1, fmt.Errorf("/dev/null: %w", err)
	}
	defer h.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(h.Fd()), &st); err != nil {
		return -1, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 3) {
		return -1, errors.New("/dev/null in the container is not the null device")
	}
	tree, err := unix.OpenTree(int(h.Fd()), "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_EMPTY_PATH)
	if err != nil {
		return -1, fmt.Errorf("bind /dev/null: %w", err)
	}
	return tree, nil
}

// setReadonly makes the mount at p read-only (that mount only, like a
// "mount -o remount,bind,ro").
func setReadonly(root *os.File, p string) error {
	h, err := securepath.Open(root, p, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return err
	}
	defer h.Close()
	return mountSetattr(int(h.Fd()), false, unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY})
}
