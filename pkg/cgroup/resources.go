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

	"github.com/opencontainers/cgroups"
	devconfig "github.com/opencontainers/cgroups/devices/config"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-run/oci-run/pkg/spec"
)

func fieldErr(field, format string, args ...any) error {
	return &spec.FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Resources converts linux.resources (and linux.devices, which decide the
// default device rules) to the cgroup manager's form, the way runc's specconv
// does: v1 values are kept and the manager converts them for cgroup v2
// (cpu.shares → cpu.weight, blkio weight → io.weight, memory+swap →
// memory.swap.max). Kernel memory limits are ignored: kernels since 6.1
// have no v1 kmem limit and v2 never had one (runc ignores them too).
//
// h, when not nil, is checked for the controllers the resources need, so
// that a limit this host cannot enforce is refused before anything is
// created, naming the field.
func Resources(r *specs.LinuxResources, linuxDevices []specs.LinuxDevice, h *Host) (*cgroups.Resources, error) {
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

// v2Uses lists the controllers a cgroup v2 manager writes files of for
// res, as it decides (fs2: a limit is set when not zero): an empty
// "memory": {} sets nothing, and runc accepts it without a memory
// controller.
func v2Uses(res *cgroups.Resources) []v2Use {
	var out []v2Use
	if res.Memory != 0 || res.MemorySwap != 0 || res.MemoryReservation != 0 {
		out = append(out, v2Use{"linux.resources.memory", "memory"})
	}
	if res.CpuWeight != 0 || res.CpuQuota != 0 || res.CpuPeriod != 0 || res.CpuBurst != nil || res.CPUIdle != nil {
		out = append(out, v2Use{"linux.resources.cpu", "cpu"})
	}
	if res.CpusetCpus != "" || res.CpusetMems != "" {
		out = append(out, v2Use{"linux.resources.cpu", "cpuset"})
	}
	if res.PidsLimit != nil {
		out = append(out, v2Use{"linux.resources.pids", "pids"})
	}
	if res.BlkioWeight != 0 || len(res.BlkioWeightDevice) > 0 || len(res.BlkioThrottleReadBpsDevice) > 0 || len(res.BlkioThrottleWriteBpsDevice) > 0 ||
		len(res.BlkioThrottleReadIOPSDevice) > 0 || len(res.BlkioThrottleWriteIOPSDevice) > 0 {
		out = append(out, v2Use{"linux.resources.blockIO", "io"})
	}
	if len(res.HugetlbLimit) > 0 {
		out = append(out, v2Use{"linux.resources.hugepageLimits", "hugetlb"})
	}
	if len(res.Rdma) > 0 {
		out = append(out, v2Use{"linux.resources.rdma", "rdma"})
	}
	return out
}

// resources is Resources; on a v2 host, avail (when known) is checked
// too. runc refuses such limits as well, when it fails to write their
// files (memory.max: no such file or directory); refusing them before
// anything is created says why, and never lets a limit pass that would
// not apply.
func resources(r *specs.LinuxResources, linuxDevices []specs.LinuxDevice, h *Host, avail *Available) (*cgroups.Resources, error) {
	res := &cgroups.Resources{}
	var errs spec.Errors
	add := func(err error) {
		if fe, ok := err.(*spec.FieldError); ok {
			errs = append(errs, fe)
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
	if r != nil {
		rules, err := deviceRules(r.Devices)
		if err != nil {
			add(err)
		}
		res.Devices = rules
		if m := r.Memory; m != nil {
			need("linux.resources.memory", "memory")
			if m.Limit != nil {
				res.Memory = *m.Limit
			}
			if m.Reservation != nil {
				res.MemoryReservation = *m.Reservation
			}
			if m.Swap != nil {
				res.MemorySwap = *m.Swap
			}
			if m.Swappiness != nil {
				res.MemorySwappiness = m.Swappiness
				// -1 (as uint64) means "leave the kernel default".
				if int64(*m.Swappiness) != -1 && *m.Swappiness > 100 {
					add(fieldErr("linux.resources.memory.swappiness", "%d is out of range 0-100", *m.Swappiness))
				}
			}
			if m.DisableOOMKiller != nil {
				res.OomKillDisable = *m.DisableOOMKiller
			}
			if m.CheckBeforeUpdate != nil {
				res.MemoryCheckBeforeUpdate = *m.CheckBeforeUpdate
			}
			if res.Memory > 0 && res.MemorySwap > 0 && res.MemorySwap < res.Memory {
				add(fieldErr("linux.resources.memory.swap", "%d is below memory.limit %d (swap is memory+swap)", res.MemorySwap, res.Memory))
			}
			if res.Memory < -1 {
				add(fieldErr("linux.resources.memory.limit", "%d: must be positive, or -1 for no limit", res.Memory))
			}
			if res.MemorySwap < -1 {
				add(fieldErr("linux.resources.memory.swap", "%d: must be positive, or -1 for no limit", res.MemorySwap))
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
			if c.Shares != nil {
				res.CpuShares = *c.Shares
				res.CpuWeight = cgroups.ConvertCPUSharesToCgroupV2Value(*c.Shares)
			}
			if c.Quota != nil {
				res.CpuQuota = *c.Quota
			}
			if c.Period != nil {
				res.CpuPeriod = *c.Period
			}
			if c.Burst != nil {
				b := *c.Burst
				res.CpuBurst = &b
			}
			if c.RealtimeRuntime != nil {
				res.CpuRtRuntime = *c.RealtimeRuntime
			}
			if c.RealtimePeriod != nil {
				res.CpuRtPeriod = *c.RealtimePeriod
			}
			res.CpusetCpus = c.Cpus
			res.CpusetMems = c.Mems
			if c.Idle != nil {
				i := *c.Idle
				res.CPUIdle = &i
				if i != 0 && i != 1 {
					add(fieldErr("linux.resources.cpu.idle", "%d: must be 0 or 1", i))
				}
			}
		}
		// A limit of 0 is "not set": runtime-spec before 1.3 had a plain
		// int64 there and clients built against it (docker, containerd)
		// send 0 for no limit, which runc 1.1 skips.
		if r.Pids != nil && r.Pids.Limit != nil && *r.Pids.Limit != 0 {
			need("linux.resources.pids", "pids")
			l := *r.Pids.Limit
			res.PidsLimit = &l
		}
		if b := r.BlockIO; b != nil {
			need("linux.resources.blockIO", "blkio")
			if b.Weight != nil {
				res.BlkioWeight = *b.Weight
			}
			if b.LeafWeight != nil {
				res.BlkioLeafWeight = *b.LeafWeight
			}
			for _, wd := range b.WeightDevice {
				var w, lw uint16
				if wd.Weight != nil {
					w = *wd.Weight
				}
				if wd.LeafWeight != nil {
					lw = *wd.LeafWeight
				}
				res.BlkioWeightDevice = append(res.BlkioWeightDevice, cgroups.NewWeightDevice(wd.Major, wd.Minor, w, lw))
			}
			throttle := func(in []specs.LinuxThrottleDevice) (out []*cgroups.ThrottleDevice) {
				for _, td := range in {
					out = append(out, cgroups.NewThrottleDevice(td.Major, td.Minor, td.Rate))
				}
				return out
			}
			res.BlkioThrottleReadBpsDevice = throttle(b.ThrottleReadBpsDevice)
			res.BlkioThrottleWriteBpsDevice = throttle(b.ThrottleWriteBpsDevice)
			res.BlkioThrottleReadIOPSDevice = throttle(b.ThrottleReadIOPSDevice)
			res.BlkioThrottleWriteIOPSDevice = throttle(b.ThrottleWriteIOPSDevice)
		}
		if len(r.HugepageLimits) > 0 {
			need("linux.resources.hugepageLimits", "hugetlb")
			sizes := cgroups.HugePageSizes()
			for i, l := range r.HugepageLimits {
				if !slices.Contains(sizes, l.Pagesize) {
					add(fieldErr(fmt.Sprintf("linux.resources.hugepageLimits[%d].pageSize", i), "%q is not a huge page size of this machine (%s)", l.Pagesize, strings.Join(sizes, ", ")))
				}
				res.HugetlbLimit = append(res.HugetlbLimit, &cgroups.HugepageLimit{Pagesize: l.Pagesize, Limit: l.Limit})
			}
		}
		if n := r.Network; n != nil {
			if n.ClassID != nil {
				needV1Only(h, "linux.resources.network.classID", "net_cls", add)
				res.NetClsClassid = *n.ClassID
			}
			if len(n.Priorities) > 0 {
				needV1Only(h, "linux.resources.network.priorities", "net_prio", add)
			}
			for _, p := range n.Priorities {
				res.NetPrioIfpriomap = append(res.NetPrioIfpriomap, &cgroups.IfPrioMap{Interface: p.Name, Priority: int64(p.Priority)})
			}
		}
		if len(r.Rdma) > 0 {
			need("linux.resources.rdma", "rdma")
			res.Rdma = make(map[string]cgroups.LinuxRdma, len(r.Rdma))
			for k, v := range r.Rdma {
				res.Rdma[k] = cgroups.LinuxRdma{HcaHandles: v.HcaHandles, HcaObjects: v.HcaObjects}
			}
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
			res.Unified = maps.Clone(r.Unified)
		}
	}
	res.Devices = append(res.Devices, defaultDeviceRules(linuxDevices)...)
	if h != nil && h.Mode == V2 && avail != nil {
		for _, u := range v2Uses(res) {
			if !avail.Set[u.controller] {
				add(avail.missing(u.field, u.controller))
			}
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return res, nil
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

func deviceRules(in []specs.LinuxDeviceCgroup) ([]*devconfig.Rule, error) {
	var out []*devconfig.Rule
	for i, d := range in {
		f := fmt.Sprintf("linux.resources.devices[%d]", i)
		r := &devconfig.Rule{Allow: d.Allow, Major: devconfig.Wildcard, Minor: devconfig.Wildcard}
		switch d.Type {
		case "", "a":
			r.Type = devconfig.WildcardDevice
		case "b":
			r.Type = devconfig.BlockDevice
		case "c":
			r.Type = devconfig.CharDevice
		default:
			return nil, fieldErr(f+".type", "%q: must be \"a\", \"b\" or \"c\"", d.Type)
		}
		if d.Major != nil {
			r.Major = *d.Major
		}
		if d.Minor != nil {
			r.Minor = *d.Minor
		}
		if d.Access == "" {
			return nil, fieldErr(f+".access", "must not be empty (a combination of r, w, m)")
		}
		if strings.Trim(d.Access, "rwm") != "" {
			return nil, fieldErr(f+".access", "%q: only r, w and m are allowed", d.Access)
		}
		r.Permissions = devconfig.Permissions(d.Access)
		out = append(out, r)
	}
	return out, nil
}

// defaultDevice is a device every container may use whatever its device
// list says, as with runc: the ones the runtime creates in /dev, pseudo
// terminals, /dev/net/tun, and mknod of anything (opening a node still
// needs a rule).
type defaultDevice struct {
	path string
	rule devconfig.Rule
}

var defaultDevices = []defaultDevice{
	{"", devconfig.Rule{Type: devconfig.CharDevice, Major: devconfig.Wildcard, Minor: devconfig.Wildcard, Permissions: "m", Allow: true}},
	{"", devconfig.Rule{Type: devconfig.BlockDevice, Major: devconfig.Wildcard, Minor: devconfig.Wildcard, Permissions: "m", Allow: true}},
	{"/dev/null", devconfig.Rule{Type: devconfig.CharDevice, Major: 1, Minor: 3, Permissions: "rwm", Allow: true}},
	{"/dev/random", devconfig.Rule{Type: devconfig.CharDevice, Major: 1, Minor: 8, Permissions: "rwm", Allow: true}},
	{"/dev/full", devconfig.Rule{Type: devconfig.CharDevice, Major: 1, Minor: 7, Permissions: "rwm", Allow: true}},
	{"/dev/tty", devconfig.Rule{Type: devconfig.CharDevice, Major: 5, Minor: 0, Permissions: "rwm", Allow: true}},
	{"/dev/zero", devconfig.Rule{Type: devconfig.CharDevice, Major: 1, Minor: 5, Permissions: "rwm", Allow: true}},
	{"/dev/urandom", devconfig.Rule{Type: devconfig.CharDevice, Major: 1, Minor: 9, Permissions: "rwm", Allow: true}},
	{"", devconfig.Rule{Type: devconfig.CharDevice, Major: 136, Minor: devconfig.Wildcard, Permissions: "rwm", Allow: true}}, // /dev/pts/*
	{"", devconfig.Rule{Type: devconfig.CharDevice, Major: 5, Minor: 2, Permissions: "rwm", Allow: true}},                    // /dev/ptmx
	{"", devconfig.Rule{Type: devconfig.CharDevice, Major: 10, Minor: 200, Permissions: "rwm", Allow: true}},                 // /dev/net/tun
}

// defaultDeviceRules are appended after linux.resources.devices, so the
// spec cannot take them away; a linux.devices entry at the same path
// replaces the default (its own node, its own resource rule).
func defaultDeviceRules(linuxDevices []specs.LinuxDevice) []*devconfig.Rule {
	var out []*devconfig.Rule
	for _, d := range defaultDevices {
		if d.path != "" && slices.ContainsFunc(linuxDevices, func(ld specs.LinuxDevice) bool { return ld.Path == d.path }) {
			continue
		}
		r := d.rule
		out = append(out, &r)
	}
	return out
}

// writeDeviceRules writes a new v1 cgroup's device rules one by one in
// the order given. The kernel lists them in devices.list in the order
// written, which is how the runtime-spec's "apply entries in the listed
// order" is checked; the manager's own writer (which runs next, as the
// authority on the result) computes a minimal sorted transition and finds
// nothing left to do when the ordered writes already produced the target.
func writeDeviceRules(dir string, rules []*devconfig.Rule) error {
	for _, r := range rules {
		file := "devices.deny"
		if r.Allow {
			file = "devices.allow"
		}
		if err := os.WriteFile(filepath.Join(dir, file), []byte(r.CgroupString()), 0); err != nil {
			return fieldErr("linux.resources.devices", "%s %q: %v", file, r.CgroupString(), err)
		}
	}
	return nil
}

// kernelTCP returns linux.resources.memory.kernelTCP. Kernel memory
// (memory.kernel) is not: since Linux 6.1 memory.kmem.limit_in_bytes
// accepts writes and ignores them, and cgroup v2 never had it.
func kernelTCP(r *specs.LinuxResources) *int64 {
	if r == nil || r.Memory == nil {
		return nil
	}
	return r.Memory.KernelTCP
}

// setKernelTCP applies the TCP buffer limit on v1; cgroup v2 accounts
// socket memory in memory.max and has no separate limit.
func setKernelTCP(p Paths, limit *int64) error {
	d := p.Dir("memory")
	if limit == nil || d == "" {
		return nil
	}
	f := filepath.Join(d, "memory.kmem.tcp.limit_in_bytes")
	if _, err := os.Stat(f); err != nil {
		return nil
	}
	if err := os.WriteFile(f, []byte(strconv.FormatInt(*limit, 10)), 0); err != nil {
		return fieldErr("linux.resources.memory.kernelTCP", "%d: %v", *limit, err)
	}
	return nil
}

// fileFields maps the cgroup files the manager writes to the spec field
// they come from, so that a kernel refusal names the field. Compiled on
// the first error only: compiling them at package init cost every
// oci-run and oci-cgroup process 0.2 to 0.4 ms.
var fileFields = sync.OnceValue(func() []fileField {
	return []fileField{
		// The manager's own words for a unified key; they name the key,
		// whose file can look like another field's (memory.max).
		{regexp.MustCompile(`unified resource`), "linux.resources.unified"},
		{regexp.MustCompile(`memory\.(limit_in_bytes|max\b)|memory limit`), "linux.resources.memory.limit"},
		{regexp.MustCompile(`memory\.(soft_limit_in_bytes|low)`), "linux.resources.memory.reservation"},
		{regexp.MustCompile(`memory\.(memsw\.limit_in_bytes|swap\.max)|swap`), "linux.resources.memory.swap"},
		{regexp.MustCompile(`memory\.swappiness|swappiness`), "linux.resources.memory.swappiness"},
		{regexp.MustCompile(`memory\.(oom_control|oom\.group)`), "linux.resources.memory.disableOOMKiller"},
		{regexp.MustCompile(`cpu\.(shares|weight)`), "linux.resources.cpu.shares"},
		{regexp.MustCompile(`cpu\.cfs_quota_us|cpu\.max\b`), "linux.resources.cpu.quota"},
		{regexp.MustCompile(`cpu\.cfs_period_us`), "linux.resources.cpu.period"},
		{regexp.MustCompile(`cpu\.(cfs_burst_us|max\.burst)`), "linux.resources.cpu.burst"},
		{regexp.MustCompile(`cpu\.rt_runtime_us`), "linux.resources.cpu.realtimeRuntime"},
		{regexp.MustCompile(`cpu\.rt_period_us`), "linux.resources.cpu.realtimePeriod"},
		{regexp.MustCompile(`cpu\.idle`), "linux.resources.cpu.idle"},
		{regexp.MustCompile(`cpuset\.cpus`), "linux.resources.cpu.cpus"},
		{regexp.MustCompile(`cpuset\.mems`), "linux.resources.cpu.mems"},
		{regexp.MustCompile(`pids\.max`), "linux.resources.pids.limit"},
		{regexp.MustCompile(`blkio\.(bfq\.)?weight_device|io\.(bfq\.)?weight.*device`), "linux.resources.blockIO.weightDevice"},
		{regexp.MustCompile(`blkio\.(bfq\.)?weight|io\.(bfq\.)?weight`), "linux.resources.blockIO.weight"},
		{regexp.MustCompile(`blkio\.leaf_weight`), "linux.resources.blockIO.leafWeight"},
		{regexp.MustCompile(`blkio\.throttle\.read_bps_device`), "linux.resources.blockIO.throttleReadBpsDevice"},
		{regexp.MustCompile(`blkio\.throttle\.write_bps_device`), "linux.resources.blockIO.throttleWriteBpsDevice"},
		{regexp.MustCompile(`blkio\.throttle\.read_iops_device`), "linux.resources.blockIO.throttleReadIOPSDevice"},
		{regexp.MustCompile(`blkio\.throttle\.write_iops_device`), "linux.resources.blockIO.throttleWriteIOPSDevice"},
		{regexp.MustCompile(`io\.max`), "linux.resources.blockIO"},
		{regexp.MustCompile(`hugetlb\.`), "linux.resources.hugepageLimits"},
		{regexp.MustCompile(`net_cls\.`), "linux.resources.network.classID"},
		{regexp.MustCompile(`net_prio\.`), "linux.resources.network.priorities"},
		{regexp.MustCompile(`rdma\.`), "linux.resources.rdma"},
		{regexp.MustCompile(`devices\.(allow|deny)|device`), "linux.resources.devices"},
	}
})

type fileField struct {
	re    *regexp.Regexp
	field string
}

// setError names the spec field behind a failed write of the manager.
func setError(err error) error {
	msg := err.Error()
	for _, ff := range fileFields() {
		if ff.re.MatchString(msg) {
			return fmt.Errorf("%s: %w", ff.field, err)
		}
	}
	return fmt.Errorf("linux.resources: %w", err)
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
