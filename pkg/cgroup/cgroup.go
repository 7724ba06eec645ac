// Package cgroup owns a container's cgroup on cgroup v1, v2 and hybrid
// hosts: where it is (linux.cgroupsPath), its limits (linux.resources),
// who is in it, and its removal, with its own cgroupfs code (the limits
// in package limits, usage statistics in package usage): oci-run links no
// cgroup manager library. systemd-owned cgroups (--systemd-cgroup) need
// D-Bus for their creation, update and removal: that part is oci-cgroup's
// (SystemdDriver); everything else works on their cgroupfs directories
// like on any other. What a runtime built of separate processes needs:
//
//   - Plan computes the container's cgroup directories from the spec and the
//     container id without creating anything, so oci-run can record them in
//     its state before the chain runs and `delete` can clean up even when
//     everything was SIGKILLed in the middle of create.
//   - Paths also records, for each directory, the deepest ancestor that
//     existed before the container: Destroy removes the parents the
//     container's creation added (runc leaves them behind) and never
//     anything that was there before.
//   - Destroy kills what is left in the cgroup (cgroup.kill where the
//     cgroup2 hierarchy has it, also on hybrid hosts; freeze, kill, thaw on
//     v1), waits for it to empty, and retries on EBUSY.
//
// Hybrid hosts (v1 controllers plus a cgroup2 hierarchy at
// /sys/fs/cgroup/unified) are handled as runc does: limits go to the v1
// controllers and the container also joins its cgroup2 directory.
package cgroup

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/pkg/cgroup/limits"
)

// Paths is where a container's cgroup is. It is plain data, meant to be
// recorded (JSON) and handed to Load later.
type Paths struct {
	// Dirs maps each v1 controller name ("memory", "name=systemd") or
	// Unified ("") to the container's cgroup directory in that hierarchy.
	Dirs map[string]string `json:"dirs"`
	// Keep maps each directory of Dirs to its deepest ancestor that existed
	// when the container was planned. Destroy removes the empty parents
	// between the two and stops there.
	Keep map[string]string `json:"keep,omitempty"`
	// Systemd is set when systemd owns the cgroup (a transient scope).
	Systemd *SystemdUnit `json:"systemd,omitempty"`
}

// Unique lists the distinct directories of p, sorted (co-mounted
// controllers share one).
func (p Paths) Unique() []string {
	set := map[string]bool{}
	for _, d := range p.Dirs {
		set[d] = true
	}
	return slices.Sorted(maps.Keys(set))
}

// Dir is the container's directory for a controller: a v1 controller
// name, or Unified.
func (p Paths) Dir(controller string) string { return p.Dirs[controller] }

// V2 reports whether the paths are those of a cgroup v2 host: the cgroup2
// directory alone (a hybrid host has v1 ones too).
func (p Paths) V2() bool {
	_, ok := p.Dirs[Unified]
	return ok && len(p.Dirs) == 1
}

// Plan is what creating the container's cgroup will do.
type Plan struct {
	Host  *Host
	Paths Paths
	// Resources is the spec's linux.resources, checked.
	Resources *specs.LinuxResources
	// Devices are the device rules: linux.resources.devices then the
	// defaults.
	Devices []limits.DeviceRule
	// Inner is the path inside each hierarchy (cleaned linux.cgroupsPath).
	Inner string
	// DeferPids leaves pids.max at "max" in Create; the caller applies
	// the limit with ApplyDeferred once the runtime's own processes in the
	// cgroup are set up (see ApplyDeferred).
	DeferPids bool
	// unifiedMade: MakeUnified made the cgroup2 directory, and the first
	// process was born in it: Create does not count it as another's.
	unifiedMade bool
}

// MakeUnified makes the container's cgroup2 directory of a hybrid host
// alone, and returns it ("" on a host without one, or a v2 host, where
// Create makes everything): the first process is then cloned into it
// (CLONE_INTO_CGROUP) before Create makes the v1 hierarchies, which the
// process joins by thread (see oci-run's early clone). An existing
// directory is refused as Create refuses it.
func (p *Plan) MakeUnified() (string, error) {
	d := p.Paths.Dir(Unified)
	if d == "" || p.Host.Mode != Hybrid || p.Paths.Systemd != nil {
		return "", nil
	}
	if err := checkReusable(Paths{Dirs: map[string]string{Unified: d}}); err != nil {
		return "", err
	}
	if err := os.MkdirAll(d, 0o755); err != nil {
		return "", fmt.Errorf("create cgroup %s: %w", d, err)
	}
	p.unifiedMade = true
	return d, nil
}

