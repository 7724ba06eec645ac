package signal

import (
	"os"
	ossignal "os/signal"
	"slices"

	"golang.org/x/sys/unix"
)

// early are the forwarded signals a user or an engine sends to end a
// process (HUP, INT, TERM), whose default action would end oci-run: caught
// before anything of the container exists, so that a container being
// created is never left behind by an early SIGTERM. Until it is caught, a
// late one is ignored, stops the runtime (TSTP, TTIN, TTOU; SIGCONT
// resumes it where it was), or for QUIT, ABRT and STKFLT, which report
// or provoke a crash, ends it as any Go program, leaving what delete
// removes.
var early = []os.Signal{unix.SIGHUP, unix.SIGINT, unix.SIGTERM}

// Forwarded are the signals a runtime in the foreground (run, exec)
// passes on to the container's process: every standard signal a user or
// an engine sends, which is every one but those the Go runtime needs for
// itself or that report a fault of this process (SIGILL, SIGTRAP,
// SIGBUS, SIGFPE, SIGSEGV, SIGSYS, SIGPROF, SIGURG), SIGCHLD (about our
// own children), SIGPIPE (about our own writes), and the uncatchable
// SIGKILL and SIGSTOP.
//
// They and the 31 realtime signals (SIGRTMIN..SIGRTMAX), which runc
// forwards too, are caught in two steps (CatchEarly, CatchLate): the Go
// runtime enables signals one at a time, each with a round trip to a
// goroutine of its own locked to a thread of its own, and in this VM,
// where a context switch is expensive, catching all 64 signals cost 2 ms
// of CPU and 180 context switches per run, the standard ones about a
// third of that (measured with perf stat; the container start costs
// about 15 ms of CPU in all).
var Forwarded = []os.Signal{
	unix.SIGHUP, unix.SIGINT, unix.SIGQUIT, unix.SIGABRT, unix.SIGUSR1,
	unix.SIGUSR2, unix.SIGALRM, unix.SIGTERM, unix.SIGSTKFLT, unix.SIGCONT,
	unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU, unix.SIGXCPU, unix.SIGXFSZ,
	unix.SIGVTALRM, unix.SIGWINCH, unix.SIGIO, unix.SIGPWR,
}

// Realtime are the realtime signals a user can name: SIGRTMIN to SIGRTMAX
// as glibc numbers them (34 to 64; it keeps the kernel's 32 and 33 for
// itself, and kill(1) cannot name them), so a user's SIGRTMIN+3 (systemd's
// "halt") is 37.
var Realtime = func() []os.Signal {
	var s []os.Signal
	for n := 34; n <= 64; n++ {
		s = append(s, unix.Signal(n))
	}
	return s
}()

// Late are the forwarded signals that are not early, and the realtime
// ones.
var Late = func() []os.Signal {
	var l []os.Signal
	for _, sig := range Forwarded {
		if !slices.Contains(early, sig) {
			l = append(l, sig)
		}
	}
	return append(l, Realtime...)
}()

// CatchEarly makes c receive the early signals, in the background: the Go
// runtime enables each signal with a round trip to a thread of its own,
// 0.5-0.7 ms in this VM for a handful of them, which the caller's checks
// hide. The channel returned is closed once they are caught: whoever is
// about to create something that such a signal would leave behind waits
// for it first.
func CatchEarly(c chan<- os.Signal) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		ossignal.Notify(c, early...)
		close(done)
	}()
	return done
}

// CatchLate makes c receive the Late signals too: the rest of the
// standard ones and the realtime ones. Catching every signal cost 2 ms of
// CPU and 180 context switches per run here (see Forwarded), so the
// foreground commands catch these only once the container has outlived
// its start-up: one sent before is ignored (the Go runtime ignores most
// of these when nobody asked for them), stops the runtime (TSTP, TTIN,
// TTOU) or ends it (QUIT, ABRT, STKFLT; see early).
func CatchLate(c chan<- os.Signal) {
	ossignal.Notify(c, Late...)
}
