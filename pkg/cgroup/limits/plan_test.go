package limits

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-run/oci-run/pkg/spec"
)

func ptr[T any](v T) *T { return &v }

// line is a write as "ctrl file=value (field)" plus its flags, for tables.
func line(w Write) string {
	s := w.Ctrl + " " + w.File + "=" + w.Value + " (" + w.Field + ")"
	if w.Optional {
		s += " optional"
	}
	if w.After != "" {
		s += " after " + w.After
	}
	if w.Else != nil {
		s += " else " + w.Else.File + "=" + w.Else.Value
	}
	if w.Check {
		s += " check"
	}
	if w.ReadBack {
		s += " readback"
	}
	return s
}

func lines(ws []Write) []string {
	out := []string{}
	for _, w := range ws {
		out = append(out, line(w))
	}
	return out
}

var dev = specs.LinuxBlockIODevice{Major: 8, Minor: 0}

var full = &specs.LinuxResources{
	Memory: &specs.LinuxMemory{Limit: ptr[int64](100 << 20), Swap: ptr[int64](200 << 20), Reservation: ptr[int64](50 << 20),
		Swappiness: ptr[uint64](10), DisableOOMKiller: ptr(true), KernelTCP: ptr[int64](1 << 20), CheckBeforeUpdate: ptr(true)},
	CPU: &specs.LinuxCPU{Shares: ptr[uint64](1024), Quota: ptr[int64](50000), Period: ptr[uint64](100000), Burst: ptr[uint64](1000),
		RealtimeRuntime: ptr[int64](950), RealtimePeriod: ptr[uint64](1000), Cpus: "0-1", Mems: "0", Idle: ptr[int64](1)},
	Pids: &specs.LinuxPids{Limit: ptr[int64](10)},
	BlockIO: &specs.LinuxBlockIO{Weight: ptr[uint16](300), LeafWeight: ptr[uint16](200),
		WeightDevice:          []specs.LinuxWeightDevice{{LinuxBlockIODevice: dev, Weight: ptr[uint16](500)}},
		ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: dev, Rate: 1000}}},
	HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}},
	Network:        &specs.LinuxNetwork{ClassID: ptr[uint32](0x100001), Priorities: []specs.LinuxInterfacePriority{{Name: "eth0", Priority: 5}}},
	Rdma:           map[string]specs.LinuxRdma{"mlx5_1": {HcaHandles: ptr[uint32](3), HcaObjects: ptr[uint32](100)}},
}