// NewPlan computes the container's cgroup from the spec and the container
// id (used when linux.cgroupsPath is empty) without changing anything.
// Errors name the spec field.
func NewPlan(s *specs.Spec, id string, useSystemd bool) (*Plan, error) {
	h, err := ReadHost()
	if err != nil {
		return nil, fmt.Errorf("cgroup hierarchies: %w", err)
	}
	return planFor(h, s, id, useSystemd)
}

func planFor(h *Host, s *specs.Spec, id string, useSystemd bool) (*Plan, error) {
	var cgPath string
	var r *specs.LinuxResources
	var devs []specs.LinuxDevice
	if s.Linux != nil {
		cgPath, r, devs = s.Linux.CgroupsPath, s.Linux.Resources, s.Linux.Devices
		// resctrl is a resource the container's limits would claim and
		// not have: refused, as runc refuses it where RDT is not enabled
		// (features.json says intelRdt is not enabled).
		if rdt := s.Linux.IntelRdt; rdt != nil && (rdt.ClosID != "" || len(rdt.Schemata) > 0 || rdt.L3CacheSchema != "" || rdt.MemBwSchema != "" || rdt.EnableMonitoring) {
			return nil, errors.New("linux.intelRdt: Intel RDT (resctrl) is not supported by oci-run")
		}
	}
	loc, err := ParseLocation(cgPath, id, useSystemd)
	if err != nil {
		return nil, err
	}
	var avail *Available
	if h.Mode == V2 && loc.Systemd == nil {
		// The controllers the directory will have are those its nearest
		// existing ancestor has: the parents made on the way enable
		// all of them (makeDirV2). Unreadable: the writes
		// will tell.
		for _, hi := range h.Hierarchies {
			if hi.Controllers[0] == Unified {
				avail, _ = ReadAvailable(existingAncestor(dirs(h, loc.Inner)[Unified], hi.Mountpoint))
			}
		}
	}
	rules, err := resources(r, devs, h, avail)
	if err != nil {
		return nil, err
	}
	p := &Plan{Host: h, Resources: r, Devices: rules, Inner: loc.Inner}
	if loc.Systemd != nil {
		if !SystemdRunning() {
			return nil, errors.New("--systemd-cgroup: systemd is not running on this host (PID 1 is not systemd); run without --systemd-cgroup to manage the cgroup directly")
		}
		d, err := systemdDirs(h, loc.Systemd)
		if err != nil {
			return nil, fmt.Errorf("systemd cgroup %s:%s:%s: %w", loc.Systemd.Slice, loc.Systemd.Prefix, loc.Systemd.Name, err)
		}
		p.Paths = Paths{Dirs: d, Systemd: loc.Systemd}
		return p, nil
	}
	p.Paths = Paths{Dirs: dirs(h, loc.Inner), Keep: map[string]string{}}
	for _, hi := range h.Hierarchies {
		d := p.Paths.Dirs[hi.Controllers[0]]
		p.Paths.Keep[d] = existingAncestor(d, hi.Mountpoint)
	}
	return p, nil
}

// Cgroup is a container's cgroup, created or loaded.
type Cgroup struct {
	Paths Paths
}

// Load opens the cgroup of recorded paths for the operations on a live
// container (freeze, update, stats, pids, signal, destroy). Nothing is
// created or checked.
func Load(p Paths) (*Cgroup, error) {
	if len(p.Dirs) == 0 {
		return nil, errors.New("no cgroup paths recorded")
	}
	return &Cgroup{Paths: p}, nil
}

// ParsePaths reads the JSON form of Paths.
func ParsePaths(b []byte) (Paths, error) {
	var p Paths
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("cgroup paths: %w", err)
	}
	return p, nil
}

