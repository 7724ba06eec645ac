package testutil

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// Leaks is what containers could leave behind on the host. Other tests
// (and other test binaries) run on the same machine at the same time, so
// everything is found by what is the caller's: a marker every container
// id of the caller contains, its state root, and its own directories.
type Leaks struct {
	// Cgroups: directories whose name contains the marker, in every
	// mounted cgroup hierarchy (v1 controllers, name=systemd, cgroup2).
	Cgroups []string
	// Mounts: mount points (of this process's mount namespace) under one
	// of the caller's directories or containing the marker.
	Mounts []string
	// StateDirs: entries of the state root.
	StateDirs []string
	// Procs: processes in a cgroup whose path contains the marker, or
	// whose command line does (oci-run ... ID, oci-cgroup --id ID);
	// zombies count unless their parent is pid 1.
	Procs []string
}

// Empty reports whether nothing was found.
func (l Leaks) Empty() bool {
	return len(l.Cgroups)+len(l.Mounts)+len(l.StateDirs)+len(l.Procs) == 0
}

func (l Leaks) String() string {
	var b strings.Builder
	for _, s := range []struct {
		what string
		list []string
	}{{"cgroups", l.Cgroups}, {"mounts", l.Mounts}, {"state dirs", l.StateDirs}, {"processes", l.Procs}} {
		if len(s.list) > 0 {
			fmt.Fprintf(&b, "%s: %q; ", s.what, s.list)
		}
	}
	return strings.TrimSuffix(b.String(), "; ")
}

// FindLeaks looks for what is left of the caller's containers.
func FindLeaks(marker, stateRoot string, dirs ...string) Leaks {
	var l Leaks
	for _, h := range CgroupHierarchies() {
		filepath.WalkDir(h, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() && strings.Contains(filepath.Base(p), marker) {
				l.Cgroups = append(l.Cgroups, p)
			}
			return nil
		})
	}
	for _, m := range mountPoints() {
		if strings.Contains(m, marker) {
			l.Mounts = append(l.Mounts, m)
			continue
		}
		for _, d := range dirs {
			if d != "" && (m == d || strings.HasPrefix(m, d+"/")) {
				l.Mounts = append(l.Mounts, m)
				break
			}
		}
	}
	if stateRoot != "" {
		ents, _ := os.ReadDir(stateRoot)
		for _, e := range ents {
			l.StateDirs = append(l.StateDirs, filepath.Join(stateRoot, e.Name()))
		}
	}
	self := strconv.Itoa(os.Getpid())
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if e.Name()[0] < '0' || e.Name()[0] > '9' || e.Name() == self {
			continue
		}
		cmdline, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		cg, _ := os.ReadFile("/proc/" + e.Name() + "/cgroup")
		if strings.Contains(string(cmdline), marker) || strings.Contains(string(cg), marker) {
			stat, _ := os.ReadFile("/proc/" + e.Name() + "/stat")
			state, ppid := procState(stat)
			if state == "Z" && ppid == "1" {
				// Reaping orphans is pid 1's job, which the machine's
				// init does in its own time: not the runtime's leak.
				continue
			}
			l.Procs = append(l.Procs, e.Name()+" "+strings.ReplaceAll(strings.TrimSpace(string(cmdline)), "\x00", " ")+" ["+state+" ppid "+ppid+"]")
		}
	}
	sort.Strings(l.Procs)
	return l
}

// NoLeaks fails the test when FindLeaks finds anything.
func NoLeaks(t testing.TB, marker, stateRoot string, dirs ...string) {
	t.Helper()
	if l := FindLeaks(marker, stateRoot, dirs...); !l.Empty() {
		t.Errorf("left behind: %s", l)
	}
}

// procState returns the state and parent pid fields of /proc/PID/stat.
func procState(stat []byte) (state, ppid string) {
	s := string(stat)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		if f := strings.Fields(s[i+1:]); len(f) >= 2 {
			return f[0], f[1]
		}
	}
	return "?", "?"
}

// CgroupHierarchies lists the mount points of every cgroup hierarchy.
func CgroupHierarchies() []string {
	var out []string
	seen := map[string]bool{}
	for _, f := range mountinfo() {
		if (f.fstype == "cgroup" || f.fstype == "cgroup2") && !seen[f.mountpoint] {
			seen[f.mountpoint] = true
			out = append(out, f.mountpoint)
		}
	}
	return out
}

type mountEntry struct{ mountpoint, fstype string }

func mountinfo() []mountEntry {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []mountEntry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		for i, x := range fields {
			if x == "-" && i+1 < len(fields) && len(fields) > 4 {
				out = append(out, mountEntry{mountpoint: fields[4], fstype: fields[i+1]})
				break
			}
		}
	}
	return out
}

func mountPoints() []string {
	var out []string
	for _, m := range mountinfo() {
		out = append(out, m.mountpoint)
	}
	return out
}

// FDs lists the open descriptors of a process as "N -> target".
func FDs(pid int) ([]string, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		target, _ := os.Readlink(filepath.Join(dir, e.Name()))
		out = append(out, e.Name()+" -> "+target)
	}
	sort.Slice(out, func(i, j int) bool {
		a, _ := strconv.Atoi(strings.Fields(out[i])[0])
		b, _ := strconv.Atoi(strings.Fields(out[j])[0])
		return a < b
	})
	return out, nil
}
