package faults

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/internal/testutil"
)

// Commands on one container wait for each other: while something holds
// the container's lock, delete --force blocks in flock(2) and the
// container stays; it goes on when the lock is released.
func TestCommandsWaitForTheLock(t *testing.T) {
	r := testutil.NewRuntime(t)
	bundle := testutil.Bundle(t, testutil.Spec("", "sleep", "1000"))
	id := testutil.ID(t)
	r.Must("create", "-b", bundle, id)
	defer r.Run("delete", "--force", id)

	lock, err := os.Open(filepath.Join(r.Root, id))
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	del := r.Command("delete", "--force", id)
	out, errf := testutil.OutputFiles(t)
	del.Stdout, del.Stderr = out, errf
	if err := del.Start(); err != nil {
		t.Fatal(err)
	}
	waitInSyscall(t, del.Process.Pid, unix.SYS_FLOCK)
	// Queries do not take the lock.
	if st := r.Status(id); st != "created" {
		t.Errorf("status %q while delete waits for the lock", st)
	}
	lock.Close()
	if err := del.Wait(); err != nil {
		b, _ := os.ReadFile(errf.Name())
		t.Fatalf("delete: %v: %s", err, b)
	}
	waitNoLeaks(t, id, r.Root, bundle)
}

// waitInSyscall waits until a thread of pid is blocked in system call nr.
func waitInSyscall(t *testing.T, pid, nr int) {
	t.Helper()
	for {
		tasks, _ := filepath.Glob(filepath.Join("/proc", itoa(pid), "task", "*", "syscall"))
		for _, f := range tasks {
			b, _ := os.ReadFile(f)
			if fs := strings.Fields(string(b)); len(fs) > 0 && fs[0] == itoa(nr) {
				return
			}
		}
		if unix.Kill(pid, 0) != nil {
			t.Fatalf("process %d ended before blocking in syscall %d", pid, nr)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Many commands at once on one container: one create of an id wins, one
// start runs the process, one delete removes it; the others fail with a
// clear line, and nothing is left half done.
func TestConcurrentCommandsOnOneContainer(t *testing.T) {
	r := testutil.NewRuntime(t)
	marker := testutil.ID(t)
	mark := filepath.Join(t.TempDir(), "runs")
	bundle := testutil.Bundle(t, testutil.Spec("", "sh", "-c", "echo ran >> /mark/runs; exec sleep 1000"))
	// The container appends to a file of the host per start.
	addMarkMount(t, bundle, filepath.Dir(mark))
	const n = 8
	id := marker + "-c"

	codes := parallel(n, func(i int) testutil.Result { return r.Run("create", "-b", bundle, id) })
	if ok := count(codes, 0); ok != 1 {
		t.Fatalf("%d of %d concurrent creates of one id succeeded: %+v", ok, n, codes)
	}
	for _, c := range codes {
		if c.Code != 0 && !strings.Contains(c.Stderr, "exists") {
			t.Errorf("a losing create said %q", c.Stderr)
		}
	}
	codes = parallel(n, func(i int) testutil.Result { return r.Run("start", id) })
	if ok := count(codes, 0); ok != 1 {
		t.Fatalf("%d of %d concurrent starts succeeded: %+v", ok, n, codes)
	}
	r.WaitStatus(id, "running")
	codes = parallel(n, func(i int) testutil.Result { return r.Run("kill", id, "KILL") })
	for i, c := range codes {
		if c.Code != 0 && !strings.Contains(c.Stderr, "not running") {
			t.Errorf("kill %d: %q", i, c.Stderr)
		}
	}
	r.WaitStatus(id, "stopped")
	codes = parallel(n, func(i int) testutil.Result { return r.Run("delete", id) })
	if ok := count(codes, 0); ok != 1 {
		t.Errorf("%d of %d concurrent deletes succeeded: %+v", ok, n, codes)
	}
	for i, c := range codes {
		if c.Code != 0 && !strings.Contains(c.Stderr, "does not exist") {
			t.Errorf("delete %d: %q", i, c.Stderr)
		}
	}
	if b, _ := os.ReadFile(mark); string(b) != "ran\n" {
		t.Errorf("the process ran %q times", b)
	}
	waitNoLeaks(t, marker, r.Root, bundle)
}

func parallel(n int, f func(i int) testutil.Result) []testutil.Result {
	out := make([]testutil.Result, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			out[i] = f(i)
		}(i)
	}
	close(start)
	wg.Wait()
	return out
}

func count(rs []testutil.Result, code int) int {
	n := 0
	for _, r := range rs {
		if r.Code == code {
			n++
		}
	}
	return n
}
