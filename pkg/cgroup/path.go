package cgroup

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// Mode is how the host mounts its cgroup hierarchies.
type Mode int

const (
	// V1: one hierarchy per controller (or group of controllers).
	V1 Mode = iota
	// Hybrid: v1 controllers plus a cgroup2 hierarchy (usually at
	// /sys/fs/cgroup/unified) that holds no or few controllers. The
	// container joins it too, as with runc, so that tools reading the
	// cgroup2 path of a process (systemd, cgroup.kill, cgroup.freeze) see
	// the container where it belongs.
	Hybrid
	// V2: the unified hierarchy only.
	V2
)

func (m Mode) String() string {
	switch m {
	case V1:
		return "v1"
	case Hybrid:
		return "hybrid"
	case V2:
		return "v2"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Unified is the Dirs key of the cgroup2 hierarchy (v2 and hybrid hosts),
// as in github.com/opencontainers/cgroups.
const Unified = ""

// knownV1 are the v1 hierarchies a container gets a directory in; other
// named hierarchies are left alone, as runc does.
var knownV1 = []string{
	"cpuset", "devices", "memory", "cpu", "cpuacct", "pids", "blkio", "hugetlb",
	"net_cls", "net_prio", "perf_event", "freezer", "rdma", "misc", "name=systemd",
}

// Hierarchy is one mounted cgroup hierarchy as this process sees it.
type Hierarchy struct {
	// Controllers mounted there: "cpu", "cpuacct" for a co-mounted
	// cpu,cpuacct; "name=systemd" for a named hierarchy; Unified for
	// cgroup2.
	Controllers []string
	Mountpoint  string
	// Root is the cgroup the mount shows as its top (mountinfo field 4):
	// "/" on a host, the container's own cgroup inside a container.
	Root string
	// Own is this process's cgroup in the hierarchy (/proc/self/cgroup).
	Own string
}

// Host describes the cgroup hierarchies planning works with.
type Host struct {
	Mode        Mode
	Hierarchies []Hierarchy
}

// ReadHost inspects the calling process's view of the cgroup hierarchies.
func ReadHost() (*Host, error) {
	mi, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer mi.Close()
	cg, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	defer cg.Close()
	return parseHost(mi, cg)
}

// parseHost builds a Host from the text of /proc/self/mountinfo and
// /proc/self/cgroup.
func parseHost(mountinfo, procCgroup io.Reader) (*Host, error) {
	own := map[string]string{}
	sc := bufio.NewScanner(procCgroup)
	for sc.Scan() {
		// hierarchy-ID:controller-list:cgroup-path
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[1] == "" {
			own[Unified] = parts[2]
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			own[c] = parts[2]
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("/proc/self/cgroup: %w", err)
	}

	// id parent major:minor root mountpoint options [optional...] - fstype source superoptions
	var mounts [][]string
	sc = bufio.NewScanner(mountinfo)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		sep := slices.Index(fields, "-")
		if sep < 5 || sep+3 > len(fields) {
			continue
		}
		mounts = append(mounts, fields)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("/proc/self/mountinfo: %w", err)
	}
	// Where the system mounted its hierarchies under /sys/fs/cgroup, a
	// cgroup mount elsewhere is somebody else's: a container that shares
	// our mount namespace has its cgroup2 at ROOTFS/sys/fs/cgroup, and it
	// must not turn a pure v1 host into a hybrid one.
	systemMounted := slices.ContainsFunc(mounts, func(f []string) bool {
		t := f[slices.Index(f, "-")+1]
		return (t == "cgroup" || t == "cgroup2") && underCgroupfs(unescape(f[4]))
	})
	h := &Host{}
	seen := map[string]bool{}
	hasV1, hasV2 := false, false
	for i, fields := range mounts {
		sep := slices.Index(fields, "-")
		fstype, superOpts := fields[sep+1], fields[sep+3]
		root, mnt := unescape(fields[3]), unescape(fields[4])
		if shadowed(mnt, mounts[i+1:]) || systemMounted && !underCgroupfs(mnt) {
			continue
		}
		var ctrls []string
		switch fstype {
		case "cgroup2":
			ctrls = []string{Unified}
			hasV2 = true
		case "cgroup":
			for _, o := range strings.Split(superOpts, ",") {
				if slices.Contains(knownV1, o) {
					ctrls = append(ctrls, o)
				}
			}
			if len(ctrls) == 0 {
				continue
			}
			hasV1 = true
		default:
			continue
		}
		ownPath, ok := own[ctrls[0]]
		if !ok {
			continue
		}
		hi := Hierarchy{Controllers: ctrls, Mountpoint: mnt, Root: root, Own: ownPath}
		// A hierarchy can be mounted more than once (bind mounts): the
		// first is kept. The system's, under /sys/fs/cgroup, win because
		// the others were skipped above when there are any.
		if seen[ctrls[0]] {
			continue
		}
		for _, c := range ctrls {
			seen[c] = true
		}
		h.Hierarchies = append(h.Hierarchies, hi)
	}
	switch {
	case hasV1 && hasV2:
		h.Mode = Hybrid
	case hasV2:
		h.Mode = V2
	case hasV1:
		h.Mode = V1
	default:
		return nil, errors.New("no cgroup hierarchy is mounted")
	}
	return h, nil
}

func underCgroupfs(p string) bool {
	return p == "/sys/fs/cgroup" || strings.HasPrefix(p, "/sys/fs/cgroup/")
}

// shadowed reports whether a mount at mnt is hidden by a later mount (in
// mountinfo order) at the same place or above it: a cgroup2 mounted over
// /sys/fs/cgroup hides the v1 hierarchies below it.
func shadowed(mnt string, later [][]string) bool {
	for _, f := range later {
		p := unescape(f[4])
		if p == mnt || strings.HasPrefix(mnt, p+"/") {
			return true
		}
	}
	return false
}

// unescape undoes the octal escapes of mountinfo (\040 for a space).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// Has reports whether a v1 controller (or Unified) is mounted.
func (h *Host) Has(controller string) bool {
	for _, hi := range h.Hierarchies {
		if slices.Contains(hi.Controllers, controller) {
			return true
		}
	}
	return false
}

// Location says where the container's cgroup is, as linux.cgroupsPath and
// the runtime's --systemd-cgroup option give it.
type Location struct {
	// Inner is the cgroup path within each hierarchy: absolute (from the
	// hierarchy's root) or relative (under the runtime's own cgroup).
	Inner string
	// Systemd is set for --systemd-cgroup, where the path is
	// "slice:prefix:name" and systemd owns the cgroup.
	Systemd *SystemdUnit
}

// SystemdUnit is the parsed "slice:prefix:name" form of linux.cgroupsPath
// used with --systemd-cgroup: the container runs in scope prefix-name.scope
// under the slice.
type SystemdUnit struct {
	Slice  string `json:"slice"`
	Prefix string `json:"prefix"`
	Name   string `json:"name"`
}

// DefaultSystemdPrefix is the scope prefix runc uses when cgroupsPath is empty.
const DefaultSystemdPrefix = "oci-run"

// ParseLocation interprets linux.cgroupsPath for container id. An empty
// path means the id under the runtime's own cgroup (runc's default). Paths
// are cleaned lexically, so a relative path cannot climb out of the
// runtime's cgroup with "..".
func ParseLocation(cgroupsPath, id string, systemd bool) (Location, error) {
	if systemd {
		if cgroupsPath == "" {
			// An empty slice lets the systemd driver pick system.slice
			// (or user.slice when rootless).
			return Location{Systemd: &SystemdUnit{Prefix: DefaultSystemdPrefix, Name: id}}, nil
		}
		parts := strings.Split(cgroupsPath, ":")
		if len(parts) != 3 {
			return Location{}, fieldErr("linux.cgroupsPath", "%q: with --systemd-cgroup the form is \"slice:prefix:name\" (e.g. \"system.slice:oci-run:%s\")", cgroupsPath, id)
		}
		u := &SystemdUnit{Slice: parts[0], Prefix: parts[1], Name: parts[2]}
		if u.Name == "" {
			return Location{}, fieldErr("linux.cgroupsPath", "%q: the name part of \"slice:prefix:name\" is empty", cgroupsPath)
		}
		if u.Slice != "" && !strings.HasSuffix(u.Slice, ".slice") {
			return Location{}, fieldErr("linux.cgroupsPath", "%q: %q is not a systemd slice (name.slice)", cgroupsPath, u.Slice)
		}
		if strings.Contains(u.Slice, "/") || strings.Contains(u.Prefix, "/") {
			return Location{}, fieldErr("linux.cgroupsPath", "%q: slice and prefix cannot contain \"/\"", cgroupsPath)
		}
		return Location{Systemd: u}, nil
	}
	if strings.ContainsRune(cgroupsPath, 0) {
		return Location{}, fieldErr("linux.cgroupsPath", "contains a NUL byte")
	}
	if cgroupsPath == "" {
		if id == "" {
			return Location{}, errors.New("no linux.cgroupsPath and no container id to name the cgroup")
		}
		if strings.Contains(id, "/") || id == "." || id == ".." {
			return Location{}, fmt.Errorf("container id %q cannot name a cgroup", id)
		}
		return Location{Inner: id}, nil
	}
	if filepath.IsAbs(cgroupsPath) {
		inner := filepath.Clean(cgroupsPath)
		if inner == "/" {
			return Location{}, fieldErr("linux.cgroupsPath", "%q is the root cgroup: the container needs a cgroup of its own", cgroupsPath)
		}
		return Location{Inner: inner}, nil
	}
	inner, _ := filepath.Rel("/", filepath.Clean("/"+cgroupsPath))
	if inner == "." {
		return Location{}, fieldErr("linux.cgroupsPath", "%q names the runtime's own cgroup: the container needs a cgroup of its own", cgroupsPath)
	}
	return Location{Inner: inner}, nil
}

// dirs computes the container's cgroup directory in each hierarchy: an
// absolute Inner from the hierarchy's top, a relative one under this
// process's own cgroup there (on a v2 host: under its parent). Keys are controller names, Unified for
// cgroup2; co-mounted controllers share a directory.
func dirs(h *Host, inner string) map[string]string {
	out := map[string]string{}
	for _, hi := range h.Hierarchies {
		var dir string
		if filepath.IsAbs(inner) {
			dir = filepath.Join(hi.Mountpoint, inner)
		} else {
			// Own is the path from the hierarchy's real root; the mount
			// may show a subtree (Root), e.g. inside another container.
			rel, err := filepath.Rel(hi.Root, hi.Own)
			if err != nil || strings.HasPrefix(rel, "..") {
				rel = "."
			}
			if h.Mode == V2 {
				// Beside our cgroup, not in it, as runc's v2 driver
				// does: ours has processes (this one), and cgroup v2
				// enables no controller below a cgroup that has
				// processes ("no internal processes"), so under it no
				// limit could ever apply (a login shell's
				// session-N.scope, a service's cgroup).
				rel = filepath.Dir(rel)
			}
			dir = filepath.Join(hi.Mountpoint, rel, inner)
		}
		for _, c := range hi.Controllers {
			out[c] = dir
		}
	}
	return out
}

// existingAncestor returns the deepest existing strict ancestor of dir, not
// above top (the hierarchy's mountpoint).
func existingAncestor(dir, top string) string {
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		if p == top || !strings.HasPrefix(p, top+"/") {
			return top
		}
		var st unix.Stat_t
		if unix.Stat(p, &st) == nil {
			return p
		}
	}
}
