// Package rootfs prepares a container's filesystem from its runtime-spec
// configuration: root, mounts, linux.rootfsPropagation, linux.devices,
// linux.maskedPaths, linux.readonlyPaths, linux.sysctl, linux.mountLabel,
// then pivot_root (or chroot). It is the concern of oci-mount.
//
// The work is split in two: Build turns the configuration into a Plan (pure,
// unit-tested, printable), and Apply walks the plan with the kernel's mount
// API. Every path inside the rootfs is resolved by package securepath and
// acted on through the resulting handle (move_mount, mount_setattr), never
// through a path string, so nothing the image contains can redirect a mount
// to the host.
package rootfs

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/pkg/devices"
	"github.com/oci-run/oci-run/pkg/mountopt"
	"github.com/oci-run/oci-run/pkg/spec"
	"github.com/oci-run/oci-run/pkg/sysctl"
)

// Kind says how a mount is made.
type Kind int

const (
	// KindNew is a new filesystem instance (proc, tmpfs, overlay, ...).
	KindNew Kind = iota
	// KindBind is a bind mount of a host path.
	KindBind
	// KindCgroup is the container's view of its cgroups (type cgroup or
	// cgroup2): one or more mounts derived from /proc/self/cgroup.
	KindCgroup
	// KindRemount changes the flags of what is already mounted.
	KindRemount
)

func (k Kind) String() string {
	return [...]string{"new", "bind", "cgroup", "remount"}[k]
}

// Mount is one entry of mounts[], resolved.
type Mount struct {
	// Index in mounts[]; Field is its spec path ("mounts[3]") for errors.
	Index       int
	Field       string
	Kind        Kind
	Type        string
	Source      string // bind sources are absolute host paths
	Destination string // clean, absolute, inside the rootfs
	Opts        mountopt.Options
	// UIDMappings/GIDMappings of an idmapped mount (the mount's own, or
	// the container's).
	UIDMappings, GIDMappings []specs.LinuxIDMapping
}

// MountNS says whose mount namespace the rootfs is prepared in.
type MountNS int

const (
	// NSNew: the container's own ("mount" entry without a path). The
	// whole tree is made rslave, the rootfs becomes "/" by pivot_root.
	NSNew MountNS = iota
	// NSJoined: an existing namespace joined by path, someone else's.
	NSJoined
	// NSShared: the runtime's own (no "mount" entry).
	NSShared
)

func (n MountNS) String() string {
	return [...]string{"new", "joined", "shared"}[n]
}

// Plan is everything oci-mount does, in order.
type Plan struct {
	// Rootfs is the absolute host path of root.path.
	Rootfs   string
	Readonly bool
	// MountNS: in a namespace that is not the container's own (joined,
	// shared), nothing outside the rootfs is changed: no propagation
	// change of "/" or of the rootfs's parent mount, the rootfs is bound
	// onto itself (bindRootfsForeign: nothing mounted below it propagates
	// out) and entered with chroot, since pivot_root would move the root
	// of every process of that namespace. oci-run delete detaches the
	// binds and everything below them (package mountclean).
	MountNS MountNS
	// JoinedPath is the path of a joined mount namespace.
	JoinedPath string
	// HostPropagation is applied to the whole mount tree of the new mount
	// namespace first (runc: rslave unless rootfsPropagation says
	// otherwise), so nothing done here reaches the host.
	HostPropagation mountopt.Propagation
	// RootPropagation is linux.rootfsPropagation, applied to the new "/"
	// after the pivot; nil when unset.
	RootPropagation *mountopt.Propagation
	Mounts          []Mount
	// SetupDev: /dev is the container's own (no bind of a host /dev), so
	// the runtime populates it: Devices, the ptmx link, DevLinks.
	SetupDev bool
	Devices  []devices.Device
	DevLinks []Link
	// Console: create /dev/console as an empty file for oci-exec to bind
	// the pty slave onto (process.terminal).
	Console bool
	// DevReadonly: the /dev mount asked for "ro"; it is made read-only
	// after the devices are in.
	DevReadonly   bool
	MaskedPaths   []string
	ReadonlyPaths []string
	Sysctl        []sysctl.Setting
	// Cwd is created if missing and entered after the pivot.
	Cwd        string
	NoPivot    bool
	MountLabel string
	// UserNS: the container has its own user namespace (devices are bind
	// mounts, sysfs may need a bind fallback).
	UserNS   bool
	CgroupNS bool
	NetNS    bool
}

