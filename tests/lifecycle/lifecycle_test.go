// Package lifecycle_test runs real containers through bin/oci-run and checks
// each lifecycle path from inside the container and from the host.
package lifecycle_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/internal/testutil"
)

// rt runs oci-run with its own state root.
type rt struct {
	t    *testing.T
	root string
	bin  string
}

func newRT(t *testing.T) *rt {
	t.Helper()
	r := testutil.NewRuntime(t)
	return &rt{t: t, root: r.Root, bin: r.Bin}
}

// runtime is r as the shared oci-run runner.
func (r *rt) runtime() *testutil.Runtime {
	return &testutil.Runtime{T: r.t, Root: r.root, Bin: r.bin}
}

type result struct {
	stdout, stderr string
	code           int
}

func (r *rt) run(args ...string) result {
	r.t.Helper()
	return r.runIn(nil, args...)
}

// runIn runs oci-run with files, not pipes, for stdout and stderr: a
// detached container inherits oci-run's stdio, and a pipe would keep Run
// waiting for as long as the container lives.
func (r *rt) runIn(stdin []byte, args ...string) result {
	r.t.Helper()
	res := r.runtime().RunIn(stdin, args...)
	return result{res.Stdout, res.Stderr, res.Code}
}

func (r *rt) must(args ...string) string {
	r.t.Helper()
	return r.runtime().Must(args...)
}

func (r *rt) state(id string) specs.State {
	r.t.Helper()
	return r.runtime().SpecState(id)
}

