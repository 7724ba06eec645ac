package cgroup

import (
	"errors"
	"maps"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-run/oci-run/pkg/cgroup/limits"
	"github.com/oci-run/oci-run/pkg/spec"
)

// What this machine shows: v1 controllers, the memory hierarchy puts us in
// a sub-cgroup, and an empty cgroup2 at /sys/fs/cgroup/unified.
const hybridMountinfo = `25 20 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
27 25 0:24 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
28 25 0:25 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
29 25 0:26 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
30 25 0:27 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
31 25 0:28 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
32 25 0:29 / /sys/fs/cgroup/odd rw,relatime - cgroup cgroup rw,name=odd
33 20 0:28 / /mnt/again rw,relatime - cgroup2 cgroup2 rw
`

const hybridCgroup = `9:name=systemd:/
5:devices:/
4:memory:/process_api/abc
2:cpuacct:/
1:cpu:/
0::/
`

func hybridHost(t *testing.T) *Host {
	t.Helper()
	h, err := parseHost(strings.NewReader(hybridMountinfo), strings.NewReader(hybridCgroup))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestParseHostHybrid(t *testing.T) {
	h := hybridHost(t)
	if h.Mode != Hybrid {
		t.Errorf("mode %v, want hybrid", h.Mode)
	}
	var got []string
	for _, hi := range h.Hierarchies {
		got = append(got, strings.Join(hi.Controllers, ",")+"@"+hi.Mountpoint+":"+hi.Own)
	}
	want := []string{
		"cpu@/sys/fs/cgroup/cpu:/", "cpuacct@/sys/fs/cgroup/cpuacct:/",
		"memory@/sys/fs/cgroup/memory:/process_api/abc", "devices@/sys/fs/cgroup/devices:/",
		"name=systemd@/sys/fs/cgroup/systemd:/", "@/sys/fs/cgroup/unified:/",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("hierarchies\n got %v\nwant %v", got, want)
	}
}

// A container that shares our mount namespace mounts its cgroup2 inside
// its rootfs: a pure v1 host stays v1.
func TestParseHostIgnoresCgroupMountsOutsideSysFsCgroup(t *testing.T) {
	mi := `26 25 0:23 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu
90 80 0:28 / /run/bundle/rootfs/sys/fs/cgroup rw - cgroup2 cgroup2 rw
91 80 0:24 / /run/bundle/rootfs/sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
`
	h, err := parseHost(strings.NewReader(mi), strings.NewReader("2:cpu:/\n3:memory:/\n0::/\n"))
	if err != nil {
		t.Fatal(err)
	}
	if h.Mode != V1 || len(h.Hierarchies) != 1 || h.Hierarchies[0].Mountpoint != "/sys/fs/cgroup/cpu" {
		t.Errorf("mode %v, hierarchies %+v; want v1 with /sys/fs/cgroup/cpu only", h.Mode, h.Hierarchies)
	}
}

func TestParseHostV2InContainer(t *testing.T) {
	mi := "40 30 0:50 /kubepods/pod1 /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n"
	h, err := parseHost(strings.NewReader(mi), strings.NewReader("0::/kubepods/pod1/ctr\n"))
	if err != nil {
		t.Fatal(err)
	}
	if h.Mode != V2 {
		t.Fatalf("mode %v", h.Mode)
	}
	d := dirs(h, "child")
	if d[Unified] != "/sys/fs/cgroup/child" {
		t.Errorf("relative dir under a mount of a subtree: %q, want beside our cgroup", d[Unified])
	}
	if d := dirs(h, "/abs/x"); d[Unified] != "/sys/fs/cgroup/abs/x" {
		t.Errorf("absolute dir: %q", d[Unified])
	}
}

// On v2 a relative path goes beside the runtime's cgroup (which has
// processes, so no controller can be enabled below it), as with runc; at
// the root it stays there.
func TestDirsV2Relative(t *testing.T) {
	for own, want := range map[string]string{
		"/user.slice/user-0.slice/session-1.scope": "/sys/fs/cgroup/user.slice/user-0.slice/a/b",
		"/": "/sys/fs/cgroup/a/b",
	} {
		h, err := parseHost(strings.NewReader("40 30 0:50 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"), strings.NewReader("0::"+own+"\n"))
		if err != nil {
			t.Fatal(err)
		}
		if d := dirs(h, "a/b")[Unified]; d != want {
			t.Errorf("own %s: %q, want %q", own, d, want)
		}
	}
}

func TestParseLocation(t *testing.T) {
	tests := []struct {
		path, id string
		systemd  bool
		inner    string
		unit     *SystemdUnit
		err      string
	}{
		{path: "", id: "c1", inner: "c1"},
		{path: "/a/b", inner: "/a/b"},
		{path: "/a/../../b/", inner: "/b"},
		{path: "a/b", inner: "a/b"},
		{path: "../../etc/x", inner: "etc/x"},
		{path: "/", err: "linux.cgroupsPath: \"/\" is the root cgroup"},
		{path: "..", err: "names the runtime's own cgroup"},
		{path: "", id: "a/b", err: "cannot name a cgroup"},
		{path: "system.slice:oci:c1", systemd: true, unit: &SystemdUnit{"system.slice", "oci", "c1"}},
		{path: ":oci:c1", systemd: true, unit: &SystemdUnit{"", "oci", "c1"}},
		{path: "", id: "c2", systemd: true, unit: &SystemdUnit{"", DefaultSystemdPrefix, "c2"}},
		{path: "/a/b", systemd: true, err: "with --systemd-cgroup the form is \"slice:prefix:name\""},
		{path: "system:oci:c1", systemd: true, err: "is not a systemd slice"},
		{path: "system.slice:oci:", systemd: true, err: "name part"},
	}
	for _, tt := range tests {
		loc, err := ParseLocation(tt.path, tt.id, tt.systemd)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: err %v, want %q", tt.path, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.path, err)
			continue
		}
		if loc.Inner != tt.inner {
			t.Errorf("%q: inner %q, want %q", tt.path, loc.Inner, tt.inner)
		}
		if (loc.Systemd == nil) != (tt.unit == nil) || (tt.unit != nil && *loc.Systemd != *tt.unit) {
			t.Errorf("%q: unit %+v, want %+v", tt.path, loc.Systemd, tt.unit)
		}
	}
}

