package cgroup_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-run/oci-run/internal/testutil"
	"github.com/oci-run/oci-run/pkg/cgroup"
	"github.com/oci-run/oci-run/pkg/state"
)

// Real containers through bin/oci-run: the effect of each limit is read
// from inside the container and from the host.

type runtime struct {
	t    *testing.T
	root string
}

func newRuntime(t *testing.T) *runtime {
	t.Helper()
	requireV1(t)
	return &runtime{t: t, root: t.TempDir()}
}

// ociRun runs oci-run; stdout and stderr of the command (and of a
// container it starts in the foreground) are returned.
func (r *runtime) ociRun(stdin string, args ...string) (string, string, int) {
	r.t.Helper()
	cmd := exec.Command(testutil.Bin(r.t, "oci-run"), append([]string{"--root", r.root}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return out.String(), errb.String(), ee.ExitCode()
	}
	if err != nil {
		r.t.Fatal(err)
	}
	return out.String(), errb.String(), 0
}

func (r *runtime) must(args ...string) string {
	r.t.Helper()
	out, errOut, code := r.ociRun("", args...)
	if code != 0 {
		r.t.Fatalf("oci-run %s: exit %d: %s", strings.Join(args, " "), code, errOut)
	}
	return out
}

// spec is a busybox container running script with sh, in its own cgroup
// namespace (so /sys/fs/cgroup inside shows the container's subtree).
func containerSpec(script string, r *specs.LinuxResources) *specs.Spec {
	s := testutil.Spec("", "sh", "-c", script)
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.CgroupNamespace})
	// The rootfs is read-only and shared: scratch space for the scripts,
	// which the test reaches through /proc/PID/root/tmp.
	s.Mounts = append(s.Mounts, specs.Mount{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev"}})
	if r != nil {
		r.Devices = append(s.Linux.Resources.Devices, r.Devices...)
		s.Linux.Resources = r
	}
	return s
}

// create creates a container whose stdio (which it keeps open, as a
// detached container does) goes to the file out.
func (r *runtime) create(bundle, id, out string) {
	r.t.Helper()
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		r.t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(testutil.Bin(r.t, "oci-run"), "--root", r.root, "create", "--bundle", bundle, id)
	// Files, not pipes: the container keeps them open after create.
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Run(); err != nil {
		b, _ := os.ReadFile(out)
		r.t.Fatalf("create %s: %v: %s", id, err, b)
	}
}

// start creates and starts a detached container whose output goes to a
// file; it is deleted (and checked for leaks) at the end of the test.
func (r *runtime) start(s *specs.Spec) (id string, out string, c *cgroup.Cgroup) {
	r.t.Helper()
	id = testutil.ID(r.t)
	out = filepath.Join(r.t.TempDir(), "out")
	r.t.Cleanup(func() {
		r.ociRun("", "delete", "--force", id)
		noLeak(r.t, id)
	})
	r.create(testutil.Bundle(r.t, s), id, out)
	r.must("start", id)
	var st state.State
	b, _ := os.ReadFile(filepath.Join(r.root, id, state.StateFile))
	json.Unmarshal(b, &st)
	c, err := cgroup.Load(st.CgroupPaths)
	if err != nil {
		r.t.Fatal(err)
	}
	return id, out, c
}

// waitFor polls the output file until it contains s.
func waitFor(t *testing.T, file, s string) string {
	t.Helper()
	for {
		b, _ := os.ReadFile(file)
		if strings.Contains(string(b), s) {
			return string(b)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (r *runtime) status(id string) string {
	r.t.Helper()
	var st specs.State
	json.Unmarshal([]byte(r.must("state", id)), &st)
	return string(st.Status)
}

// Inside: the cgroup namespace shows the container's cgroup as root in
// every hierarchy, and /sys/fs/cgroup shows its own subtree with its
// limits. Outside: the same limits in the host's files, under the
// relative cgroupsPath beneath the runtime's own cgroup.
func TestContainerSeesOwnCgroup(t *testing.T) {
	rt := newRuntime(t)
	id := testutil.ID(t)
	s := containerSpec(`cat /proc/self/cgroup; echo limit=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes) pids=$(cat /sys/fs/cgroup/pids/pids.max) procs=$(cat /sys/fs/cgroup/pids/cgroup.procs | wc -l); ls /sys/fs/cgroup/unified/cgroup.procs`,
		&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](48 << 20)}, Pids: &specs.LinuxPids{Limit: ptr[int64](77)}})
	s.Linux.CgroupsPath = id + "/ctr"
	out, errOut, code := rt.ociRun("", "run", "--bundle", testutil.Bundle(t, s), id)
	if code != 0 {
		t.Fatalf("run: %d %s", code, errOut)
	}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.Contains(l, ":/") && !strings.HasSuffix(l, ":/") {
			t.Errorf("cgroup namespace does not hide the host path: %s", l)
		}
	}
	if !strings.Contains(out, "0::/\n") || !strings.Contains(out, ":memory:/\n") {
		t.Errorf("/proc/self/cgroup:\n%s", out)
	}
	if !strings.Contains(out, "limit=50331648 pids=77 procs=") || !strings.Contains(out, "/sys/fs/cgroup/unified/cgroup.procs") {
		t.Errorf("inside view of the cgroup:\n%s", out)
	}
	noLeak(t, id)
}

