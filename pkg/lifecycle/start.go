package lifecycle

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/pkg/hooks"
	"github.com/oci-run/oci-run/pkg/state"
)

// Start releases a created container's init into process.args.
func (r *Runtime) Start(id string) error {
	c, err := r.open(id)
	if err != nil {
		return err
	}
	defer c.Close()
	return r.start(c, nil)
}

// start is Start on a locked container; s is its configuration when the
// caller has it (run), nil to read it from the state directory.
func (r *Runtime) start(c *state.Container, s *specs.Spec) error {
	id := c.State.ID
	switch status := c.Status(); status {
	case state.Created:
	case state.Stopped:
		return errors.New("cannot start a container that has stopped")
	case state.Running:
		return errors.New("cannot start an already running container")
	case state.Paused:
		return errors.New("cannot start a container in the paused state")
	default:
		return fmt.Errorf("cannot start a container in the %s state", status)
	}
	if s == nil {
		s = savedSpec(c)
	}
	// runtime-spec: process is optional at create; start MUST then fail
	// (and leaves the container as it is).
	if s != nil && s.Process == nil {
		return fmt.Errorf("cannot start container %s: its configuration has no process", id)
	}
	var exeBefore unix.Stat_t
	waitExec := s != nil && len(hooks.Of(s.Hooks, hooks.Poststart)) > 0 &&
		unix.Stat("/proc/"+strconv.Itoa(c.State.Pid)+"/exe", &exeBefore) == nil
	fifo := c.Path(state.FifoFile)
	fd, err := unix.Open(fifo, unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENXIO) {
		// No reader: the init died between the status check and now.
		return errors.New("cannot start a container that has stopped")
	}
	if err != nil {
		return fmt.Errorf("open exec fifo: %w", err)
	}
	_, err = unix.Write(fd, []byte{0})
	unix.Close(fd)
	if err != nil {
		return fmt.Errorf("write exec fifo: %w", err)
	}
	// The fifo's absence is what makes the container "running".
	if err := os.Remove(fifo); err != nil {
		return fmt.Errorf("remove exec fifo: %w", err)
	}
	if waitExec {
		// Hooks may call the runtime on this container.
		c.Close()
		if err := waitExecuted(c.State.Pid, exeBefore); err != nil {
			r.Log.Warnf("poststart hooks of %s: %v", id, err)
		}
		r.poststart(c, s)
	}
	return nil
}

// open loads a container and wires the cgroup freezer into its status.
func (r *Runtime) open(id string) (*state.Container, error) {
	c, err := r.Store.Open(id)
	if err != nil {
		return nil, err
	}
	r.wire(c)
	return c, nil
}

// openLive is open for the commands that act on a container's processes
// (kill, update): a container that is neither created, running nor
// paused is an error, and is not left open.
func (r *Runtime) openLive(id string) (*state.Container, error) {
	c, err := r.open(id)
	if err != nil {
		return nil, err
	}
	switch c.Status() {
	case state.Created, state.Running, state.Paused:
		return c, nil
	}
	c.Close()
	return nil, errors.New("container not running")
}

// wire connects the cgroup freezer to the container's status.
func (r *Runtime) wire(c *state.Container) {
	c.State.FreezerState = func() (bool, error) { return cgroupFrozen(c.State.CgroupPaths) }
}
