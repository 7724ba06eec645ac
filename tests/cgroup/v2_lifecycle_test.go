package cgroup_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/internal/testutil"
)

// v2Marker is in the id (and so the cgroup path) of every container
// TestV2Lifecycle makes: TestV2Emulated looks for it in every host
// hierarchy afterwards, v1 ones included, which oci-run on a v2 host
// must not touch.
const v2Marker = "v2lc-"

// TestV2Lifecycle: whole containers through bin/oci-run on a pure cgroup
// v2 layout (run by TestV2Emulated in its namespaces), in both chains:
// oci-run doing the host side (the init born in its cgroup through
// clone3 CLONE_INTO_CGROUP) and the stage programs (oci-cgroup joining
// through cgroup.procs).
func TestV2Lifecycle(t *testing.T) {
	if os.Getenv(envV2Inside) == "" {
		t.Skip("run by TestV2Emulated")
	}
	// A container's init whose last other process is a zombie cannot
	// finish its exit until that one is reaped (pid namespace teardown),
	// and this machine's PID 1 may never reap: orphans come here.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	for _, chain := range []string{"in-process", "stages"} {
		t.Run(chain, func(t *testing.T) {
			if chain == "stages" {
				t.Setenv("OCI_RUN_CHAIN", "stages")
			}
			v := &v2rt{Runtime: testutil.NewRuntime(t), t: t}
			mounts := testutil.Mounts(t)
			t.Run("run", v.testRun)
			t.Run("no-cgroupns", v.testNoCgroupNS)
			t.Run("relative-path", v.testRelativePath)
			t.Run("lifecycle", v.testLifecycle)
			t.Run("delete-force", v.testDeleteForce)
			t.Run("missing-controllers", v.testMissingControllers)
			reap()
			if l := testutil.FindLeaks(v2Marker, v.Root); !l.Empty() {
				t.Errorf("left behind: %s", l)
			}
			if now := testutil.Mounts(t); !slices.Equal(now, mounts) {
				t.Errorf("mount table changed:\nbefore %q\nafter  %q", mounts, now)
			}
		})
	}
}

type v2rt struct {
	*testutil.Runtime
	t *testing.T
}

// use makes t the test that commands report to.
func (v *v2rt) use(t *testing.T) { v.t, v.Runtime.T = t, t }

// reap collects the orphans re-parented to this process (a child
// subreaper, see TestV2Lifecycle): container inits whose create has
// returned, processes of exec --detach. Only called while no command of
// the test runs, so it takes no exit status a Wait is waiting for.
func reap() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}

func v2ID(t *testing.T) string { return v2Marker + testutil.ID(t) }

// v2Spec is containerSpec (cgroup namespace, /tmp) in the cgroup
// /ID/ctr, whose parent the runtime creates and removes; /dev/kmsg is in
// its /dev, readable by a device rule (and CAP_SYSLOG: dmesg_restrict)
// but not writable.
func v2Spec(id, script string, r *specs.LinuxResources) *specs.Spec {
	if r == nil {
		r = &specs.LinuxResources{}
	}
	r.Devices = append(r.Devices, specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: ptr[int64](1), Minor: ptr[int64](11), Access: "r"})
	s := containerSpec(script, r)
	s.Linux.CgroupsPath = "/" + id + "/ctr"
	s.Linux.Devices = append(s.Linux.Devices, specs.LinuxDevice{Path: "/dev/kmsg", Type: "c", Major: 1, Minor: 11, FileMode: ptr[os.FileMode](0o600)})
	c := s.Process.Capabilities
	c.Bounding = append(c.Bounding, "CAP_SYSLOG")
	c.Effective = append(c.Effective, "CAP_SYSLOG")
	c.Permitted = append(c.Permitted, "CAP_SYSLOG")
	return s
}

