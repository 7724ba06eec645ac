// Package cgroup_test runs the oci-cgroup stage alone, from a spec on fd 3,
// and reads the effect from the host's cgroup files and from inside the
// process it runs. Every test uses its own cgroup names and checks that
// nothing is left in any hierarchy.
package cgroup_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/internal/testutil"
	"github.com/oci-run/oci-run/pkg/cgroup"
)

func ptr[T any](v T) *T { return &v }

// config is a spec with only what oci-cgroup reads.
func config(path string, r *specs.LinuxResources) *specs.Spec {
	return &specs.Spec{Version: specs.Version, Linux: &specs.Linux{CgroupsPath: path, Resources: r}}
}

type result struct {
	stdout, stderr string
	err            error
}

// runStage runs bin/oci-cgroup with s on fd 3.
func runStage(t *testing.T, s *specs.Spec, args ...string) result {
	t.Helper()
	cmd := stageCmd(t, s, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return result{out.String(), errb.String(), err}
}

func stageCmd(t *testing.T, s *specs.Spec, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(testutil.Bin(t, "oci-cgroup"), args...)
	cmd.ExtraFiles = []*os.File{testutil.SpecFile(t, s)}
	return cmd
}

// noLeak fails if a cgroup directory named name exists in any hierarchy.
func noLeak(t *testing.T, name string) {
	t.Helper()
	if left := testutil.CgroupDirs(t, name); len(left) > 0 {
		t.Errorf("cgroup directories left behind: %v", left)
	}
}

// ownDir is this process's cgroup directory in a v1 hierarchy.
func ownDir(t *testing.T, ctrl string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(l, ":", 3)
		if len(parts) == 3 && (parts[1] == ctrl || (ctrl == "" && parts[0] == "0")) {
			mnt := "/sys/fs/cgroup/" + ctrl
			if ctrl == "" {
				mnt = "/sys/fs/cgroup/unified"
			}
			return filepath.Join(mnt, parts[2])
		}
	}
	t.Fatalf("no %q hierarchy", ctrl)
	return ""
}

func requireV1(t *testing.T) {
	t.Helper()
	testutil.RequireRoot(t)
	if _, err := os.Stat("/sys/fs/cgroup/memory/memory.limit_in_bytes"); err != nil {
		t.Skip("needs the cgroup v1 memory hierarchy")
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// The limits are in the host's files while the program runs, the program
// is in the cgroup in every hierarchy (the cgroup2 one of a hybrid host
// too), and --rm removes the cgroup and the parents it created.
func TestLimitsAppliedAndJoined(t *testing.T) {
	requireV1(t)
	name := testutil.ID(t)
	r := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr[int64](64 << 20), Reservation: ptr[int64](32 << 20), Swappiness: ptr[uint64](7)},
		CPU:    &specs.LinuxCPU{Shares: ptr[uint64](512), Quota: ptr[int64](20000), Period: ptr[uint64](100000), Cpus: "0", Mems: "0"},
		Pids:   &specs.LinuxPids{Limit: ptr[int64](42)},
	}
	script := `cat /proc/self/cgroup; echo; cd /sys/fs/cgroup;
m=$(sed -n 's/^[0-9]*:memory://p' /proc/self/cgroup)
echo mem=$(cat memory$m/memory.limit_in_bytes) res=$(cat memory$m/memory.soft_limit_in_bytes) swp=$(cat memory$m/memory.swappiness)
p=$(sed -n 's/^[0-9]*:pids://p' /proc/self/cgroup)
echo pids=$(cat pids$p/pids.max)
c=$(sed -n 's/^[0-9]*:cpu://p' /proc/self/cgroup)
echo shares=$(cat cpu$c/cpu.shares) quota=$(cat cpu$c/cpu.cfs_quota_us) period=$(cat cpu$c/cpu.cfs_period_us)
s=$(sed -n 's/^[0-9]*:cpuset://p' /proc/self/cgroup)
echo cpus=$(cat cpuset$s/cpuset.cpus) mems=$(cat cpuset$s/cpuset.mems)`
	res := runStage(t, config(name+"/nested/ctr", r), "--rm", "--", "sh", "-c", script)
	if res.err != nil {
		t.Fatalf("%v: %s", res.err, res.stderr)
	}
	for _, want := range []string{
		"mem=67108864 ", "res=33554432", "swp=7", "pids=42", "shares=512 quota=20000 period=100000", "cpus=0 mems=0",
	} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("missing %q in\n%s", want, res.stdout)
		}
	}
	// Relative path: under our own cgroup in each hierarchy.
	own := strings.TrimPrefix(ownDir(t, "memory"), "/sys/fs/cgroup/memory")
	if !strings.Contains(res.stdout, ":memory:"+filepath.Join(own, name, "nested/ctr")+"\n") {
		t.Errorf("memory cgroup is not under ours (%s):\n%s", own, res.stdout)
	}
	if _, err := os.Stat("/sys/fs/cgroup/unified/cgroup.procs"); err == nil {
		if !strings.Contains(res.stdout, "0::/"+name+"/nested/ctr\n") {
			t.Errorf("not in the cgroup2 hierarchy of the hybrid host:\n%s", res.stdout)
		}
	}
	noLeak(t, name)
}

