package cgroup

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// UpdateFlags are `runc update`'s options, as strings the way they were
// given ("" = not given). Memory values take the units runc accepts
// (1024, 512k, 100m, 1.5g, 2GiB); "-1" means no limit.
type UpdateFlags struct {
	BlkioWeight       string
	CPUPeriod         string
	CPUQuota          string
	CPUBurst          string
	CPUShare          string
	CPURtPeriod       string
	CPURtRuntime      string
	CpusetCpus        string
	CpusetMems        string
	CPUIdle           string
	Memory            string
	MemoryReservation string
	MemorySwap        string
	PidsLimit         string
	// Obsolete, accepted and ignored as runc does.
	KernelMemory, KernelMemoryTCP string
}

// Resources turns the flags into the update they describe; fields not
// given stay nil.
func (f UpdateFlags) Resources() (*specs.LinuxResources, error) {
	r := &specs.LinuxResources{}
	cpu := &specs.LinuxCPU{}
	mem := &specs.LinuxMemory{}
	var errs []error
	u64 := func(flag, v string) *uint64 {
		return parseFlag(&errs, flag, v, func(v string) (uint64, error) {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%q is not a non-negative integer", v)
			}
			return n, nil
		})
	}
	i64 := func(flag, v string) *int64 {
		return parseFlag(&errs, flag, v, func(v string) (int64, error) {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%q is not an integer", v)
			}
			return n, nil
		})
	}
	bytes := func(flag, v string) *int64 { return parseFlag(&errs, flag, v, ParseBytes) }
	if w := u64("blkio-weight", f.BlkioWeight); w != nil {
		if *w > 1000 {
			errs = append(errs, fmt.Errorf("--blkio-weight: %d is out of range 10-1000", *w))
		} else if *w != 0 {
			v := uint16(*w)
			r.BlockIO = &specs.LinuxBlockIO{Weight: &v}
		}
	}
	cpu.Period = u64("cpu-period", f.CPUPeriod)
	cpu.Quota = i64("cpu-quota", f.CPUQuota)
	cpu.Burst = u64("cpu-burst", f.CPUBurst)
	cpu.Shares = u64("cpu-share", f.CPUShare)
	cpu.RealtimePeriod = u64("cpu-rt-period", f.CPURtPeriod)
	cpu.RealtimeRuntime = i64("cpu-rt-runtime", f.CPURtRuntime)
	cpu.Idle = i64("cpu-idle", f.CPUIdle)
	cpu.Cpus, cpu.Mems = f.CpusetCpus, f.CpusetMems
	if *cpu != (specs.LinuxCPU{}) {
		r.CPU = cpu
	}
	mem.Limit = bytes("memory", f.Memory)
	mem.Reservation = bytes("memory-reservation", f.MemoryReservation)
	mem.Swap = bytes("memory-swap", f.MemorySwap)
	if mem.Limit != nil || mem.Reservation != nil || mem.Swap != nil {
		r.Memory = mem
	}
	if l := i64("pids-limit", f.PidsLimit); l != nil && *l != 0 {
		r.Pids = &specs.LinuxPids{Limit: l}
	}
	return r, errors.Join(errs...)
}

// parseFlag reads the value v of --flag with parse; a flag not given
// ("") is nil, and one that does not parse is nil with its error added to
// errs, so that every bad flag is reported at once.
func parseFlag[T any](errs *[]error, flag, v string, parse func(string) (T, error)) *T {
	if v == "" {
		return nil
	}
	n, err := parse(v)
	if err != nil {
		*errs = append(*errs, fmt.Errorf("--%s: %w", flag, err))
		return nil
	}
	return &n
}

// ParseBytes reads a size the way runc's --memory does (docker's
// RAMInBytes): a number with an optional binary unit b, k, m, g, t, p
// (kb, kib, ... too, any case); "-1" is -1.
func ParseBytes(s string) (int64, error) {
	if s == "-1" {
		return -1, nil
	}
	t := strings.ToLower(strings.TrimSpace(s))
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.TrimSpace(t[i:])
	}
	mult := map[string]float64{
		"": 1, "b": 1,
		"k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10,
		"m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
		"g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30,
		"t": 1 << 40, "tb": 1 << 40, "tib": 1 << 40,
		"p": 1 << 50, "pb": 1 << 50, "pib": 1 << 50,
	}[unit]
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || mult == 0 || num == "" {
		return 0, fmt.Errorf("%q is not a size (e.g. 1048576, 512k, 100m, 1g)", s)
	}
	return int64(v * mult), nil
}