// Create makes the planned cgroup, applies its limits and, when pid > 0,
// moves that process (with all its threads) into it, in that order: the
// limits are in place before anything runs in the cgroup. A cgroup that
// already exists is reused if it is empty and not frozen, and refused
// otherwise (as runc does). On failure, whatever was created is removed.
func (p *Plan) Create(pid int) (*Cgroup, error) {
	if p.Paths.Systemd != nil {
		return p.createSystemd(pid)
	}
	reuse := p.Paths
	if p.unifiedMade {
		reuse.Dirs = maps.Clone(p.Paths.Dirs)
		delete(reuse.Dirs, Unified)
	}
	if err := checkReusable(reuse); err != nil {
		return nil, err
	}
	c := &Cgroup{Paths: p.Paths}
	fail := func(err error) (*Cgroup, error) {
		if derr := c.Destroy(); derr != nil {
			return nil, fmt.Errorf("%w (and removing the cgroup: %v)", err, derr)
		}
		return nil, err
	}
	// A parent shared with another container can vanish between two
	// mkdirs when that container's delete removes it (it was empty for a
	// moment): try again.
	err := p.makeDirs()
	for try := 0; try < 3 && errors.Is(err, os.ErrNotExist); try++ {
		err = p.makeDirs()
	}
	if err != nil {
		return fail(fmt.Errorf("create cgroup %s: %w", p.Inner, err))
	}
	r := p.Resources
	if p.DeferPids && r != nil && r.Pids != nil {
		rc := *r
		rc.Pids = nil
		r = &rc
	}
	if err := applyLimits(p.Host.Mode, p.Paths, r, p.Devices, true); err != nil {
		return fail(err)
	}
	if pid > 0 {
		if err := c.Join(pid, nil); err != nil {
			return fail(err)
		}
	}
	return c, nil
}

// applyLimits writes r to the cgroup: cgroup v1 files on v1 and hybrid
// hosts, v2 files on v2 hosts (package limits). withDevices also sets the
// device rules, which only a new cgroup gets (runc update never changes
// them).
func applyLimits(mode Mode, p Paths, r *specs.LinuxResources, devices []limits.DeviceRule, withDevices bool) error {
	if mode == V2 {
		ws, err := limits.V2(r)
		if err != nil {
			return err
		}
		if err := limits.Apply(p.Dir, ws); err != nil {
			return err
		}
		if withDevices {
			return limits.ApplyDevicesV2(p.Dir(Unified), devices)
		}
		return nil
	}
	if d := p.Dir("devices"); d != "" && withDevices {
		if err := limits.WriteDevicesV1(d, devices); err != nil {
			return err
		}
	}
	return limits.Apply(p.Dir, limits.V1(r))
}

// makeDirs creates the container's directory in every hierarchy, with
// what each kind needs of its parents: a v1 cpuset cgroup cannot take a
// process until its cpus and mems are set, and a v2 cgroup has only the
// controllers its parent enables.
func (p *Plan) makeDirs() error {
	for _, hi := range p.Host.Hierarchies {
		d := p.Paths.Dirs[hi.Controllers[0]]
		if d == "" {
			continue
		}
		var err error
		switch {
		case p.Host.Mode == V2:
			err = makeDirV2(d, hi.Mountpoint, usesDomainControllers(p.Resources))
		case slices.Contains(hi.Controllers, "cpuset"):
			err = makeDirCpuset(d, hi.Mountpoint)
		default:
			err = os.MkdirAll(d, 0o755)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// checkReusable refuses an existing cgroup that has processes or is
// frozen: it belongs to something else (runc: "container's cgroup is not
// empty"). runc checks one hierarchy; every one is checked here.
func checkReusable(p Paths) error {
	for _, d := range p.Unique() {
		pids, err := procsTree(d)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENODEV) {
				continue
			}
			return fmt.Errorf("linux.cgroupsPath: read processes of %s: %w", d, err)
		}
		if len(pids) > 0 {
			return fieldErr("linux.cgroupsPath", "cgroup %s already exists and is not empty: %d process(es) found", d, len(pids))
		}
	}
	if d := p.Dir("freezer"); d != "" {
		if b, err := os.ReadFile(filepath.Join(d, "freezer.state")); err == nil && strings.TrimSpace(string(b)) != "THAWED" {
			return fieldErr("linux.cgroupsPath", "cgroup %s already exists and is frozen", d)
		}
	}
	if d := p.Dir(Unified); d != "" {
		if b, err := os.ReadFile(filepath.Join(d, "cgroup.freeze")); err == nil && strings.TrimSpace(string(b)) == "1" {
			return fieldErr("linux.cgroupsPath", "cgroup %s already exists and is frozen", d)
		}
	}
	return nil
}

// Join moves process pid into the existing cgroup (or sub-cgroups of it,
// see ParseSub) without creating anything or touching limits: the
// `exec` case. It fails if a directory is missing.
func (c *Cgroup) Join(pid int, sub map[string]string) error {
	for _, ctrl := range slices.Sorted(maps.Keys(c.Paths.Dirs)) {
		dir := c.joinDir(ctrl, sub)
		if _, err := os.Stat(dir); err != nil {
			return fmt.Errorf("container cgroup %s does not exist (is the container running?)", dir)
		}
		if err := writeProc(dir, pid); err != nil {
			return fmt.Errorf("join cgroup %s: %w", dir, err)
		}
	}
	return nil
}

func (c *Cgroup) joinDir(ctrl string, sub map[string]string) string {
	dir := c.Paths.Dirs[ctrl]
	if s, ok := sub[ctrl]; ok {
		dir = filepath.Join(dir, s)
	} else if s, ok := sub[""]; ok && c.Paths.Systemd == nil {
		dir = filepath.Join(dir, s)
	}
	return dir
}

// JoinThread is Join for the calling thread, which must be the one that
// execs next (a stage locks its main goroutine to the main thread).
//
// Why a thread: writing a pid to cgroup.procs takes the kernel's global
// cgroup_threadgroup_rwsem for writing, which waits for an RCU grace
// period (measured here: 7 to 14 ms on the first write of a container,
// most of a container start's wall time, paid by runc and crun too).
// Writing "0" to a v1 hierarchy's "tasks" file moves only the calling
// thread and skips that lock (kernel ≥ 6.1, "cgroup: Optimize single
// thread migration"). After execve the process is that thread alone, in
// the container's cgroup in every hierarchy: the other threads of the Go
// runtime, left behind, end at the exec. Memory is charged by the cgroup
// of the main thread (the mm's owner), so this must be the main thread.
// cgroup2 has no thread-level migration between domains: there the whole
// process moves through cgroup.procs, as before.
func (c *Cgroup) JoinThread(sub map[string]string) error {
	for _, ctrl := range slices.Sorted(maps.Keys(c.Paths.Dirs)) {
		dir := c.joinDir(ctrl, sub)
		file, value := "tasks", "0"
		if ctrl == Unified {
			file, value = "cgroup.procs", strconv.Itoa(os.Getpid())
		}
		if err := limits.WriteFile(filepath.Join(dir, file), value); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("container cgroup %s does not exist (is the container running?)", dir)
			}
			return fmt.Errorf("join cgroup %s: %w", dir, err)
		}
	}
	return nil
}