func TestV1(t *testing.T) {
	want := []string{
		"cpuset cpuset.cpus=0-1 (linux.resources.cpu.cpus) else cpus=0-1",
		"cpuset cpuset.mems=0 (linux.resources.cpu.mems) else mems=0",
		"memory memory.limit_in_bytes=104857600 (linux.resources.memory.limit) after memory.memsw.limit_in_bytes",
		"memory memory.memsw.limit_in_bytes=209715200 (linux.resources.memory.swap)",
		"memory memory.soft_limit_in_bytes=52428800 (linux.resources.memory.reservation)",
		"memory memory.oom_control=1 (linux.resources.memory.disableOOMKiller)",
		"memory memory.swappiness=10 (linux.resources.memory.swappiness)",
		"memory memory.kmem.tcp.limit_in_bytes=1048576 (linux.resources.memory.kernelTCP) optional",
		"cpu cpu.shares=1024 (linux.resources.cpu.shares) readback",
		"cpu cpu.cfs_period_us=100000 (linux.resources.cpu.period) after cpu.cfs_quota_us",
		"cpu cpu.cfs_burst_us=1000 (linux.resources.cpu.burst) optional after cpu.cfs_quota_us",
		"cpu cpu.cfs_quota_us=50000 (linux.resources.cpu.quota)",
		"cpu cpu.idle=1 (linux.resources.cpu.idle)",
		"cpu cpu.rt_period_us=1000 (linux.resources.cpu.realtimePeriod) after cpu.rt_runtime_us",
		"cpu cpu.rt_runtime_us=950 (linux.resources.cpu.realtimeRuntime)",
		"pids pids.max=10 (linux.resources.pids.limit)",
		"blkio blkio.weight=300 (linux.resources.blockIO.weight) else blkio.bfq.weight=300",
		"blkio blkio.leaf_weight=200 (linux.resources.blockIO.leafWeight)",
		"blkio blkio.weight_device=8:0 500 (linux.resources.blockIO.weightDevice[0].weight) else blkio.bfq.weight_device=8:0 500",
		"blkio blkio.throttle.read_bps_device=8:0 1000 (linux.resources.blockIO.throttleReadBpsDevice[0])",
		"hugetlb hugetlb.2MB.limit_in_bytes=4194304 (linux.resources.hugepageLimits[0])",
		"hugetlb hugetlb.2MB.rsvd.limit_in_bytes=4194304 (linux.resources.hugepageLimits[0]) optional",
		"net_cls net_cls.classid=1048577 (linux.resources.network.classID)",
		"net_prio net_prio.ifpriomap=eth0 5 (linux.resources.network.priorities[0])",
		"rdma rdma.max=mlx5_1 hca_handle=3 hca_object=100 (linux.resources.rdma[\"mlx5_1\"])",
	}
	if got := lines(V1(full)); !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestV2(t *testing.T) {
	r := *full
	r.Network = nil
	r.Unified = map[string]string{"memory.high": "90M", "io.max": "8:0 rbps=1\n8:16 wbps=2\n"}
	ws, err := V2(&r)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		" pids.max=10 (linux.resources.pids.limit)",
		" memory.current=209715200 (linux.resources.memory.swap) check",
		" memory.current=104857600 (linux.resources.memory.limit) check",
		// OCI swap is memory+swap; memory.swap.max is swap alone.
		" memory.swap.max=104857600 (linux.resources.memory.swap)",
		" memory.max=104857600 (linux.resources.memory.limit)",
		" memory.low=52428800 (linux.resources.memory.reservation)",
		// BFQ takes the v1 weight; io.weight is the linear conversion.
		" io.bfq.weight=300 (linux.resources.blockIO.weight) else io.weight=2930",
		" io.bfq.weight=8:0 500 (linux.resources.blockIO.weightDevice[0].weight) optional",
		" io.max=8:0 rbps=1000 (linux.resources.blockIO.throttleReadBpsDevice[0])",
		" cpu.idle=1 (linux.resources.cpu.idle)",
		// shares 1024 (the v1 default) is weight 100 (the v2 default).
		" cpu.weight=100 (linux.resources.cpu.shares)",
		" cpu.max.burst=1000 (linux.resources.cpu.burst) after cpu.max",
		" cpu.max=50000 100000 (linux.resources.cpu.quota)",
		" cpuset.cpus=0-1 (linux.resources.cpu.cpus)",
		" cpuset.mems=0 (linux.resources.cpu.mems)",
		" hugetlb.2MB.max=4194304 (linux.resources.hugepageLimits[0])",
		" hugetlb.2MB.rsvd.max=4194304 (linux.resources.hugepageLimits[0]) optional",
		" rdma.max=mlx5_1 hca_handle=3 hca_object=100 (linux.resources.rdma[\"mlx5_1\"])",
		" io.max=8:0 rbps=1 (linux.resources.unified[\"io.max\"])",
		" io.max=8:16 wbps=2 (linux.resources.unified[\"io.max\"])",
		" memory.high=90M (linux.resources.unified[\"memory.high\"])",
	}
	if got := lines(ws); !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestV2Memory(t *testing.T) {
	for _, tt := range []struct {
		limit, swap int64
		want        []string
	}{
		{-1, 0, []string{"memory.swap.max=max optional", "memory.max=max"}},
		{100, 100, []string{"memory.swap.max=0 optional", "memory.max=100"}},
		{100, -1, []string{"memory.swap.max=max optional", "memory.max=100"}},
		{100, 0, []string{"memory.max=100"}},
		{-1, 300, []string{"memory.swap.max=300", "memory.max=max"}},
	} {
		ws, err := V2(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &tt.limit, Swap: &tt.swap}})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, w := range ws {
			s := w.File + "=" + w.Value
			if w.Optional {
				s += " optional"
			}
			got = append(got, s)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("limit %d swap %d: %q, want %q", tt.limit, tt.swap, got, tt.want)
		}
	}
	_, err := V2(&specs.LinuxResources{Memory: &specs.LinuxMemory{Swap: ptr[int64](100)}})
	var fe *spec.FieldError
	if !errors.As(err, &fe) || fe.Field != "linux.resources.memory.swap" {
		t.Errorf("swap without a limit: %v", err)
	}
}

func TestV2PeriodAlone(t *testing.T) {
	// runc writes "max PERIOD": a period alone lifts the quota.
	ws, _ := V2(&specs.LinuxResources{CPU: &specs.LinuxCPU{Period: ptr[uint64](50000)}})
	if len(ws) != 1 || ws[0].File != "cpu.max" || ws[0].Value != "max 50000" || ws[0].Field != "linux.resources.cpu.period" {
		t.Errorf("%q", lines(ws))
	}
}