// ReadUpdate decodes the --resources JSON (a linux.resources object, as
// podman, containerd and Docker send it).
func ReadUpdate(rd io.Reader) (*specs.LinuxResources, error) {
	var r specs.LinuxResources
	dec := json.NewDecoder(rd)
	if err := dec.Decode(&r); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("--resources: empty input")
		}
		return nil, fmt.Errorf("--resources: %w", err)
	}
	return &r, nil
}

// Merge applies an update to the container's current resources the way
// runc update does: every field the update sets replaces the current one,
// the others are kept (cgroup drivers need both halves of pairs such as
// quota/period and memory/swap). A memory limit of -1 without a swap
// value also lifts the swap limit. Device rules are never updated.
func Merge(cur, upd *specs.LinuxResources) *specs.LinuxResources {
	out := &specs.LinuxResources{}
	if cur != nil {
		c := *cur
		out = &c
	}
	out.Devices = nil
	if upd == nil {
		return out
	}
	if m := upd.Memory; m != nil {
		nm := specs.LinuxMemory{}
		if out.Memory != nil {
			nm = *out.Memory
		}
		set(&nm.Limit, m.Limit)
		set(&nm.Reservation, m.Reservation)
		set(&nm.Swap, m.Swap)
		set(&nm.Swappiness, m.Swappiness)
		set(&nm.DisableOOMKiller, m.DisableOOMKiller)
		set(&nm.UseHierarchy, m.UseHierarchy)
		set(&nm.CheckBeforeUpdate, m.CheckBeforeUpdate)
		if m.Limit != nil && *m.Limit == -1 && m.Swap == nil {
			unlimited := int64(-1)
			nm.Swap = &unlimited
		}
		out.Memory = &nm
	}
	if c := upd.CPU; c != nil {
		nc := specs.LinuxCPU{}
		if out.CPU != nil {
			nc = *out.CPU
		}
		set(&nc.Shares, c.Shares)
		set(&nc.Quota, c.Quota)
		set(&nc.Burst, c.Burst)
		set(&nc.Period, c.Period)
		set(&nc.RealtimeRuntime, c.RealtimeRuntime)
		set(&nc.RealtimePeriod, c.RealtimePeriod)
		set(&nc.Idle, c.Idle)
		if c.Cpus != "" {
			nc.Cpus = c.Cpus
		}
		if c.Mems != "" {
			nc.Mems = c.Mems
		}
		out.CPU = &nc
	}
	if p := upd.Pids; p != nil && p.Limit != nil && *p.Limit != 0 {
		out.Pids = &specs.LinuxPids{Limit: p.Limit}
	}
	if b := upd.BlockIO; b != nil {
		nb := specs.LinuxBlockIO{}
		if out.BlockIO != nil {
			nb = *out.BlockIO
		}
		if b.Weight != nil && *b.Weight != 0 {
			nb.Weight = b.Weight
		}
		if b.LeafWeight != nil && *b.LeafWeight != 0 {
			nb.LeafWeight = b.LeafWeight
		}
		if b.WeightDevice != nil {
			nb.WeightDevice = b.WeightDevice
		}
		if b.ThrottleReadBpsDevice != nil {
			nb.ThrottleReadBpsDevice = b.ThrottleReadBpsDevice
		}
		if b.ThrottleWriteBpsDevice != nil {
			nb.ThrottleWriteBpsDevice = b.ThrottleWriteBpsDevice
		}
		if b.ThrottleReadIOPSDevice != nil {
			nb.ThrottleReadIOPSDevice = b.ThrottleReadIOPSDevice
		}
		if b.ThrottleWriteIOPSDevice != nil {
			nb.ThrottleWriteIOPSDevice = b.ThrottleWriteIOPSDevice
		}
		out.BlockIO = &nb
	}
	if upd.HugepageLimits != nil {
		out.HugepageLimits = upd.HugepageLimits
	}
	if upd.Network != nil {
		out.Network = upd.Network
	}
	if upd.Rdma != nil {
		out.Rdma = upd.Rdma
	}
	if upd.Unified != nil {
		out.Unified = maps.Clone(upd.Unified)
	}
	return out
}

func set[T any](dst **T, v *T) {
	if v != nil {
		c := *v
		*dst = &c
	}
}
