package lifecycle

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/pkg/proc"
	ocisignal "github.com/oci-run/oci-run/pkg/signal"
	"github.com/oci-run/oci-run/pkg/spec"
	"github.com/oci-run/oci-run/pkg/trace"
)

// RunOptions are the flags of `run`.
type RunOptions struct {
	CreateOptions
	Detach      bool
	Keep        bool
	NoSubreaper bool
}

// Run creates and starts a container; in the foreground it forwards
// signals to the init, waits for it, deletes the container (unless Keep)
// and returns the init's exit code (128+n when killed by signal n).
func (r *Runtime) Run(o RunOptions) (int, error) {
	s, _, err := spec.LoadFile(filepath.Join(o.Bundle, "config.json"))
	if err != nil {
		return 1, err
	}
	var tty *ttyProxy
	if s.Process != nil && s.Process.Terminal && o.ConsoleSocket == "" {
		if o.Detach {
			return 1, errors.New("process.terminal is true: --console-socket is needed to receive the tty when detaching")
		}
		if tty, err = newTTYProxy(); err != nil {
			return 1, err
		}
		defer tty.Close()
		o.console = tty.peer
	}
	if !o.Detach && !o.NoSubreaper {
		// The init is re-parented to us when oci-unshare exits, so that we
		// can wait for it and collect its status.
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			return 1, fmt.Errorf("become subreaper: %w", err)
		}
	}
	sigs := make(chan os.Signal, 128)
	var caught <-chan struct{}
	if !o.Detach {
		caught = ocisignal.CatchAll(sigs)
		defer signal.Stop(sigs)
	}
	if err := r.Create(o.CreateOptions); err != nil {
		return 1, err
	}
	if tty != nil {
		if err := tty.Attach(); err != nil {
			r.Delete(o.ID, true)
			return 1, err
		}
	}
	if err := r.Start(o.ID); err != nil {
		r.Delete(o.ID, true)
		return 1, err
	}
	trace.Point("start")
	if o.Detach {
		return 0, nil
	}
	c, err := r.open(o.ID)
	if err != nil {
		return 1, err
	}
	pid, start := c.State.Pid, c.State.PidStart
	c.Close()
	<-caught
	code := waitInit(pid, start, sigs, tty)
	trace.Point("exited")
	if tty != nil {
		tty.Drain()
	}
	if !o.Keep {
		if err := r.Delete(o.ID, true); err != nil {
			return code, err
		}
		trace.Point("delete")
	}
	return code, nil
}

// waitInit reaps children until the init exits, forwarding every signal
// we get to it (a subreaper may also inherit the container's orphans when
// it shares our pid namespace: those are reaped and ignored).
func waitInit(pid int, start uint64, sigs chan os.Signal, tty *ttyProxy) int {
	for {
		for {
			var ws unix.WaitStatus
			p, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if p <= 0 || err != nil {
				break
			}
			if p == pid {
				return exitCode(ws)
			}
		}
		if !proc.Alive(pid, start) {
			// Not our child after all (another subreaper took it): poll.
			if st, err := proc.ReadStat(pid); err != nil || st.StartTime != start {
				return 255
			}
		}
		sig := <-sigs
		switch sig {
		case unix.SIGCHLD, unix.SIGURG, unix.SIGPIPE:
		case unix.SIGWINCH:
			if tty != nil {
				tty.Resize()
			}
		default:
			if s, ok := sig.(unix.Signal); ok {
				proc.Signal(pid, start, s)
			}
		}
	}
}

func exitCode(ws unix.WaitStatus) int {
	switch {
	case ws.Exited():
		return ws.ExitStatus()
	case ws.Signaled():
		return 128 + int(ws.Signal())
	}
	return 255
}
