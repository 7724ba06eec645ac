// Command conformance runs the OCI runtime conformance suite (the
// validation programs of opencontainers/runtime-tools, built by `make
// conformance` from tools/conformance) against a runtime, judges each
// program from its TAP output and exit status, prints a table, writes
// results.json, and checks the results against a list of tests expected
// to pass.
//
//	conformance -runtime bin/oci-run -suite build/conformance/suite \
//	    -out build/conformance/oci-run [-expected tests/conformance/expected-pass.txt]
//
// Each program runs alone (they share fixed cgroup names such as
// /cgrouptest), from a work directory holding runtimetest and the suite's
// rootfs tarball, with RUNTIME set to a wrapper that logs every runtime
// call (to know the container ids the test used) and execs the runtime.
// After each program the runner removes what the test left behind and
// only that: containers with the test's ids (through the runtime), the
// test's cgroups, its processes, its temporary bundles.
//
// Exit status: 0 when every listed test passed (or no list was given), 1
// when a listed test did not pass, 2 when the suite could not be run.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Report is results.json.
type Report struct {
	Runtime        string    `json:"runtime"`
	RuntimeVersion string    `json:"runtimeVersion"`
	Started        time.Time `json:"started"`
	Seconds        float64   `json:"seconds"`
	Passed         int       `json:"passed"`
	Failed         int       `json:"failed"`
	Results        []Result  `json:"results"`
	Gate           *Gate     `json:"gate,omitempty"`
	// Warnings: state found before a test that the runner left alone, or
	// cleanup that failed.
	Warnings []string `json:"warnings,omitempty"`
}

type runner struct {
	runtime  string // absolute path of the runtime under test
	wrapper  string // RUNTIME given to the tests
	suite    string
	out      string
	work     string
	timeout  time.Duration
	hs       []Hierarchy
	warnings []string
	stale    map[string]bool
	stdout   io.Writer
}