func (r *rt) waitStatus(id string, want specs.ContainerState) specs.State {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		// The container may not exist yet (run still creating it).
		var st specs.State
		res := r.run("state", id)
		if res.code == 0 {
			if err := json.Unmarshal([]byte(res.stdout), &st); err != nil {
				r.t.Fatal(err)
			}
			if st.Status == want {
				return st
			}
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("container %s: status %q (%s), want %s", id, st.Status, res.stderr, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// noLeaks checks that nothing of container id is left on the host.
func (r *rt) noLeaks(id string, mountsBefore []string) {
	r.t.Helper()
	if _, err := os.Stat(filepath.Join(r.root, id)); !os.IsNotExist(err) {
		r.t.Errorf("state dir of %s left behind", id)
	}
	if dirs := testutil.CgroupDirs(r.t, id); len(dirs) > 0 {
		r.t.Errorf("cgroups left behind: %q", dirs)
	}
	if procs := testutil.ProcessesMatching(r.t, id); len(procs) > 0 {
		r.t.Errorf("processes left behind: %q", procs)
	}
	if mountsBefore != nil {
		// Other test binaries may mount and unmount their own things while
		// we run: compare the mounts that are not theirs.
		before, after := r.ours(mountsBefore), r.ours(testutil.Mounts(r.t))
		if !reflect.DeepEqual(after, before) {
			r.t.Errorf("host mount table changed:\nbefore %q\nafter  %q", before, after)
		}
	}
}

// ours drops mount points under other tests' work directories.
func (r *rt) ours(mounts []string) []string {
	var out []string
	for _, m := range mounts {
		if strings.HasPrefix(m, "/work/") || (strings.HasPrefix(m, os.TempDir()) && !strings.HasPrefix(m, filepath.Dir(r.root))) {
			continue
		}
		out = append(out, m)
	}
	return out
}

func bundle(t *testing.T, args ...string) (string, *specs.Spec) {
	s := testutil.Spec("", args...)
	s.Root = nil
	return testutil.Bundle(t, s), s
}

func TestRunOutputAndPid1View(t *testing.T) {
	r := newRT(t)
	before := testutil.Mounts(t)
	b, _ := bundle(t, "sh", "-c", "echo pid=$$; hostname; cat /proc/1/cmdline | tr '\\0' ' '; echo; ls /proc/self/fd")
	id := testutil.ID(t)
	res := r.run("run", "--bundle", b, id)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	if len(lines) < 4 || lines[0] != "pid=1" || lines[1] != "oci-run" || !strings.HasPrefix(lines[2], "sh -c") {
		t.Fatalf("unexpected output %q", res.stdout)
	}
	// DESIGN invariant 1: only stdio reaches the container (ls itself opens
	// one descriptor for /proc/self/fd).
	if fds := strings.Fields(strings.Join(lines[3:], " ")); len(fds) > 4 || fds[0] != "0" || fds[1] != "1" || fds[2] != "2" {
		t.Fatalf("container descriptors %q, want 0 1 2 (+ ls's own)", fds)
	}
	r.noLeaks(id, before)
}

func TestRunExitCode(t *testing.T) {
	r := newRT(t)
	b, _ := bundle(t, "sh", "-c", "exit 3")
	id := testutil.ID(t)
	if res := r.run("run", "-b", b, id); res.code != 3 {
		t.Fatalf("exit code %d, want 3 (stderr %s)", res.code, res.stderr)
	}
	r.noLeaks(id, nil)
}

// A container init killed by a signal makes run exit 128+signal, like a
// shell (the init of a pid namespace cannot be killed from inside it, so
// the signal comes from the host).
func TestRunExitCodeOfSignal(t *testing.T) {
	r := newRT(t)
	b, _ := bundle(t, "sleep", "1000")
	id := testutil.ID(t)
	cmd := exec.Command(r.bin, "--root", r.root, "run", "-b", b, id)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.waitStatus(id, specs.StateRunning)
	r.must("kill", id, "KILL")
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 137 {
		t.Fatalf("run exited with %v, want 137", err)
	}
	r.noLeaks(id, nil)
}

// run forwards the signals it gets to the container: one that would end
// the runtime (SIGTERM) from the start, the others (SIGUSR1, a realtime
// one: SIGRTMIN+3, 37) once the container has run a little, so the test
// keeps sending each until the container answers.
func TestRunForwardsSignals(t *testing.T) {
	for _, c := range []struct {
		sig  unix.Signal
		code int
	}{{unix.SIGTERM, 5}, {unix.SIGUSR1, 3}, {unix.Signal(37), 4}} {
		t.Run(c.sig.String(), func(t *testing.T) {
			r := newRT(t)
			script := fmt.Sprintf(`trap 'echo got; exit %d' %d; echo ready; while :; do sleep 0.05; done`, c.code, int(c.sig))
			b, _ := bundle(t, "sh", "-c", script)
			id := testutil.ID(t)
			cmd := exec.Command(r.bin, "--root", r.root, "run", "-b", b, id)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer r.run("delete", "--force", id)
			lines := make(chan string)
			go func() {
				sc := bufio.NewScanner(out)
				for sc.Scan() {
					lines <- sc.Text()
				}
				close(lines)
			}()
			if l := <-lines; l != "ready" {
				t.Fatalf("first line %q", l)
			}
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			deadline := time.After(10 * time.Second)
		wait:
			for {
				cmd.Process.Signal(c.sig)
				select {
				case l := <-lines:
					if l != "got" {
						t.Fatalf("after %v: %q", c.sig, l)
					}
					break wait
				case <-tick.C:
				case <-deadline:
					t.Fatalf("%v never reached the container", c.sig)
				}
			}
			var ee *exec.ExitError
			if err := cmd.Wait(); !errors.As(err, &ee) || ee.ExitCode() != c.code {
				t.Fatalf("run exited with %v, want %d", err, c.code)
			}
			r.noLeaks(id, nil)
		})
	}
}

func TestCreateStartStateDelete(t *testing.T) {
	r := newRT(t)
	before := testutil.Mounts(t)
	out := filepath.Join(t.TempDir(), "out")
	b, _ := bundle(t, "sh", "-c", "echo started > /proc/self/fd/1; sleep 0.2")
	id := testutil.ID(t)
	pidFile := filepath.Join(t.TempDir(), "pid")
	f, _ := os.Create(out)
	cmd := exec.Command(r.bin, "--root", r.root, "create", "--bundle", b, "--pid-file", pidFile, id)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Run(); err != nil {
		b, _ := os.ReadFile(out)
		t.Fatalf("create: %v: %s", err, b)
	}
	f.Close()
	st := r.state(id)
	if st.Status != specs.StateCreated || st.Pid <= 0 || st.ID != id || st.Bundle != b {
		t.Fatalf("after create: %+v", st)
	}
	pidText, err := os.ReadFile(pidFile)
	if err != nil || string(pidText) != strconv.Itoa(st.Pid) {
		t.Fatalf("pid file %q (%v), state pid %d", pidText, err, st.Pid)
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(st.Pid)); err != nil {
		t.Fatalf("init not on the host: %v", err)
	}
	if content, _ := os.ReadFile(out); len(content) != 0 {
		t.Fatalf("process ran before start: %q", content)
	}
	// The init's namespaces differ from ours.
	for _, ns := range []string{"pid", "mnt", "uts", "ipc", "net"} {
		in, _ := os.Readlink("/proc/" + strconv.Itoa(st.Pid) + "/ns/" + ns)
		host, _ := os.Readlink("/proc/self/ns/" + ns)
		if in == host || in == "" {
			t.Errorf("%s namespace of the init is the host's (%s)", ns, in)
		}
	}
	if res := r.run("delete", id); res.code == 0 {
		t.Fatal("delete of a created container succeeded without --force")
	}
	r.must("start", id)
	if res := r.run("start", id); res.code == 0 {
		t.Fatal("second start succeeded")
	}
	r.waitStatus(id, specs.StateStopped)
	if content, _ := os.ReadFile(out); string(content) != "started\n" {
		t.Fatalf("output %q", content)
	}
	if res := r.run("start", id); res.code == 0 || !strings.Contains(res.stderr, "stopped") {
		t.Fatalf("start of stopped container: %+v", res)
	}
	if res := r.run("kill", id, "TERM"); res.code == 0 {
		t.Fatal("kill of a stopped container succeeded")
	}
	r.must("delete", id)
	if res := r.run("state", id); res.code == 0 {
		t.Fatal("state after delete succeeded")
	}
	r.noLeaks(id, before)
}

// A created container can be paused, as with runc: it then reads paused
// and refuses start, and resume gives it back created, ready to start.
func TestPauseCreated(t *testing.T) {
	r := newRT(t)
	before := testutil.Mounts(t)
	b, _ := bundle(t, "true")
	id := testutil.ID(t)
	r.must("create", "--bundle", b, id)
	r.must("pause", id)
	if st := r.state(id); st.Status != "paused" {
		t.Fatalf("after pause of a created container: %s", st.Status)
	}
	if res := r.run("start", id); res.code == 0 || !strings.Contains(res.stderr, "paused") {
		t.Fatalf("start of a paused container: %+v", res)
	}
	r.must("resume", id)
	if st := r.state(id); st.Status != specs.StateCreated {
		t.Fatalf("after resume: %s", st.Status)
	}
	r.must("start", id)
	r.waitStatus(id, specs.StateStopped)
	r.must("delete", id)
	r.noLeaks(id, before)
}

func TestKillDeliversSignal(t *testing.T) {
	r := newRT(t)
	out := filepath.Join(t.TempDir(), "out")
	b, _ := bundle(t, "sh", "-c", "trap 'echo got USR1; exit 7' USR1; echo ready; while :; do sleep 0.05; done")
	id := testutil.ID(t)
	f, _ := os.Create(out)
	cmd := exec.Command(r.bin, "--root", r.root, "run", "--bundle", b, id)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, _ := os.ReadFile(out)
		if strings.Contains(string(c), "ready") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("container never ready: %q", c)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st := r.state(id); st.Status != specs.StateRunning {
		t.Fatalf("status %s", st.Status)
	}
	r.must("kill", id, "SIGUSR1")
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Fatalf("run exited with %v, want 7", err)
	}
	if c, _ := os.ReadFile(out); !strings.Contains(string(c), "got USR1") {
		t.Fatalf("output %q", c)
	}
	r.noLeaks(id, nil)
}

func TestDeleteForceRunning(t *testing.T) {
	r := newRT(t)
	before := testutil.Mounts(t)
	b, _ := bundle(t, "sleep", "1000")
	id := testutil.ID(t)
	r.must("run", "-d", "-b", b, id)
	st := r.state(id)
	if st.Status != specs.StateRunning {
		t.Fatalf("status %s", st.Status)
	}
	if cg := testutil.CgroupDirs(t, id); len(cg) == 0 {
		t.Fatalf("no cgroup for %s", id)
	}
	if res := r.run("delete", id); res.code == 0 || !strings.Contains(res.stderr, "not stopped") {
		t.Fatalf("delete of a running container: %+v", res)
	}
	if st := r.state(id); st.Status != specs.StateRunning {
		t.Fatalf("refused delete changed the container: %s", st.Status)
	}
	r.must("delete", "--force", id)
	if _, err := os.Stat("/proc/" + strconv.Itoa(st.Pid)); err == nil {
		if stat, _ := os.ReadFile("/proc/" + strconv.Itoa(st.Pid) + "/stat"); !strings.Contains(string(stat), ") Z") {
			t.Fatalf("init %d still running", st.Pid)
		}
	}
	r.noLeaks(id, before)
}

func TestFailedCreateLeavesNothing(t *testing.T) {
	r := newRT(t)
	before := testutil.Mounts(t)
	cases := []struct {
		name   string
		mutate func(s *specs.Spec)
		want   string
	}{
		{"missing executable", func(s *specs.Spec) { s.Process.Args = []string{"/nonexistent"} }, "no such file or directory"},
		{"missing rootfs", func(s *specs.Spec) { s.Root.Path = "/nonexistent-rootfs" }, "root.path"},
		{"empty args", func(s *specs.Spec) { s.Process.Args = nil }, "process.args"},
		{"bad namespace", func(s *specs.Spec) { s.Linux.Namespaces[0].Type = "bogus" }, "linux.namespaces[0].type"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := testutil.Spec(testutil.SharedRootfs(t), "true")
			c.mutate(s)
			b := testutil.Bundle(t, s)
			id := testutil.ID(t)
			res := r.run("create", "-b", b, id)
			if res.code == 0 {
				t.Fatal("create succeeded")
			}
			msg := strings.TrimSpace(res.stderr)
			if strings.Count(msg, "\n") > 0 || !strings.Contains(msg, c.want) {
				t.Fatalf("error %q, want one line containing %q", msg, c.want)
			}
			r.noLeaks(id, before)
		})
	}
}

func TestDuplicateIDAndUnknownID(t *testing.T) {
	r := newRT(t)
	b, _ := bundle(t, "sleep", "1000")
	id := testutil.ID(t)
	r.must("create", "-b", b, id)
	defer r.run("delete", "--force", id)
	pid := r.state(id).Pid
	if res := r.run("create", "-b", b, id); res.code == 0 || !strings.Contains(res.stderr, "exists") {
		t.Fatalf("duplicate create: %+v", res)
	}
	if st := r.state(id); st.Pid != pid || st.Status != specs.StateCreated {
		t.Fatalf("duplicate create touched the container: %+v", st)
	}
	for _, cmd := range [][]string{{"state", "nope"}, {"start", "nope"}, {"kill", "nope"}, {"delete", "nope"}, {"state", "../x"}, {"delete", "a/b"}} {
		if res := r.run(cmd...); res.code == 0 || strings.Count(strings.TrimSpace(res.stderr), "\n") > 0 {
			t.Errorf("%q: %+v", cmd, res)
		}
	}
	if res := r.run("kill", id, "NOSUCHSIG"); res.code == 0 || !strings.Contains(res.stderr, "NOSUCHSIG") {
		t.Errorf("bad signal: %+v", res)
	}
}

func TestConfigUpdateAfterCreateHasNoEffect(t *testing.T) {
	r := newRT(t)
	b, s := bundle(t, "sh", "-c", "hostname")
	id := testutil.ID(t)
	out := filepath.Join(t.TempDir(), "out")
	f, _ := os.Create(out)
	cmd := exec.Command(r.bin, "--root", r.root, "create", "-b", b, id)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	s.Hostname = "changed"
	s.Process.Args = []string{"false"}
	testutil.WriteSpec(t, filepath.Join(b, "config.json"), s)
	r.must("start", id)
	r.waitStatus(id, specs.StateStopped)
	r.must("delete", id)
	if c, _ := os.ReadFile(out); string(c) != "oci-run\n" {
		t.Fatalf("output %q", c)
	}
}

func TestListAndSpec(t *testing.T) {
	r := newRT(t)
	b, _ := bundle(t, "sleep", "1000")
	id := testutil.ID(t)
	r.must("create", "-b", b, id)
	defer r.run("delete", "--force", id)
	table := r.must("list")
	if !strings.HasPrefix(table, "ID") || !strings.Contains(table, id) || !strings.Contains(table, "created") {
		t.Fatalf("list: %q", table)
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(r.must("list", "--format", "json")), &list); err != nil || len(list) != 1 || list[0]["id"] != id {
		t.Fatalf("list json: %v %v", list, err)
	}
	if q := r.must("list", "-q"); q != id+"\n" {
		t.Fatalf("list -q: %q", q)
	}
	dir := t.TempDir()
	r.must("spec", "--bundle", dir)
	var s specs.Spec
	raw, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	if err := json.Unmarshal(raw, &s); err != nil || s.Process.Args[0] != "sh" || !s.Root.Readonly {
		t.Fatalf("spec: %v %+v", err, s.Process)
	}
	if res := r.run("spec", "--bundle", dir); res.code == 0 {
		t.Fatal("spec overwrote config.json")
	}
}

// spec --rootless writes runc's rootless configuration, and it runs: the
// caller (root here) is root in a new user namespace, with /sys bound from
// the host and no network namespace.
func TestSpecRootlessRuns(t *testing.T) {
	r := newRT(t)
	dir := t.TempDir()
	r.must("spec", "--rootless", "--bundle", dir)
	var s specs.Spec
	raw, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	if s.Linux.Resources != nil || len(s.Linux.UIDMappings) != 1 || s.Linux.UIDMappings[0].HostID != uint32(os.Geteuid()) {
		t.Fatalf("rootless spec: resources %+v, uid mappings %+v", s.Linux.Resources, s.Linux.UIDMappings)
	}
	s.Root.Path = testutil.SharedRootfs(t)
	s.Process.Terminal = false
	s.Process.Args = []string{"sh", "-c", "cat /proc/self/uid_map; readlink /proc/self/ns/user; readlink /proc/self/ns/net; ls /sys/kernel >/dev/null && echo sys"}
	testutil.WriteSpec(t, filepath.Join(dir, "config.json"), &s)
	id := testutil.ID(t)
	out := r.must("run", "-b", dir, id)
	host := func(ns string) string { l, _ := os.Readlink("/proc/self/ns/" + ns); return l }
	f := strings.Fields(out)
	if len(f) != 6 || f[0] != "0" || f[1] != strconv.Itoa(os.Geteuid()) || f[2] != "1" ||
		f[3] == host("user") || f[4] != host("net") || f[5] != "sys" {
		t.Fatalf("inside: %q (host user %s, net %s)", out, host("user"), host("net"))
	}
}

// runc's checkpoint and restore are refused by name, options and all.
func TestCheckpointRefused(t *testing.T) {
	r := newRT(t)
	for _, args := range [][]string{{"checkpoint", "--image-path", t.TempDir(), "x"}, {"restore", "-b", t.TempDir(), "x"}} {
		res := r.run(args...)
		if res.code == 0 || !strings.Contains(res.stderr, "oci-run "+args[0]+": not supported") {
			t.Errorf("%v: exit %d, stderr %q", args, res.code, res.stderr)
		}
	}
}

func TestJSONLog(t *testing.T) {
	r := newRT(t)
	log := filepath.Join(t.TempDir(), "log.json")
	res := r.run("--log", log, "--log-format", "json", "start", "nonexistent")
	if res.code == 0 {
		t.Fatal("start of a nonexistent container succeeded")
	}
	raw, _ := os.ReadFile(log)
	var entry map[string]string
	if err := json.Unmarshal(bytes.TrimSpace(raw), &entry); err != nil {
		t.Fatalf("log %q: %v", raw, err)
	}
	if entry["level"] != "error" || !strings.Contains(entry["msg"], "nonexistent") || entry["time"] == "" {
		t.Fatalf("log entry %v", entry)
	}
	if _, err := time.Parse(time.RFC3339Nano, entry["time"]); err != nil {
		t.Fatalf("time %q: %v", entry["time"], err)
	}
}

func TestVersion(t *testing.T) {
	r := newRT(t)
	out := r.must("--version")
	if !strings.HasPrefix(out, "oci-run version ") || !strings.Contains(out, "\nspec: ") {
		t.Fatalf("version: %q", out)
	}
}

// runtime-spec: process is optional at create; start must then fail and
// leave the container as it is, and delete --force cleans up.
func TestCreateWithoutProcess(t *testing.T) {
	r := newRT(t)
	s := testutil.Spec(testutil.SharedRootfs(t), "true")
	s.Process = nil
	b := testutil.Bundle(t, s)
	id := testutil.ID(t)
	r.must("create", "-b", b, id)
	if st := r.state(id); st.Status != specs.StateCreated || st.Pid == 0 {
		t.Fatalf("after create: %+v", st)
	}
	res := r.run("start", id)
	if res.code == 0 || !strings.Contains(res.stderr, "no process") {
		t.Fatalf("start: %+v", res)
	}
	if st := r.state(id); st.Status != specs.StateCreated {
		t.Fatalf("refused start changed the container: %s", st.Status)
	}
	r.must("delete", "--force", id)
	r.noLeaks(id, nil)
}

// A run killed as soon as its container has started (run saves the
// created state while the container starts, so the kill may land before
// that save or after it): the container reads as running (saved) or
// stopped (create's first state, its creator gone), never anything else,
// and delete --force leaves nothing either way.
func TestRunKilledOnceStarted(t *testing.T) {
	for i := 0; i < 5; i++ {
		r := newRT(t)
		b, _ := bundle(t, "sh", "-c", "echo ready; sleep 100")
		id := testutil.ID(t)
		cmd := exec.Command(r.bin, "--root", r.root, "run", "-b", b, id)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(out).ReadString('\n')
		cmd.Process.Kill()
		cmd.Wait()
		if line != "ready\n" {
			r.run("delete", "--force", id)
			t.Fatalf("first line %q (%v)", line, err)
		}
		st := r.state(id)
		if st.Status != specs.StateRunning && st.Status != specs.StateStopped {
			t.Errorf("run killed after start: status %q", st.Status)
		}
		r.must("delete", "--force", id)
		r.noLeaks(id, nil)
	}
}
