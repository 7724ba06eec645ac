package cgroup_test

import (
	"bytes"
	"encoding/json"
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
	"github.com/oci-run/oci-run/pkg/proc"
	"github.com/oci-run/oci-run/pkg/state"
)

// standIn is a "container" for the cgroup commands of oci-run: a process
// that oci-cgroup put in its cgroup, and a state directory that says so,
// as create leaves it. It needs no namespaces, so the commands that act
// on the cgroup are tested whatever state the other stages are in.
type standIn struct {
	t    *testing.T
	id   string
	root string
	cmd  *exec.Cmd
	cg   *cgroup.Cgroup
	dir  string // a scratch directory the process may write to
}

func newStandIn(t *testing.T, r *specs.LinuxResources, script string) *standIn {
	t.Helper()
	requireV1(t)
	id := testutil.ID(t)
	s := config("", r)
	sc := &standIn{t: t, id: id, root: t.TempDir(), dir: t.TempDir()}
	sc.cmd = stageCmd(t, s, "--id", id, "--", "busybox", "sh", "-c", script, sc.dir)
	if err := sc.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go sc.cmd.Wait()
	plan, err := cgroup.NewPlan(s, id, false)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cgroup.Load(plan.Paths)
	if err != nil {
		t.Fatal(err)
	}
	sc.cg = c
	t.Cleanup(func() {
		sc.cmd.Process.Kill()
		if err := c.Destroy(); err != nil {
			t.Error(err)
		}
		noLeak(t, id)
	})
	// oci-cgroup joins the hierarchies one by one, then execs the script.
	for {
		comm, _ := os.ReadFile("/proc/" + strconv.Itoa(sc.cmd.Process.Pid) + "/comm")
		if len(comm) > 0 && strings.TrimSpace(string(comm)) != "oci-cgroup" {
			break
		}
		time.Sleep(time.Millisecond)
	}
	st, err := proc.ReadStat(sc.cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(sc.root, id)
	os.MkdirAll(dir, 0o711)
	b, _ := json.Marshal(state.State{ID: id, Bundle: sc.dir, Pid: sc.cmd.Process.Pid, PidStart: st.StartTime, Created: time.Now(), CgroupPaths: plan.Paths})
	os.WriteFile(filepath.Join(dir, state.StateFile), b, 0o600)
	full := testutil.Spec("", "sh")
	full.Linux.Resources = r
	b, _ = json.Marshal(full)
	os.WriteFile(filepath.Join(dir, state.ConfigFile), b, 0o600)
	return sc
}

// ociRun runs bin/oci-run with the stand-in's root.
func (sc *standIn) ociRun(stdin string, args ...string) (string, string, error) {
	sc.t.Helper()
	cmd := exec.Command(testutil.Bin(sc.t, "oci-run"), append([]string{"--root", sc.root}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

func (sc *standIn) must(args ...string) string {
	sc.t.Helper()
	out, errOut, err := sc.ociRun("", args...)
	if err != nil {
		sc.t.Fatalf("oci-run %s: %v: %s", strings.Join(args, " "), err, errOut)
	}
	return out
}

func (sc *standIn) status() string {
	sc.t.Helper()
	var st struct{ Status string }
	if err := json.Unmarshal([]byte(sc.must("state", sc.id)), &st); err != nil {
		sc.t.Fatal(err)
	}
	return st.Status
}

func (sc *standIn) counter() int {
	b, _ := os.ReadFile(filepath.Join(sc.dir, "n"))
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

// A counting loop stops while paused and goes on after resume; the state
// says paused in between.
func TestPauseResume(t *testing.T) {
	sc := newStandIn(t, nil, `i=0; while :; do i=$((i+1)); echo $i > $0/n.tmp; mv $0/n.tmp $0/n; done`)
	for sc.counter() == 0 {
		time.Sleep(time.Millisecond)
	}
	if st := sc.status(); st != "running" {
		t.Fatalf("status %s before pause", st)
	}
	sc.must("pause", sc.id)
	if st := sc.status(); st != "paused" {
		t.Errorf("status %s after pause", st)
	}
	if got := read(t, sc.cg.Paths.Dir("freezer")+"/freezer.state"); got != "FROZEN" {
		t.Errorf("freezer.state %s", got)
	}
	frozen := sc.counter()
	time.Sleep(200 * time.Millisecond)
	if n := sc.counter(); n != frozen {
		t.Errorf("counter moved while paused: %d -> %d", frozen, n)
	}
	if _, errOut, err := sc.ociRun("", "pause", sc.id); err == nil || !strings.Contains(errOut, "already paused") {
		t.Errorf("second pause: %v %s", err, errOut)
	}
	sc.must("resume", sc.id)
	if st := sc.status(); st != "running" {
		t.Errorf("status %s after resume", st)
	}
	for sc.counter() <= frozen {
		time.Sleep(time.Millisecond)
	}
	if _, errOut, err := sc.ociRun("", "resume", sc.id); err == nil || !strings.Contains(errOut, "not paused") {
		t.Errorf("resume of a running container: %v %s", err, errOut)
	}
}

// update changes live limits, from flags and from --resources JSON as
// Docker and podman send it, merging with what was there.
func TestUpdate(t *testing.T) {
	r := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr[int64](64 << 20)},
		CPU:    &specs.LinuxCPU{Quota: ptr[int64](50000), Period: ptr[uint64](100000)},
		Pids:   &specs.LinuxPids{Limit: ptr[int64](100)},
	}
	sc := newStandIn(t, r, "exec sleep 1000")
	mem, cpu, pids := sc.cg.Paths.Dir("memory"), sc.cg.Paths.Dir("cpu"), sc.cg.Paths.Dir("pids")

	sc.must("update", "--memory", "32m", "--memory-swap", "64m", "--pids-limit", "50", "--cpu-period", "200000", sc.id)
	for file, want := range map[string]string{
		mem + "/memory.limit_in_bytes":       "33554432",
		mem + "/memory.memsw.limit_in_bytes": "67108864",
		pids + "/pids.max":                   "50",
		cpu + "/cpu.cfs_period_us":           "200000",
		// The quota was not given: kept from create.
		cpu + "/cpu.cfs_quota_us": "50000",
	} {
		if got := read(t, file); got != want {
			t.Errorf("%s = %s, want %s", filepath.Base(file), got, want)
		}
	}

	// Docker's update JSON: every section present, zeros for unset values.
	docker := `{"memory":{"limit":134217728,"reservation":0,"swap":268435456,"kernel":0,"kernelTCP":0},"cpu":{"shares":512,"quota":0,"period":0,"cpus":"","mems":""},"blockIO":{"weight":0},"pids":{"limit":0}}`
	if _, errOut, err := sc.ociRun(docker, "update", "--resources", "-", sc.id); err != nil {
		t.Fatalf("update --resources -: %v %s", err, errOut)
	}
	for file, want := range map[string]string{
		mem + "/memory.limit_in_bytes":       "134217728",
		mem + "/memory.memsw.limit_in_bytes": "268435456",
		cpu + "/cpu.shares":                  "512",
		pids + "/pids.max":                   "50", // pids 0 = unchanged
	} {
		if got := read(t, file); got != want {
			t.Errorf("after JSON update %s = %s, want %s", filepath.Base(file), got, want)
		}
	}
	f := filepath.Join(t.TempDir(), "res.json")
	os.WriteFile(f, []byte(`{"pids":{"limit":-1}}`), 0o644)
	sc.must("update", "--resources="+f, sc.id)
	if got := read(t, pids+"/pids.max"); got != "max" {
		t.Errorf("pids.max %s after limit -1", got)
	}

	// A limit the kernel refuses names the field.
	_, errOut, err := sc.ociRun("", "update", "--cpuset-cpus", "4095", sc.id)
	if err == nil || !strings.Contains(errOut, "linux.resources.cpu.cpus") {
		t.Errorf("bad cpuset: %v %q", err, errOut)
	}
	_, errOut, err = sc.ociRun("", "update", "--memory", "lots", sc.id)
	if err == nil || !strings.Contains(errOut, `--memory: "lots" is not a size`) {
		t.Errorf("bad --memory: %v %q", err, errOut)
	}
}

// events --stats prints one stats event in runc's shape; the stream
// reports an OOM kill as an oom event.
func TestEventsStatsAndOOM(t *testing.T) {
	r := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr[int64](16 << 20), Swap: ptr[int64](16 << 20)},
		Pids:   &specs.LinuxPids{Limit: ptr[int64](64)},
	}
	// The hog runs out of memory again and again until told to stop, so
	// the event stream sees one whenever it starts listening.
	sc := newStandIn(t, r, `while [ ! -e $0/stop ]; do dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null; sleep 0.1; done; exec sleep 1000`)
	out := sc.must("events", "--stats", sc.id)
	var ev struct {
		Type string `json:"type"`
		ID   string `json:"id"`
		Data struct {
			Memory struct {
				Usage struct{ Limit, Usage uint64 } `json:"usage"`
			} `json:"memory"`
			Pids struct{ Current, Limit uint64 } `json:"pids"`
			CPU  struct {
				Usage struct{ Total uint64 } `json:"usage"`
			} `json:"cpu"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(out), &ev); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if ev.Type != "stats" || ev.ID != sc.id || ev.Data.Memory.Usage.Limit != 16<<20 || ev.Data.Memory.Usage.Usage == 0 ||
		ev.Data.Pids.Limit != 64 || ev.Data.Pids.Current == 0 || ev.Data.CPU.Usage.Total == 0 {
		t.Errorf("stats event: %s", out)
	}
	for _, key := range []string{`"cpuset":`, `"blkio":`, `"hugetlb":`, `"intel_rdt":`, `"network_interfaces":`} {
		if !strings.Contains(out, key) {
			t.Errorf("runc's key %s missing: %s", key, out)
		}
	}

	cmd := exec.Command(testutil.Bin(t, "oci-run"), "--root", sc.root, "events", "--interval", "1h", sc.id)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	dec := json.NewDecoder(stdout)
	var oom struct{ Type, ID string }
	if err := dec.Decode(&oom); err != nil {
		t.Fatal(err)
	}
	if oom.Type != "oom" || oom.ID != sc.id {
		t.Errorf("event %+v, want oom", oom)
	}
	os.WriteFile(filepath.Join(sc.dir, "stop"), nil, 0o644)
	// The notification comes when the cgroup is out of memory; the kill
	// follows.
	for {
		n, err := sc.cg.OOMKills()
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
}

// ps lists the pids of the container's cgroup, as JSON and as ps rows;
// kill --all signals all of them.
func TestPsAndKillAll(t *testing.T) {
	sc := newStandIn(t, nil, `sleep 1000 & sleep 1001 & echo started > $0/started; wait`)
	for {
		if b, _ := os.ReadFile(filepath.Join(sc.dir, "started")); len(b) > 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	want, _ := sc.cg.Pids()
	if len(want) != 3 {
		t.Fatalf("pids %v", want)
	}
	var got []int
	if err := json.Unmarshal([]byte(sc.must("ps", "--format", "json", sc.id)), &got); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("ps json %v, cgroup %v", got, want)
	}
	table := sc.must("ps", sc.id)
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 4 || !strings.Contains(lines[0], "PID") || !strings.Contains(table, "sleep 1001") {
		t.Errorf("ps table:\n%s", table)
	}
	table = sc.must("ps", sc.id, "-o", "pid,comm")
	if !strings.Contains(table, "sleep") || strings.Contains(table, "UID") {
		t.Errorf("ps with ps options:\n%s", table)
	}

	sc.must("kill", "--all", sc.id, "KILL")
	for {
		pids, _ := sc.cg.Pids()
		if len(pids) == 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
}