func TestDirsHybrid(t *testing.T) {
	h := hybridHost(t)
	rel := dirs(h, "ctr")
	want := map[string]string{
		"cpu":          "/sys/fs/cgroup/cpu/ctr",
		"cpuacct":      "/sys/fs/cgroup/cpuacct/ctr",
		"memory":       "/sys/fs/cgroup/memory/process_api/abc/ctr",
		"devices":      "/sys/fs/cgroup/devices/ctr",
		"name=systemd": "/sys/fs/cgroup/systemd/ctr",
		"":             "/sys/fs/cgroup/unified/ctr",
	}
	if !maps.Equal(rel, want) {
		t.Errorf("relative:\n got %v\nwant %v", rel, want)
	}
	abs := dirs(h, "/machine/ctr")
	if abs["memory"] != "/sys/fs/cgroup/memory/machine/ctr" || abs[""] != "/sys/fs/cgroup/unified/machine/ctr" {
		t.Errorf("absolute: %v", abs)
	}
}

func TestDirsCoMounted(t *testing.T) {
	mi := "26 25 0:23 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
	h, err := parseHost(strings.NewReader(mi), strings.NewReader("2:cpu,cpuacct:/\n"))
	if err != nil {
		t.Fatal(err)
	}
	d := dirs(h, "/x")
	if d["cpu"] != "/sys/fs/cgroup/cpu,cpuacct/x" || d["cpuacct"] != d["cpu"] {
		t.Errorf("co-mounted: %v", d)
	}
	p := Paths{Dirs: d}
	if len(p.Unique()) != 1 {
		t.Errorf("unique: %v", p.Unique())
	}
}