// OOM kill under a memory limit, from inside (dd killed) and from the
// host (oom_kill count, events oom). The container keeps running out of
// memory until the test has seen the event, so it does not matter when
// the event stream started listening.
func TestContainerOOM(t *testing.T) {
	rt := newRuntime(t)
	s := containerSpec(`while [ ! -e /tmp/stop ]; do dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null; echo dd=$?; sleep 0.1; done; sleep 1000`,
		&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](24 << 20), Swap: ptr[int64](24 << 20)}})
	id, out, c := rt.start(s)
	ev := exec.Command(testutil.Bin(t, "oci-run"), "--root", rt.root, "events", "--interval", "1h", id)
	stdout, _ := ev.StdoutPipe()
	if err := ev.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { ev.Process.Kill(); ev.Wait() }()
	var e cgroup.Event
	if err := json.NewDecoder(stdout).Decode(&e); err != nil || e.Type != "oom" || e.ID != id {
		t.Errorf("event %+v %v, want oom", e, err)
	}
	os.WriteFile(fmt.Sprintf("/proc/%d/root/tmp/stop", rt.initPid(id)), nil, 0o644)
	if got := waitFor(t, out, "dd=137"); strings.Contains(got, "dd=0") {
		t.Errorf("dd ran to completion under the limit: %s", got)
	}
	if n, _ := c.OOMKills(); n == 0 {
		t.Errorf("oom_kill count 0")
	}
}

func (r *runtime) initPid(id string) int {
	r.t.Helper()
	var st specs.State
	json.Unmarshal([]byte(r.must("state", id)), &st)
	return st.Pid
}

// Fork refused at pids.max, and a device node the rules do not allow
// cannot be opened even by the container's root.
func TestContainerPidsAndDevices(t *testing.T) {
	rt := newRuntime(t)
	s := containerSpec(`for i in 1 2 3 4 5 6 7 8; do sleep 100 >/dev/null 2>&1 & echo started $i; done`,
		&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](5)}})
	out, errOut, _ := rt.ociRun("", "run", "--bundle", testutil.Bundle(t, s), testutil.ID(t))
	if !strings.Contains(errOut, "can't fork") || !strings.Contains(out, "started 4") || strings.Contains(out, "started 5") {
		t.Errorf("pids.max 5 (sh + 4 sleeps):\nstdout %s\nstderr %s", out, errOut)
	}

	// /dev/kmsg exists in the container (linux.devices) but no rule
	// allows it; /dev/null is allowed by default.
	s = containerSpec(`head -c1 /dev/kmsg; echo kmsg=$?; echo x > /dev/null; echo null=$?`, nil)
	s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/kmsg", Type: "c", Major: 1, Minor: 11, FileMode: ptr(os.FileMode(0o666))}}
	out, errOut, _ = rt.ociRun("", "run", "--bundle", testutil.Bundle(t, s), testutil.ID(t))
	if !strings.Contains(out, "kmsg=1") || !strings.Contains(errOut, "Operation not permitted") || !strings.Contains(out, "null=0") {
		t.Errorf("device rules:\nstdout %s\nstderr %s", out, errOut)
	}
}

// pause stops a counting container (status paused), resume restarts it.
func TestContainerPauseResume(t *testing.T) {
	rt := newRuntime(t)
	s := containerSpec(`i=0; while :; do i=$((i+1)); echo $i > /tmp/n.tmp; mv /tmp/n.tmp /tmp/n; done`, nil)
	id, _, _ := rt.start(s)
	counter := filepath.Join("/proc", strconv.Itoa(rt.initPid(id)), "root/tmp/n")
	read := func() int {
		b, _ := os.ReadFile(counter)
		n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return n
	}
	for read() == 0 {
		time.Sleep(time.Millisecond)
	}
	rt.must("pause", id)
	if st := rt.status(id); st != "paused" {
		t.Errorf("status %s", st)
	}
	n := read()
	time.Sleep(200 * time.Millisecond)
	if m := read(); m != n {
		t.Errorf("counter moved while paused: %d -> %d", n, m)
	}
	rt.must("resume", id)
	if st := rt.status(id); st != "running" {
		t.Errorf("status %s", st)
	}
	for read() <= n {
		time.Sleep(time.Millisecond)
	}
}

