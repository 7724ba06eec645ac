// Package mountopt turns the options of one runtime-spec mount
// ("nosuid", "rro", "rshared", "mode=755", "tmpcopyup", ...) into what the
// new mount API needs: superblock flags and parameters for fsconfig(2),
// mount attributes for fsmount(2)/mount_setattr(2), propagation changes,
// and the runtime's own extensions. It accepts every option runc accepts.
//
// The translation is pure: no system call is made here, so the whole table
// is unit-tested.
package mountopt

import (
	"fmt"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// Attr is a change of mount attributes (MOUNT_ATTR_*), as mount_setattr(2)
// takes it: Set and Clr masks; atime is a field of its own.
type Attr struct {
	Set, Clr uint64
	// Atime is MOUNT_ATTR_RELATIME, _NOATIME or _STRICTATIME when AtimeSet.
	Atime    uint64
	AtimeSet bool
}

// Empty reports whether the change does nothing.
func (a Attr) Empty() bool { return a.Set == 0 && a.Clr == 0 && !a.AtimeSet }

// Unix is the attribute change as mount_setattr(2) takes it.
func (a Attr) Unix() unix.MountAttr {
	m := unix.MountAttr{Attr_set: a.Set, Attr_clr: a.Clr}
	if a.AtimeSet {
		m.Attr_clr |= unix.MOUNT_ATTR__ATIME
		m.Attr_set |= a.Atime
	}
	return m
}

// FsmountFlags is the attribute set for fsmount(2) of a new filesystem.
func (a Attr) FsmountFlags() int {
	f := a.Set
	if a.AtimeSet {
		f |= a.Atime
	}
	return int(f)
}

// Param is one filesystem parameter for fsconfig(2): key=value, or a flag.
type Param struct {
	Key   string
	Value string
	Flag  bool
}

func (p Param) String() string {
	if p.Flag {
		return p.Key
	}
	return p.Key + "=" + p.Value
}

// Propagation is one propagation change, applied in the order listed.
type Propagation struct {
	// Type is unix.MS_SHARED, MS_SLAVE, MS_PRIVATE or MS_UNBINDABLE.
	Type      uint64
	Recursive bool
}

func (p Propagation) String() string {
	s := map[uint64]string{unix.MS_SHARED: "shared", unix.MS_SLAVE: "slave", unix.MS_PRIVATE: "private", unix.MS_UNBINDABLE: "unbindable"}[p.Type]
	if p.Recursive {
		return "r" + s
	}
	return s
}

// Options is one mount's options, sorted by where they apply.
type Options struct {
	// Bind: "bind" or "rbind" (or type "bind"); Recursive for "rbind".
	Bind      bool
	Recursive bool
	// Remount: change the mount already at the destination.
	Remount bool
	// SBFlags are superblock flags for a new filesystem ("ro", "sync",
	// "dirsync", "mand", "lazytime" and their negations), as fsconfig
	// flags.
	SBFlags []string
	// Attr applies to the mount itself (the top mount of an rbind).
	Attr Attr
	// RecAttr applies to the whole tree (rro, rnosuid, ...).
	RecAttr Attr
	// Propagation changes after the mount exists.
	Propagation []Propagation
	// Params for the filesystem (mode=755, newinstance, ...).
	Params []Param
	// ReadOnly: the mount ends up read-only ("ro" or "rro").
	ReadOnly bool
	// TmpCopyUp: copy what the destination held into the new tmpfs.
	TmpCopyUp bool
	// IDMap / RIDMap: idmapped bind mount (recursive for ridmap).
	IDMap, RIDMap bool
}

// Error is a problem with one option; Index is its position in the list.
type Error struct {
	Index  int
	Option string
	Msg    string
}

func (e *Error) Error() string { return fmt.Sprintf("options[%d]: %s", e.Index, e.Msg) }

type flagOpt struct {
	attr    uint64 // MOUNT_ATTR_* for the mount
	sb      string // superblock flag for a new filesystem, "" if none
	clear   bool
	atime   uint64 // for the atime family
	isAtime bool
	resetAt bool // "atime", "norelatime", "nostrictatime": back to the default
}

// The option tables are arrays of constants, not maps: a map literal is
// built by code at package init, in every process that links this
// package (oci-run and oci-mount, on every container start), where an
// array is data in the binary. Lookups are a scan of a few dozen names.

type namedFlag struct {
	name string
	flagOpt
}

// flags are the options every mount accepts, as mount(8) and runc know them.
var flags = [...]namedFlag{
	{"ro", flagOpt{attr: unix.MOUNT_ATTR_RDONLY, sb: "ro"}},
	{"rw", flagOpt{attr: unix.MOUNT_ATTR_RDONLY, sb: "rw", clear: true}},
	{"nosuid", flagOpt{attr: unix.MOUNT_ATTR_NOSUID}},
	{"suid", flagOpt{attr: unix.MOUNT_ATTR_NOSUID, clear: true}},
	{"nodev", flagOpt{attr: unix.MOUNT_ATTR_NODEV}},
	{"dev", flagOpt{attr: unix.MOUNT_ATTR_NODEV, clear: true}},
	{"noexec", flagOpt{attr: unix.MOUNT_ATTR_NOEXEC}},
	{"exec", flagOpt{attr: unix.MOUNT_ATTR_NOEXEC, clear: true}},
	{"nodiratime", flagOpt{attr: unix.MOUNT_ATTR_NODIRATIME}},
	{"diratime", flagOpt{attr: unix.MOUNT_ATTR_NODIRATIME, clear: true}},
	{"nosymfollow", flagOpt{attr: unix.MOUNT_ATTR_NOSYMFOLLOW}},
	{"symfollow", flagOpt{attr: unix.MOUNT_ATTR_NOSYMFOLLOW, clear: true}},
	{"relatime", flagOpt{isAtime: true, atime: unix.MOUNT_ATTR_RELATIME}},
	{"noatime", flagOpt{isAtime: true, atime: unix.MOUNT_ATTR_NOATIME}},
	{"strictatime", flagOpt{isAtime: true, atime: unix.MOUNT_ATTR_STRICTATIME}},
	{"atime", flagOpt{isAtime: true, resetAt: true}},
	{"norelatime", flagOpt{isAtime: true, resetAt: true}},
	{"nostrictatime", flagOpt{isAtime: true, resetAt: true}},
	{"sync", flagOpt{sb: "sync"}},
	{"async", flagOpt{sb: "async"}},
	{"dirsync", flagOpt{sb: "dirsync"}},
	{"mand", flagOpt{sb: "mand"}},
	{"nomand", flagOpt{sb: "nomand"}},
	{"lazytime", flagOpt{sb: "lazytime"}},
	{"nolazytime", flagOpt{sb: "nolazytime"}},
	// Only change kernel log verbosity or need filesystem support that
	// fsconfig does not carry generically: accepted, like runc, with no
	// effect.
	{"silent", flagOpt{}},
	{"loud", flagOpt{}},
	{"iversion", flagOpt{}},
	{"noiversion", flagOpt{}},
	{"defaults", flagOpt{}},
}

// flag looks name up in flags.
func flag(name string) (flagOpt, bool) {
	for i := range flags {
		if flags[i].name == name {
			return flags[i].flagOpt, true
		}
	}
	return flagOpt{}, false
}

// recursiveFlag looks up the recursive form of a per-mount attribute
// ("rro", "rnosuid", "ratime", ...): "r" and the name of a flag that
// sets a mount attribute or the atime family (not a superblock-only or
// no-effect flag), as runc knows them.
func recursiveFlag(name string) (flagOpt, bool) {
	base, ok := strings.CutPrefix(name, "r")
	if !ok {
		return flagOpt{}, false
	}
	f, ok := flag(base)
	if !ok || f.attr == 0 && !f.isAtime {
		return flagOpt{}, false
	}
	return f, true
}

type namedPropagation struct {
	name string
	Propagation
}

var propagation = [...]namedPropagation{
	{"shared", Propagation{unix.MS_SHARED, false}},
	{"rshared", Propagation{unix.MS_SHARED, true}},
	{"slave", Propagation{unix.MS_SLAVE, false}},
	{"rslave", Propagation{unix.MS_SLAVE, true}},
	{"private", Propagation{unix.MS_PRIVATE, false}},
	{"rprivate", Propagation{unix.MS_PRIVATE, true}},
	{"unbindable", Propagation{unix.MS_UNBINDABLE, false}},
	{"runbindable", Propagation{unix.MS_UNBINDABLE, true}},
}

// ParsePropagation parses a propagation name (linux.rootfsPropagation and
// mount options share the names).
func ParsePropagation(s string) (Propagation, bool) {
	for i := range propagation {
		if propagation[i].name == s {
			return propagation[i].Propagation, true
		}
	}
	return Propagation{}, false
}

// fsFlags lists, per filesystem type, the parameters without a value the
// kernel accepts; any other bare word is refused before the kernel sees
// it. A type not listed passes bare words through (the runtime cannot know
// every filesystem); cgroup v1 takes controller names, so any word.
func fsFlags(typ string) (known []string, listed bool) {
	switch typ {
	case "proc", "sysfs", "mqueue", "bind":
		return nil, true
	case "devpts":
		return []string{"newinstance"}, true
	case "tmpfs":
		return []string{"noswap", "inode32", "inode64", "quota", "usrquota", "grpquota"}, true
	case "cgroup2":
		return []string{"nsdelegate", "memory_localevents", "memory_recursiveprot", "memory_hugetlb_accounting", "favordynmods", "pids_localevents"}, true
	case "overlay":
		return []string{"userxattr", "volatile"}, true
	}
	return nil, false
}

// IsBind reports whether a mount of this type with these options is a bind
// mount, as runc decides it.
func IsBind(typ string, opts []string) bool {
	if typ == "bind" || typ == "rbind" {
		return true
	}
	for _, o := range opts {
		if o == "bind" || o == "rbind" {
			return true
		}
	}
	return false
}

// Parse sorts the options of a mount of filesystem type typ.
func Parse(typ string, opts []string) (Options, error) {
	var o Options
	o.Bind = typ == "bind" || typ == "rbind"
	o.Recursive = typ == "rbind"
	for _, opt := range opts {
		switch opt {
		case "bind":
			o.Bind = true
		case "rbind":
			o.Bind, o.Recursive = true, true
		}
	}
	for i, opt := range opts {
		if err := o.add(typ, opt); err != nil {
			return Options{}, &Error{Index: i, Option: opt, Msg: err.Error()}
		}
	}
	if o.TmpCopyUp && typ != "tmpfs" {
		return Options{}, &Error{Index: indexOf(opts, "tmpcopyup"), Option: "tmpcopyup", Msg: fmt.Sprintf(`"tmpcopyup" needs a tmpfs mount, not %q`, typ)}
	}
	if (o.IDMap || o.RIDMap) && !o.Bind {
		name := "idmap"
		if o.RIDMap {
			name = "ridmap"
		}
		return Options{}, &Error{Index: indexOf(opts, name), Option: name, Msg: fmt.Sprintf("%q needs a bind mount", name)}
	}
	return o, nil
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return 0
}

func (o *Options) add(typ, opt string) error {
	switch {
	case opt == "":
		return fmt.Errorf("empty option")
	case opt == "bind" || opt == "rbind":
		return nil
	case opt == "remount":
		o.Remount = true
		return nil
	case opt == "tmpcopyup":
		o.TmpCopyUp = true
		return nil
	case opt == "idmap":
		o.IDMap = true
		return nil
	case opt == "ridmap":
		o.RIDMap = true
		return nil
	case strings.HasPrefix(opt, "x-") || strings.HasPrefix(opt, "X-"):
		// Userspace options (x-systemd.*, X-mount.*) are for mount(8)
		// helpers; mount(8) does not pass them to the kernel either.
		return nil
	}
	if f, ok := flag(opt); ok {
		o.apply(&o.Attr, f)
		if f.sb != "" {
			o.SBFlags = append(o.SBFlags, f.sb)
		}
		if opt == "ro" {
			o.ReadOnly = true
		} else if opt == "rw" {
			o.ReadOnly = false
		}
		return nil
	}
	if f, ok := recursiveFlag(opt); ok {
		o.apply(&o.RecAttr, f)
		if opt == "rro" {
			o.ReadOnly = true
		}
		return nil
	}
	if p, ok := ParsePropagation(opt); ok {
		o.Propagation = append(o.Propagation, p)
		return nil
	}
	key, value, hasValue := strings.Cut(opt, "=")
	if hasValue {
		if key == "" {
			return fmt.Errorf("option %q has no name", opt)
		}
		if !o.Bind {
			o.Params = append(o.Params, Param{Key: key, Value: value})
		}
		// A bind mount has no filesystem parameters; the kernel ignores
		// them, and so does runc.
		return nil
	}
	known, listed := fsFlags(typ)
	if o.Bind {
		known, listed = fsFlags("bind")
	}
	if listed && !contains(known, opt) {
		return fmt.Errorf("unknown option %q", opt)
	}
	o.Params = append(o.Params, Param{Key: opt, Flag: true})
	return nil
}

func (o *Options) apply(a *Attr, f flagOpt) {
	switch {
	case f.isAtime && f.resetAt:
		a.AtimeSet, a.Atime = false, 0
	case f.isAtime:
		a.AtimeSet, a.Atime = true, f.atime
	case f.attr == 0:
	case f.clear:
		a.Set &^= f.attr
		a.Clr |= f.attr
	default:
		a.Clr &^= f.attr
		a.Set |= f.attr
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Names lists every mount option this package accepts by name (for
// `oci-run features`), sorted; "x-*" options and filesystem parameters
// are not listed.
func Names() []string {
	out := []string{"bind", "rbind", "remount", "tmpcopyup", "idmap", "ridmap"}
	for _, f := range flags {
		out = append(out, f.name)
		if _, ok := recursiveFlag("r" + f.name); ok {
			out = append(out, "r"+f.name)
		}
	}
	for _, p := range propagation {
		out = append(out, p.name)
	}
	sort.Strings(out)
	return out
}
