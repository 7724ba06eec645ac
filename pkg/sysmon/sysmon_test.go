package sysmon

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func slackOf(t *testing.T, tid int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(tid) + "/timerslack_ns")
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Calm finds the monitor thread (the second one, asleep in nanosleep),
// gives it the slack, and leaves every other thread's alone.
func TestCalm(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("writing another thread's timer slack needs CAP_SYS_NICE")
	}
	before := map[int]int{}
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		tid, _ := strconv.Atoi(e.Name())
		before[tid] = slackOf(t, tid)
	}
	var tid int
	// sysmon is awake for a few µs of every nap: try again if it was.
	for i := 0; i < 1000 && tid == 0; i++ {
		tid = Calm()
	}
	if tid == 0 {
		t.Fatal("Calm found no monitor thread")
	}
	if tid == unix.Gettid() || tid == os.Getpid() {
		t.Fatalf("Calm chose thread %d, the caller's or the main one", tid)
	}
	if got := slackOf(t, tid); got != Slack {
		t.Errorf("monitor thread %d: slack %d, want %d", tid, got, Slack)
	}
	for other, was := range before {
		if other == tid {
			continue
		}
		if got := slackOf(t, other); got != was {
			t.Errorf("thread %d: slack changed %d -> %d", other, was, got)
		}
	}
}
