package lifecycle

import (
	"encoding/json"
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-run/oci-run/pkg/cgroup"
	"github.com/oci-run/oci-run/pkg/spec"
	"github.com/oci-run/oci-run/pkg/state"
)

// ResourcesFile in the container's directory holds linux.resources as the
// last update left them (absent until the first update: config.json's
// are current).
const ResourcesFile = "resources.json"

// Update changes the limits of a live container. upd holds only the
// fields to change; they are merged into the current resources (runc
// update semantics) and the whole set is applied, except device rules.
func (r *Runtime) Update(id string, upd *specs.LinuxResources) error {
	c, err := r.openLive(id)
	if err != nil {
		return err
	}
	defer c.Close()
	cur, err := currentResources(c)
	if err != nil {
		return err
	}
	merged := cgroup.Merge(cur, upd)
	if len(c.State.CgroupPaths.Dirs) == 0 {
		return fmt.Errorf("container %s has no cgroup", id)
	}
	if err := r.updateCgroup(c.State.CgroupPaths, merged); err != nil {
		return err
	}
	b, err := json.MarshalIndent(merged, "", "  ")
	if err != nil {
		return err
	}
	return state.WriteFileAtomic(c.Path(ResourcesFile), b, 0o600)
}

func currentResources(c *state.Container) (*specs.LinuxResources, error) {
	if b, err := os.ReadFile(c.Path(ResourcesFile)); err == nil {
		var r specs.LinuxResources
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("%s: %w", c.Path(ResourcesFile), err)
		}
		return &r, nil
	}
	s, _, err := spec.LoadFile(c.Path(state.ConfigFile))
	if err != nil {
		return nil, err
	}
	if s.Linux == nil {
		return nil, nil
	}
	return s.Linux.Resources, nil
}
