package lifecycle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/pkg/cgroup"
	"github.com/oci-run/oci-run/pkg/spec"
)

// The container's cgroup, as the lifecycle needs it (pkg/cgroup does the
// work). Paths are computed by pkg/preflight and recorded before the chain
// runs; every later operation loads them from the state.
//
// A cgroup systemd owns (--systemd-cgroup) is changed and removed through
// systemd, over D-Bus, which only oci-cgroup links: oci-run runs
// `oci-cgroup --systemd --update|--destroy` for those (systemdCgroup).
// Freezing, statistics, processes and signals need no systemd and work on
// its directories here, as for any cgroup.

// loadCgroup opens the recorded cgroup; nil when nothing was recorded (a
// create that died before its first state write).
func loadCgroup(p cgroup.Paths) (*cgroup.Cgroup, error) {
	if len(p.Dirs) == 0 {
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

func (r *Runtime) destroyCgroups(p cgroup.Paths) error {
	if p.Systemd != nil {
		return r.systemdCgroup(p, nil)
	}
	c, err := loadCgroup(p)
	if c == nil || err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	return c.Destroy()
}

// updateCgroup applies the whole set of limits r (runc update semantics:
// merged already).
func (r *Runtime) updateCgroup(p cgroup.Paths, res *specs.LinuxResources) error {
	if p.Systemd != nil {
		if res == nil {
			res = &specs.LinuxResources{}
		}
		return r.systemdCgroup(p, res)
	}
	c, err := loadCgroup(p)
	if err != nil {
		return err
	}
	if c == nil {
		return errors.New("the container has no cgroup")
	}
	return c.Update(res)
}

// applyDeferred sets the limits oci-cgroup left to the runtime
// (--defer-pids): the runtime's Go stages would count against pids.max.
// For a systemd scope it goes through systemd (TasksMax), which would
// otherwise put back its own value.
func (r *Runtime) applyDeferred(p cgroup.Paths, s *specs.Spec) error {
	if s.Linux == nil || s.Linux.Resources == nil || s.Linux.Resources.Pids == nil {
		return nil
	}
	if p.Systemd != nil {
		return r.systemdCgroup(p, &specs.LinuxResources{Pids: s.Linux.Resources.Pids})
	}
	c, err := loadCgroup(p)
	if c == nil || err != nil {
		return err
	}
	return c.ApplyDeferred(s.Linux.Resources)
}

// systemdCgroup runs oci-cgroup's management mode on a systemd scope:
// --update with res, --destroy without. The paths go on fd 3, the
// resources on stdin; its one-line error becomes ours.
func (r *Runtime) systemdCgroup(p cgroup.Paths, res *specs.LinuxResources) error {
	bin, err := r.stagePath("oci-cgroup")
	if err != nil {
		return err
	}
	pj, err := json.Marshal(p)
	if err != nil {
		return err
	}
	fd, err := spec.SealedMemfd("cgroup-paths", pj)
	if err != nil {
		return err
	}
	pf := os.NewFile(uintptr(fd), "cgroup-paths")
	defer pf.Close()
	args := []string{"--systemd", "--paths", "/proc/self/fd/3"}
	var stdin []byte
	if res != nil {
		args = append(args, "--update", "--resources", "-")
		if stdin, err = json.Marshal(res); err != nil {
			return err
		}
	} else {
		args = append(args, "--destroy")
	}
	cmd := exec.Command(bin, args...)
	cmd.ExtraFiles = []*os.File{pf}
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if msg := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(stderr.String()), "oci-cgroup: ")); msg != "" {
			return errors.New(msg)
		}
		return fmt.Errorf("oci-cgroup %s: %w", strings.Join(args, " "), err)
	}
	return nil
}
