package signal

import (
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// Every fatal signal is forwarded, and none that the runtime needs for
// itself or that cannot be caught.
func TestForwarded(t *testing.T) {
	for _, s := range fatal {
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
