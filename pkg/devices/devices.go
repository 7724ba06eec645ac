// Package devices decides and creates the device nodes of a container's
// /dev: the defaults every container gets (runtime-spec config-linux.md
// "Default Devices") plus linux.devices, with their types, modes and
// owners. Nodes are created through handles resolved inside the rootfs
// (package securepath), so a symlink in the image cannot redirect mknod or
// chown to the host. In a user namespace, where mknod is not allowed,
// the host's node is bind-mounted onto an empty file instead, as runc does.
package devices

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/pkg/securepath"
)

// Device is one node to create.
type Device struct {
	Path         string
	Type         byte // 'c', 'b' or 'p' ('u' is stored as 'c')
	Major, Minor int64
	Mode         uint32 // permission bits (07777)
	UID, GID     uint32
	// Field names the spec entry ("linux.devices[2]"), or "" for a default.
	Field string
}

// Defaults are the devices runtime-spec requires in every container.
func Defaults() []Device {
	d := func(name string, major, minor int64) Device {
		return Device{Path: "/dev/" + name, Type: 'c', Major: major, Minor: minor, Mode: 0o666}
	}
	return []Device{d("null", 1, 3), d("zero", 1, 5), d("full", 1, 7), d("random", 1, 8), d("urandom", 1, 9), d("tty", 5, 0)}
}

// Plan merges the defaults with linux.devices (a spec entry replaces a
// default at the same path) and checks every entry.
func Plan(s *specs.Spec) ([]Device, error) {
	byPath := map[string]int{}
	var out []Device
	for _, d := range Defaults() {
		byPath[d.Path] = len(out)
		out = append(out, d)
	}
	if s.Linux == nil {
		return out, nil
	}
	for i, sd := range s.Linux.Devices {
		f := fmt.Sprintf("linux.devices[%d]", i)
		d, err := fromSpec(sd, f)
		if err != nil {
			return nil, err
		}
		if j, ok := byPath[d.Path]; ok {
			out[j] = d
			continue
		}
		byPath[d.Path] = len(out)
		out = append(out, d)
	}
	return out, nil
}

func fromSpec(sd specs.LinuxDevice, f string) (Device, error) {
	if sd.Path == "" {
		return Device{}, fmt.Errorf("%s.path: must be set", f)
	}
	if !filepath.IsAbs(sd.Path) {
		return Device{}, fmt.Errorf("%s.path: %q is not an absolute path", f, sd.Path)
	}
	p := filepath.Clean(sd.Path)
	if p == "/" {
		return Device{}, fmt.Errorf("%s.path: %q is the root directory", f, sd.Path)
	}
	d := Device{Path: p, Major: sd.Major, Minor: sd.Minor, Mode: 0o666, Field: f}
	switch sd.Type {
	case "c", "u":
		d.Type = 'c'
	case "b":
		d.Type = 'b'
	case "p":
		d.Type = 'p'
	default:
		return Device{}, fmt.Errorf("%s.type: %q is not a device type (c, u, b or p)", f, sd.Type)
	}
	if d.Type != 'p' && (sd.Major < 0 || sd.Minor < 0 || sd.Major > 0xfff || sd.Minor > 0xfffff) {
		return Device{}, fmt.Errorf("%s: device number %d:%d out of range", f, sd.Major, sd.Minor)
	}
	if sd.FileMode != nil {
		m := uint32(*sd.FileMode)
		// The JSON number is a raw mode; type bits, when given, must agree.
		if t := m & unix.S_IFMT; t != 0 && t != d.ifmt() {
			return Device{}, fmt.Errorf("%s.fileMode: %#o has a file type that is not %q", f, m, sd.Type)
		}
		d.Mode = m & 0o7777
	}
	if sd.UID != nil {
		d.UID = *sd.UID
	}
	if sd.GID != nil {
		d.GID = *sd.GID
	}
	return d, nil
}

