package main

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The cgroups a validation program can create, from reading runtime-tools
// v0.9.0's validation/: cgroups.AbsCgroupPath "/cgrouptest" (under each
// hierarchy's root; delete_only_create_resources also makes
// pids/cgrouptest itself), cgroups.RelCgroupPath
// "testdir/cgrouptest/container" (relative: runc puts it under its own
// cgroup, other runtimes may put it under the root), and the runtime's
// default cgroup for a container without cgroupsPath, which is named after
// the container id (a fresh UUID per test). The runner removes only those,
// and only when they did not exist before the test.
var fixedCgroupNames = []string{"cgrouptest", "testdir"}

// Hierarchy is one mounted cgroup hierarchy.
type Hierarchy struct {
	Mount string // mount point, e.g. /sys/fs/cgroup/memory
	Own   string // this process's cgroup, relative to Mount ("" at the root)
}

// cgroupMount is the part of a mountinfo line the runner needs.
type cgroupMount struct {
	Point, Root, FSType string
	Super               []string // super options: rw, controllers, name=...
}

// ParseCgroupMounts picks the cgroup and cgroup2 mounts out of mountinfo.
func ParseCgroupMounts(mountinfo string) []cgroupMount {
	var out []cgroupMount
	for _, line := range strings.Split(mountinfo, "\n") {
		// id parent maj:min root point opts [optional...] - fstype source super
		sep := strings.Index(line, " - ")
		if sep < 0 {
			continue
		}
		pre, post := strings.Fields(line[:sep]), strings.Fields(line[sep+3:])
		if len(pre) < 5 || len(post) < 3 {
			continue
		}
		if post[0] != "cgroup" && post[0] != "cgroup2" {
			continue
		}
		out = append(out, cgroupMount{
			Point: unescapeMount(pre[4]), Root: unescapeMount(pre[3]),
			FSType: post[0], Super: strings.Split(post[2], ","),
		})
	}
	return out
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Hierarchies matches /proc/self/cgroup against the cgroup mounts: one
// entry per hierarchy this process is in and that is mounted (the first
// mount of it; bind mounts of subtrees are skipped when the process's
// cgroup is outside them).
func Hierarchies(mounts []cgroupMount, procCgroup string) []Hierarchy {
	var out []Hierarchy
	for _, line := range strings.Split(procCgroup, "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		ctrls, cg := parts[1], parts[2]
		for _, m := range mounts {
			if !mountHolds(m, ctrls) {
				continue
			}
			rel, ok := relCgroup(m.Root, cg)
			if !ok {
				continue
			}
			out = append(out, Hierarchy{Mount: m.Point, Own: rel})
			break
		}
	}
	return out
}

func mountHolds(m cgroupMount, ctrls string) bool {
	if ctrls == "" {
		return m.FSType == "cgroup2"
	}
	if m.FSType != "cgroup" {
		return false
	}
	have := map[string]bool{}
	for _, o := range m.Super {
		have[o] = true
	}
	for _, c := range strings.Split(ctrls, ",") {
		if !have[c] {
			return false
		}
	}
	return true
}

// relCgroup makes cg (a path from /proc/self/cgroup) relative to a mount
// whose root is root.
func relCgroup(root, cg string) (string, bool) {
	root, cg = path.Clean(root), path.Clean(cg)
	if root == "/" {
		return strings.TrimPrefix(cg, "/"), true
	}
	if cg == root {
		return "", true
	}
	if strings.HasPrefix(cg, root+"/") {
		return strings.TrimPrefix(cg, root+"/"), true
	}
	return "", false
}

// FixedCandidates are the directories of fixedCgroupNames in every
// hierarchy, at its root and under this process's own cgroup.
func FixedCandidates(hs []Hierarchy) []string {
	seen := map[string]bool{}
	var out []string
	for _, h := range hs {
		for _, base := range []string{h.Mount, filepath.Join(h.Mount, h.Own)} {
			for _, n := range fixedCgroupNames {
				p := filepath.Join(base, n)
				if !seen[p] {
					seen[p] = true
					out = append(out, p)
				}
			}
		}
	}
	return out
}

// existing returns the subset of paths that are directories now.
func existing(paths []string) map[string]bool {
	out := map[string]bool{}
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			out[p] = true
		}
	}
	return out
}

// IDCgroups finds cgroup directories whose name contains one of ids, in
// every hierarchy.
func IDCgroups(hs []Hierarchy, ids []string) []string {
	if len(ids) == 0 {
		return nil
	}
	var out []string
	for _, h := range hs {
		filepath.WalkDir(h.Mount, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() || p == h.Mount {
				return nil
			}
			for _, id := range ids {
				if strings.Contains(d.Name(), id) {
					out = append(out, p)
					return filepath.SkipDir
				}
			}
			return nil
		})
	}
	return out
}

// RemoveCgroupTree removes a cgroup the test created and everything under
// it: it thaws a frozen freezer cgroup, SIGKILLs the processes in it (they
// are the test's), and removes the directories deepest first. It returns
// what it did, for the report.
func RemoveCgroupTree(dir string) ([]string, error) {
	var dirs []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	var did []string
	if _, err := os.Stat(filepath.Join(dir, "freezer.state")); err == nil {
		os.WriteFile(filepath.Join(dir, "freezer.state"), []byte("THAWED"), 0)
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, d := range dirs {
		for {
			killed := 0
			for _, pid := range cgroupProcs(d) {
				if syscall.Kill(pid, syscall.SIGKILL) == nil {
					killed++
				}
			}
			if killed > 0 {
				did = append(did, fmt.Sprintf("killed %d processes in %s", killed, d))
			}
			err := syscall.Rmdir(d)
			if err == nil || errors.Is(err, syscall.ENOENT) {
				break
			}
			if time.Now().After(deadline) {
				return did, fmt.Errorf("remove cgroup %s: %w", d, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return append(did, "removed cgroup "+dir), nil
}

func cgroupProcs(dir string) []int {
	f, err := os.Open(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil
	}
	defer f.Close()
	var pids []int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if pid, err := strconv.Atoi(strings.TrimSpace(sc.Text())); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	return pids
}