func main() {
	if t := os.Getenv(reaperEnv); t != "" {
		d, err := time.ParseDuration(t)
		if err != nil || len(os.Args) < 2 {
			fmt.Fprintln(os.Stderr, "reaper: bad invocation")
			os.Exit(2)
		}
		os.Exit(reaperMain(d, os.Args[1:]))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("conformance", flag.ContinueOnError)
	fl.SetOutput(stderr)
	rt := fl.String("runtime", "", "runtime to test: a path, or a name looked up in PATH")
	suite := fl.String("suite", "", "directory with the validation programs, runtimetest and rootfs-"+runtime.GOARCH+".tar.gz")
	out := fl.String("out", "", "directory for results.json and logs/ (replaced)")
	expected := fl.String("expected", "", "list of tests expected to pass; without it, no gate")
	timeout := fl.Duration("timeout", 2*time.Minute, "time limit of one validation program")
	match := fl.String("run", "", "run only the tests whose name matches this regexp")
	lock := fl.String("lock", "/run/lock/oci-run-conformance.lock", "lock file serializing conformance runs on this machine")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if *rt == "" || *suite == "" || *out == "" || fl.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: conformance -runtime RUNTIME -suite DIR -out DIR [-expected FILE] [-run REGEXP] [-timeout D]")
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintln(stderr, "conformance:", err)
		return 2
	}
	r := &runner{timeout: *timeout, stdout: stdout, stale: map[string]bool{}}
	var err error
	if r.runtime, err = resolveRuntime(*rt); err != nil {
		return fail(err)
	}
	if r.suite, err = filepath.Abs(*suite); err != nil {
		return fail(err)
	}
	if r.out, err = filepath.Abs(*out); err != nil {
		return fail(err)
	}
	var list []string
	if *expected != "" {
		if list, err = ReadExpected(*expected); err != nil {
			return fail(err)
		}
	}
	tests, err := suiteTests(r.suite)
	if err != nil {
		return fail(err)
	}
	selected := tests
	if *match != "" {
		re, err := regexp.Compile(*match)
		if err != nil {
			return fail(fmt.Errorf("-run: %w", err))
		}
		selected = nil
		for _, t := range tests {
			if re.MatchString(t) {
				selected = append(selected, t)
			}
		}
	}

	unlock, err := takeLock(*lock, stderr)
	if err != nil {
		return fail(err)
	}
	defer unlock()
	if err := r.prepare(); err != nil {
		return fail(err)
	}

	rep := Report{Runtime: r.runtime, RuntimeVersion: runtimeVersion(r.runtime), Started: time.Now()}
	fmt.Fprintf(stdout, "runtime: %s (%s)\nsuite:   %s, %d of %d tests, timeout %s each\nlogs:    %s\n\n",
		r.runtime, rep.RuntimeVersion, r.suite, len(selected), len(tests), r.timeout, filepath.Join(r.out, "logs"))
	fmt.Fprintf(stdout, "%-34s %-7s %4s %4s %4s %6s  %s\n", "TEST", "RESULT", "OK", "NOK", "SKIP", "TIME", "FIRST FAILURE")
	for _, name := range selected {
		res := r.runOne(name)
		rep.Results = append(rep.Results, res)
		if res.Result == ResultPass {
			rep.Passed++
		} else {
			rep.Failed++
		}
		reason := res.Reason
		if res.Stderr != "" {
			reason += " | " + res.Stderr
		}
		fmt.Fprintf(stdout, "%-34s %-7s %4d %4d %4d %5.1fs  %s\n", name, res.Result, res.Ok, res.NotOk, res.Skip, res.Seconds, clip(reason, 160))
	}
	rep.Seconds = time.Since(rep.Started).Seconds()
	rep.Warnings = r.warnings
	if *expected != "" {
		g := CheckGate(list, tests, rep.Results)
		g.Expected = *expected
		rep.Gate = &g
	}
	if err := writeJSON(filepath.Join(r.out, "results.json"), rep); err != nil {
		return fail(err)
	}

	for _, w := range rep.Warnings {
		fmt.Fprintln(stdout, "warning:", w)
	}
	fmt.Fprintf(stdout, "\n%d of %d test files passed in %.0fs (%s)\n", rep.Passed, len(rep.Results), rep.Seconds, filepath.Join(r.out, "results.json"))
	fmt.Fprintf(stdout, "conformance: %d passed, %d failed\n", rep.Passed, rep.Failed)
	if rep.Gate == nil {
		return 0
	}
	if len(rep.Gate.Unlisted) > 0 {
		fmt.Fprintf(stdout, "gate: %d tests pass but are not in %s (add them): %s\n", len(rep.Gate.Unlisted), *expected, strings.Join(rep.Gate.Unlisted, " "))
	}
	if !rep.Gate.OK() {
		fmt.Fprintf(stdout, "gate: FAILED: %d tests listed in %s did not pass:\n", len(rep.Gate.Regressions), *expected)
		for _, g := range rep.Gate.Regressions {
			fmt.Fprintf(stdout, "  %-32s %-7s %s\n", g.Name, g.Result, g.Reason)
		}
		return 1
	}
	fmt.Fprintf(stdout, "gate: ok, all %d listed tests that ran passed\n", len(list))
	return 0
}

func resolveRuntime(rt string) (string, error) {
	p := rt
	if !strings.Contains(rt, "/") {
		lp, err := exec.LookPath(rt)
		if err != nil {
			return "", fmt.Errorf("runtime %q: %w", rt, err)
		}
		p = lp
	}
	p, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	if fi, err := os.Stat(p); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		return "", fmt.Errorf("runtime %s: not an executable file (build it first: make build)", p)
	}
	return p, nil
}

func runtimeVersion(rt string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, rt, "--version").Output()
	if l := firstLine(string(out)); l != "" {
		return l
	}
	return "version unknown"
}

// suiteTests lists the validation programs: the executables in dir other
// than runtimetest.
func suiteTests(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("suite: %w (build it: make conformance-suite)", err)
	}
	need := map[string]bool{"runtimetest": false, rootfsTarball(): false}
	var tests []string
	for _, e := range ents {
		if _, ok := need[e.Name()]; ok {
			need[e.Name()] = true
			continue
		}
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			tests = append(tests, e.Name())
		}
	}
	for n, ok := range need {
		if !ok {
			return nil, fmt.Errorf("suite %s: no %s", dir, n)
		}
	}
	if len(tests) == 0 {
		return nil, fmt.Errorf("suite %s: no validation programs", dir)
	}
	sort.Strings(tests)
	return tests, nil
}

