package limits

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// A value of 0 is "not set" for most fields, as in runc, whose drivers
// work on a struct of plain numbers: clients send 0 for "no limit"
// (pids.limit, blockIO weight, memory.limit).

// V1 lists the writes of r for cgroup v1 hierarchies, in the order runc's
// v1 driver makes them. Device rules are not among them (WriteDevicesV1).
// r is checked already (pkg/cgroup): unified keys are refused on v1.
func V1(r *specs.LinuxResources) []Write {
	if r == nil {
		return nil
	}
	var out []Write
	add := func(ctrl, file, value, field string) *Write {
		out = append(out, Write{Ctrl: ctrl, File: file, Value: value, Field: field})
		return &out[len(out)-1]
	}
	if c := r.CPU; c != nil {
		if c.Cpus != "" {
			add("cpuset", "cpuset.cpus", c.Cpus, "linux.resources.cpu.cpus").Else = &Write{Ctrl: "cpuset", File: "cpus", Value: c.Cpus, Field: "linux.resources.cpu.cpus"}
		}
		if c.Mems != "" {
			add("cpuset", "cpuset.mems", c.Mems, "linux.resources.cpu.mems").Else = &Write{Ctrl: "cpuset", File: "mems", Value: c.Mems, Field: "linux.resources.cpu.mems"}
		}
	}
	if m := r.Memory; m != nil {
		limit, swap := val(m.Limit), val(m.Swap)
		if limit != 0 {
			// Lowering: memory first (memory+swap must stay above it);
			// raising: memory+swap first. The kernel says which (EINVAL).
			add("memory", "memory.limit_in_bytes", i64(limit), "linux.resources.memory.limit").After = "memory.memsw.limit_in_bytes"
		}
		switch {
		case swap != 0:
			add("memory", "memory.memsw.limit_in_bytes", i64(swap), "linux.resources.memory.swap")
		case limit == -1:
			// No limit lifts the memory+swap limit too (runc), where
			// swap is accounted.
			add("memory", "memory.memsw.limit_in_bytes", "-1", "linux.resources.memory.swap").Optional = true
		}
		if v := val(m.Reservation); v != 0 {
			add("memory", "memory.soft_limit_in_bytes", i64(v), "linux.resources.memory.reservation")
		}
		if m.DisableOOMKiller != nil && *m.DisableOOMKiller {
			add("memory", "memory.oom_control", "1", "linux.resources.memory.disableOOMKiller")
		}
		if s := m.Swappiness; s != nil && int64(*s) != -1 {
			add("memory", "memory.swappiness", strconv.FormatUint(*s, 10), "linux.resources.memory.swappiness")
		}
		if m.KernelTCP != nil {
			// Gone from kernels without v1 kmem accounting: nothing to
			// limit there.
			add("memory", "memory.kmem.tcp.limit_in_bytes", i64(*m.KernelTCP), "linux.resources.memory.kernelTCP").Optional = true
		}
	}
	if c := r.CPU; c != nil {
		if v := val(c.Shares); v != 0 {
			add("cpu", "cpu.shares", u64(v), "linux.resources.cpu.shares").ReadBack = true
		}
		quota := val(c.Quota)
		if v := val(c.Period); v != 0 {
			w := add("cpu", "cpu.cfs_period_us", u64(v), "linux.resources.cpu.period")
			if quota != 0 {
				w.After = "cpu.cfs_quota_us"
			}
		}
		if c.Burst != nil {
			w := add("cpu", "cpu.cfs_burst_us", u64(*c.Burst), "linux.resources.cpu.burst")
			w.Optional = true
			if quota != 0 {
				w.After = "cpu.cfs_quota_us"
			}
		}
		if quota != 0 {
			add("cpu", "cpu.cfs_quota_us", i64(quota), "linux.resources.cpu.quota")
		}
		if c.Idle != nil {
			add("cpu", "cpu.idle", i64(*c.Idle), "linux.resources.cpu.idle")
		}
		runtime := val(c.RealtimeRuntime)
		if v := val(c.RealtimePeriod); v != 0 {
			w := add("cpu", "cpu.rt_period_us", u64(v), "linux.resources.cpu.realtimePeriod")
			if runtime != 0 {
				w.After = "cpu.rt_runtime_us"
			}
		}
		if runtime != 0 {
			add("cpu", "cpu.rt_runtime_us", i64(runtime), "linux.resources.cpu.realtimeRuntime")
		}
	}
	if v, ok := pidsMax(r); ok {
		add("pids", "pids.max", v, "linux.resources.pids.limit")
	}
	if b := r.BlockIO; b != nil {
		// CFQ's files, or BFQ's where CFQ is gone (Linux 5.0).
		if v := val(b.Weight); v != 0 {
			add("blkio", "blkio.weight", u16(v), "linux.resources.blockIO.weight").Else = &Write{Ctrl: "blkio", File: "blkio.bfq.weight", Value: u16(v), Field: "linux.resources.blockIO.weight"}
		}
		if v := val(b.LeafWeight); v != 0 {
			add("blkio", "blkio.leaf_weight", u16(v), "linux.resources.blockIO.leafWeight")
		}
		for i, wd := range b.WeightDevice {
			f := fmt.Sprintf("linux.resources.blockIO.weightDevice[%d]", i)
			if v := val(wd.Weight); v != 0 {
				s := devNum(wd.LinuxBlockIODevice) + " " + u16(v)
				add("blkio", "blkio.weight_device", s, f+".weight").Else = &Write{Ctrl: "blkio", File: "blkio.bfq.weight_device", Value: s, Field: f + ".weight"}
			}
			if v := val(wd.LeafWeight); v != 0 {
				add("blkio", "blkio.leaf_weight_device", devNum(wd.LinuxBlockIODevice)+" "+u16(v), f+".leafWeight")
			}
		}
		for _, t := range throttles(b) {
			for i, d := range t.devs {
				add("blkio", "blkio.throttle."+t.v1, devNum(d.LinuxBlockIODevice)+" "+u64(d.Rate), fmt.Sprintf("linux.resources.blockIO.%s[%d]", t.field, i))
			}
		}
	}
	for i, l := range r.HugepageLimits {
		f := fmt.Sprintf("linux.resources.hugepageLimits[%d]", i)
		add("hugetlb", "hugetlb."+l.Pagesize+".limit_in_bytes", u64(l.Limit), f)
		// Reserved pages (Linux 5.7) get the same limit, as with runc.
		add("hugetlb", "hugetlb."+l.Pagesize+".rsvd.limit_in_bytes", u64(l.Limit), f).Optional = true
	}
	if n := r.Network; n != nil {
		if v := val(n.ClassID); v != 0 {
			add("net_cls", "net_cls.classid", strconv.FormatUint(uint64(v), 10), "linux.resources.network.classID")
		}
		for i, p := range n.Priorities {
			add("net_prio", "net_prio.ifpriomap", p.Name+" "+strconv.FormatUint(uint64(p.Priority), 10), fmt.Sprintf("linux.resources.network.priorities[%d]", i))
		}
	}
	for _, dev := range slices.Sorted(maps.Keys(r.Rdma)) {
		add("rdma", "rdma.max", rdmaValue(dev, r.Rdma[dev]), fmt.Sprintf("linux.resources.rdma[%q]", dev))
	}
	return out
}

