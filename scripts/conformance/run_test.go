package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as the reaper, as the conformance binary does.
func TestMain(m *testing.M) {
	if t := os.Getenv(reaperEnv); t != "" {
		d, _ := time.ParseDuration(t)
		os.Exit(reaperMain(d, os.Args[1:]))
	}
	os.Exit(m.Run())
}

// fakeSuite writes validation programs as shell scripts.
func fakeSuite(t *testing.T, progs map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range progs {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dir, "runtimetest"), []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(filepath.Join(dir, rootfsTarball()), nil, 0o644)
	return dir
}

func runSuite(t *testing.T, suite string, extra ...string) (int, string, Report) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	args := append([]string{"-runtime", "/bin/true", "-suite", suite, "-out", out,
		"-lock", filepath.Join(t.TempDir(), "lock")}, extra...)
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	var rep Report
	if b, err := os.ReadFile(filepath.Join(out, "results.json")); err == nil {
		if err := json.Unmarshal(b, &rep); err != nil {
			t.Fatalf("results.json: %v", err)
		}
	} else if code != 2 {
		t.Fatalf("no results.json: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	return code, stdout.String() + stderr.String(), rep
}

func writeList(t *testing.T, names ...string) string {
	p := filepath.Join(t.TempDir(), "expected-pass.txt")
	os.WriteFile(p, []byte("# expected\n"+strings.Join(names, "\n")+"\n"), 0o644)
	return p
}

const (
	passing = "echo 'TAP version 13'; echo 'ok 1 - a'; echo '1..1'\n"
	failing = "echo 'TAP version 13'; echo 'not ok 1 - b'; echo '# expect: 1, actual: 2'; echo '1..1'\n"
	fatal   = "echo 'TAP version 13'; echo 'failed to create the container' >&2; exit 1\n"
)

func TestGateExitStatus(t *testing.T) {
	suite := fakeSuite(t, map[string]string{"good": passing, "bad": failing, "fatal": fatal})

	code, out, rep := runSuite(t, suite, "-expected", writeList(t))
	if code != 0 {
		t.Errorf("empty list: exit %d, want 0\n%s", code, out)
	}
	if !strings.Contains(out, "conformance: 1 passed, 2 failed") || !strings.Contains(out, "not in") || !strings.Contains(out, "good") {
		t.Errorf("empty list: output does not report the unlisted pass:\n%s", out)
	}
	if rep.Gate == nil || len(rep.Gate.Unlisted) != 1 || rep.Gate.Unlisted[0] != "good" {
		t.Errorf("results.json gate = %+v", rep.Gate)
	}

	if code, out, _ := runSuite(t, suite, "-expected", writeList(t, "good")); code != 0 {
		t.Errorf("listed test passes: exit %d, want 0\n%s", code, out)
	}

	code, out, rep = runSuite(t, suite, "-expected", writeList(t, "good", "bad", "fatal"))
	if code != 1 {
		t.Errorf("listed tests fail: exit %d, want 1\n%s", code, out)
	}
	if len(rep.Gate.Regressions) != 2 || !strings.Contains(out, "gate: FAILED") {
		t.Errorf("regressions = %+v\n%s", rep.Gate.Regressions, out)
	}
	for _, r := range rep.Results {
		switch r.Name {
		case "bad":
			if r.Reason != "not ok 1 - b: expect: 1, actual: 2" {
				t.Errorf("bad: reason %q", r.Reason)
			}
		case "fatal":
			if r.Reason != "exit 1: failed to create the container" {
				t.Errorf("fatal: reason %q", r.Reason)
			}
		}
	}

	// -run narrows the run; listed tests outside it are not judged.
	if code, out, rep := runSuite(t, suite, "-expected", writeList(t, "good", "bad"), "-run", "^good$"); code != 0 || len(rep.Results) != 1 {
		t.Errorf("-run: exit %d, %d results\n%s", code, len(rep.Results), out)
	}
	// Without a list there is no gate.
	if code, out, rep := runSuite(t, suite); code != 0 || rep.Gate != nil {
		t.Errorf("no list: exit %d, gate %+v\n%s", code, rep.Gate, out)
	}
}

// The runner kills what a test leaves running (here a process in its own
// session, as linux_ns_path's `unshare --fork sleep` helpers are), times
// out a hung test, and logs the runtime calls.
func TestReaperAndTimeout(t *testing.T) {
	pidfile := filepath.Join(t.TempDir(), "pid")
	suite := fakeSuite(t, map[string]string{
		"leaker": "setsid sleep 1000 </dev/null >/dev/null 2>&1 & echo $! > " + pidfile + "\n" +
			"\"$RUNTIME\" state 01234567-89ab-cdef-0123-456789abcdef\n" + passing,
		"hang": "echo 'TAP version 13'; echo 'ok 1 - first'; exec sleep 1000\n",
	})
	code, out, rep := runSuite(t, suite, "-timeout", "2s")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	b, err := os.ReadFile(pidfile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if pid <= 0 {
		t.Fatalf("pid file: %q", b)
	}
	if err := syscall.Kill(pid, 0); err != syscall.ESRCH {
		t.Errorf("process %d left by the test is still there (kill 0: %v)", pid, err)
	}
	byName := map[string]Result{}
	for _, r := range rep.Results {
		byName[r.Name] = r
	}
	if r := byName["hang"]; r.Result != ResultTimeout || r.Ok != 1 {
		t.Errorf("hang: %+v", r)
	}
	if r := byName["leaker"]; r.Result != ResultPass {
		t.Errorf("leaker: %+v", r)
	}
	log, _ := os.ReadFile(byName["leaker"].Log + ".runtime")
	if string(log) != "state 01234567-89ab-cdef-0123-456789abcdef\n" {
		t.Errorf("runtime log = %q", log)
	}
}

func TestBadUsage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-runtime", "/bin/true"}, &stdout, &stderr); code != 2 {
		t.Errorf("missing flags: exit %d, want 2", code)
	}
	suite := fakeSuite(t, map[string]string{"good": passing})
	if code, out, _ := runSuite(t, suite, "-expected", "/nonexistent"); code != 2 {
		t.Errorf("missing list: exit %d, want 2\n%s", code, out)
	}
}