func rootfsTarball() string { return "rootfs-" + runtime.GOARCH + ".tar.gz" }

// takeLock serializes runs on the machine: the tests use fixed cgroup
// names, so two runs at once would break each other.
func takeLock(path string, stderr io.Writer) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		fmt.Fprintf(stderr, "conformance: waiting for another run to finish (lock %s)\n", path)
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
	}
	return func() { f.Close() }, nil
}

// prepare lays out the output directory: logs/, the work directory the
// programs run in, the runtime wrapper; and finds the cgroup hierarchies.
func (r *runner) prepare() error {
	for _, d := range []string{"logs", "work", "tmp"} {
		p := filepath.Join(r.out, d)
		if err := removeTree(p); err != nil {
			return err
		}
		if err := os.MkdirAll(p, 0o755); err != nil {
			return err
		}
	}
	r.work = filepath.Join(r.out, "work")
	// Copies, not symlinks: the suite copies runtimetest into each bundle
	// with a copy that keeps symlinks as symlinks.
	for _, n := range []string{"runtimetest", rootfsTarball()} {
		if err := copyFile(filepath.Join(r.suite, n), filepath.Join(r.work, n)); err != nil {
			return err
		}
	}
	r.wrapper = filepath.Join(r.out, "runtime")
	wrapper := fmt.Sprintf(`#!/bin/sh
# Written by scripts/conformance: logs the call, then runs the runtime.
if [ -n "$%[1]s" ]; then printf '%%s\n' "$*" >> "$%[1]s"; fi
exec '%[2]s' "$@"
`, logEnv, strings.ReplaceAll(r.runtime, "'", `'\''`))
	if err := os.WriteFile(r.wrapper, []byte(wrapper), 0o755); err != nil {
		return err
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	cg, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return err
	}
	r.hs = Hierarchies(ParseCgroupMounts(string(mi)), string(cg))
	return nil
}

// logEnv names the file the runtime wrapper appends each call to.
const logEnv = "OCI_CONFORMANCE_RUNTIME_LOG"

// containerIDs are the ids the test passed to the runtime: the suite
// names every container with a fresh UUID.
func containerIDs(logp string) []string {
	b, err := os.ReadFile(logp + ".runtime")
	if err != nil {
		return nil
	}
	return uniq(uuidRe.FindAllString(string(b), -1))
}

var uuidRe = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// runOne runs one validation program under a reaper and cleans up after it.
func (r *runner) runOne(name string) Result {
	logp := filepath.Join(r.out, "logs", name)
	tmp := filepath.Join(r.out, "tmp", name)
	res := Result{Name: name, Log: logp}
	failed := func(err error) Result {
		res.Result, res.Reason, res.Planned = ResultFail, "runner: "+err.Error(), -1
		return res
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return failed(err)
	}
	fixed := FixedCandidates(r.hs)
	before := existing(fixed)
	for p := range before {
		if !r.stale[p] {
			r.stale[p] = true
			r.warnings = append(r.warnings, fmt.Sprintf("cgroup %s existed before test %s; not made by this run, left alone (tests using it may fail)", p, name))
		}
	}

	// Clean up even when the program could not be run or judged.
	exit, cleanup, runErr := r.exec(name, logp, tmp)

	// What the test made, and only that.
	ids := containerIDs(logp)
	var dirs []string
	after := existing(fixed)
	for _, p := range fixed {
		if after[p] && !before[p] {
			dirs = append(dirs, p)
		}
	}
	dirs = append(dirs, IDCgroups(r.hs, ids)...)
	for _, d := range dirs {
		did, err := RemoveCgroupTree(d)
		cleanup = append(cleanup, did...)
		if err != nil {
			r.warnings = append(r.warnings, fmt.Sprintf("%s: %v", name, err))
		}
	}
	did, err := unmountUnder(tmp)
	cleanup = append(cleanup, did...)
	if err != nil {
		r.warnings = append(r.warnings, fmt.Sprintf("%s: %v; %s left in place", name, err, tmp))
	} else if err := removeTree(tmp); err != nil {
		r.warnings = append(r.warnings, fmt.Sprintf("%s: %v", name, err))
	}

	if runErr != nil {
		res.Cleanup = cleanup
		return failed(runErr)
	}
	stdout, _ := os.ReadFile(logp + ".stdout")
	stderr, _ := os.ReadFile(logp + ".stderr")
	out := Verdict(name, exit, ParseTAP(strings.NewReader(string(stdout))), string(stderr))
	out.Log, out.Cleanup = logp, cleanup
	return out
}

