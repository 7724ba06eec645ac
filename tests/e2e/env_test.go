//go:build e2e

// Package e2e runs real container engines (podman with conmon, containerd
// through ctr, dockerd through containerd) against a runtime and checks
// what a user of each sees: output and exit codes, exec, tty, limits,
// capabilities, read-only rootfs, bind mounts, pause, update, top, stats.
//
// It is not part of `make integration` (build tag e2e): `make e2e` runs it
// against bin/oci-run, `make e2e E2E_RUNTIME=runc` against runc, so that a
// lenient test shows up as a runc failure too. It needs root, the engines
// from apt (scripts/e2e-deps) and busybox-static; it starts its own
// containerd and dockerd with private state, sockets and cgroup parents,
// and removes everything it made at the end.
package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oci-run/oci-run/internal/testutil"
)

// env is the suite's shared setup.
type env struct {
	dir       string // everything the suite writes
	runtime   string // the runtime under test, as the engines call it (a logging wrapper)
	real      string // the runtime binary itself
	callLog   string // one line per runtime call, written by the wrapper
	rootfsTar string // busybox rootfs as a tarball (podman/docker import)
	ociTar    string // the same as an OCI image archive (ctr import)
	tag       string // unique part of cgroup parents and names
}

var e *env

// commandTimeout bounds every engine command: a hang fails the test
// instead of the suite.
const commandTimeout = 90 * time.Second

type result struct {
	out  string // stdout and stderr, in order
	code int    // exit code, -1 if it did not run
	err  error
}

// run runs a command with the timeout and returns its combined output and
// exit code.
func run(argv []string, env []string, stdin string) result {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	r := result{out: buf.String(), code: 0}
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.Exited() {
			r.code = ee.ExitCode()
		} else {
			r.code, r.err = -1, fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
		}
	}
	return r
}

// must runs a command that has to succeed.
func must(t *testing.T, argv []string, env ...string) string {
	t.Helper()
	r := run(argv, env, "")
	if r.err != nil || r.code != 0 {
		t.Fatalf("%s: exit %d %v\n%s", strings.Join(argv, " "), r.code, r.err, r.out)
	}
	return r.out
}

func TestMain(m *testing.M) {
	os.Exit(mainE2E(m))
}

func mainE2E(m *testing.M) int {
	if os.Geteuid() != 0 {
		fmt.Println("e2e: needs root; skipped")
		return 0
	}
	rt := os.Getenv("E2E_RUNTIME")
	if rt == "" {
		rt = filepath.Join(testutil.BinDir(), "oci-run")
	}
	real, err := exec.LookPath(rt)
	if err == nil {
		real, err = filepath.Abs(real)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: runtime %q: %v\n", rt, err)
		return 1
	}
	tag := fmt.Sprintf("ocirun-e2e-%d", os.Getpid())
	dir, err := os.MkdirTemp("", tag+".")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	// Engines need their directories searchable.
	os.Chmod(dir, 0o755)
	e = &env{dir: dir, real: real, tag: tag, callLog: filepath.Join(dir, "runtime-calls.log")}
	code := func() int {
		defer e.cleanup()
		if err := e.setup(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: setup:", err)
			return 1
		}
		fmt.Printf("e2e: runtime %s, work dir %s\n", e.real, e.dir)
		return m.Run()
	}()
	if os.Getenv("E2E_KEEP") == "" {
		os.RemoveAll(dir)
	}
	return code
}

// hostDirs are directories the engines create at fixed places whatever
// their configuration (ctr's fifos, the shims' sockets, dockerd's plugin
// directory); the suite removes those it caused, children first, when
// they are empty.
var hostDirs = []string{"/run/containerd", "/run/containerd/fifo", "/run/containerd/s", "/run/docker", "/run/docker/plugins"}

func (e *env) setup() error {
	var made []string
	for _, d := range hostDirs {
		if _, err := os.Lstat(d); err != nil {
			made = append(made, d)
		}
	}
	cleanups = append(cleanups, func() {
		for i := len(made) - 1; i >= 0; i-- {
			os.Remove(made[i])
		}
	})
	// The engines call this wrapper, which logs the call and execs the
	// runtime (whose own path stays the real one: oci-run finds its
	// stages next to itself).
	e.runtime = filepath.Join(e.dir, "ocirun-e2e")
	wrapper := fmt.Sprintf("#!/bin/sh\necho \"$PPID $*\" >> %s\nexec %s \"$@\"\n", e.callLog, e.real)
	if err := os.WriteFile(e.runtime, []byte(wrapper), 0o755); err != nil {
		return err
	}
	rootfs := filepath.Join(e.dir, "rootfs")
	if err := testutil.MakeRootfs(rootfs); err != nil {
		return err
	}
	e.rootfsTar = filepath.Join(e.dir, "busybox-rootfs.tar")
	if out, err := exec.Command("tar", "-C", rootfs, "--numeric-owner", "-cf", e.rootfsTar, ".").CombinedOutput(); err != nil {
		return fmt.Errorf("tar rootfs: %v: %s", err, out)
	}
	e.ociTar = filepath.Join(e.dir, "busybox-oci.tar")
	return writeOCIArchive(e.rootfsTar, e.ociTar, imageRef)
}

// cleanup stops what setup and the clients started; each client registers
// its own part in cleanups.
func (e *env) cleanup() {
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
}

var cleanups []func()

// waitFor polls cond (engines report state asynchronously) up to limit.
func waitFor(limit time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}