func (d Device) ifmt() uint32 {
	switch d.Type {
	case 'b':
		return unix.S_IFBLK
	case 'p':
		return unix.S_IFIFO
	}
	return unix.S_IFCHR
}

func (d Device) rdev() uint64 {
	if d.Type == 'p' {
		return 0
	}
	return unix.Mkdev(uint32(d.Major), uint32(d.Minor))
}

func (d Device) String() string {
	if d.Type == 'p' {
		return fmt.Sprintf("%s (p %#o %d:%d)", d.Path, d.Mode, d.UID, d.GID)
	}
	return fmt.Sprintf("%s (%c %d:%d %#o %d:%d)", d.Path, d.Type, d.Major, d.Minor, d.Mode, d.UID, d.GID)
}

// Create makes d inside root. With bind (user namespaces), character and
// block devices are bind mounts of the host node at the same path.
func Create(root *os.File, d Device, bind bool) error {
	if err := create(root, d, bind); err != nil {
		if d.Field != "" {
			return fmt.Errorf("%s: create device %s: %w", d.Field, d.Path, err)
		}
		return fmt.Errorf("create device %s: %w", d.Path, err)
	}
	return nil
}

func create(root *os.File, d Device, bind bool) error {
	dir, name, err := securepath.Parent(root, d.Path)
	if err != nil {
		return err
	}
	defer dir.Close()
	dfd := int(dir.Fd())
	if bind && d.Type != 'p' {
		return bindHost(dfd, name, d)
	}
	err = unix.Mknodat(dfd, name, d.ifmt()|d.Mode, int(d.rdev()))
	if errors.Is(err, unix.EEXIST) {
		// Something is there (an image's own /dev entry, or a symlink
		// planted to redirect us): replace it unless it is this node.
		var st unix.Stat_t
		if serr := unix.Fstatat(dfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); serr == nil &&
			st.Mode&unix.S_IFMT == d.ifmt() && (d.Type == 'p' || st.Rdev == d.rdev()) {
			err = nil
		} else if uerr := unix.Unlinkat(dfd, name, 0); uerr != nil {
			return fmt.Errorf("replace existing entry: %w", uerr)
		} else {
			err = unix.Mknodat(dfd, name, d.ifmt()|d.Mode, int(d.rdev()))
		}
	}
	if errors.Is(err, unix.EPERM) && d.Type != 'p' {
		// No CAP_MKNOD (user namespace, or dropped): bind the host's node.
		return bindHost(dfd, name, d)
	}
	if err != nil {
		return fmt.Errorf("mknod: %w", err)
	}
	// The node was created by us in a directory we hold: no symlink can
	// be at name now, and AT_SYMLINK_NOFOLLOW makes sure of it.
	if err := unix.Fchownat(dfd, name, int(d.UID), int(d.GID), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("chown: %w", err)
	}
	if err := unix.Fchmodat(dfd, name, d.Mode, 0); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	return nil
}

// bindHost bind-mounts the host node at d.Path onto an empty file.
func bindHost(dfd int, name string, d Device) error {
	fd, err := unix.Openat(dfd, name, unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.EEXIST) {
		if uerr := unix.Unlinkat(dfd, name, 0); uerr != nil {
			return fmt.Errorf("replace existing entry: %w", uerr)
		}
		fd, err = unix.Openat(dfd, name, unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_WRONLY|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return fmt.Errorf("create bind target: %w", err)
	}
	unix.Close(fd)
	target, err := unix.Openat(dfd, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open bind target: %w", err)
	}
	defer unix.Close(target)
	tree, err := unix.OpenTree(unix.AT_FDCWD, d.Path, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return fmt.Errorf("no mknod permission, and bind of host %s failed: %w", d.Path, err)
	}
	defer unix.Close(tree)
	if err := unix.MoveMount(tree, "", target, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return fmt.Errorf("bind host %s: %w", d.Path, err)
	}
	return nil
}

// Sorted returns the devices ordered by path, parents before children.
func Sorted(list []Device) []Device {
	out := append([]Device(nil), list...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}
