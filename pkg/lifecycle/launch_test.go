package lifecycle

import (
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The main goroutine runs on the main thread (locked in init), the case
// onThrowawayThread must step around.
func init() { runtime.LockOSThread() }

var mainThreadRun struct {
	tid, pid int
}

func TestMain(m *testing.M) {
	// Called from the main thread: f must still run elsewhere.
	onThrowawayThread(func() { mainThreadRun.tid, mainThreadRun.pid = unix.Gettid(), unix.Getpid() })
	os.Exit(m.Run())
}

// f never runs on the main thread, and its thread is gone afterwards.
func TestThrowawayThread(t *testing.T) {
	if mainThreadRun.tid == mainThreadRun.pid {
		t.Fatal("f ran on the main thread when called from it")
	}
	for i := 0; i < 20; i++ {
		var tid int
		onThrowawayThread(func() { tid = unix.Gettid() })
		if tid == unix.Getpid() {
			t.Fatal("f ran on the main thread")
		}
		gone := false
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if _, err := os.Stat("/proc/self/task/" + strconv.Itoa(tid)); err != nil {
				gone = true
				break
			}
		}
		if !gone {
			t.Fatalf("thread %d still exists after f", tid)
		}
	}
}
