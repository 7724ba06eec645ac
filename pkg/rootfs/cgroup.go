package rootfs

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/pkg/mountopt"
	"github.com/oci-run/oci-run/pkg/securepath"
)

// Hierarchy is one line of /proc/self/cgroup: the process's cgroup in one
// hierarchy. Controllers is empty for the cgroup v2 (unified) line.
type Hierarchy struct {
	Controllers []string // "cpu", "cpuacct", "name=systemd"
	Path        string
}

// ParseProcCgroup parses /proc/self/cgroup.
func ParseProcCgroup(data string) []Hierarchy {
	var out []Hierarchy
	sc := bufio.NewScanner(strings.NewReader(data))
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		h := Hierarchy{Path: parts[2]}
		if parts[1] != "" {
			h.Controllers = strings.Split(parts[1], ",")
		}
		out = append(out, h)
	}
	return out
}

// CgroupMount is one mount the cgroup entry turns into: a hierarchy at
// Dir (relative to the destination; "" for the destination itself).
type CgroupMount struct {
	Dir     string
	FSType  string   // "cgroup" or "cgroup2"
	Params  []string // controller names / name=... for a cgroup v1 mount
	HostDir string   // host directory to bind without a cgroup namespace
	// Links are extra names for a comounted hierarchy (cpu -> cpu,cpuacct).
	Links []string
}

// PlanCgroupV1 decides the mounts of a cgroup v1 (or hybrid) host's
// hierarchies for a process whose /proc/self/cgroup is procs, given the
// host's cgroup mounts. A hybrid host's cgroup2 is added as "unified".
func PlanCgroupV1(procs []Hierarchy, host []*mountinfo.Info) ([]CgroupMount, error) {
	var out []CgroupMount
	for _, h := range procs {
		if len(h.Controllers) == 0 {
			m := findCgroup2(host)
			if m == nil {
				continue
			}
			out = append(out, CgroupMount{Dir: "unified", FSType: "cgroup2", HostDir: hostDir(m, h.Path)})
			continue
		}
		m := findCgroup1(host, h.Controllers)
		if m == nil {
			return nil, fmt.Errorf("cgroup hierarchy %s is not mounted on the host", strings.Join(h.Controllers, ","))
		}
		dir := filepath.Base(m.Mountpoint)
		cm := CgroupMount{Dir: dir, FSType: "cgroup", Params: h.Controllers, HostDir: hostDir(m, h.Path)}
		if len(h.Controllers) > 1 {
			for _, c := range h.Controllers {
				if c != dir && !strings.HasPrefix(c, "name=") {
					cm.Links = append(cm.Links, c)
				}
			}
		}
		out = append(out, cm)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Dir < out[j].Dir })
	return out, nil
}

func findCgroup1(host []*mountinfo.Info, controllers []string) *mountinfo.Info {
	for _, m := range host {
		if m.FSType != "cgroup" {
			continue
		}
		opts := strings.Split(m.VFSOptions, ",")
		all := true
		for _, c := range controllers {
			if !contains(opts, c) {
				all = false
				break
			}
		}
		if all {
			return m
		}
	}
	return nil
}

func findCgroup2(host []*mountinfo.Info) *mountinfo.Info {
	for _, m := range host {
		if m.FSType == "cgroup2" {
			return m
		}
	}
	return nil
}

// hostDir is where the process's cgroup path lives under a host mount
// whose root (in the hierarchy) is m.Root.
func hostDir(m *mountinfo.Info, path string) string {
	rel, err := filepath.Rel(m.Root, path)
	if err != nil || strings.HasPrefix(rel, "..") {
		// The process is outside what the host mounted (a cgroup
		// namespace root above it): show the mount's root.
		return m.Mountpoint
	}
	return filepath.Join(m.Mountpoint, rel)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

const cgroupDefaultAttrs = unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC

// cgroup mounts the container's cgroups at m.Destination: its own
// cgroups only, the namespace root with a cgroup namespace and binds of
// its cgroup directories without one.
func (a *applier) cgroup(m *Mount) error {
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err == nil && st.Type == unix.CGROUP2_SUPER_MAGIC || m.Type == "cgroup2" {
		return a.cgroup2(m)
	}
	procs, host, err := a.cgroupState()
	if err != nil {
		return err
	}
	plan, err := PlanCgroupV1(procs, host)
	if err != nil {
		return err
	}
	dest, err := a.destination(m.Destination, true)
	if err != nil {
		return err
	}
	defer dest.Close()
	// A tmpfs holds one directory per hierarchy; it is made read-only
	// (when asked) after they are in.
	tmpfsOpts := mountopt.Options{
		Attr:   mountopt.Attr{Set: cgroupDefaultAttrs | (m.Opts.Attr.Set &^ unix.MOUNT_ATTR_RDONLY), Atime: m.Opts.Attr.Atime, AtimeSet: m.Opts.Attr.AtimeSet},
		Params: []mountopt.Param{{Key: "mode", Value: "755"}},
	}
	tmp, err := newFS("tmpfs", "tmpfs", tmpfsOpts, a.mountLabel())
	if err != nil {
		return err
	}
	defer unix.Close(tmp)
	for _, cm := range plan {
		if err := unix.Mkdirat(tmp, cm.Dir, 0o755); err != nil {
			return fmt.Errorf("mkdir %s: %w", cm.Dir, err)
		}
		for _, l := range cm.Links {
			if err := unix.Symlinkat(cm.Dir, tmp, l); err != nil && !errors.Is(err, unix.EEXIST) {
				return fmt.Errorf("symlink %s: %w", l, err)
			}
		}
	}
	if err := moveMount(tmp, dest); err != nil {
		return err
	}
	if err := propagate(tmp, m.Opts); err != nil {
		return err
	}
	for _, cm := range plan {
		sub, err := securepath.Open(a.root, filepath.Join(m.Destination, cm.Dir), unix.O_PATH|unix.O_DIRECTORY)
		if err != nil {
			return err
		}
		err = a.cgroupHierarchy(m, cm, sub)
		sub.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", cm.Dir, err)
		}
	}
	if m.Opts.ReadOnly {
		if err := mountSetattr(tmp, false, unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}); err != nil {
			return err
		}
	}
	return nil
}

