package lifecycle

import (
	"errors"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/pkg/mountclean"
	"github.com/oci-run/oci-run/pkg/proc"
	"github.com/oci-run/oci-run/pkg/state"
)

// Delete removes a stopped container; with force, it kills a live one
// first.
func (r *Runtime) Delete(id string, force bool) error {
	return r.deleteWith(id, force, nil, r.open)
}

// deleteWith is Delete for a caller that has the container's
// configuration at hand (run): its poststop hooks come from s, not from
// the saved copy read and parsed again; open loads the container.
func (r *Runtime) deleteWith(id string, force bool, s *specs.Spec, open func(string) (*state.Container, error)) error {
	c, err := open(id)
	if force && errors.Is(err, state.ErrNotExist) {
		// As runc and crun: forcing the removal of what is not there
		// succeeds, so cleanup after a failed create can always call it.
		return nil
	}
	if err != nil {
		return err
	}
	status := c.Status()
	if status != state.Stopped && !force {
		c.Close()
		return fmt.Errorf("cannot delete container %s that is not stopped: %s", id, status)
	}
	return r.destroyWith(c, s)
}

// destroy kills whatever is left of a container, removes its cgroups and
// its state directory. It is also how a failed create cleans up, so it
// works from any partial state.
func (r *Runtime) destroy(c *state.Container) error {
	return r.destroyWith(c, nil)
}

// destroyWith is destroy with the configuration given (nil: the saved
// one).
func (r *Runtime) destroyWith(c *state.Container, s *specs.Spec) error {
	st := &c.State
	// A chain whose create was killed may still be on its way to the
	// cgroup: stop it first, so nothing is created after the cleanup.
	if st.Chain != 0 && proc.Alive(st.Chain, st.ChainStart) {
		proc.Signal(st.Chain, st.ChainStart, unix.SIGKILL)
		if err := proc.WaitGone(st.Chain, st.ChainStart, 10000); err != nil {
			r.Log.Warnf("delete %s: %v", st.ID, err)
		}
	}
	if s == nil {
		s = savedSpec(c)
	}
	if st.Pid != 0 && proc.Alive(st.Pid, st.PidStart) {
		proc.Signal(st.Pid, st.PidStart, unix.SIGKILL)
		if err := proc.WaitGone(st.Pid, st.PidStart, 10000); err != nil {
			r.Log.Warnf("delete %s: %v", st.ID, err)
		}
	}
	// Processes outside the init's pid namespace (none, or a shared one)
	// and stages of a create that is still running live in the cgroup:
	// removing the cgroup kills them first.
	var firstErr error
	if err := r.destroyCgroups(st.CgroupPaths); err != nil {
		firstErr = fmt.Errorf("remove cgroups of %s: %w", st.ID, err)
	}
	if err := r.detachMounts(st); err != nil && firstErr == nil {
		firstErr = err
	}
	if err := c.Remove(); err != nil && firstErr == nil {
		firstErr = err
	}
	r.poststop(c, s)
	return firstErr
}

// detachMounts removes what the container mounted in a mount namespace
// that is not its own. A namespace that cannot be found any more took the
// mounts with it (or is held by something this process cannot reach):
// that is logged, not an error.
func (r *Runtime) detachMounts(st *state.State) error {
	if st.Mounts == nil {
		return nil
	}
	done, err := st.Mounts.Detach()
	for _, p := range done {
		r.Log.Debugf("delete %s: detached %s", st.ID, p)
	}
	if errors.Is(err, mountclean.ErrUnreachable) {
		r.Log.Debugf("delete %s: %v", st.ID, err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("detach the mounts of %s below %s: %w", st.ID, st.Mounts.Rootfs, err)
	}
	return nil
}