// exec runs the program under the reaper and, once it has ended, deletes
// the containers it left while the reaper still reaps their processes.
func (r *runner) exec(name, logp, tmp string) (Exit, []string, error) {
	var exit Exit
	self, err := os.Executable()
	if err != nil {
		return exit, nil, err
	}
	stdout, err := os.Create(logp + ".stdout")
	if err != nil {
		return exit, nil, err
	}
	defer stdout.Close()
	stderr, err := os.Create(logp + ".stderr")
	if err != nil {
		return exit, nil, err
	}
	defer stderr.Close()
	statusR, statusW, err := os.Pipe()
	if err != nil {
		return exit, nil, err
	}
	defer statusR.Close()
	finishR, finishW, err := os.Pipe()
	if err != nil {
		statusW.Close()
		return exit, nil, err
	}
	cmd := exec.Command(self, filepath.Join(r.suite, name))
	cmd.Dir = r.work
	cmd.Env = append(os.Environ(),
		reaperEnv+"="+r.timeout.String(),
		"RUNTIME="+r.wrapper,
		"TMPDIR="+tmp,
		logEnv+"="+logp+".runtime",
	)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.ExtraFiles = []*os.File{statusW, finishR}
	err = cmd.Start()
	statusW.Close()
	finishR.Close()
	if err != nil {
		finishW.Close()
		return exit, nil, fmt.Errorf("start reaper: %w", err)
	}
	if err := json.NewDecoder(statusR).Decode(&exit); err != nil {
		finishW.Close()
		cmd.Wait()
		return exit, nil, fmt.Errorf("reaper reported no exit status: %w", err)
	}

	var cleanup []string
	for _, id := range containerIDs(logp) {
		if msg := r.deleteContainer(id); msg != "" {
			cleanup = append(cleanup, msg)
		}
	}
	finishW.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
		r.warnings = append(r.warnings, name+": reaper did not finish killing the test's processes in 30s")
	}
	return exit, cleanup, nil
}

// deleteContainer removes a container the test left, through the runtime.
func (r *runner) deleteContainer(id string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	state, err := exec.CommandContext(ctx, r.runtime, "state", id).Output()
	if err != nil {
		return "" // gone, as it should be
	}
	var st struct{ ID, Status string }
	if json.Unmarshal(state, &st) != nil || st.ID != id {
		return "" // not a state: the runtime does not know the container
	}
	out, err := exec.CommandContext(ctx, r.runtime, "delete", "--force", id).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("container %s (%s) left by the test; delete --force failed: %v: %s", id, st.Status, err, firstLine(string(out)))
	}
	return fmt.Sprintf("deleted container %s (%s) left by the test", id, st.Status)
}

// unmountUnder detaches mounts under dir: a runtime that leaks a mount of
// the container into the host's namespace would otherwise make removing
// the bundle remove what is mounted there.
func unmountUnder(dir string) ([]string, error) {
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var points []string
	for _, line := range strings.Split(string(mi), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 {
			if p := unescapeMount(f[4]); p == dir || strings.HasPrefix(p, dir+"/") {
				points = append(points, p)
			}
		}
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	var did []string
	for _, p := range points {
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) {
			return did, fmt.Errorf("leaked mount %s: unmount: %w", p, err)
		}
		did = append(did, "unmounted leaked mount "+p)
	}
	return did, nil
}

// removeTree removes dir after detaching what is mounted under it, and
// refuses when a mount cannot be detached.
func removeTree(dir string) error {
	if _, err := unmountUnder(dir); err != nil {
		return err
	}
	return os.RemoveAll(dir)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, fi.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func uniq(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n-3] + "..."
	}
	return s
}