func (a *applier) cgroupHierarchy(m *Mount, cm CgroupMount, dest *os.File) error {
	opts := m.Opts
	opts.Attr.Set |= cgroupDefaultAttrs
	opts.Propagation = nil
	if a.p.CgroupNS {
		opts.SBFlags = nil
		opts.Params = nil
		for _, c := range cm.Params {
			if k, v, ok := strings.Cut(c, "="); ok {
				opts.Params = append(opts.Params, mountopt.Param{Key: k, Value: v})
			} else {
				opts.Params = append(opts.Params, mountopt.Param{Key: c, Flag: true})
			}
		}
		mnt, err := newFS(cm.FSType, cm.FSType, opts, "")
		if err != nil {
			return err
		}
		defer unix.Close(mnt)
		return moveMount(mnt, dest)
	}
	bm := *m
	bm.Opts = opts
	bm.Opts.Recursive = true
	return a.bindFrom(&bm, unix.AT_FDCWD, cm.HostDir, dest)
}

func (a *applier) cgroup2(m *Mount) error {
	dest, err := a.destination(m.Destination, true)
	if err != nil {
		return err
	}
	defer dest.Close()
	opts := m.Opts
	opts.Attr.Set |= cgroupDefaultAttrs
	if a.p.CgroupNS {
		mnt, err := newFS("cgroup2", orDefault(m.Source, "cgroup2"), opts, "")
		if err != nil {
			return err
		}
		defer unix.Close(mnt)
		if err := moveMount(mnt, dest); err != nil {
			return err
		}
		return propagate(mnt, m.Opts)
	}
	procs, host, err := a.cgroupState()
	if err != nil {
		return err
	}
	hm := findCgroup2(host)
	var self *Hierarchy
	for i := range procs {
		if len(procs[i].Controllers) == 0 {
			self = &procs[i]
		}
	}
	if hm == nil || self == nil {
		return errors.New("no cgroup2 hierarchy on the host to show the container's cgroup from")
	}
	bm := *m
	bm.Opts = opts
	bm.Opts.Recursive = true
	return a.bindFrom(&bm, unix.AT_FDCWD, hostDir(hm, self.Path), dest)
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// cgroupState reads the process's cgroups and the host's cgroup mounts
// (those outside the rootfs: the container's own are not sources).
func (a *applier) cgroupState() ([]Hierarchy, []*mountinfo.Info, error) {
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, nil, err
	}
	all, err := mountinfo.GetMounts(nil)
	if err != nil {
		return nil, nil, fmt.Errorf("read mountinfo: %w", err)
	}
	return ParseProcCgroup(string(data)), HostCgroupMounts(all, a.p.Rootfs), nil
}

// HostCgroupMounts picks the cgroup hierarchies a bind can come from out
// of every mount (in mountinfo order): not the container's own (under
// rootfs), and not one hidden by a later mount at or above its mount
// point, whose path leads somewhere else. A cgroup2 mounted over a
// hybrid host's /sys/fs/cgroup (a pure v2 view in a mount namespace)
// hides /sys/fs/cgroup/unified, still listed before it: binding the
// container's directory from there opens a path that does not exist.
func HostCgroupMounts(all []*mountinfo.Info, rootfs string) []*mountinfo.Info {
	var host []*mountinfo.Info
	for i, m := range all {
		if m.FSType != "cgroup" && m.FSType != "cgroup2" {
			continue
		}
		if m.Mountpoint == rootfs || strings.HasPrefix(m.Mountpoint, rootfs+"/") {
			continue
		}
		hidden := false
		for _, later := range all[i+1:] {
			if later.Mountpoint == m.Mountpoint || strings.HasPrefix(m.Mountpoint, later.Mountpoint+"/") {
				hidden = true
				break
			}
		}
		if !hidden {
			host = append(host, m)
		}
	}
	return host
}
