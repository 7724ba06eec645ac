package cgroup

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-run/oci-run/pkg/cgroup/limits"
	"github.com/oci-run/oci-run/pkg/spec"
)

func fieldErr(field, format string, args ...any) error {
	return &spec.FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Resources checks linux.resources against the host and returns the
// device rules (linux.resources.devices, then the defaults every container
// gets, minus those linux.devices replaces). Kernel memory limits are
// ignored: kernels since 6.1 have no v1 kmem limit and v2 never had one
// (runc ignores them too).
//
// h, when not nil, is checked for the controllers the resources need, so
// that a limit this host cannot enforce is refused before anything is
// created, naming the field.
func Resources(r *specs.LinuxResources, linuxDevices []specs.LinuxDevice, h *Host) ([]limits.DeviceRule, error) {
	return resources(r, linuxDevices, h, nil)
}

// Available is what cgroup v2 controllers a cgroup can use: those of
// its parent's cgroup.controllers (the parent can enable no other in its
// cgroup.subtree_control). On a v2 host a controller can be missing
// where a container goes: not delegated to the runtime's cgroup, or
// bound to a v1 hierarchy (a hybrid kernel, as the emulated v2 of
// tests/cgroup).
type Available struct {
	// File is the cgroup.controllers file the set was read from.
	File string
	Set  map[string]bool
}

// ReadAvailable reads the controllers listed in dir/cgroup.controllers.
func ReadAvailable(dir string) (*Available, error) {
	f := filepath.Join(dir, "cgroup.controllers")
	b, err := os.ReadFile(f)
	if err != nil {
		return nil, err
	}
	a := &Available{File: f, Set: map[string]bool{}}
	for _, c := range strings.Fields(string(b)) {
		a.Set[c] = true
	}
	return a, nil
}

func (a *Available) missing(field, controller string) error {
	list := strings.Join(slices.Sorted(maps.Keys(a.Set)), " ")
	if list == "" {
		list = "none"
	}
	return fieldErr(field, "the %s controller is not available to the container's cgroup (cgroup v2: %s lists %s)", controller, a.File, list)
}

type v2Use struct{ field, controller string }

// v2Uses lists the controllers the cgroup v2 writer (limits.V2) writes
// files of for r: a value of 0 is "not set" there, so an empty
// "memory": {} sets nothing, and runc accepts it without a memory
// controller.
func v2Uses(r *specs.LinuxResources) []v2Use {
	if r == nil {
		return nil
	}
	var out []v2Use
	nz := func(p *int64) bool { return p != nil && *p != 0 }
	if m := r.Memory; m != nil && (nz(m.Limit) || nz(m.Swap) || nz(m.Reservation)) {
		out = append(out, v2Use{"linux.resources.memory", "memory"})
	}
	if c := r.CPU; c != nil {
		if c.Shares != nil && *c.Shares != 0 || nz(c.Quota) || c.Period != nil && *c.Period != 0 || c.Burst != nil || c.Idle != nil {
			out = append(out, v2Use{"linux.resources.cpu", "cpu"})
		}
		if c.Cpus != "" || c.Mems != "" {
			out = append(out, v2Use{"linux.resources.cpu", "cpuset"})
		}
	}
	if r.Pids != nil && nz(r.Pids.Limit) {
		out = append(out, v2Use{"linux.resources.pids", "pids"})
	}
	if b := r.BlockIO; b != nil && (b.Weight != nil && *b.Weight != 0 || len(b.WeightDevice) > 0 || len(b.ThrottleReadBpsDevice) > 0 ||
		len(b.ThrottleWriteBpsDevice) > 0 || len(b.ThrottleReadIOPSDevice) > 0 || len(b.ThrottleWriteIOPSDevice) > 0) {
		out = append(out, v2Use{"linux.resources.blockIO", "io"})
	}
	if len(r.HugepageLimits) > 0 {
		out = append(out, v2Use{"linux.resources.hugepageLimits", "hugetlb"})
	}
	if len(r.Rdma) > 0 {
		out = append(out, v2Use{"linux.resources.rdma", "rdma"})
	}
	return out
}

// resources is Resources; on a v2 host, avail (when known) is checked
// too. runc refuses such limits as well, when it fails to write their
// files (memory.max: no such file or directory); refusing them before
// anything is created says why, and never lets a limit pass that would
// not apply.
func resources(r *specs.LinuxResources, linuxDevices []specs.LinuxDevice, h *Host, avail *Available) ([]limits.DeviceRule, error) {
	var errs spec.Errors
	add := func(err error) {
		switch e := err.(type) {
		case *spec.FieldError:
			errs = append(errs, e)
		case spec.Errors:
			errs = append(errs, e...)
		}
	}
	need := func(field, controller string) {
		if h == nil || h.Mode == V2 || h.Has(controller) {
			return
		}
		where := "this host"
		if h.Mode == Hybrid {
			where = "this host's cgroup v1 hierarchies (hybrid host: limits go to v1 controllers, as with runc)"
		}
		add(fieldErr(field, "the %s controller is not mounted in %s", controller, where))
	}
	// Every container has device rules (the defaults at least): on v1 they
	// need the devices hierarchy, as with runc, which refuses to run a
	// container without one.
	need("linux.resources.devices", "devices")
	var devices []specs.LinuxDeviceCgroup
	if r != nil {
		devices = r.Devices
		if m := r.Memory; m != nil {
			need("linux.resources.memory", "memory")
			var limit, swap int64
			if m.Limit != nil {
				limit = *m.Limit
			}
			if m.Swap != nil {
				swap = *m.Swap
			}
			// -1 (as uint64) means "leave the kernel default".
			if s := m.Swappiness; s != nil && int64(*s) != -1 && *s > 100 {
				add(fieldErr("linux.resources.memory.swappiness", "%d is out of range 0-100", *s))
			}
			if limit > 0 && swap > 0 && swap < limit {
				add(fieldErr("linux.resources.memory.swap", "%d is below memory.limit %d (swap is memory+swap)", swap, limit))
			}
			if limit < -1 {
				add(fieldErr("linux.resources.memory.limit", "%d: must be positive, or -1 for no limit", limit))
			}
			if swap < -1 {
				add(fieldErr("linux.resources.memory.swap", "%d: must be positive, or -1 for no limit", swap))
			}
		}
		if c := r.CPU; c != nil {
			if c.Shares != nil || c.Quota != nil || c.Period != nil || c.Burst != nil || c.RealtimeRuntime != nil || c.RealtimePeriod != nil || c.Idle != nil {
				need("linux.resources.cpu", "cpu")
			}
			if c.Cpus != "" || c.Mems != "" {
				need("linux.resources.cpu", "cpuset")
			}
			if c.Cpus != "" && !validList(c.Cpus) {
				add(fieldErr("linux.resources.cpu.cpus", "%q is not a list of CPUs (\"0-3,6\")", c.Cpus))
			}
			if c.Mems != "" && !validList(c.Mems) {
				add(fieldErr("linux.resources.cpu.mems", "%q is not a list of memory nodes (\"0,1\")", c.Mems))
			}
			if c.Idle != nil && *c.Idle != 0 && *c.Idle != 1 {
				add(fieldErr("linux.resources.cpu.idle", "%d: must be 0 or 1", *c.Idle))
			}
		}
		// A limit of 0 is "not set": runtime-spec before 1.3 had a plain
		// int64 there and clients built against it (docker, containerd)
		// send 0 for no limit, which runc 1.1 skips.
		if r.Pids != nil && r.Pids.Limit != nil && *r.Pids.Limit != 0 {
			need("linux.resources.pids", "pids")
		}
		if r.BlockIO != nil {
			need("linux.resources.blockIO", "blkio")
		}
		if len(r.HugepageLimits) > 0 {
			need("linux.resources.hugepageLimits", "hugetlb")
			sizes := limits.HugePageSizes()
			for i, l := range r.HugepageLimits {
				if !slices.Contains(sizes, l.Pagesize) {
					add(fieldErr(fmt.Sprintf("linux.resources.hugepageLimits[%d].pageSize", i), "%q is not a huge page size of this machine (%s)", l.Pagesize, strings.Join(sizes, ", ")))
				}
			}
		}
		if n := r.Network; n != nil {
			if n.ClassID != nil {
				needV1Only(h, "linux.resources.network.classID", "net_cls", add)
			}
			if len(n.Priorities) > 0 {
				needV1Only(h, "linux.resources.network.priorities", "net_prio", add)
			}
		}
		if len(r.Rdma) > 0 {
			need("linux.resources.rdma", "rdma")
		}
		if len(r.Unified) > 0 {
			if h != nil && h.Mode != V2 {
				add(fieldErr("linux.resources.unified", "cgroup v2 settings cannot be applied: this host's controllers are cgroup v1 (%s mode); use the v1 fields of linux.resources", h.Mode))
			}
			for _, k := range slices.Sorted(maps.Keys(r.Unified)) {
				ctrl, _, _ := strings.Cut(k, ".")
				switch {
				case strings.Contains(k, "/") || !strings.Contains(k, "."):
					add(fieldErr("linux.resources.unified", "%q is not a cgroup v2 file name (controller.key)", k))
				case ctrl == "cgroup" || strings.HasSuffix(k, ".pressure"):
					// Core files, and pressure (PSI) files: every cgroup has them.
				case h != nil && h.Mode == V2 && avail != nil && !avail.Set[ctrl]:
					add(avail.missing(fmt.Sprintf("linux.resources.unified[%q]", k), ctrl))
				}
			}
		}
		if h != nil && h.Mode == V2 {
			// Conversions that can fail (swap without a memory limit).
			if _, err := limits.V2(r); err != nil {
				add(err)
			}
		}
	}
	rules, err := limits.DeviceRules(devices, linuxDevices)
	if err != nil {
		add(err)
	}
	if h != nil && h.Mode == V2 && avail != nil {
		for _, u := range v2Uses(r) {
			if !avail.Set[u.controller] {
				add(avail.missing(u.field, u.controller))
			}
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return rules, nil
}

// needV1Only: net_cls and net_prio have no cgroup v2 equivalent (v2 hosts
// classify traffic with eBPF); runc silently drops them there, which hides
// a configuration that has no effect, so they are refused.
func needV1Only(h *Host, field, controller string, add func(error)) {
	if h == nil || h.Has(controller) {
		return
	}
	if h.Mode == V2 {
		add(fieldErr(field, "the %s controller does not exist in cgroup v2", controller))
		return
	}
	add(fieldErr(field, "the %s controller is not mounted on this host", controller))
}

// cpuList is the kernel's list format for cpuset.cpus and cpuset.mems
// (bitmap_parselist): numbers and ranges, a range with an optional
// ":used/group" stride. Compiled on first use: most configurations have
// no cpuset, and a regexp compiled at package init costs every oci-run
// command 0.1 ms.
var cpuList = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^\s*\d+(-\d+(:\d+/\d+)?)?(\s*,\s*\d+(-\d+(:\d+/\d+)?)?)*\s*$`)
})

// validList checks the syntax of a cpuset list and that its ranges go up;
// whether the CPUs or nodes exist is the kernel's to say when the value
// is written.
func validList(s string) bool {
	if !cpuList().MatchString(s) {
		return false
	}
	for _, part := range strings.Split(s, ",") {
		r, _, _ := strings.Cut(strings.TrimSpace(part), ":")
		if lo, hi, ok := strings.Cut(r, "-"); ok {
			a, _ := strconv.Atoi(lo)
			b, _ := strconv.Atoi(hi)
			if b < a {
				return false
			}
		}
	}
	return true
}