// JoinThreadV1 is JoinThread for the v1 hierarchies only: the caller
// puts its child into the cgroup2 directory at the clone
// (CLONE_INTO_CGROUP), which needs no migration at all.
func (c *Cgroup) JoinThreadV1(sub map[string]string) error {
	v1 := *c
	v1.Paths.Dirs = maps.Clone(c.Paths.Dirs)
	delete(v1.Paths.Dirs, Unified)
	return v1.JoinThread(sub)
}

// TasksFiles opens, for writing, the tasks file of every v1 hierarchy of
// the container's cgroup: a thread that writes "0" to one joins that
// hierarchy (by thread: no RCU grace period, unlike cgroup.procs). The
// caller hands them to the first process (oci-run's early clone).
func (c *Cgroup) TasksFiles() ([]*os.File, error) {
	var files []*os.File
	for _, ctrl := range slices.Sorted(maps.Keys(c.Paths.Dirs)) {
		if ctrl == Unified {
			continue
		}
		name := filepath.Join(c.Paths.Dirs[ctrl], "tasks")
		f, err := os.OpenFile(name, os.O_WRONLY, 0)
		if err != nil {
			for _, f := range files {
				f.Close()
			}
			return nil, fmt.Errorf("open %s: %w", name, err)
		}
		files = append(files, f)
	}
	return files, nil
}

// JoinDir is the directory Join enters for a controller (Unified for
// cgroup2), sub-cgroup included.
func (c *Cgroup) JoinDir(ctrl string, sub map[string]string) string {
	if c.Paths.Dirs[ctrl] == "" {
		return ""
	}
	return c.joinDir(ctrl, sub)
}

// ParseSub parses runc exec's --cgroup values: "path" (every controller)
// or "controller[,controller...]:path". The path is relative to the
// container's cgroup and cannot leave it. On cgroup v2 only the plain form
// is meaningful; the result maps controller (Unified/"" for "every
// controller") to the sub-path.
func ParseSub(values []string) (map[string]string, error) {
	out := map[string]string{}
	for _, v := range values {
		ctrls, path, ok := strings.Cut(v, ":")
		if !ok {
			ctrls, path = "", v
		}
		clean, _ := filepath.Rel("/", filepath.Clean("/"+path))
		if path == "" || clean == "." || clean != filepath.Clean(path) {
			return nil, fmt.Errorf("sub-cgroup %q: must be a relative path below the container's cgroup", v)
		}
		for _, c := range strings.Split(ctrls, ",") {
			if _, dup := out[c]; dup {
				return nil, fmt.Errorf("sub-cgroup %q: controller %q given twice", v, c)
			}
			out[c] = clean
		}
	}
	return out, nil
}