func ptr[T any](v T) *T { return &v }

func TestResourcesDeviceRules(t *testing.T) {
	r := &specs.LinuxResources{
		Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}, {Allow: true, Type: "c", Major: ptr[int64](1), Minor: ptr[int64](3), Access: "rw"}},
	}
	rules, err := Resources(r, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 2+len(limits.DefaultDeviceRules(nil)) {
		t.Fatalf("devices: %d rules", len(rules))
	}
	if d := rules[0]; d.Allow || d.Type != 'a' || d.Major != -1 || d.Access != "rwm" {
		t.Errorf("deny all rule: %+v", d)
	}
	if d := rules[1]; !d.Allow || d.Type != 'c' || d.Major != 1 || d.Minor != 3 {
		t.Errorf("allow rule: %+v", d)
	}
}

func TestResourcesDefaultDevicesYieldToLinuxDevices(t *testing.T) {
	rules, err := Resources(nil, []specs.LinuxDevice{{Path: "/dev/null", Type: "c", Major: 1, Minor: 3}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range rules {
		if d.Major == 1 && d.Minor == 3 {
			t.Errorf("default /dev/null rule kept although linux.devices has /dev/null")
		}
	}
	if len(rules) != len(limits.DefaultDeviceRules(nil))-1 {
		t.Errorf("%d rules", len(rules))
	}
}

func TestResourcesErrorsNameTheField(t *testing.T) {
	h := hybridHost(t) // no pids, blkio, net_cls, hugetlb, rdma hierarchies
	tests := []struct {
		r     specs.LinuxResources
		field string
		msg   string
	}{
		{specs.LinuxResources{Unified: map[string]string{"memory.high": "1M"}}, "linux.resources.unified", "cgroup v1 (hybrid mode)"},
		{specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](1)}}, "linux.resources.pids", "pids controller is not mounted"},
		{specs.LinuxResources{Network: &specs.LinuxNetwork{ClassID: ptr[uint32](1)}}, "linux.resources.network.classID", "net_cls"},
		{specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Access: "rwx"}}}, "linux.resources.devices[0].access", "only r, w and m"},
		{specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Type: "p", Access: "r"}}}, "linux.resources.devices[0].type", "\"p\""},
		{specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{}}}, "linux.resources.devices[0].access", "must not be empty"},
		{specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](2 << 20), Swap: ptr[int64](1 << 20)}}, "linux.resources.memory.swap", "below"},
		{specs.LinuxResources{Memory: &specs.LinuxMemory{Swappiness: ptr[uint64](101)}}, "linux.resources.memory.swappiness", "0-100"},
		{specs.LinuxResources{CPU: &specs.LinuxCPU{Idle: ptr[int64](3)}}, "linux.resources.cpu.idle", "0 or 1"},
	}
	for _, tt := range tests {
		_, err := Resources(&tt.r, nil, h)
		var fe spec.Errors
		if !errors.As(err, &fe) {
			t.Errorf("%s: want field errors, got %v", tt.field, err)
			continue
		}
		if fe[0].Field != tt.field || !strings.Contains(fe[0].Msg, tt.msg) {
			t.Errorf("got %q, want field %s with %q", err, tt.field, tt.msg)
		}
	}
}