// An absolute cgroupsPath starts at each hierarchy's root; the nested
// parents it needed are created and removed, and parents that existed are
// kept.
func TestAbsolutePathParents(t *testing.T) {
	requireV1(t)
	name := testutil.ID(t)
	kept := "/sys/fs/cgroup/pids/" + name
	if err := os.Mkdir(kept, 0o755); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(kept)
	res := runStage(t, config("/"+name+"/a/b", nil), "--rm", "--", "cat", "/proc/self/cgroup")
	if res.err != nil {
		t.Fatalf("%v: %s", res.err, res.stderr)
	}
	if !strings.Contains(res.stdout, ":memory:/"+name+"/a/b\n") || !strings.Contains(res.stdout, ":pids:/"+name+"/a/b\n") {
		t.Errorf("not at the absolute path:\n%s", res.stdout)
	}
	if _, err := os.Stat(kept); err != nil {
		t.Errorf("a parent that existed before was removed: %v", err)
	}
	if _, err := os.Stat(kept + "/a"); err == nil {
		t.Errorf("created parent %s/a left behind", kept)
	}
	os.Remove(kept)
	noLeak(t, name)
}

// An empty cgroupsPath is the id under the runtime's own cgroup.
func TestDefaultPathIsID(t *testing.T) {
	requireV1(t)
	id := testutil.ID(t)
	res := runStage(t, config("", nil), "--id", id, "--rm", "--", "cat", "/proc/self/cgroup")
	if res.err != nil {
		t.Fatalf("%v: %s", res.err, res.stderr)
	}
	own := strings.TrimPrefix(ownDir(t, "memory"), "/sys/fs/cgroup/memory")
	if !strings.Contains(res.stdout, ":memory:"+filepath.Join("/", own, id)+"\n") ||
		!strings.Contains(res.stdout, ":pids:"+filepath.Join("/", strings.TrimPrefix(ownDir(t, "pids"), "/sys/fs/cgroup/pids"), id)+"\n") {
		t.Errorf("default path is not <own cgroup>/<id>:\n%s", res.stdout)
	}
	noLeak(t, id)
}

// A cgroup that already has processes belongs to someone else: refused,
// and left as it was.
func TestExistingNonEmptyRefused(t *testing.T) {
	requireV1(t)
	name := testutil.ID(t)
	dir := "/sys/fs/cgroup/pids/" + name
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sleeper := exec.Command("sleep", "1000")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		sleeper.Process.Kill()
		sleeper.Wait()
		os.Remove(dir)
		noLeak(t, name)
	}()
	if err := os.WriteFile(dir+"/cgroup.procs", []byte(strconv.Itoa(sleeper.Process.Pid)), 0); err != nil {
		t.Fatal(err)
	}
	res := runStage(t, config("/"+name, nil), "--", "true")
	if res.err == nil {
		t.Fatal("oci-cgroup accepted a cgroup with a process in it")
	}
	if !strings.Contains(res.stderr, "oci-cgroup: linux.cgroupsPath: cgroup "+dir+" already exists and is not empty: 1 process(es) found") {
		t.Errorf("error: %q", res.stderr)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("someone else's cgroup was removed")
	}
	if left := testutil.CgroupDirs(t, name); len(left) != 1 {
		t.Errorf("other hierarchies touched: %v", left)
	}
}