// devScript reads and writes /dev/kmsg; the write is refused at open, so
// nothing reaches the kernel log.
const devScript = `head -c1 /dev/kmsg >/dev/null 2>&1; echo kmsg-read=$?; (echo oci-run-v2-test >/dev/kmsg) 2>/dev/null; echo kmsg-write=$?; head -c1 /dev/zero >/dev/null; echo zero=$?`

// host is the container's cgroup directory as this process sees it.
func host(id string) string { return filepath.Join("/sys/fs/cgroup", id, "ctr") }

func (v *v2rt) noLeak(id string) {
	v.t.Helper()
	reap()
	if l := testutil.FindLeaks(id, ""); !l.Empty() {
		v.t.Errorf("left behind: %s", l)
	}
	if _, err := os.Stat(filepath.Join(v.Root, id)); err == nil {
		v.t.Errorf("state dir of %s left", id)
	}
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", id)); err == nil {
		v.t.Errorf("parent cgroup /%s left", id)
	}
}

// run: output, exit code, the cgroup namespace (0::/ and a cgroup2 mount
// that shows the container's own directory with its unified keys, no
// sibling), device rules as an eBPF program.
func (v *v2rt) testRun(t *testing.T) {
	v.use(t)
	id := v2ID(t)
	sibling := filepath.Join("/sys/fs/cgroup", id+"-sibling")
	if err := os.Mkdir(sibling, 0o755); err != nil {
		t.Fatal(err)
	}
	s := v2Spec(id, `grep ^0:: /proc/self/cgroup; awk '$5=="/sys/fs/cgroup" {print "mount", $4, $(NF-2)}' /proc/self/mountinfo
echo descendants=$(cat /sys/fs/cgroup/cgroup.max.descendants); grep -qx 1 /sys/fs/cgroup/cgroup.procs && echo init-listed
ls /sys/fs/cgroup | grep -c sibling; `+devScript+`; exit 7`,
		&specs.LinuxResources{Unified: map[string]string{"cgroup.max.descendants": "3"}})
	res := v.Run("run", "--bundle", testutil.Bundle(t, s), id)
	if res.Code != 7 {
		t.Fatalf("run: exit %d, want 7: %s%s", res.Code, res.Stderr, res.Stdout)
	}
	for _, want := range []string{"0::/\n", "mount / cgroup2\n", "descendants=3\ninit-listed\n0\n", "kmsg-read=0\n", "kmsg-write=1\n", "zero=0\n"} {
		if !strings.Contains(res.Stdout, want) {
			t.Errorf("missing %q in:\n%s%s", want, res.Stdout, res.Stderr)
		}
	}
	if err := os.Remove(sibling); err != nil {
		t.Error(err)
	}
	v.noLeak(id)
}

// Without a cgroup namespace the container sees its real path, and its
// /sys/fs/cgroup is its own directory bound from the host's hierarchy;
// a device without a rule cannot be opened.
func (v *v2rt) testNoCgroupNS(t *testing.T) {
	v.use(t)
	id := v2ID(t)
	s := v2Spec(id, `grep ^0:: /proc/self/cgroup; awk '$5=="/sys/fs/cgroup" {print "mount", $4, $(NF-2)}' /proc/self/mountinfo; cat /sys/fs/cgroup/cgroup.max.depth; `+devScript, &specs.LinuxResources{Unified: map[string]string{"cgroup.max.depth": "2"}})
	s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == specs.CgroupNamespace })
	s.Linux.Resources.Devices = slices.DeleteFunc(s.Linux.Resources.Devices, func(d specs.LinuxDeviceCgroup) bool { return d.Minor != nil && *d.Minor == 11 })
	res := v.Run("run", "--bundle", testutil.Bundle(t, s), id)
	if res.Code != 0 {
		t.Fatalf("run: exit %d: %s%s", res.Code, res.Stderr, res.Stdout)
	}
	path := "/" + id + "/ctr"
	for _, want := range []string{"0::" + path + "\n", "mount " + path + " cgroup2\n", "\n2\n", "kmsg-read=1\n", "kmsg-write=1\n", "zero=0\n"} {
		if !strings.Contains(res.Stdout, want) {
			t.Errorf("missing %q in:\n%s%s", want, res.Stdout, res.Stderr)
		}
	}
	v.noLeak(id)
}