// V2 lists the writes of r for a cgroup v2 directory, in the order runc's
// v2 driver makes them, with the v1 values of the spec converted. Device
// rules are not among them (an eBPF program, ApplyDevicesV2).
func V2(r *specs.LinuxResources) ([]Write, error) {
	if r == nil {
		return nil, nil
	}
	var out []Write
	add := func(file, value, field string) *Write {
		out = append(out, Write{Ctrl: Unified, File: file, Value: value, Field: field})
		return &out[len(out)-1]
	}
	if v, ok := pidsMax(r); ok {
		add("pids.max", v, "linux.resources.pids.limit")
	}
	if m := r.Memory; m != nil {
		limit, swap, low := val(m.Limit), val(m.Swap), val(m.Reservation)
		if m.CheckBeforeUpdate != nil && *m.CheckBeforeUpdate {
			if swap > 0 {
				add("memory.current", i64(swap), "linux.resources.memory.swap").Check = true
			}
			if limit > 0 {
				add("memory.current", i64(limit), "linux.resources.memory.limit").Check = true
			}
		}
		if limit != 0 || swap != 0 || low != 0 {
			s, err := SwapV2(swap, limit)
			if err != nil {
				return nil, fieldError("linux.resources.memory.swap", "%v", err)
			}
			v := maxOr(s)
			if v == "" && s == 0 && swap > 0 {
				v = "0" // memory+swap equal to memory: no swap
			}
			if v != "" {
				// Without swap accounting there is no file, and "no
				// swap" or "no swap limit" asks for nothing.
				add("memory.swap.max", v, "linux.resources.memory.swap").Optional = v == "max" || v == "0"
			}
			if v := maxOr(limit); v != "" {
				add("memory.max", v, "linux.resources.memory.limit")
			}
			if v := maxOr(low); v != "" {
				add("memory.low", v, "linux.resources.memory.reservation")
			}
		}
	}
	if b := r.BlockIO; b != nil {
		if v := val(b.Weight); v != 0 {
			// BFQ takes the v1 value as it is; io.weight is 1-10000.
			add("io.bfq.weight", u16(v), "linux.resources.blockIO.weight").Else = &Write{Ctrl: Unified, File: "io.weight", Value: u64(IOWeight(v)), Field: "linux.resources.blockIO.weight"}
		}
		for i, wd := range b.WeightDevice {
			if v := val(wd.Weight); v != 0 {
				// Only BFQ has per-device weights; without it runc drops them too.
				add("io.bfq.weight", devNum(wd.LinuxBlockIODevice)+" "+u16(v), fmt.Sprintf("linux.resources.blockIO.weightDevice[%d].weight", i)).Optional = true
			}
		}
		for _, t := range throttles(b) {
			for i, d := range t.devs {
				add("io.max", devNum(d.LinuxBlockIODevice)+" "+t.v2+"="+u64(d.Rate), fmt.Sprintf("linux.resources.blockIO.%s[%d]", t.field, i))
			}
		}
	}
	if c := r.CPU; c != nil {
		if c.Idle != nil {
			add("cpu.idle", i64(*c.Idle), "linux.resources.cpu.idle")
		}
		if v := val(c.Shares); v != 0 {
			add("cpu.weight", u64(CPUWeight(v)), "linux.resources.cpu.shares")
		}
		quota, period := val(c.Quota), val(c.Period)
		setMax := quota != 0 || period != 0
		if c.Burst != nil {
			w := add("cpu.max.burst", u64(*c.Burst), "linux.resources.cpu.burst")
			if quota != 0 {
				w.After = "cpu.max"
			}
		}
		if setMax {
			q := "max"
			if quota > 0 {
				q = i64(quota)
			}
			if period == 0 {
				period = 100000
			}
			field := "linux.resources.cpu.quota"
			if quota == 0 {
				field = "linux.resources.cpu.period"
			}
			add("cpu.max", q+" "+u64(period), field)
		}
		if c.Cpus != "" {
			add("cpuset.cpus", c.Cpus, "linux.resources.cpu.cpus")
		}
		if c.Mems != "" {
			add("cpuset.mems", c.Mems, "linux.resources.cpu.mems")
		}
	}
	for i, l := range r.HugepageLimits {
		f := fmt.Sprintf("linux.resources.hugepageLimits[%d]", i)
		add("hugetlb."+l.Pagesize+".max", u64(l.Limit), f)
		add("hugetlb."+l.Pagesize+".rsvd.max", u64(l.Limit), f).Optional = true
	}
	for _, dev := range slices.Sorted(maps.Keys(r.Rdma)) {
		add("rdma.max", rdmaValue(dev, r.Rdma[dev]), fmt.Sprintf("linux.resources.rdma[%q]", dev))
	}
	// Last, so that a key overrides the converted value of the same file.
	for _, k := range slices.Sorted(maps.Keys(r.Unified)) {
		if strings.Contains(k, "/") {
			return nil, fieldError(fmt.Sprintf("linux.resources.unified[%q]", k), "not a file name")
		}
		// Files such as io.max take one line per write.
		for _, line := range strings.Split(r.Unified[k], "\n") {
			if line != "" || !strings.Contains(r.Unified[k], "\n") {
				add(k, line, fmt.Sprintf("linux.resources.unified[%q]", k))
			}
		}
	}
	return out, nil
}