// Bad input: one line naming the field, nothing created.
func TestRefusedBeforeCreating(t *testing.T) {
	requireV1(t)
	name := testutil.ID(t)
	tests := []struct {
		r    *specs.LinuxResources
		want string
	}{
		{&specs.LinuxResources{Unified: map[string]string{"memory.high": "10M"}}, "oci-cgroup: linux.resources.unified: cgroup v2 settings cannot be applied"},
		{&specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwz"}}}, "oci-cgroup: linux.resources.devices[0].access: \"rwz\": only r, w and m are allowed"},
		{&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](64 << 20), Swap: ptr[int64](32 << 20)}}, "oci-cgroup: linux.resources.memory.swap:"},
		{&specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "4096"}}, "oci-cgroup: linux.resources.cpu.cpus:"},
	}
	for _, tt := range tests {
		res := runStage(t, config(name+"/x", tt.r), "--", "true")
		if res.err == nil || !strings.HasPrefix(res.stderr, tt.want) || strings.Count(res.stderr, "\n") != 1 {
			t.Errorf("got %v %q, want one line starting %q", res.err, res.stderr, tt.want)
		}
		noLeak(t, name)
	}
}

// The next program not found: error, and the cgroup is not left behind.
func TestExecFailureLeavesNothing(t *testing.T) {
	requireV1(t)
	name := testutil.ID(t)
	res := runStage(t, config(name, &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](5)}}), "--", "/nonexistent/prog")
	if res.err == nil || !strings.Contains(res.stderr, "/nonexistent/prog") {
		t.Errorf("got %v %q", res.err, res.stderr)
	}
	noLeak(t, name)
}

func TestSystemdNeedsSystemd(t *testing.T) {
	requireV1(t)
	if b, _ := os.ReadFile("/proc/1/comm"); strings.TrimSpace(string(b)) == "systemd" {
		t.Skip("systemd is running here")
	}
	res := runStage(t, config("system.slice:oci:x", nil), "--systemd", "--", "true")
	if res.err == nil || !strings.Contains(res.stderr, "oci-cgroup: --systemd-cgroup: systemd is not running on this host") {
		t.Errorf("got %v %q", res.err, res.stderr)
	}
	res = runStage(t, config("/not/systemd/form", nil), "--systemd", "--", "true")
	if res.err == nil || !strings.Contains(res.stderr, `oci-cgroup: linux.cgroupsPath: "/not/systemd/form": with --systemd-cgroup the form is "slice:prefix:name"`) {
		t.Errorf("got %v %q", res.err, res.stderr)
	}
}

// Without --rm the program is exec'd in the cgroup, which outlives it
// until someone destroys it; --join puts another program in the same
// cgroup (or a sub-cgroup) without creating anything.
func TestJoinExisting(t *testing.T) {
	requireV1(t)
	id := testutil.ID(t)
	s := config("", &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](20)}})

	res := runStage(t, s, "--id", id, "--join", "--", "true")
	if res.err == nil || !strings.Contains(res.stderr, "does not exist") {
		t.Errorf("join of a missing cgroup: %v %q", res.err, res.stderr)
	}
	noLeak(t, id)

	first := stageCmd(t, s, "--id", id, "--", "sleep", "1000")
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	c := loadPlanned(t, s, id)
	defer func() {
		if err := c.Destroy(); err != nil {
			t.Error(err)
		}
		first.Wait()
		noLeak(t, id)
	}()
	// Wait until the first program is in its cgroup.
	for {
		pids, _ := c.Pids()
		if len(pids) == 1 && pids[0] == first.Process.Pid {
			break
		}
		if first.ProcessState != nil {
			t.Fatal("first program exited")
		}
	}
	res = runStage(t, s, "--id", id, "--join", "--", "cat", "/proc/self/cgroup")
	if res.err != nil {
		t.Fatalf("%v: %s", res.err, res.stderr)
	}
	if !strings.Contains(res.stdout, "/"+id+"\n") || strings.Contains(res.stdout, "pids:/\n") {
		t.Errorf("joined the wrong cgroup:\n%s", res.stdout)
	}
	if err := os.Mkdir(c.Paths.Dir("pids")+"/sub", 0o755); err != nil {
		t.Fatal(err)
	}
	res = runStage(t, s, "--id", id, "--join", "--sub", "pids:sub", "--", "cat", "/proc/self/cgroup")
	if res.err != nil {
		t.Fatalf("%v: %s", res.err, res.stderr)
	}
	if !strings.Contains(res.stdout, ":pids:") || !strings.Contains(res.stdout, id+"/sub\n") || !strings.Contains(res.stdout, ":memory:") {
		t.Errorf("sub-cgroup join:\n%s", res.stdout)
	}
	for _, l := range strings.Split(res.stdout, "\n") {
		if strings.Contains(l, ":memory:") && strings.HasSuffix(l, "/sub") {
			t.Errorf("--sub pids:sub moved the memory cgroup too: %s", l)
		}
	}
	// The limit of the first run was not touched by the joins.
	if got := read(t, c.Paths.Dir("pids")+"/pids.max"); got != "20" {
		t.Errorf("pids.max %s", got)
	}
}