// A relative cgroupsPath goes beside the runtime's own cgroup, not in
// it, as with runc: on v2 no controller can be enabled below a cgroup
// with processes (here, oci-run started from a shell in /ID-rt).
func (v *v2rt) testRelativePath(t *testing.T) {
	v.use(t)
	id := v2ID(t)
	rt := filepath.Join("/sys/fs/cgroup", id+"-rt")
	if err := os.Mkdir(rt, 0o755); err != nil {
		t.Fatal(err)
	}
	s := v2Spec(id, `grep ^0:: /proc/self/cgroup`, nil)
	s.Linux.CgroupsPath = id + "/ctr"
	s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == specs.CgroupNamespace })
	cmd := exec.Command("sh", "-c", `echo $$ > "$0/cgroup.procs" && exec "$@"`, rt, v.Bin, "--root", v.Root, "run", "--bundle", testutil.Bundle(t, s), id)
	out, err := cmd.CombinedOutput()
	if err != nil || string(out) != "0::/"+id+"/ctr\n" {
		t.Errorf("run from /%s-rt: %v %q, want the container in /%s/ctr", id, err, out, id)
	}
	if err := os.Remove(rt); err != nil {
		t.Error(err)
	}
	v.noLeak(id)
}

// counter is a script that counts in /tmp/n until it gets SIGTERM.
const counter = `trap 'echo usr1' USR1; trap 'echo term; exit 0' TERM; i=0; while :; do i=$((i+1)); echo $i > /tmp/n.tmp; mv /tmp/n.tmp /tmp/n; done`

func (v *v2rt) count(pid int) int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/root/tmp/n", pid))
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

// waitCount waits until the counter has gone past n.
func (v *v2rt) waitCount(pid, n int) {
	for v.count(pid) <= n {
		time.Sleep(time.Millisecond)
	}
}

func (v *v2rt) status(id string) string {
	v.t.Helper()
	return string(v.SpecState(id).Status)
}

// cgroupOf is the cgroup2 line of a process, as this process sees it;
// "" when the process is gone.
func cgroupOf(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "0::") {
			return l
		}
	}
	t.Fatalf("no cgroup2 line for %d: %s", pid, b)
	return ""
}