func TestZeroIsUnset(t *testing.T) {
	r := &specs.LinuxResources{
		Memory:  &specs.LinuxMemory{Limit: ptr[int64](0)},
		Pids:    &specs.LinuxPids{Limit: ptr[int64](0)},
		BlockIO: &specs.LinuxBlockIO{Weight: ptr[uint16](0)},
		CPU:     &specs.LinuxCPU{Shares: ptr[uint64](0), Quota: ptr[int64](0)},
	}
	if ws := V1(r); len(ws) != 0 {
		t.Errorf("v1: %q", lines(ws))
	}
	if ws, _ := V2(r); len(ws) != 0 {
		t.Errorf("v2: %q", lines(ws))
	}
	lim := int64(-1)
	if ws := V1(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &lim}}); len(ws) != 2 || ws[1].File != "memory.memsw.limit_in_bytes" || ws[1].Value != "-1" || !ws[1].Optional {
		t.Errorf("no memory limit lifts memory+swap: %q", lines(ws))
	}
}

func TestConversions(t *testing.T) {
	for shares, want := range map[uint64]uint64{0: 0, 2: 1, 1024: 100, 262144: 10000, 512: 59, 4096: 303} {
		if got := CPUWeight(shares); got != want {
			t.Errorf("CPUWeight(%d) = %d, want %d", shares, got, want)
		}
	}
	for w, want := range map[uint16]uint64{0: 0, 10: 1, 1000: 10000, 500: 4950} {
		if got := IOWeight(w); got != want {
			t.Errorf("IOWeight(%d) = %d, want %d", w, got, want)
		}
	}
}

func TestApply(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"a", "b", "blkio.bfq.weight"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	dirs := func(string) string { return dir }
	ws := []Write{
		{File: "a", Value: "1", Field: "f.a"},
		{File: "gone", Value: "x", Field: "f.gone", Optional: true},
		{File: "blkio.weight", Value: "300", Field: "f.w", Else: &Write{File: "blkio.bfq.weight", Value: "300", Field: "f.w"}},
		{File: "b", Value: "2", Field: "f.b", After: "a"},
	}
	if err := Apply(dirs, ws); err != nil {
		t.Fatal(err)
	}
	for f, want := range map[string]string{"a": "1", "b": "2", "blkio.bfq.weight": "300"} {
		if b, _ := os.ReadFile(filepath.Join(dir, f)); string(b) != want {
			t.Errorf("%s = %q, want %q", f, b, want)
		}
	}
	err := Apply(dirs, []Write{{File: "missing", Value: "1", Field: "linux.resources.pids.limit"}})
	var we *Error
	if !errors.As(err, &we) || !strings.HasPrefix(err.Error(), "linux.resources.pids.limit: write \"1\" to "+dir+"/missing: ") || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	err = Apply(func(string) string { return "" }, []Write{{Ctrl: "pids", File: "pids.max", Value: "1", Field: "linux.resources.pids.limit"}})
	if err == nil || !strings.HasPrefix(err.Error(), "linux.resources.pids.limit: ") {
		t.Errorf("no hierarchy: %v", err)
	}
}

func TestDeviceRules(t *testing.T) {
	rules, err := DeviceRules([]specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}, {Allow: true, Type: "c", Major: ptr[int64](1), Minor: ptr[int64](3), Access: "rw"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := []string{v1Rule(rules[0]), v1Rule(rules[1]), v1Rule(rules[2])}; !reflect.DeepEqual(got, []string{"a", "c 1:3 rw", "c *:* m"}) {
		t.Errorf("%q", got)
	}
	for _, tt := range []struct {
		d     specs.LinuxDeviceCgroup
		field string
	}{
		{specs.LinuxDeviceCgroup{Type: "p", Access: "r"}, "linux.resources.devices[0].type"},
		{specs.LinuxDeviceCgroup{Access: "rwx"}, "linux.resources.devices[0].access"},
		{specs.LinuxDeviceCgroup{Type: "c", Major: ptr[int64](1 << 40), Access: "r"}, "linux.resources.devices[0].major"},
	} {
		_, err := DeviceRules([]specs.LinuxDeviceCgroup{tt.d}, nil)
		var fe *spec.FieldError
		if !errors.As(err, &fe) || fe.Field != tt.field {
			t.Errorf("%+v: %v, want field %s", tt.d, err, tt.field)
		}
	}
}