// Under a memory limit without swap, a program that needs more is killed
// by the OOM killer, and the kernel counts it in the cgroup.
func TestMemoryLimitOOMKills(t *testing.T) {
	requireV1(t)
	name := testutil.ID(t)
	r := &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](16 << 20), Swap: ptr[int64](16 << 20)}}
	// dd allocates its 64 MiB block and writes to it.
	script := `m=/sys/fs/cgroup/memory$(sed -n 's/^[0-9]*:memory://p' /proc/self/cgroup)
dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null; echo dd=$?
grep oom_kill $m/memory.oom_control`
	res := runStage(t, config(name, r), "--rm", "--", "sh", "-c", script)
	if res.err != nil {
		t.Fatalf("%v: %s", res.err, res.stderr)
	}
	if !strings.Contains(res.stdout, "dd=137") || !strings.Contains(res.stdout, "oom_kill 1") {
		t.Errorf("dd was not OOM-killed:\n%s", res.stdout)
	}
	// The same dd fits without the limit.
	res = runStage(t, config(name, nil), "--rm", "--", "sh", "-c", script)
	if !strings.Contains(res.stdout, "dd=0") {
		t.Errorf("dd fails even without a limit:\n%s %s", res.stdout, res.stderr)
	}
	noLeak(t, name)
}

// At pids.max the kernel refuses fork; the host sees the refusal in
// pids.events.
func TestPidsLimitRefusesFork(t *testing.T) {
	requireV1(t)
	id := testutil.ID(t)
	s := config("", &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](4)}})
	c := loadPlanned(t, s, id)
	defer func() {
		if err := c.Destroy(); err != nil {
			t.Error(err)
		}
		noLeak(t, id)
	}()
	// sh is one task, three sleeps fill the cgroup, the fourth fork fails
	// (and ash exits on a failed fork).
	res := runStage(t, s, "--id", id, "--", "busybox", "sh", "-c", "for i in 1 2 3 4; do sleep 100 >/dev/null 2>&1 & echo started $i; done")
	if !strings.Contains(res.stderr, "can't fork: Resource temporarily unavailable") || !strings.Contains(res.stdout, "started 3") || strings.Contains(res.stdout, "started 4") {
		t.Errorf("fork was not refused at the fourth task:\nstdout %s\nstderr %s", res.stdout, res.stderr)
	}
	p := c.Paths.Dir("pids")
	if got := read(t, p+"/pids.events"); got != "max 1" {
		t.Errorf("pids.events: %q", got)
	}
	if got := read(t, p+"/pids.current"); got != "3" {
		t.Errorf("pids.current after sh exited: %q (three sleeps)", got)
	}
}

// loadPlanned is the cgroup oci-cgroup will create for s and id.
func loadPlanned(t *testing.T, s *specs.Spec, id string) *cgroup.Cgroup {
	t.Helper()
	plan, err := cgroup.NewPlan(s, id, false)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cgroup.Load(plan.Paths)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A device the rules do not allow cannot be opened even by root; the
// default devices still can.
func TestDeviceRulesRefuseOpen(t *testing.T) {
	requireV1(t)
	name := testutil.ID(t)
	r := &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: ptr[int64](10), Minor: ptr[int64](229), Access: "rwm"},
		{Allow: true, Type: "b", Major: ptr[int64](8), Minor: ptr[int64](20), Access: "rw"},
	}}
	script := `head -c1 /dev/kmsg >/dev/null; echo kmsg=$?; head -c1 /dev/zero >/dev/null; echo zero=$?
d=/sys/fs/cgroup/devices$(sed -n 's/^[0-9]*:devices://p' /proc/self/cgroup); cat $d/devices.list`
	res := runStage(t, config(name, r), "--rm", "--", "sh", "-c", script)
	if res.err != nil {
		t.Fatalf("%v: %s", res.err, res.stderr)
	}
	if !strings.Contains(res.stdout, "kmsg=1") || !strings.Contains(res.stderr, "Operation not permitted") || !strings.Contains(res.stdout, "zero=0") {
		t.Errorf("device rules:\nstdout %s\nstderr %s", res.stdout, res.stderr)
	}
	if strings.Contains(res.stdout, "a *:* rwm") || !strings.Contains(res.stdout, "c 1:5 rwm") {
		t.Errorf("devices.list:\n%s", res.stdout)
	}
	// The spec's rules come first, in the spec's order (runtime-spec:
	// entries are applied in the listed order).
	if !strings.Contains(res.stdout, "zero=0\nc 10:229 rwm\nb 8:20 rw\n") {
		t.Errorf("devices.list does not start with the spec's rules in order:\n%s", res.stdout)
	}
	noLeak(t, name)
}

