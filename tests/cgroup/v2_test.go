package cgroup_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-run/oci-run/internal/testutil"
	"github.com/oci-run/oci-run/pkg/cgroup"
)

const envV2Inside = "OCI_CGROUP_TEST_V2_INSIDE"

// TestV2Emulated runs the cgroup v2 code paths on this hybrid host: a
// cgroup of ours in the cgroup2 hierarchy becomes the root of a new cgroup
// namespace, and a private mount namespace mounts cgroup2 at
// /sys/fs/cgroup, which is what a pure v2 host looks like (without the
// controllers, which this host binds to v1). TestV2Inside then runs there.
// Nothing outside our own cgroup is written: enabling controllers in the
// namespace root fails (the host root does not delegate them) and the
// manager ignores that.
func TestV2Emulated(t *testing.T) {
	testutil.RequireRoot(t)
	if os.Getenv(envV2Inside) != "" {
		t.Skip("inside")
	}
	if _, err := os.Stat("/sys/fs/cgroup/unified/cgroup.procs"); err != nil {
		t.Skip("no cgroup2 hierarchy at /sys/fs/cgroup/unified")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("no unshare(1)")
	}
	dir := "/sys/fs/cgroup/unified/" + testutil.ID(t)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := os.Remove(dir); err != nil {
			t.Errorf("our cgroup2 test root: %v (left: %v)", err, testutil.CgroupDirs(t, filepath.Base(dir)))
		}
	}()
	self, _ := os.Executable()
	inner := strings.Join([]string{
		"mount -t cgroup2 cgroup2 /sys/fs/cgroup",
		"exec " + self + " -test.run '^TestV2(Inside|Lifecycle)$' -test.v -test.count=1",
	}, " && ")
	cmd := exec.Command("sh", "-c", `echo $$ > "$0/cgroup.procs" && exec unshare -m -C --propagation private sh -c "$1"`, dir, inner)
	cmd.Env = append(os.Environ(), envV2Inside+"=1", "OCI_RUN_BIN_DIR="+testutil.BinDir())
	out, err := cmd.CombinedOutput()
	t.Logf("inside:\n%s", out)
	if err != nil {
		t.Errorf("inside: %v", err)
	}
	for _, name := range []string{"TestV2Inside", "TestV2Lifecycle"} {
		if !strings.Contains(string(out), "--- PASS: "+name+" ") {
			t.Errorf("%s did not pass", name)
		}
	}
	// On a v2 host oci-run has nothing to do with the v1 hierarchies,
	// which this host still has underneath.
	if left := testutil.CgroupDirs(t, v2Marker); len(left) > 0 {
		t.Errorf("cgroups of TestV2Lifecycle on the host: %q", left)
	}
}

// TestV2Inside: the v2 driver creates, joins, filters devices with an eBPF
// program, applies unified keys, freezes, kills and removes.
func TestV2Inside(t *testing.T) {
	if os.Getenv(envV2Inside) == "" {
		t.Skip("run by TestV2Emulated")
	}
	h, err := cgroup.ReadHost()
	if err != nil || h.Mode != cgroup.V2 {
		t.Fatalf("host %+v %v, want v2", h, err)
	}
	s := config("ctr/inner", &specs.LinuxResources{
		Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
		Unified: map[string]string{"cgroup.max.descendants": "3"},
	})
	// The stage alone: device rules are an eBPF program (kmsg refused,
	// zero allowed), unified keys are written, --rm removes everything.
	res := runStage(t, s, "--rm", "--", "sh", "-c",
		`grep ^0:: /proc/self/cgroup; cat /sys/fs/cgroup/ctr/inner/cgroup.max.descendants; head -c1 /dev/kmsg >/dev/null; echo kmsg=$?; head -c1 /dev/zero >/dev/null; echo zero=$?`)
	if res.err != nil {
		t.Fatalf("%v: %s", res.err, res.stderr)
	}
	for _, want := range []string{"0::/ctr/inner\n", "\n3\n", "kmsg=1", "zero=0"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("missing %q:\n%s%s", want, res.stdout, res.stderr)
		}
	}
	if _, err := os.Stat("/sys/fs/cgroup/ctr"); err == nil {
		t.Errorf("parent ctr left")
	}

	// A v1-only setting has no v2 home.
	bad := config("ctr2", &specs.LinuxResources{Network: &specs.LinuxNetwork{ClassID: ptr[uint32](7)}})
	if res := runStage(t, bad, "--", "true"); res.err == nil || !strings.Contains(res.stderr, "linux.resources.network.classID: the net_cls controller does not exist in cgroup v2") {
		t.Errorf("net_cls on v2: %v %q", res.err, res.stderr)
	}

	// The library on a live process: freeze stops a counter, thaw
	// restarts it, Signal(KILL) uses cgroup.kill, Destroy removes.
	plan, err := cgroup.NewPlan(config("/live", nil), "x", false)
	if err != nil {
		t.Fatal(err)
	}
	c, err := plan.Create(-1)
	if err != nil {
		t.Fatal(err)
	}
	scratch := t.TempDir()
	counter := exec.Command("sh", "-c", `i=0; while :; do i=$((i+1)); echo $i > $0/n.tmp; mv $0/n.tmp $0/n; done`, scratch)
	if err := counter.Start(); err != nil {
		t.Fatal(err)
	}
	go counter.Wait()
	if err := c.Join(counter.Process.Pid, nil); err != nil {
		t.Fatal(err)
	}
	n := func() int {
		b, _ := os.ReadFile(filepath.Join(scratch, "n"))
		v, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return v
	}
	// A mv the loop forked before the join runs on outside the cgroup and
	// would move the counter once after the freeze: wait until the loop
	// has forked one after it and that one has finished.
	for n0 := n(); n() < n0+2; {
		time.Sleep(time.Millisecond)
	}
	if err := c.Freeze(); err != nil {
		t.Fatal(err)
	}
	if st, _ := c.State(); st != cgroup.Frozen {
		t.Errorf("state %q", st)
	}
	frozen := n()
	time.Sleep(100 * time.Millisecond)
	if m := n(); m != frozen {
		t.Errorf("counter moved while frozen: %d -> %d", frozen, m)
	}
	if err := c.Thaw(); err != nil {
		t.Fatal(err)
	}
	for n() <= frozen {
		time.Sleep(time.Millisecond)
	}
	if _, err := c.Stats(); err != nil {
		t.Errorf("stats: %v", err)
	}
	pids, _ := c.Pids()
	if !slices.Contains(pids, counter.Process.Pid) {
		t.Errorf("pids %v", pids)
	}
	if err := c.Destroy(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/sys/fs/cgroup/live"); err == nil {
		t.Errorf("/live left")
	}
}
