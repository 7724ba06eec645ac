package unshare

import (
	"errors"
	"os"
	"os/signal"

	"golang.org/x/sys/unix"
)

// catchSignals starts queueing every signal this process gets, for
// waitForward. Called before the child exists: a signal sent as soon as
// the child shows signs of life must not be lost (the Go runtime drops a
// SIGUSR1 nobody asked for).
func catchSignals() chan os.Signal {
	sigs := make(chan os.Signal, 64)
	signal.Notify(sigs)
	return sigs
}

// waitForward waits for the child, forwarding every signal this process
// gets (queued since catchSignals) to it, and returns the exit status a
// shell would report: the child's exit code, or 128+N when signal N
// killed it.
func waitForward(pid int, sigs chan os.Signal) int {
	done := make(chan unix.WaitStatus, 1)
	go func() { done <- reap(pid) }()
	for {
		select {
		case sig := <-sigs:
			n := sig.(unix.Signal)
			// SIGCHLD is about the child itself; SIGURG is the Go
			// runtime's own preemption signal.
			if n == unix.SIGCHLD || n == unix.SIGURG {
				continue
			}
			unix.Kill(pid, n)
		case ws := <-done:
			signal.Stop(sigs)
			return exitCode(ws)
		}
	}
}

// reap waits for pid to end.
func reap(pid int) unix.WaitStatus {
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(pid, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		return ws
	}
}

func exitCode(ws unix.WaitStatus) int {
	switch {
	case ws.Exited():
		return ws.ExitStatus()
	case ws.Signaled():
		return 128 + int(ws.Signal())
	}
	return 1
}