// Link is a symlink to create: Path -> Target.
type Link struct{ Path, Target string }

// Options are the caller's choices that are not in the spec.
type Options struct {
	NoPivot bool
}

// Build checks the configuration and turns it into a Plan. bundle resolves
// relative paths. Errors name the spec field.
func Build(s *specs.Spec, bundle string, o Options) (*Plan, error) {
	p := &Plan{NoPivot: o.NoPivot}
	if s.Root != nil && s.Root.Path != "" {
		p.Rootfs = spec.RootPath(s, bundle)
		p.Readonly = s.Root.Readonly
	}
	p.HostPropagation = mountopt.Propagation{Type: unix.MS_SLAVE, Recursive: true}
	l := s.Linux
	if l == nil {
		l = &specs.Linux{}
	}
	if l.RootfsPropagation != "" {
		prop, ok := mountopt.ParsePropagation(l.RootfsPropagation)
		if !ok {
			return nil, fmt.Errorf("linux.rootfsPropagation: %q is not one of shared, slave, private, unbindable (or their r- forms)", l.RootfsPropagation)
		}
		p.RootPropagation = &prop
		// runc applies a shared propagation to the whole tree before
		// preparing the rootfs, so bind mounts of shared host mounts
		// stay peers of the host's (bidirectional propagation). The
		// rootfs parent is made private either way: the container's own
		// mounts never reach the host. Any other propagation is for the
		// container's root only; the tree stays rslave.
		if prop.Type == unix.MS_SHARED {
			p.HostPropagation = prop
		}
	}
	if ns, ok := spec.HasNamespace(s, specs.MountNamespace); !ok {
		p.MountNS = NSShared
	} else if ns.Path != "" {
		p.MountNS, p.JoinedPath = NSJoined, ns.Path
	}
	userns, hasUser := spec.HasNamespace(s, specs.UserNamespace)
	p.UserNS = hasUser
	if hasUser && userns.Path == "" && p.MountNS == NSShared && p.Rootfs != "" {
		// The runtime's mount namespace belongs to the runtime's user
		// namespace: the container's root has no privilege to mount there.
		return nil, errors.New(`linux.namespaces: a new user namespace needs a "mount" entry too: the rootfs cannot be prepared in the runtime's mount namespace from inside it`)
	}
	_, p.CgroupNS = spec.HasNamespace(s, specs.CgroupNamespace)
	_, p.NetNS = spec.HasNamespace(s, specs.NetworkNamespace)
	p.MountLabel = l.MountLabel
	p.SetupDev = true
	for i, m := range s.Mounts {
		pm, err := buildMount(s, bundle, i, m)
		if err != nil {
			return nil, err
		}
		if pm.Destination == "/dev" {
			if pm.Kind == KindBind {
				p.SetupDev = false
			} else if pm.Opts.ReadOnly && pm.Kind == KindNew {
				// Devices go in after the mount: runc mounts /dev
				// writable and makes it read-only at the end.
				p.DevReadonly = true
				pm.Opts = withoutReadonly(pm.Opts)
			}
		}
		p.Mounts = append(p.Mounts, pm)
	}
	if p.SetupDev {
		devs, err := devices.Plan(s)
		if err != nil {
			return nil, err
		}
		p.Devices = devs
		p.DevLinks = []Link{
			{"/dev/fd", "/proc/self/fd"},
			{"/dev/stdin", "/proc/self/fd/0"},
			{"/dev/stdout", "/proc/self/fd/1"},
			{"/dev/stderr", "/proc/self/fd/2"},
			{"/dev/ptmx", "pts/ptmx"},
		}
		p.Console = s.Process != nil && s.Process.Terminal
	} else if s.Linux != nil && len(s.Linux.Devices) > 0 {
		// With the host's /dev bound in, the spec's devices are still
		// created (they may live elsewhere, or replace host nodes).
		devs, err := devices.Plan(s)
		if err != nil {
			return nil, err
		}
		p.Devices = devs[len(devices.Defaults()):]
	}
	for i, mp := range l.MaskedPaths {
		f := fmt.Sprintf("linux.maskedPaths[%d]", i)
		if err := checkAbs(f, mp); err != nil {
			return nil, err
		}
		p.MaskedPaths = append(p.MaskedPaths, filepath.Clean(mp))
	}
	for i, rp := range l.ReadonlyPaths {
		f := fmt.Sprintf("linux.readonlyPaths[%d]", i)
		if err := checkAbs(f, rp); err != nil {
			return nil, err
		}
		p.ReadonlyPaths = append(p.ReadonlyPaths, filepath.Clean(rp))
	}
	settings, err := sysctl.Plan(s)
	if err != nil {
		return nil, err
	}
	p.Sysctl = settings
	if s.Process != nil && s.Process.Cwd != "" {
		if err := checkAbs("process.cwd", s.Process.Cwd); err != nil {
			return nil, err
		}
		p.Cwd = filepath.Clean(s.Process.Cwd)
	}
	return p, nil
}

