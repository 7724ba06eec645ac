package compat_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-run/oci-run/internal/testutil"
)

// hookScript records, per call: the phase, the state on stdin, the mount
// and pid namespaces it runs in, and its environment.
const hookScript = `#!/bin/sh
state=$(/bin/cat)
echo "$1|$state|$(/bin/readlink /proc/self/ns/mnt)|$(/bin/readlink /proc/self/ns/pid)|HOOKENV=$HOOKENV LEAK=$OCI_RUN_TEST_LEAK" >> "$2"
`

type hookCall struct {
	phase    string
	state    specs.State
	mnt, pid string
	env      string
}

func readHookLog(t *testing.T, path string) []hookCall {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var calls []hookCall
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if l == "" {
			continue
		}
		f := strings.Split(l, "|")
		if len(f) != 5 {
			t.Fatalf("hook log line %q", l)
		}
		c := hookCall{phase: f[0], mnt: f[2], pid: f[3], env: f[4]}
		if err := json.Unmarshal([]byte(f[1]), &c.state); err != nil {
			t.Fatalf("state on the stdin of %s: %q: %v", f[0], f[1], err)
		}
		calls = append(calls, c)
	}
	return calls
}

// Every phase runs at its point of the lifecycle, in its namespace, with
// the state runtime-spec gives it on stdin, its own env only.
func TestHooksAllPhases(t *testing.T) {
	r := newRT(t)
	// In oci-run's environment, never in a hook's.
	t.Setenv("OCI_RUN_TEST_LEAK", "leaked")
	dir := t.TempDir()
	host := filepath.Join(dir, "hook.sh")
	os.WriteFile(host, []byte(hookScript), 0o755)
	hostLog := filepath.Join(dir, "hooks.log")
	rootfs := testutil.NewRootfs(t)
	os.WriteFile(filepath.Join(rootfs, "hook.sh"), []byte(hookScript), 0o755)
	inside := filepath.Join(rootfs, "hooks.log")

	hook := func(phase, path, log string) []specs.Hook {
		return []specs.Hook{{Path: path, Args: []string{"hook.sh", phase, log}, Env: []string{"HOOKENV=" + phase}}}
	}
	s := testutil.Spec(rootfs, "sleep", "1000")
	s.Root.Readonly = false // the startContainer hook writes its log inside
	s.Annotations = map[string]string{"org.oci-run.test": "hooks"}
	s.Hooks = &specs.Hooks{
		//lint:ignore SA1019 deprecated in the spec, still what Docker uses
		Prestart:        hook("prestart", host, hostLog),
		CreateRuntime:   hook("createRuntime", host, hostLog),
		CreateContainer: hook("createContainer", host, hostLog),
		StartContainer:  hook("startContainer", "/hook.sh", "/hooks.log"),
		Poststart:       hook("poststart", host, hostLog),
		Poststop:        hook("poststop", host, hostLog),
	}
	id := testutil.ID(t)
	bundle := testutil.Bundle(t, s)
	r.must("create", "--bundle", bundle, id)
	t.Cleanup(func() { r.do("delete", "--force", id) })
	initPid := r.state(id).Pid
	initMnt := readlink(t, fmt.Sprintf("/proc/%d/ns/mnt", initPid))
	initPidNS := readlink(t, fmt.Sprintf("/proc/%d/ns/pid", initPid))
	hostMnt := readlink(t, "/proc/self/ns/mnt")

	phases := func(calls []hookCall) []string {
		var out []string
		for _, c := range calls {
			out = append(out, c.phase)
		}
		return out
	}
	if got := phases(readHookLog(t, hostLog)); strings.Join(got, ",") != "prestart,createRuntime,createContainer" {
		t.Fatalf("after create: hooks %v", got)
	}
	if got := readHookLog(t, inside); len(got) != 0 {
		t.Fatalf("startContainer ran at create")
	}
	r.must("start", id)
	r.must("kill", id, "KILL")
	r.waitStopped(id)
	r.must("delete", id)

	calls := append(readHookLog(t, hostLog), readHookLog(t, inside)...)
	want := []struct {
		phase  string
		status specs.ContainerState
		pid    int
		mnt    string
	}{
		{"prestart", specs.StateCreating, initPid, hostMnt},
		{"createRuntime", specs.StateCreating, initPid, hostMnt},
		{"createContainer", specs.StateCreating, 1, initMnt},
		{"poststart", specs.StateRunning, initPid, hostMnt},
		{"poststop", specs.StateStopped, 0, hostMnt},
		{"startContainer", specs.StateCreated, 1, initMnt},
	}
	if len(calls) != len(want) {
		t.Fatalf("hook calls %v, want %d", phases(calls), len(want))
	}
	for i, w := range want {
		c := calls[i]
		if c.phase != w.phase {
			t.Errorf("call %d: %s, want %s", i, c.phase, w.phase)
			continue
		}
		st := c.state
		if st.ID != id || st.Bundle != bundle || st.Status != w.status || st.Pid != w.pid || st.Annotations["org.oci-run.test"] != "hooks" {
			t.Errorf("%s: state %+v, want status %s pid %d", c.phase, st, w.status, w.pid)
		}
		if c.mnt != w.mnt {
			t.Errorf("%s: runs in mount namespace %s, want %s", c.phase, c.mnt, w.mnt)
		}
		if (c.mnt == initMnt) != (c.pid == initPidNS) {
			t.Errorf("%s: mount namespace %s but pid namespace %s", c.phase, c.mnt, c.pid)
		}
		if c.env != "HOOKENV="+c.phase+" LEAK=" {
			t.Errorf("%s: environment %q, want only the hook's", c.phase, c.env)
		}
	}
}

