// Package systemd is oci-cgroup's driver for cgroups systemd owns
// (runc --systemd-cgroup): the transient scope is started, changed and
// stopped over D-Bus by github.com/opencontainers/cgroups/systemd, runc's
// own driver, which also writes the scope's cgroupfs files as systemd
// does not know every limit. Only oci-cgroup links it (it pulls in
// godbus and the library's cgroupfs drivers): oci-run runs
// `oci-cgroup --systemd --update|--destroy` for such containers, and
// does the rest (freeze, stats, processes, signals) on the scope's
// directories itself, with pkg/cgroup.
package systemd

import (
	"fmt"
	"io"
	"maps"

	"github.com/opencontainers/cgroups"
	_ "github.com/opencontainers/cgroups/devices" // device rules: v1 devices controller, v2 eBPF program, systemd DeviceAllow
	devconfig "github.com/opencontainers/cgroups/devices/config"
	sd "github.com/opencontainers/cgroups/systemd"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"

	"github.com/oci-run/oci-run/pkg/cgroup"
	"github.com/oci-run/oci-run/pkg/cgroup/limits"
)

// Driver implements cgroup.SystemdDriver.
type Driver struct{}

// Install makes pkg/cgroup use the driver for systemd-owned cgroups. The
// library warns through logrus on stderr, which is the container's stderr
// under oci-run: quiet it.
func Install() {
	logrus.SetOutput(io.Discard)
	cgroup.UseSystemd(Driver{})
}

func (Driver) Create(p *cgroup.Plan, pid int) error {
	r := p.Resources
	if p.DeferPids && r != nil && r.Pids != nil {
		rc := *r
		rc.Pids = nil
		r = &rc
	}
	res := convert(r, p.Devices)
	m, err := manager(p.Paths, res)
	if err != nil {
		return err
	}
	// systemd creates the scope with its first process in it.
	if err := m.Apply(pid); err != nil {
		return fmt.Errorf("create systemd scope %s: %w", p.Paths.Systemd.UnitName(), err)
	}
	if err := m.Set(res); err != nil {
		_ = m.Destroy()
		return fmt.Errorf("linux.resources: %w", err)
	}
	return nil
}

func (Driver) Update(p cgroup.Paths, r *specs.LinuxResources) error {
	res := convert(r, nil)
	res.SkipDevices = true
	m, err := manager(p, res)
	if err != nil {
		return err
	}
	if err := m.Set(res); err != nil {
		return fmt.Errorf("linux.resources: %w", err)
	}
	return nil
}

func (Driver) Destroy(p cgroup.Paths) error {
	m, err := manager(p, &cgroups.Resources{})
	if err != nil {
		return err
	}
	return m.Destroy()
}

func manager(p cgroup.Paths, res *cgroups.Resources) (cgroups.Manager, error) {
	u := p.Systemd
	if u == nil {
		return nil, fmt.Errorf("the cgroup is not owned by systemd")
	}
	cg := &cgroups.Cgroup{Resources: res, Systemd: true, Parent: u.Slice, ScopePrefix: u.Prefix, Name: u.Name}
	if p.V2() {
		return sd.NewUnifiedManager(cg, p.Dir(cgroup.Unified))
	}
	return sd.NewLegacyManager(cg, maps.Clone(p.Dirs))
}

// convert gives the library the spec's resources in its form (its
// systemd properties are made from it), as runc's specconv does.
func convert(r *specs.LinuxResources, rules []limits.DeviceRule) *cgroups.Resources {
	res := &cgroups.Resources{}
	for _, d := range rules {
		t := devconfig.Type(d.Type)
		res.Devices = append(res.Devices, &devconfig.Rule{Type: t, Major: d.Major, Minor: d.Minor, Permissions: devconfig.Permissions(d.Access), Allow: d.Allow})
	}
	if r == nil {
		return res
	}
	if m := r.Memory; m != nil {
		res.Memory = val(m.Limit)
		res.MemoryReservation = val(m.Reservation)
		res.MemorySwap = val(m.Swap)
		res.MemorySwappiness = m.Swappiness
		res.OomKillDisable = val(m.DisableOOMKiller)
		res.MemoryCheckBeforeUpdate = val(m.CheckBeforeUpdate)
	}
	if c := r.CPU; c != nil {
		res.CpuShares = val(c.Shares)
		res.CpuWeight = limits.CPUWeight(res.CpuShares)
		res.CpuQuota = val(c.Quota)
		res.CpuPeriod = val(c.Period)
		res.CpuBurst = c.Burst
		res.CpuRtRuntime = val(c.RealtimeRuntime)
		res.CpuRtPeriod = val(c.RealtimePeriod)
		res.CpusetCpus, res.CpusetMems = c.Cpus, c.Mems
		res.CPUIdle = c.Idle
	}
	if r.Pids != nil && r.Pids.Limit != nil && *r.Pids.Limit != 0 {
		l := *r.Pids.Limit
		res.PidsLimit = &l
	}
	if b := r.BlockIO; b != nil {
		res.BlkioWeight = val(b.Weight)
		res.BlkioLeafWeight = val(b.LeafWeight)
		for _, wd := range b.WeightDevice {
			res.BlkioWeightDevice = append(res.BlkioWeightDevice, cgroups.NewWeightDevice(wd.Major, wd.Minor, val(wd.Weight), val(wd.LeafWeight)))
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
	for _, l := range r.HugepageLimits {
		res.HugetlbLimit = append(res.HugetlbLimit, &cgroups.HugepageLimit{Pagesize: l.Pagesize, Limit: l.Limit})
	}
	if n := r.Network; n != nil {
		res.NetClsClassid = val(n.ClassID)
		for _, p := range n.Priorities {
			res.NetPrioIfpriomap = append(res.NetPrioIfpriomap, &cgroups.IfPrioMap{Interface: p.Name, Priority: int64(p.Priority)})
		}
	}
	if len(r.Rdma) > 0 {
		res.Rdma = make(map[string]cgroups.LinuxRdma, len(r.Rdma))
		for k, v := range r.Rdma {
			res.Rdma[k] = cgroups.LinuxRdma{HcaHandles: v.HcaHandles, HcaObjects: v.HcaObjects}
		}
	}
	res.Unified = maps.Clone(r.Unified)
	return res
}

func val[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
