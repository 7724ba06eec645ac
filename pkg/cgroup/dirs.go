package cgroup

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/pkg/cgroup/limits"
)

// below lists the directories from top (excluded) down to dir.
func below(dir, top string) []string {
	var out []string
	for d := dir; d != top && strings.HasPrefix(d, top+"/"); d = filepath.Dir(d) {
		out = append(out, d)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

func mkdir(d string) error {
	if err := os.Mkdir(d, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return nil
}

// makeDirCpuset creates dir in the v1 cpuset hierarchy mounted at top. A
// new cpuset cgroup starts with empty cpus and mems and refuses processes
// until they are set: each directory on the way that has none gets its
// parent's (runc does the same; cgroup.clone_children would do it in
// the kernel but is off by default).
func makeDirCpuset(dir, top string) error {
	for _, d := range below(dir, top) {
		if err := mkdir(d); err != nil {
			return err
		}
		for _, name := range []string{"cpus", "mems"} {
			file := "cpuset." + name
			cur, err := os.ReadFile(filepath.Join(d, file))
			if errors.Is(err, os.ErrNotExist) {
				// Mounted with noprefix.
				file = name
				cur, err = os.ReadFile(filepath.Join(d, file))
			}
			if err != nil {
				return err
			}
			if strings.TrimSpace(string(cur)) != "" {
				continue
			}
			parent, err := os.ReadFile(filepath.Join(filepath.Dir(d), file))
			if err != nil {
				return err
			}
			if err := limits.WriteFile(filepath.Join(d, file), strings.TrimSpace(string(parent))); err != nil {
				return err
			}
		}
	}
	return nil
}

// makeDirV2 creates dir in the cgroup2 hierarchy mounted at top, and
// enables in each parent, top included, the controllers that parent has
// (cgroup.subtree_control), as runc does: a cgroup has only the
// controllers its parent enables. A parent that cannot enable them (it
// has processes, or is not ours to change) is left as it is: the
// limits that need them then fail, naming their field, and the check
// against cgroup.controllers in NewPlan says why before anything is
// created.
func makeDirV2(dir, top string, domain bool) error {
	parents := append([]string{top}, below(filepath.Dir(dir), top)...)
	for _, d := range append(below(filepath.Dir(dir), top), dir) {
		if err := mkdir(d); err != nil {
			return err
		}
		if err := checkType(d, domain); err != nil {
			return err
		}
	}
	for _, d := range parents {
		enableControllers(d)
	}
	return nil
}

// enableControllers enables every controller of d in its
// cgroup.subtree_control; all at once, else one by one, errors ignored.
func enableControllers(d string) {
	have, err := os.ReadFile(filepath.Join(d, "cgroup.controllers"))
	if err != nil {
		return
	}
	on, _ := os.ReadFile(filepath.Join(d, "cgroup.subtree_control"))
	enabled := map[string]bool{}
	for _, c := range strings.Fields(string(on)) {
		enabled[c] = true
	}
	var want []string
	for _, c := range strings.Fields(string(have)) {
		if !enabled[c] {
			want = append(want, "+"+c)
		}
	}
	if len(want) == 0 {
		return
	}
	f := filepath.Join(d, "cgroup.subtree_control")
	if limits.WriteFile(f, strings.Join(want, " ")) == nil {
		return
	}
	for _, c := range want {
		_ = limits.WriteFile(f, c)
	}
}

// checkType refuses a threaded part of the hierarchy for limits of
// domain controllers (memory, io, cpu, hugetlb), which it cannot have, and
// otherwise makes an invalid domain threaded, as runc does.
func checkType(d string, domain bool) error {
	b, err := os.ReadFile(filepath.Join(d, "cgroup.type"))
	if err != nil {
		return nil
	}
	switch t := strings.TrimSpace(string(b)); t {
	case "domain invalid":
		if domain {
			return fmt.Errorf("cannot use cgroup %s for memory, io, cpu or hugetlb limits: it is in an invalid state (domain invalid)", d)
		}
		_ = limits.WriteFile(filepath.Join(d, "cgroup.type"), "threaded")
	case "domain threaded", "threaded":
		if domain {
			return fmt.Errorf("cannot use cgroup %s for memory, io, cpu or hugetlb limits: it is in %s mode", d, t)
		}
	}
	return nil
}

func usesDomainControllers(r *specs.LinuxResources) bool {
	if r == nil {
		return false
	}
	nz := func(p *int64) bool { return p != nil && *p != 0 }
	if m := r.Memory; m != nil && (nz(m.Limit) || nz(m.Swap) || nz(m.Reservation)) {
		return true
	}
	if c := r.CPU; c != nil && (c.Shares != nil && *c.Shares != 0 || nz(c.Quota) || c.Period != nil && *c.Period != 0 || c.Idle != nil || c.Burst != nil) {
		return true
	}
	return r.BlockIO != nil || len(r.HugepageLimits) > 0
}

// writeProc moves process pid into the cgroup dir. A process that is
// still being created (TASK_NEW) is refused with EINVAL for a moment.
func writeProc(dir string, pid int) error {
	var err error
	for try := 0; try < 5; try++ {
		err = limits.WriteFile(filepath.Join(dir, "cgroup.procs"), strconv.Itoa(pid))
		if !errors.Is(err, unix.EINVAL) {
			return err
		}
		time.Sleep(30 * time.Millisecond)
	}
	return err
}

// procsTree lists the processes of the cgroup dir and its sub-cgroups. A
// sub-cgroup removed during the walk is skipped.
func procsTree(dir string) ([]int, error) {
	pids, err := procs(dir)
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		sub, err := procsTree(filepath.Join(dir, e.Name()))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENODEV) {
				continue
			}
			return nil, err
		}
		pids = append(pids, sub...)
	}
	return pids, nil
}

func procs(dir string) ([]int, error) {
	f, err := os.Open(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if pid, err := strconv.Atoi(strings.TrimSpace(sc.Text())); err == nil {
			out = append(out, pid)
		}
	}
	return out, sc.Err()
}
