package lifecycle

import (
	"errors"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/pkg/cgroup"
)

// The container's cgroup, as the lifecycle needs it (pkg/cgroup does the
// work). Paths are computed by pkg/preflight and recorded before the chain
// runs; every later operation loads them from the state.

// loadCgroup opens the recorded cgroup; nil when nothing was recorded (a
// create that died before its first state write).
func loadCgroup(p cgroup.Paths) (*cgroup.Cgroup, error) {
	if len(p.Dirs) == 0 && p.Systemd == nil {
		return nil, nil
	}
	return cgroup.Load(p)
}

func cgroupFrozen(p cgroup.Paths) (bool, error) {
	c, err := loadCgroup(p)
	if c == nil || err != nil {
		return false, err
	}
	st, err := c.State()
	return st == cgroup.Frozen, err
}

func signalCgroup(p cgroup.Paths, sig unix.Signal) error {
	c, err := loadCgroup(p)
	if c == nil || err != nil {
		return err
	}
	return c.Signal(sig)
}

func destroyCgroups(p cgroup.Paths) error {
	c, err := loadCgroup(p)
	if c == nil || err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	return c.Destroy()
}

// applyDeferred sets the limits oci-cgroup left to the runtime
// (--defer-pids): the runtime's Go stages would count against pids.max.
func applyDeferred(p cgroup.Paths, s *specs.Spec) error {
	c, err := loadCgroup(p)
	if c == nil || err != nil || s.Linux == nil {
		return err
	}
	return c.ApplyDeferred(s.Linux.Resources)
}