func pidsMax(r *specs.LinuxResources) (string, bool) {
	if r.Pids == nil || r.Pids.Limit == nil || *r.Pids.Limit == 0 {
		return "", false
	}
	if l := *r.Pids.Limit; l > 0 {
		return i64(l), true
	}
	return "max", true
}

type throttle struct {
	v1, v2, field string
	devs          []specs.LinuxThrottleDevice
}

func throttles(b *specs.LinuxBlockIO) []throttle {
	return []throttle{
		{"read_bps_device", "rbps", "throttleReadBpsDevice", b.ThrottleReadBpsDevice},
		{"write_bps_device", "wbps", "throttleWriteBpsDevice", b.ThrottleWriteBpsDevice},
		{"read_iops_device", "riops", "throttleReadIOPSDevice", b.ThrottleReadIOPSDevice},
		{"write_iops_device", "wiops", "throttleWriteIOPSDevice", b.ThrottleWriteIOPSDevice},
	}
}

func rdmaValue(dev string, l specs.LinuxRdma) string {
	s := dev
	if l.HcaHandles != nil {
		s += " hca_handle=" + strconv.FormatUint(uint64(*l.HcaHandles), 10)
	}
	if l.HcaObjects != nil {
		s += " hca_object=" + strconv.FormatUint(uint64(*l.HcaObjects), 10)
	}
	return s
}

