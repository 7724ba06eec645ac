package signal

import (
	"os"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// Every early signal is forwarded, and none that the runtime needs for
// itself or that cannot be caught.
func TestForwarded(t *testing.T) {
	for _, s := range early {
		if !slices.Contains(Forwarded, s) {
			t.Errorf("%v is caught early but not forwarded", s)
		}
	}
	for _, s := range []unix.Signal{unix.SIGKILL, unix.SIGSTOP, unix.SIGURG, unix.SIGCHLD, unix.SIGSEGV, unix.SIGPIPE, unix.SIGPROF} {
		for _, f := range Forwarded {
			if f == s {
				t.Errorf("%v is forwarded", s)
			}
		}
	}
}

// Early and late together are every forwarded signal and every realtime
// one, once; the signals sent to end a process are early.
func TestEarlyAndLate(t *testing.T) {
	all := append(append([]os.Signal{}, early...), Late...)
	want := append(append([]os.Signal{}, Forwarded...), Realtime...)
	if len(all) != len(want) {
		t.Errorf("early+late has %d signals, forwarded+realtime %d", len(all), len(want))
	}
	for _, s := range want {
		if !slices.Contains(all, s) {
			t.Errorf("%v is neither early nor late", s)
		}
	}
	for _, s := range []unix.Signal{unix.SIGHUP, unix.SIGINT, unix.SIGTERM} {
		if !slices.Contains(early, os.Signal(s)) {
			t.Errorf("%v is late: it would end the runtime before it is caught", s)
		}
	}
}