func checkAbs(field, p string) error {
	if !filepath.IsAbs(p) {
		return fmt.Errorf("%s: %q is not an absolute path", field, p)
	}
	if strings.ContainsRune(p, 0) {
		return fmt.Errorf("%s: contains a NUL byte", field)
	}
	return nil
}

func withoutReadonly(o mountopt.Options) mountopt.Options {
	o.ReadOnly = false
	o.Attr.Set &^= unix.MOUNT_ATTR_RDONLY
	var sb []string
	for _, f := range o.SBFlags {
		if f != "ro" {
			sb = append(sb, f)
		}
	}
	o.SBFlags = sb
	return o
}

// procAllowed are the files under /proc a mount may cover (lxcfs and
// similar tools virtualise them); anything else under /proc could undo a
// masked path.
var procAllowed = map[string]bool{
	"/proc/cpuinfo": true, "/proc/diskstats": true, "/proc/meminfo": true, "/proc/stat": true,
	"/proc/swaps": true, "/proc/uptime": true, "/proc/loadavg": true, "/proc/slabinfo": true,
	"/proc/pressure/cpu": true, "/proc/pressure/io": true, "/proc/pressure/memory": true,
	"/proc/net/dev": true, "/proc/sys/kernel/ns_last_pid": true,
}

func buildMount(s *specs.Spec, bundle string, i int, m specs.Mount) (Mount, error) {
	f := fmt.Sprintf("mounts[%d]", i)
	if m.Destination == "" {
		return Mount{}, fmt.Errorf("%s.destination: must be set", f)
	}
	if strings.ContainsRune(m.Destination, 0) {
		return Mount{}, fmt.Errorf("%s.destination: contains a NUL byte", f)
	}
	// runtime-spec wants absolute destinations; runc takes relative ones
	// as relative to the container's "/", and so do we.
	dest := filepath.Clean("/" + m.Destination)
	if dest == "/" {
		return Mount{}, fmt.Errorf("%s.destination: cannot mount over the container's root (that is root.path)", f)
	}
	opts, err := mountopt.Parse(m.Type, m.Options)
	if err != nil {
		return Mount{}, fmt.Errorf("%s.%w", f, err)
	}
	pm := Mount{Index: i, Field: f, Type: m.Type, Source: m.Source, Destination: dest, Opts: opts}
	switch {
	case opts.Remount:
		pm.Kind = KindRemount
	case opts.Bind:
		pm.Kind = KindBind
		if m.Source == "" {
			return Mount{}, fmt.Errorf("%s.source: a bind mount needs a source", f)
		}
		pm.Source = spec.Resolve(bundle, m.Source)
	case m.Type == "cgroup" || m.Type == "cgroup2":
		pm.Kind = KindCgroup
	case m.Type == "":
		return Mount{}, fmt.Errorf("%s.type: must be set for a mount that is not a bind mount", f)
	default:
		pm.Kind = KindNew
	}
	if strings.HasPrefix(dest, "/proc/") && !procAllowed[dest] {
		return Mount{}, fmt.Errorf("%s.destination: %q is inside /proc, where only %s may be covered", f, dest, strings.Join(sortedKeys(procAllowed), ", "))
	}
	if opts.IDMap || opts.RIDMap {
		pm.UIDMappings, pm.GIDMappings = m.UIDMappings, m.GIDMappings
		if len(pm.UIDMappings) == 0 && len(pm.GIDMappings) == 0 && s.Linux != nil {
			pm.UIDMappings, pm.GIDMappings = s.Linux.UIDMappings, s.Linux.GIDMappings
		}
		if len(pm.UIDMappings) == 0 || len(pm.GIDMappings) == 0 {
			return Mount{}, fmt.Errorf("%s: an idmapped mount needs uidMappings and gidMappings (on the mount, or linux.uidMappings/gidMappings of a user namespace)", f)
		}
	} else if len(m.UIDMappings) > 0 || len(m.GIDMappings) > 0 {
		return Mount{}, fmt.Errorf("%s.uidMappings: set without the \"idmap\" or \"ridmap\" option", f)
	}
	if l := s.Linux; l != nil && l.MountLabel != "" {
		for j, o := range m.Options {
			if strings.HasPrefix(o, "context=") {
				return Mount{}, fmt.Errorf("%s.options[%d]: %q conflicts with linux.mountLabel", f, j, o)
			}
		}
	}
	return pm, nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Empty reports whether the plan has nothing to do in the mount
// namespace (no root to prepare).
func (p *Plan) Empty() bool {
	return p.Rootfs == ""
}

// String renders the plan, one step per line, for --dry-run and tests.
func (p *Plan) String() string {
	var b strings.Builder
	if p.MountNS == NSNew {
		fmt.Fprintf(&b, "propagation / %s\n", p.HostPropagation)
		fmt.Fprintf(&b, "rootfs %s (bind onto itself)\n", p.Rootfs)
	} else {
		fmt.Fprintf(&b, "%s mount namespace: nothing outside the rootfs changes\n", p.MountNS)
		fmt.Fprintf(&b, "rootfs %s (private shield, then a rslave recursive bind onto itself)\n", p.Rootfs)
	}
	for _, m := range p.Mounts {
		fmt.Fprintf(&b, "%s %s %s %q on %s%s\n", m.Field, m.Kind, m.Type, m.Source, m.Destination, describeOpts(m.Opts))
	}
	if p.SetupDev {
		for _, d := range p.Devices {
			fmt.Fprintf(&b, "device %s\n", d)
		}
		for _, l := range p.DevLinks {
			fmt.Fprintf(&b, "symlink %s -> %s\n", l.Path, l.Target)
		}
		if p.Console {
			b.WriteString("console placeholder /dev/console\n")
		}
	}
	b.WriteString("hooks createRuntime, createContainer (sync point)\n")
	if p.MountNS != NSNew {
		b.WriteString("chroot\n")
	} else if p.NoPivot {
		b.WriteString("move rootfs to / and chroot\n")
	} else {
		b.WriteString("pivot_root\n")
	}
	if p.RootPropagation != nil {
		fmt.Fprintf(&b, "propagation / %s\n", p.RootPropagation)
	}
	for _, s := range p.Sysctl {
		fmt.Fprintf(&b, "sysctl %s=%s\n", s.Key, s.Value)
	}
	for _, r := range p.ReadonlyPaths {
		fmt.Fprintf(&b, "readonly %s\n", r)
	}
	for _, m := range p.MaskedPaths {
		fmt.Fprintf(&b, "mask %s\n", m)
	}
	if p.DevReadonly {
		b.WriteString("readonly /dev\n")
	}
	if p.Readonly {
		b.WriteString("readonly /\n")
	}
	if p.Cwd != "" {
		fmt.Fprintf(&b, "chdir %s\n", p.Cwd)
	}
	return b.String()
}

func describeOpts(o mountopt.Options) string {
	var parts []string
	if o.Recursive {
		parts = append(parts, "recursive")
	}
	if len(o.SBFlags) > 0 {
		parts = append(parts, "sb="+strings.Join(o.SBFlags, "|"))
	}
	if !o.Attr.Empty() {
		parts = append(parts, fmt.Sprintf("attr=+%#x-%#x", o.Attr.Set, o.Attr.Clr))
		if o.Attr.AtimeSet {
			parts = append(parts, fmt.Sprintf("atime=%#x", o.Attr.Atime))
		}
	}
	if !o.RecAttr.Empty() {
		parts = append(parts, fmt.Sprintf("rattr=+%#x-%#x", o.RecAttr.Set, o.RecAttr.Clr))
	}
	for _, pr := range o.Propagation {
		parts = append(parts, pr.String())
	}
	for _, pa := range o.Params {
		parts = append(parts, pa.String())
	}
	if o.TmpCopyUp {
		parts = append(parts, "tmpcopyup")
	}
	if o.IDMap {
		parts = append(parts, "idmap")
	}
	if o.RIDMap {
		parts = append(parts, "ridmap")
	}
	if len(parts) == 0 {
		return ""
	}
	return " [" + strings.Join(parts, " ") + "]"
}