// CPUWeight converts cpu.shares (2-262144, default 1024) to cpu.weight
// (1-10000, default 100) as runc's cgroup library does: a quadratic curve
// in log2(shares) through the minimum, the default and the maximum, so
// that the default maps to the default (the older linear formula gave 39
// for 1024).
func CPUWeight(shares uint64) uint64 {
	switch {
	case shares == 0:
		return 0
	case shares <= 2:
		return 1
	case shares >= 262144:
		return 10000
	}
	l := math.Log2(float64(shares))
	return uint64(math.Ceil(math.Pow(10, (l*l+125*l)/612.0-7.0/34.0)))
}

// IOWeight maps a blkio weight (10-1000) linearly to io.weight (1-10000).
func IOWeight(w uint16) uint64 {
	if w == 0 {
		return 0
	}
	return 1 + (uint64(w)-10)*9999/990
}

// SwapV2 converts the OCI swap value, a memory+swap limit as cgroup v1
// has it, to memory.swap.max, swap alone. 0 is unset, -1 no limit.
func SwapV2(swap, memory int64) (int64, error) {
	switch {
	case memory == -1 && swap == 0:
		// v1 semantics: lifting the memory limit lifts memory+swap.
		return -1, nil
	case swap == -1, swap == 0:
		return swap, nil
	case memory == -1:
		return swap, nil
	case memory == 0:
		return 0, errors.New("a swap limit (memory+swap) needs a memory limit on cgroup v2")
	case memory < 0:
		return 0, fmt.Errorf("memory limit %d is invalid", memory)
	case swap < memory:
		return 0, fmt.Errorf("%d is below memory.limit %d (swap is memory+swap)", swap, memory)
	}
	return swap - memory, nil
}

func maxOr(v int64) string {
	switch v {
	case 0:
		return ""
	case -1:
		return "max"
	}
	return i64(v)
}

func val[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func devNum(d specs.LinuxBlockIODevice) string {
	return strconv.FormatInt(d.Major, 10) + ":" + strconv.FormatInt(d.Minor, 10)
}

func i64(v int64) string  { return strconv.FormatInt(v, 10) }
func u64(v uint64) string { return strconv.FormatUint(v, 10) }
func u16(v uint16) string { return strconv.FormatUint(uint64(v), 10) }