// The rest of linux.resources this host supports, read back from the
// host's files; what it does not support is refused naming the field.
func TestMoreLimits(t *testing.T) {
	requireV1(t)
	name := testutil.ID(t)
	var st unix.Stat_t
	if err := unix.Stat("/dev/vda", &st); err != nil {
		t.Skip("no /dev/vda to throttle")
	}
	major, minor := int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	dev := specs.LinuxBlockIODevice{Major: major, Minor: minor}
	r := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr[int64](64 << 20), DisableOOMKiller: ptr(true), KernelTCP: ptr[int64](8 << 20)},
		CPU: &specs.LinuxCPU{Quota: ptr[int64](50000), Period: ptr[uint64](100000), Burst: ptr[uint64](20000), Idle: ptr[int64](1),
			RealtimePeriod: ptr[uint64](1000000), RealtimeRuntime: ptr[int64](10000)},
		BlockIO: &specs.LinuxBlockIO{
			Weight:                  ptr[uint16](500),
			ThrottleReadBpsDevice:   []specs.LinuxThrottleDevice{{LinuxBlockIODevice: dev, Rate: 1 << 20}},
			ThrottleWriteIOPSDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: dev, Rate: 100}},
		},
	}
	c := loadPlanned(t, config(name, r), name)
	res := runStage(t, config(name, r), "--id", name, "--", "true")
	defer func() {
		if err := c.Destroy(); err != nil {
			t.Error(err)
		}
		noLeak(t, name)
	}()
	if res.err != nil {
		t.Fatalf("%v: %s", res.err, res.stderr)
	}
	mem, cpu, blkio := c.Paths.Dir("memory"), c.Paths.Dir("cpu"), c.Paths.Dir("blkio")
	d := fmt.Sprintf("%d:%d", major, minor)
	for file, want := range map[string]string{
		cpu + "/cpu.cfs_burst_us":                   "20000",
		cpu + "/cpu.idle":                           "1",
		cpu + "/cpu.rt_period_us":                   "1000000",
		cpu + "/cpu.rt_runtime_us":                  "10000",
		mem + "/memory.kmem.tcp.limit_in_bytes":     "8388608",
		blkio + "/blkio.bfq.weight":                 "500",
		blkio + "/blkio.throttle.read_bps_device":   d + " 1048576",
		blkio + "/blkio.throttle.write_iops_device": d + " 100",
	} {
		if got := read(t, file); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	if got := read(t, mem+"/memory.oom_control"); !strings.Contains(got, "oom_kill_disable 1") {
		t.Errorf("memory.oom_control:\n%s", got)
	}

	for _, tt := range []struct {
		r    *specs.LinuxResources
		want string
	}{
		{&specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 1 << 21}}}, "linux.resources.hugepageLimits: "},
		{&specs.LinuxResources{Network: &specs.LinuxNetwork{Priorities: []specs.LinuxInterfacePriority{{Name: "eth0", Priority: 1}}}}, "linux.resources.network.priorities: "},
		{&specs.LinuxResources{Rdma: map[string]specs.LinuxRdma{"mlx5_1": {HcaHandles: ptr[uint32](3)}}}, "linux.resources.rdma: "},
		// No CFQ in 6.x: blkio.leaf_weight is gone (the weight goes to BFQ).
		{&specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{LeafWeight: ptr[uint16](500)}}, "linux.resources.blockIO.leafWeight: "},
	} {
		n := name + "-refused"
		res := runStage(t, config(n, tt.r), "--", "true")
		if res.err == nil || !strings.Contains(res.stderr, tt.want) {
			t.Errorf("got %v %q, want %q", res.err, res.stderr, tt.want)
		}
		noLeak(t, n)
	}
}
