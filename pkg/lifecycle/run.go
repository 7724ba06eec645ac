package lifecycle

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/pkg/hooks"
	"github.com/oci-run/oci-run/pkg/proc"
	ocisignal "github.com/oci-run/oci-run/pkg/signal"
	"github.com/oci-run/oci-run/pkg/spec"
	"github.com/oci-run/oci-run/pkg/state"
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
	sigs := make(chan os.Signal, 128)
	if !o.Detach {
		// First thing, so that the checks hide as much of it as they
		// can. Never given back (signal.Stop): this process ends after
		// Run, and disabling 65 signals costs as much as enabling them.
		o.fatalCaught = ocisignal.CatchEarly(sigs)
	}
	bundle, err := filepath.Abs(o.Bundle)
	if err != nil {
		return 1, fmt.Errorf("bundle: %w", err)
	}
	s, raw, err := spec.LoadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		return 1, err
	}
	o.Bundle = bundle
	o.raw, o.spec = raw, s
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
	// The container stays locked from create to start: nothing can come
	// between, and start needs not read again what create knows.
	// Poststart hooks run after start with the lock released, and may ask
	// for the state: it is saved before, as create saves it.
	o.saveAfterStart = len(hooks.Of(s.Hooks, hooks.Poststart)) == 0
	c, cs, err := r.create(o.CreateOptions)
	if err != nil {
		return 1, err
	}
	if tty != nil {
		if err := tty.Attach(); err != nil {
			c.Close()
			r.Delete(o.ID, true)
			return 1, err
		}
	}
	r.wire(c)
	err = r.start(c, cs)
	trace.Point("start")
	if err == nil && o.saveAfterStart {
		// Until now the saved state is create's first one (its creator,
		// this process, alive: "creating"); had this process died, it
		// would read as stopped and delete would clean up through the
		// cgroup. Nothing else could look: the lock is held.
		err = c.Save()
		trace.Point("saved")
	}
	if err != nil {
		c.Close()
		r.Delete(o.ID, true)
		return 1, err
	}
	// What delete will find, unless someone writes the state meanwhile.
	known := c.State
	stamp, stampErr := c.Stamp()
	pid, start := c.State.Pid, c.State.PidStart
	c.Close()
	if o.Detach {
		return 0, nil
	}
	code := waitInit(pid, start, sigs, tty)
	trace.Point("exited")
	if tty != nil {
		tty.Drain()
	}
	if !o.Keep {
		open := r.open
		if stampErr == nil {
			open = func(id string) (*state.Container, error) {
				c, err := r.Store.OpenUnchanged(id, known, stamp)
				if err == nil {
					r.wire(c)
				}
				return c, err
			}
		}
		if err := r.deleteWith(o.ID, true, cs, open); err != nil {
			return code, err
		}
		trace.Point("delete")
	}
	return code, nil
}

// waitInit reaps children until the init exits, forwarding every signal
// we get to it (a subreaper may also inherit the container's orphans when
// it shares our pid namespace: those are reaped and ignored). It blocks in
// wait4 rather than waking on SIGCHLD: the kernel wakes a waiter at once,
// a signal goes through the Go runtime's signal goroutine first.
func waitInit(pid int, start uint64, sigs chan os.Signal, tty *ttyProxy) int {
	stop := make(chan struct{})
	defer close(stop)
	go forward(pid, start, sigs, tty, stop)
	for {
		var ws unix.WaitStatus
		p, err := unix.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			break
		}
		if p == pid {
			return exitCode(ws)
		}
	}
	// Not our child after all (another subreaper took it): wait for it to
	// go away; its status is not ours to know.
	proc.WaitGone(pid, start, -1)
	return 255
}

// lateAfter is how long a foreground container runs before its runtime
// catches the late signals (pkg/signal CatchLate) as well: long enough
// that a short container (/bin/true) never pays for it.
const lateAfter = 100 * time.Millisecond

// forward sends the init every signal we get until stop.
func forward(pid int, start uint64, sigs chan os.Signal, tty *ttyProxy, stop chan struct{}) {
	late := time.NewTimer(lateAfter)
	defer late.Stop()
	for {
		select {
		case <-stop:
			return
		case <-late.C:
			go ocisignal.CatchLate(sigs)
		case sig := <-sigs:
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
