package lifecycle

import (
	"errors"
	"fmt"

	"github.com/oci-run/oci-run/pkg/state"
)

// Pause freezes every process of a created or running container (v1
// freezer, v2 cgroup.freeze); its status becomes paused.
func (r *Runtime) Pause(id string) error {
	c, err := r.open(id)
	if err != nil {
		return err
	}
	defer c.Close()
	switch c.Status() {
	case state.Created, state.Running:
	case state.Paused:
		return errors.New("container already paused")
	default:
		return errors.New("container not running")
	}
	cg, err := loadCgroup(c.State.CgroupPaths)
	if err != nil {
		return err
	}
	if cg == nil {
		return fmt.Errorf("container %s has no cgroup to freeze", id)
	}
	return cg.Freeze()
}

// Resume thaws a paused container.
func (r *Runtime) Resume(id string) error {
	c, err := r.open(id)
	if err != nil {
		return err
	}
	defer c.Close()
	if c.Status() != state.Paused {
		return errors.New("container not paused")
	}
	cg, err := loadCgroup(c.State.CgroupPaths)
	if err != nil {
		return err
	}
	return cg.Thaw()
}
