package cgroup

import (
	"fmt"

	"github.com/opencontainers/cgroups"
)

// Event is one line of `events` output, the shape runc prints and
// containerd/Docker parse: {"type":"stats"|"oom","id":ID,"data":...}.
type Event struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Data any    `json:"data,omitempty"`
}

// Stats is the "data" of a stats event, field for field runc's
// types.Stats (runc/types/events.go), which is the stable form clients
// decode; it is not the manager's own cgroups.Stats.
type Stats struct {
	CPU               CPU                 `json:"cpu"`
	CPUSet            CPUSet              `json:"cpuset"`
	Memory            Memory              `json:"memory"`
	Pids              Pids                `json:"pids"`
	Blkio             Blkio               `json:"blkio"`
	Hugetlb           map[string]Hugetlb  `json:"hugetlb"`
	IntelRdt          struct{}            `json:"intel_rdt"`
	NetworkInterfaces []*NetworkInterface `json:"network_interfaces"`
}

type Hugetlb struct {
	Usage   uint64 `json:"usage,omitempty"`
	Max     uint64 `json:"max,omitempty"`
	Failcnt uint64 `json:"failcnt"`
}

type BlkioEntry struct {
	Major uint64 `json:"major,omitempty"`
	Minor uint64 `json:"minor,omitempty"`
	Op    string `json:"op,omitempty"`
	Value uint64 `json:"value,omitempty"`
}

type Blkio struct {
	IoServiceBytesRecursive []BlkioEntry      `json:"ioServiceBytesRecursive,omitempty"`
	IoServicedRecursive     []BlkioEntry      `json:"ioServicedRecursive,omitempty"`
	IoQueuedRecursive       []BlkioEntry      `json:"ioQueueRecursive,omitempty"`
	IoServiceTimeRecursive  []BlkioEntry      `json:"ioServiceTimeRecursive,omitempty"`
	IoWaitTimeRecursive     []BlkioEntry      `json:"ioWaitTimeRecursive,omitempty"`
	IoMergedRecursive       []BlkioEntry      `json:"ioMergedRecursive,omitempty"`
	IoTimeRecursive         []BlkioEntry      `json:"ioTimeRecursive,omitempty"`
	SectorsRecursive        []BlkioEntry      `json:"sectorsRecursive,omitempty"`
	PSI                     *cgroups.PSIStats `json:"psi,omitempty"`
}

type Pids struct {
	Current uint64 `json:"current,omitempty"`
	Limit   uint64 `json:"limit,omitempty"`
}

type Throttling struct {
	Periods          uint64 `json:"periods,omitempty"`
	ThrottledPeriods uint64 `json:"throttledPeriods,omitempty"`
	ThrottledTime    uint64 `json:"throttledTime,omitempty"`
}

// CPUUsage is in nanoseconds.
type CPUUsage struct {
	Total        uint64   `json:"total,omitempty"`
	Percpu       []uint64 `json:"percpu,omitempty"`
	PercpuKernel []uint64 `json:"percpu_kernel,omitempty"`
	PercpuUser   []uint64 `json:"percpu_user,omitempty"`
	Kernel       uint64   `json:"kernel"`
	User         uint64   `json:"user"`
}

type CPU struct {
	Usage      CPUUsage          `json:"usage,omitempty"`
	Throttling Throttling        `json:"throttling,omitempty"`
	PSI        *cgroups.PSIStats `json:"psi,omitempty"`
}

type CPUSet struct {
	CPUs                  []uint16 `json:"cpus,omitempty"`
	CPUExclusive          uint64   `json:"cpu_exclusive"`
	Mems                  []uint16 `json:"mems,omitempty"`
	MemHardwall           uint64   `json:"mem_hardwall"`
	MemExclusive          uint64   `json:"mem_exclusive"`
	MemoryMigrate         uint64   `json:"memory_migrate"`
	MemorySpreadPage      uint64   `json:"memory_spread_page"`
	MemorySpreadSlab      uint64   `json:"memory_spread_slab"`
	MemoryPressure        uint64   `json:"memory_pressure"`
	SchedLoadBalance      uint64   `json:"sched_load_balance"`
	SchedRelaxDomainLevel int64    `json:"sched_relax_domain_level"`
}