// A prestart hook that runs past its timeout fails create, and nothing of
// the container is left.
func TestHookTimeoutFailsCreate(t *testing.T) {
	r := newRT(t)
	s := testutil.Spec("", "true")
	one := 1
	s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/sleep", Args: []string{"sleep", "100"}, Timeout: &one}}}
	id := testutil.ID(t)
	res := r.do("create", "--bundle", testutil.Bundle(t, s), id)
	if res.code == 0 || !strings.Contains(res.stderr, "createRuntime hook #0") || !strings.Contains(res.stderr, "timeout") {
		t.Errorf("create: exit %d: %s", res.code, res.stderr)
	}
	if _, err := os.Stat(filepath.Join(r.root, id)); !os.IsNotExist(err) {
		t.Errorf("state of %s left behind", id)
	}
	if dirs := testutil.CgroupDirs(t, id); len(dirs) > 0 {
		t.Errorf("cgroups left behind: %q", dirs)
	}
}

// A failing createContainer hook fails create from inside the container.
func TestCreateContainerHookFails(t *testing.T) {
	r := newRT(t)
	s := testutil.Spec("", "true")
	s.Hooks = &specs.Hooks{CreateContainer: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "echo broken >&2; exit 3"}}}}
	id := testutil.ID(t)
	res := r.do("create", "--bundle", testutil.Bundle(t, s), id)
	if res.code == 0 || !strings.Contains(res.stderr, "createContainer hook #0") || !strings.Contains(res.stderr, "exit status 3") || !strings.Contains(res.stderr, "broken") {
		t.Errorf("create: exit %d: %s", res.code, res.stderr)
	}
	if _, err := os.Stat(filepath.Join(r.root, id)); !os.IsNotExist(err) {
		t.Errorf("state of %s left behind", id)
	}
}

// poststart and poststop failures are warnings in the log; the hooks after
// the failing one still run and the operation succeeds.
func TestPostHookFailuresWarn(t *testing.T) {
	r := newRT(t)
	dir := t.TempDir()
	mark := filepath.Join(dir, "marks")
	s := testutil.Spec("", "sleep", "1000")
	fail := specs.Hook{Path: "/bin/false", Args: []string{"false"}}
	ok := func(name string) specs.Hook {
		return specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", "echo " + name + " >> " + mark}}
	}
	s.Hooks = &specs.Hooks{Poststart: []specs.Hook{fail, ok("poststart")}, Poststop: []specs.Hook{fail, ok("poststop")}}
	id := testutil.ID(t)
	log := filepath.Join(dir, "log.json")
	r.must("create", "--bundle", testutil.Bundle(t, s), id)
	t.Cleanup(func() { r.do("delete", "--force", id) })
	r.must("--log", log, "--log-format", "json", "start", id)
	r.must("--log", log, "--log-format", "json", "delete", "--force", id)
	b, _ := os.ReadFile(mark)
	if string(b) != "poststart\npoststop\n" {
		t.Errorf("hooks after the failing ones: %q", b)
	}
	warned := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(readFile(t, log)), "\n") {
		var e struct{ Level, Msg, Time string }
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		for _, phase := range []string{"poststart", "poststop"} {
			if e.Level == "warning" && strings.Contains(e.Msg, phase+" hook #0") {
				warned[phase] = true
			}
		}
	}
	if !warned["poststart"] || !warned["poststop"] {
		t.Errorf("warnings %v in the log:\n%s", warned, readFile(t, log))
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