// On cgroup v2 a limit needs its controller where the container goes
// (the parent's cgroup.controllers); one that would not apply is refused
// naming the field, what sets nothing is not.
func TestResourcesV2Available(t *testing.T) {
	h := &Host{Mode: V2, Hierarchies: []Hierarchy{{Controllers: []string{Unified}, Mountpoint: "/sys/fs/cgroup", Root: "/", Own: "/"}}}
	avail := &Available{File: "/sys/fs/cgroup/a/cgroup.controllers", Set: map[string]bool{"cpu": true, "io": true}}
	refused := []struct {
		r     specs.LinuxResources
		field string
	}{
		{specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](1 << 20)}}, "linux.resources.memory"},
		{specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](-1)}}, "linux.resources.pids"},
		{specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "0"}}, "linux.resources.cpu"},
		{specs.LinuxResources{Unified: map[string]string{"memory.max": "1M"}}, `linux.resources.unified["memory.max"]`},
	}
	for _, tt := range refused {
		_, err := resources(&tt.r, nil, h, avail)
		var fe spec.Errors
		if !errors.As(err, &fe) || fe[0].Field != tt.field || !strings.Contains(fe[0].Msg, "not available") || !strings.Contains(fe[0].Msg, "lists cpu io") {
			t.Errorf("got %v, want field %s refused", err, tt.field)
		}
	}
	ok := []specs.LinuxResources{
		{Memory: &specs.LinuxMemory{}},
		{CPU: &specs.LinuxCPU{Shares: ptr[uint64](512)}, BlockIO: &specs.LinuxBlockIO{Weight: ptr[uint16](100)}},
		{Unified: map[string]string{"cgroup.max.descendants": "3", "memory.pressure": "", "cpu.weight": "50"}},
	}
	for _, r := range ok {
		if _, err := resources(&r, nil, h, avail); err != nil {
			t.Errorf("%+v: %v", r, err)
		}
	}
	// Unknown (unreadable cgroup.controllers): the writes decide.
	if _, err := resources(&refused[0].r, nil, h, nil); err != nil {
		t.Errorf("without a known set: %v", err)
	}
}

func TestParseSub(t *testing.T) {
	got, err := ParseSub([]string{"memory,cpu:a/b", "pids:c"})
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, map[string]string{"memory": "a/b", "cpu": "a/b", "pids": "c"}) {
		t.Errorf("%v", got)
	}
	got, err = ParseSub([]string{"x"})
	if err != nil || !maps.Equal(got, map[string]string{"": "x"}) {
		t.Errorf("plain form: %v %v", got, err)
	}
	for _, bad := range []string{"../x", "/abs", "memory:", "a/../../b", "."} {
		if _, err := ParseSub([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestUnescape(t *testing.T) {
	if got := unescape(`/a\040b\134c`); got != `/a b\c` {
		t.Errorf("%q", got)
	}
}

// A cgroup2 mounted over /sys/fs/cgroup (a container's view, or a test's
// private mount namespace) hides the v1 hierarchies that are still listed
// before it.
func TestParseHostShadowed(t *testing.T) {
	mi := hybridMountinfo + "90 25 0:50 / /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw\n"
	h, err := parseHost(strings.NewReader(mi), strings.NewReader(hybridCgroup))
	if err != nil {
		t.Fatal(err)
	}
	if h.Mode != V2 || len(h.Hierarchies) != 1 || h.Hierarchies[0].Mountpoint != "/sys/fs/cgroup" {
		t.Errorf("mode %v, hierarchies %+v", h.Mode, h.Hierarchies)
	}
}

// Intel RDT is refused, naming the field; an empty section is nothing.
func TestIntelRdtRefused(t *testing.T) {
	h := hybridHost(t)
	s := &specs.Spec{Linux: &specs.Linux{IntelRdt: &specs.LinuxIntelRdt{L3CacheSchema: "L3:0=f"}}}
	if _, err := planFor(h, s, "c1", false); err == nil || !strings.HasPrefix(err.Error(), "linux.intelRdt: ") {
		t.Errorf("intelRdt with a schema: %v", err)
	}
	s.Linux.IntelRdt = &specs.LinuxIntelRdt{}
	if _, err := planFor(h, s, "c1", false); err != nil {
		t.Errorf("empty intelRdt: %v", err)
	}
}
