package signal

import (
	"os"
	ossignal "os/signal"

	"golang.org/x/sys/unix"
)

// fatal are the signals whose default action in a Go program ends it (or
// dumps it): they are caught first, so that a container being created is
// never left behind by an early SIGTERM.
var fatal = []os.Signal{unix.SIGHUP, unix.SIGINT, unix.SIGQUIT, unix.SIGABRT, unix.SIGTERM}

// Forwarded are the signals a runtime in the foreground (run, exec)
// passes on to the container's process: every standard signal a user or
// an engine sends, which is every one but those the Go runtime needs for
// itself or that report a fault of this process (SIGILL, SIGTRAP,
// SIGBUS, SIGFPE, SIGSEGV, SIGSYS, SIGPROF, SIGURG), SIGCHLD (about our
// own children), SIGPIPE (about our own writes), and the uncatchable
// SIGKILL and SIGSTOP.
//
// Not at first the 33 realtime signals (SIGRTMIN..SIGRTMAX), which runc
// forwards too (see CatchRealtime): the Go runtime enables signals one at a time, each with a round
// trip to a goroutine of its own locked to a thread of its own, and in
// this VM, where a context switch is expensive, catching all 64 signals
// cost 2 ms of CPU and 180 context switches per run, the standard ones
// about a third of that (measured with perf stat; the container start
// costs about 15 ms of CPU in all).
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

// CatchRealtime makes c receive the Realtime signals too. It costs about
// two thirds of what catching every signal costs (see Forwarded), so the
// foreground commands catch them only once the container has outlived its
// start-up: a realtime signal sent before that is ignored (the Go runtime
// drops a realtime signal nobody asked for), not fatal.
func CatchRealtime(c chan<- os.Signal) {
	ossignal.Notify(c, Realtime...)
}

// CatchAll makes c receive the Forwarded signals and returns a channel
// closed once they are all caught: the fatal ones at once, the others in
// the background while the container is being set up, off its critical
// path. Whoever forwards waits for the channel first; none sent after
// that is lost.
func CatchAll(c chan<- os.Signal) <-chan struct{} {
	ossignal.Notify(c, fatal...)
	done := make(chan struct{})
	go func() {
		ossignal.Notify(c, Forwarded...)
		close(done)
	}()
	return done
}