type MemoryEntry struct {
	Limit   uint64 `json:"limit"`
	Usage   uint64 `json:"usage,omitempty"`
	Max     uint64 `json:"max,omitempty"`
	Failcnt uint64 `json:"failcnt"`
}

type Memory struct {
	Cache     uint64            `json:"cache,omitempty"`
	Usage     MemoryEntry       `json:"usage,omitempty"`
	Swap      MemoryEntry       `json:"swap,omitempty"`
	Kernel    MemoryEntry       `json:"kernel,omitempty"`
	KernelTCP MemoryEntry       `json:"kernelTCP,omitempty"`
	Raw       map[string]uint64 `json:"raw,omitempty"`
	PSI       *cgroups.PSIStats `json:"psi,omitempty"`
}

// NetworkInterface is kept for the shape: runc fills it only for the veth
// pairs it creates itself, which an OCI runtime does not.
type NetworkInterface struct {
	Name      string
	RxBytes   uint64
	RxPackets uint64
	RxErrors  uint64
	RxDropped uint64
	TxBytes   uint64
	TxPackets uint64
	TxErrors  uint64
	TxDropped uint64
}

// Stats reads the container's resource usage.
func (c *Cgroup) Stats() (*Stats, error) {
	cs, err := c.m.GetStats()
	if err != nil {
		return nil, fmt.Errorf("cgroup stats: %w", err)
	}
	return convertStats(cs), nil
}

func convertStats(cg *cgroups.Stats) *Stats {
	s := &Stats{}
	u := cg.CpuStats.CpuUsage
	s.CPU.Usage = CPUUsage{
		Total: u.TotalUsage, Percpu: u.PercpuUsage,
		PercpuKernel: u.PercpuUsageInKernelmode, PercpuUser: u.PercpuUsageInUsermode,
		Kernel: u.UsageInKernelmode, User: u.UsageInUsermode,
	}
	th := cg.CpuStats.ThrottlingData
	s.CPU.Throttling = Throttling{Periods: th.Periods, ThrottledPeriods: th.ThrottledPeriods, ThrottledTime: th.ThrottledTime}
	s.CPU.PSI = cg.CpuStats.PSI
	s.CPUSet = CPUSet(cg.CPUSetStats)

	m := cg.MemoryStats
	s.Memory = Memory{
		Cache: m.Cache, Usage: memoryEntry(m.Usage), Swap: memoryEntry(m.SwapUsage),
		Kernel: memoryEntry(m.KernelUsage), KernelTCP: memoryEntry(m.KernelTCPUsage),
		Raw: m.Stats, PSI: m.PSI,
	}
	b := cg.BlkioStats
	s.Blkio = Blkio{
		IoServiceBytesRecursive: blkio(b.IoServiceBytesRecursive),
		IoServicedRecursive:     blkio(b.IoServicedRecursive),
		IoQueuedRecursive:       blkio(b.IoQueuedRecursive),
		IoServiceTimeRecursive:  blkio(b.IoServiceTimeRecursive),
		IoWaitTimeRecursive:     blkio(b.IoWaitTimeRecursive),
		IoMergedRecursive:       blkio(b.IoMergedRecursive),
		IoTimeRecursive:         blkio(b.IoTimeRecursive),
		SectorsRecursive:        blkio(b.SectorsRecursive),
		PSI:                     b.PSI,
	}
	s.Hugetlb = make(map[string]Hugetlb, len(cg.HugetlbStats))
	for k, v := range cg.HugetlbStats {
		s.Hugetlb[k] = Hugetlb{Usage: v.Usage, Max: v.MaxUsage, Failcnt: v.Failcnt}
	}
	s.Pids = Pids{Current: cg.PidsStats.Current, Limit: cg.PidsStats.Limit}
	return s
}

func memoryEntry(m cgroups.MemoryData) MemoryEntry {
	return MemoryEntry{Limit: m.Limit, Usage: m.Usage, Max: m.MaxUsage, Failcnt: m.Failcnt}
}

func blkio(in []cgroups.BlkioStatEntry) []BlkioEntry {
	out := make([]BlkioEntry, len(in))
	for i, e := range in {
		out[i] = BlkioEntry{Major: e.Major, Minor: e.Minor, Op: e.Op, Value: e.Value}
	}
	return out
}