// create, start, state, pause/resume (cgroup.freeze), ps, exec (joins
// the init's cgroup), events --stats, update of a unified key, kill,
// kill --all, delete.
func (v *v2rt) testLifecycle(t *testing.T) {
	v.use(t)
	id := v2ID(t)
	s := v2Spec(id, counter, &specs.LinuxResources{Unified: map[string]string{"cgroup.max.descendants": "3"}})
	out, errf := testutil.OutputFiles(t)
	cmd := v.Command("create", "--bundle", testutil.Bundle(t, s), id)
	cmd.Stdout, cmd.Stderr = out, errf
	err := cmd.Run()
	out.Close()
	errf.Close()
	defer func() {
		v.Run("delete", "--force", id)
		v.noLeak(id)
	}()
	if err != nil {
		b, _ := os.ReadFile(errf.Name())
		t.Fatalf("create: %v: %s", err, b)
	}
	st := v.SpecState(id)
	if st.Status != specs.StateCreated || st.Pid <= 0 {
		t.Fatalf("after create: %+v", st)
	}
	pid := st.Pid
	dir := host(id)
	if got, want := cgroupOf(t, pid), "0::/"+id+"/ctr"; got != want {
		t.Errorf("init in %q, want %q", got, want)
	}
	if procs := read(t, filepath.Join(dir, "cgroup.procs")); procs != strconv.Itoa(pid) {
		t.Errorf("cgroup.procs of a created container: %q, want only the init %d", procs, pid)
	}
	v.Must("start", id)
	v.waitCount(pid, 0)
	if got := v.status(id); got != "running" {
		t.Errorf("status %q after start", got)
	}

	// pause freezes the cgroup: the counter stops, the state says so.
	v.Must("pause", id)
	if got := v.status(id); got != "paused" {
		t.Errorf("status %q after pause", got)
	}
	if f := read(t, filepath.Join(dir, "cgroup.freeze")); f != "1" {
		t.Errorf("cgroup.freeze %q", f)
	}
	if ev := read(t, filepath.Join(dir, "cgroup.events")); !strings.Contains(ev, "frozen 1") {
		t.Errorf("cgroup.events while paused: %q", ev)
	}
	frozen := v.count(pid)
	time.Sleep(50 * time.Millisecond)
	if n := v.count(pid); n != frozen {
		t.Errorf("counter moved while paused: %d -> %d", frozen, n)
	}
	if res := v.Run("pause", id); res.Code == 0 {
		t.Errorf("second pause succeeded")
	}
	v.Must("resume", id)
	v.waitCount(pid, frozen)
	if got := v.status(id); got != "running" {
		t.Errorf("status %q after resume", got)
	}

	// exec joins the init's cgroup (and namespace): same path from the
	// host, 0::/ inside. A detached one stays for ps and kill --all.
	res := v.Run("exec", id, "sh", "-c", "cat /proc/self/cgroup /proc/1/cgroup | grep ^0::")
	if res.Code != 0 || res.Stdout != "0::/\n0::/\n" {
		t.Errorf("exec: %d %q %s", res.Code, res.Stdout, res.Stderr)
	}
	pidFile := filepath.Join(t.TempDir(), "pid")
	v.Must("exec", "--detach", "--pid-file", pidFile, id, "sleep", "1000")
	sleepPid, _ := strconv.Atoi(read(t, pidFile))
	if got, want := cgroupOf(t, sleepPid), "0::/"+id+"/ctr"; got != want {
		t.Errorf("exec --detach: process in %q, want the init's %q", got, want)
	}
	var pids []int
	if err := json.Unmarshal([]byte(v.Must("ps", "--format", "json", id)), &pids); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(pids, pid) || len(pids) < 2 {
		t.Errorf("ps: %v, want the init %d and the exec'd sleep", pids, pid)
	}
	for _, p := range pids {
		// The counter's mv comes and goes.
		if cg := cgroupOf(t, p); cg != "0::/"+id+"/ctr" && cg != "" {
			comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p))
			t.Errorf("process %d (%s) of ps in %q", p, strings.TrimSpace(string(comm)), cg)
		}
	}
	if table := v.Must("ps", id); !strings.Contains(table, "sleep 1000") {
		t.Errorf("ps table without the exec'd sleep:\n%s", table)
	}

	// events --stats: cpu.stat and cgroup.procs exist without any
	// controller; the pids count comes from cgroup.procs.
	var ev struct {
		Type string
		ID   string
		Data struct {
			CPU struct {
				Usage struct{ Total uint64 }
			}
			Pids struct{ Current uint64 }
		}
	}
	if err := json.Unmarshal([]byte(v.Must("events", "--stats", id)), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Type != "stats" || ev.ID != id || ev.Data.CPU.Usage.Total == 0 || ev.Data.Pids.Current < 2 {
		t.Errorf("events --stats: %+v", ev)
	}

	// update: a unified key is written; a limit this hierarchy has no
	// controller for is refused, naming it, and changes nothing.
	res = v.RunIn([]byte(`{"unified":{"cgroup.max.descendants":"5"}}`), "update", "--resources", "-", id)
	if res.Code != 0 {
		t.Errorf("update unified: %d %s", res.Code, res.Stderr)
	}
	if d := read(t, filepath.Join(dir, "cgroup.max.descendants")); d != "5" {
		t.Errorf("cgroup.max.descendants %q after update", d)
	}
	res = v.Run("update", "--pids-limit", "10", id)
	if res.Code == 0 || !strings.Contains(res.Stderr, "linux.resources.pids: the pids controller is not available") || strings.Count(strings.TrimSpace(res.Stderr), "\n") > 0 {
		t.Errorf("update --pids-limit without a pids controller: %d %q", res.Code, res.Stderr)
	}
	res = v.RunIn([]byte(`{"unified":{"memory.max":"100M"}}`), "update", "--resources", "-", id)
	if res.Code == 0 || !strings.Contains(res.Stderr, `linux.resources.unified["memory.max"]: the memory controller is not available`) {
		t.Errorf("update memory.max without a memory controller: %d %q", res.Code, res.Stderr)
	}

	// kill --all: every process of the cgroup gets the signal (the init's
	// trap, the sleep dies of it); kill: only the init (its trap ends it).
	v.Must("kill", "--all", id, "USR1")
	for {
		reap()
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", sleepPid)); err != nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	waitFor(t, out.Name(), "usr1")
	if got := v.status(id); got != "running" {
		t.Errorf("status %q after kill --all USR1", got)
	}
	v.Must("kill", id, "TERM")
	for {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d/root/tmp", pid)); err != nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	for v.status(id) != "stopped" {
		reap()
		time.Sleep(time.Millisecond)
	}
	if b, _ := os.ReadFile(out.Name()); !strings.Contains(string(b), "term") {
		t.Errorf("init output %q, want its TERM trap", b)
	}
	v.Must("delete", id)
	if res := v.Run("state", id); res.Code == 0 {
		t.Errorf("state after delete succeeded")
	}
}

// delete --force of a running container kills it and removes everything.
func (v *v2rt) testDeleteForce(t *testing.T) {
	v.use(t)
	id := v2ID(t)
	s := v2Spec(id, "sleep 1000 & exec sleep 1001", nil)
	v.Must("run", "--detach", "--bundle", testutil.Bundle(t, s), id)
	defer v.noLeak(id)
	st := v.SpecState(id)
	if st.Status != specs.StateRunning {
		t.Fatalf("status %s", st.Status)
	}
	for strings.Count(read(t, filepath.Join(host(id), "cgroup.procs")), "\n") < 1 {
		time.Sleep(time.Millisecond)
	}
	if res := v.Run("delete", id); res.Code == 0 {
		t.Errorf("delete of a running container succeeded")
	}
	v.Must("delete", "--force", id)
}

// The limits of controllers this hierarchy does not offer (memory, pids
// here: bound to v1 on this host) are refused before anything is made,
// in one line naming the field, as runc refuses them (it fails writing
// memory.max, pids.max); a limit that would silently not apply is never
// accepted.
func (v *v2rt) testMissingControllers(t *testing.T) {
	v.use(t)
	for _, c := range []struct {
		name, ctrl string
		r          *specs.LinuxResources
		field      string
	}{
		{"memory", "memory", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](64 << 20)}}, "linux.resources.memory"},
		{"pids", "pids", &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](50)}}, "linux.resources.pids"},
		{"unified", "memory", &specs.LinuxResources{Unified: map[string]string{"memory.max": "64M"}}, `linux.resources.unified["memory.max"]`},
	} {
		t.Run(c.name, func(t *testing.T) {
			v.use(t)
			id := v2ID(t)
			s := v2Spec(id, "echo ran", c.r)
			res := v.Run("run", "--bundle", testutil.Bundle(t, s), id)
			msg := strings.TrimSpace(res.Stderr)
			if res.Code == 0 || strings.Contains(res.Stdout, "ran") || !strings.Contains(msg, c.field+": the "+c.ctrl+" controller is not available") || strings.Contains(msg, "\n") {
				t.Errorf("run: exit %d, stdout %q, stderr %q; want a one-line error naming %s", res.Code, res.Stdout, msg, c.field)
			}
			v.noLeak(id)
		})
	}
}
