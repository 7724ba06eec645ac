package lifecycle

import (
	"github.com/oci-run/oci-run/pkg/state"
)

// State returns the OCI state document of a container.
func (r *Runtime) State(id string) (state.Spec, error) {
	c, err := r.Store.Peek(id)
	if err != nil {
		return state.Spec{}, err
	}
	r.wire(c)
	return c.OCIState(c.Status()), nil
}

// List returns the state of every container in the root.
func (r *Runtime) List() ([]state.Spec, error) {
	ids, err := r.Store.List()
	if err != nil {
		return nil, err
	}
	out := make([]state.Spec, 0, len(ids))
	for _, id := range ids {
		st, err := r.State(id)
		if err != nil {
			// Deleted while we listed, or not a container directory.
			continue
		}
		out = append(out, st)
	}
	return out, nil
}