// update changes the limits the container sees.
func TestContainerUpdate(t *testing.T) {
	rt := newRuntime(t)
	s := containerSpec(`sleep 1000`, &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](64 << 20)}})
	id, _, _ := rt.start(s)
	inside := func(file string) string {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/root/sys/fs/cgroup/%s", rt.initPid(id), file))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	rt.must("update", "--memory", "40m", "--pids-limit", "33", "--cpu-quota", "30000", "--cpu-period", "100000", id)
	for file, want := range map[string]string{
		"memory/memory.limit_in_bytes": "41943040", "pids/pids.max": "33", "cpu/cpu.cfs_quota_us": "30000",
	} {
		if got := inside(file); got != want {
			t.Errorf("%s = %s inside, want %s", file, got, want)
		}
	}
}

// ps lists the container's processes; kill --all signals every one.
func TestContainerPsKillAll(t *testing.T) {
	rt := newRuntime(t)
	s := containerSpec(`sleep 1001 & sleep 1002 & echo up; wait`, nil)
	id, out, c := rt.start(s)
	waitFor(t, out, "up")
	var pids []int
	json.Unmarshal([]byte(rt.must("ps", "--format", "json", id)), &pids)
	want, _ := c.Pids()
	if len(pids) != 3 || fmt.Sprint(pids) != fmt.Sprint(want) {
		t.Errorf("ps json %v, cgroup %v", pids, want)
	}
	if table := rt.must("ps", id); !strings.Contains(table, "sleep 1002") || !strings.Contains(table, "PID") {
		t.Errorf("ps table:\n%s", table)
	}
	rt.must("kill", "--all", id, "9")
	for {
		if p, _ := c.Pids(); len(p) == 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	for rt.status(id) != "stopped" {
		time.Sleep(time.Millisecond)
	}
}

// 100 create/start/delete cycles leave no cgroup directory in any
// hierarchy (relative, absolute and default paths, a third each).
func TestCyclesLeaveNothing(t *testing.T) {
	rt := newRuntime(t)
	base := testutil.ID(t)
	t.Cleanup(func() { noLeak(t, base) })
	for i := 0; i < 100; i++ {
		id := fmt.Sprintf("%s-%d", base, i)
		s := testutil.Spec("", "true")
		s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: ptr[int64](32 << 20)}
		s.Linux.Resources.Pids = &specs.LinuxPids{Limit: ptr[int64](20)}
		switch i % 3 {
		case 0:
			s.Linux.CgroupsPath = base + "/rel/" + id
		case 1:
			s.Linux.CgroupsPath = "/" + base + "/abs/" + id
		default:
			s.Linux.CgroupsPath = ""
		}
		out := filepath.Join(t.TempDir(), "out")
		t.Cleanup(func() { rt.ociRun("", "delete", "--force", id) })
		rt.create(testutil.Bundle(t, s), id, out)
		if _, errOut, code := rt.ociRun("", "start", id); code != 0 {
			b, _ := os.ReadFile(out)
			var st state.State
			sb, _ := os.ReadFile(filepath.Join(rt.root, id, state.StateFile))
			json.Unmarshal(sb, &st)
			t.Fatalf("start %s: %s; container output %q; init pid in state.json: %d", id, errOut, b, st.Pid)
		}
		for rt.status(id) != "stopped" {
			time.Sleep(time.Millisecond)
		}
		rt.must("delete", id)
	}
	noLeak(t, base)
}

// The event stream prints a stats event every interval and ends when the
// container stops.
func TestContainerEventsStream(t *testing.T) {
	rt := newRuntime(t)
	s := containerSpec(`while [ ! -e /tmp/stop ]; do sleep 0.05; done`, nil)
	id, _, _ := rt.start(s)
	ev := exec.Command(testutil.Bin(t, "oci-run"), "--root", rt.root, "events", "--interval", "50ms", id)
	stdout, _ := ev.StdoutPipe()
	if err := ev.Start(); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(stdout)
	for i := 0; i < 2; i++ {
		var e struct {
			Type string
			ID   string
			Data struct{ Pids struct{ Current int } }
		}
		if err := dec.Decode(&e); err != nil {
			t.Fatal(err)
		}
		if e.Type != "stats" || e.ID != id || e.Data.Pids.Current == 0 {
			t.Errorf("event %d: %+v", i, e)
		}
	}
	os.WriteFile(fmt.Sprintf("/proc/%d/root/tmp/stop", rt.initPid(id)), nil, 0o644)
	for dec.More() {
		var e cgroup.Event
		if err := dec.Decode(&e); err != nil {
			break
		}
	}
	if err := ev.Wait(); err != nil {
		t.Errorf("events after the container stopped: %v", err)
	}
}