// Leave moves pid back to the cgroups it had before (from the host
// description taken when planning), so that the container's cgroup can be
// removed after a failure past the join.
func (p *Plan) Leave(pid int) error {
	var errs []error
	for _, hi := range p.Host.Hierarchies {
		rel, err := filepath.Rel(hi.Root, hi.Own)
		if err != nil || strings.HasPrefix(rel, "..") {
			continue
		}
		if err := writeProc(filepath.Join(hi.Mountpoint, rel), pid); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Destroy kills every process left in the cgroup, then removes the
// container's cgroup in every hierarchy (sub-cgroups first) and the empty
// parents its creation added. It is idempotent and safe after a partial
// create: missing directories are skipped.
func (c *Cgroup) Destroy() error {
	if c.Paths.Systemd != nil {
		if systemd == nil {
			return errSystemdHere
		}
		return systemd.Destroy(c.Paths)
	}
	if c.removeEmpty() {
		return nil
	}
	if err := c.killAll(); err != nil {
		return err
	}
	var errs []error
	for _, d := range c.Paths.Unique() {
		if err := removeTree(d); err != nil {
			errs = append(errs, err)
			continue
		}
		if keep, ok := c.Paths.Keep[d]; ok {
			removeParents(d, keep)
		}
	}
	return errors.Join(errs...)
}

// removeEmpty is Destroy's fast path for the usual case, a container
// whose processes are all gone: one rmdir per directory, which the kernel
// refuses (EBUSY) while the cgroup has a process or a sub-cgroup. It
// reports whether every directory is gone; what is left goes the long
// way (kill, wait, remove the tree). Measured: reading the processes of
// every hierarchy (a directory walk each) and freezing before the kill
// made up most of a 2 ms delete.
func (c *Cgroup) removeEmpty() bool {
	done := true
	for _, d := range c.Paths.Unique() {
		if err := unix.Rmdir(d); err != nil && !errors.Is(err, unix.ENOENT) {
			done = false
			continue
		}
		if keep, ok := c.Paths.Keep[d]; ok {
			removeParents(d, keep)
		}
	}
	return done
}

// removeTree removes a cgroup directory and its sub-cgroups, deepest
// first. rmdir of a cgroup fails with EBUSY for a moment after its last
// process exited: retried with backoff.
func removeTree(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove cgroup %s: %w", dir, err)
	}
	for _, e := range ents {
		if e.IsDir() {
			if err := removeTree(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	delay := time.Millisecond
	for try := 0; ; try++ {
		err := unix.Rmdir(dir)
		switch {
		case err == nil, errors.Is(err, unix.ENOENT):
			return nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EBUSY) && try < 12:
			time.Sleep(delay)
			delay = min(2*delay, 200*time.Millisecond)
			continue
		}
		return fmt.Errorf("remove cgroup %s: %w", dir, err)
	}
}

// removeParents removes the empty ancestors of dir below keep. A parent
// another container still uses is not empty (EBUSY): the walk stops there.
func removeParents(dir, keep string) {
	for p := filepath.Dir(dir); p != keep && strings.HasPrefix(p, keep+"/"); p = filepath.Dir(p) {
		if err := unix.Rmdir(p); err != nil && !errors.Is(err, unix.ENOENT) {
			return
		}
	}
}

// Pids lists the processes in the container's cgroup and its
// sub-cgroups, in every hierarchy.
func (c *Cgroup) Pids() ([]int, error) {
	set := map[int]bool{}
	for _, d := range c.Paths.Unique() {
		pids, err := procsTree(d)
		if err != nil && !errors.Is(err, os.ErrNotExist) && !errors.Is(err, unix.ENODEV) {
			return nil, fmt.Errorf("processes of cgroup %s: %w", d, err)
		}
		for _, p := range pids {
			set[p] = true
		}
	}
	out := slices.Collect(maps.Keys(set))
	sort.Ints(out)
	return out, nil
}

// Exists reports whether any of the container's cgroup directories exists.
func (c *Cgroup) Exists() bool {
	for _, d := range c.Paths.Unique() {
		if _, err := os.Stat(d); err == nil {
			return true
		}
	}
	return false
}
