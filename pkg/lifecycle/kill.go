package lifecycle

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/pkg/proc"
)

// Kill sends sig to the container's init, or with all to every process
// of its cgroup. A container that is neither created, running nor paused
// is left alone with an error (runtime-spec: kill MUST have no effect).
func (r *Runtime) Kill(id string, sig unix.Signal, all bool) error {
	c, err := r.openLive(id)
	if err != nil {
		return err
	}
	defer c.Close()
	if all {
		return signalCgroup(c.State.CgroupPaths, sig)
	}
	if err := proc.Signal(c.State.Pid, c.State.PidStart, sig); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return errors.New("container not running")
		}
		return fmt.Errorf("kill %d: %w", c.State.Pid, err)
	}
	return nil
}
