package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/opencontainers/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// State is the freezer state of a container's cgroup.
type State string

const (
	Thawed State = "THAWED"
	Frozen State = "FROZEN"
	// Undefined: no freezer (no v1 freezer hierarchy, kernel without
	// cgroup.freeze) or no cgroup.
	Undefined State = ""
)

// Freeze stops every process of the container (v1 freezer, v2
// cgroup.freeze) and returns when they are all stopped.
func (c *Cgroup) Freeze() error {
	if err := c.m.Freeze(cgroups.Frozen); err != nil {
		return fmt.Errorf("freeze: %w", err)
	}
	return nil
}

// Thaw lets a frozen container run again.
func (c *Cgroup) Thaw() error {
	if err := c.m.Freeze(cgroups.Thawed); err != nil {
		return fmt.Errorf("thaw: %w", err)
	}
	return nil
}

// State reads the freezer state.
func (c *Cgroup) State() (State, error) {
	st, err := c.m.GetFreezerState()
	if err != nil {
		return Undefined, err
	}
	return State(st), nil
}

// Update applies new limits to a live container. Only the fields set in r
// change; device rules change only when r lists some (runc update never
// touches them). checkBeforeUpdate (memory) is honoured on v2 by the
// manager; v1 kernels refuse a limit below the usage by themselves.
func (c *Cgroup) Update(r *specs.LinuxResources) error {
	h, err := ReadHost()
	if err != nil {
		return err
	}
	var avail *Available
	if d := c.Paths.Dir(Unified); h.Mode == V2 && d != "" {
		avail, _ = ReadAvailable(d)
	}
	res, err := resources(r, nil, h, avail)
	if err != nil {
		return err
	}
	if r == nil || len(r.Devices) == 0 {
		res.Devices = nil
		res.SkipDevices = true
	}
	if err := c.m.Set(res); err != nil {
		return setError(err)
	}
	return setKernelTCP(c.Paths, kernelTCP(r))
}

// ApplyDeferred sets the limit Create left out with Plan.DeferPids.
//
// pids.max counts threads. The stages that set the container up are Go
// programs running in its cgroup with several threads each (oci-unshare
// needs 6 tasks to clone the init), so under a small pids.max they cannot
// start a container at all, where runc starts one under pids.max 1: runc
// too applies the limits only after its init is set up, from the parent.
// oci-run calls this when the init reports ready, before `create` returns
// and so before the user's program runs.
func (c *Cgroup) ApplyDeferred(r *specs.LinuxResources) error {
	if r == nil || r.Pids == nil || r.Pids.Limit == nil || *r.Pids.Limit == 0 {
		return nil
	}
	l := *r.Pids.Limit
	if err := c.m.Set(&cgroups.Resources{PidsLimit: &l, SkipDevices: true}); err != nil {
		return setError(err)
	}
	return nil
}

// Signal sends sig to every process of the container's cgroup and its
// sub-cgroups (kill --all). The cgroup is frozen while the list is read
// and signalled so no new process escapes by forking, then returned to its
// previous state; for SIGKILL it is thawed, since frozen v1 tasks cannot
// die. SIGKILL on a cgroup with cgroup.kill (v2, and the cgroup2
// hierarchy of hybrid hosts) is one atomic write.
func (c *Cgroup) Signal(sig unix.Signal) error {
	if sig == unix.SIGKILL {
		return c.kill()
	}
	prev, _ := c.State()
	frozen := false
	if prev == Thawed && c.Freeze() == nil {
		frozen = true
	}
	pids, err := c.Pids()
	if err == nil {
		for _, pid := range pids {
			if e := unix.Kill(pid, sig); e != nil && !errors.Is(e, unix.ESRCH) {
				err = errors.Join(err, fmt.Errorf("signal %d: %w", pid, e))
			}
		}
	}
	if frozen {
		err = errors.Join(err, c.Thaw())
	}
	return err
}

// kill sends SIGKILL to everything in the cgroup without waiting.
func (c *Cgroup) kill() error {
	if d := c.Paths.Dir(Unified); d != "" {
		err := os.WriteFile(filepath.Join(d, "cgroup.kill"), []byte("1"), 0)
		if err == nil {
			// Processes that were moved into only some v1 hierarchies are
			// not in the cgroup2 one: the v1 pass below finds them.
			pids, _ := c.Pids()
			if len(pids) == 0 {
				return nil
			}
		}
	}
	st, _ := c.State()
	if st == Thawed && c.Freeze() == nil {
		st = Frozen
	}
	pids, err := c.Pids()
	self := os.Getpid()
	for _, pid := range pids {
		if pid == self {
			// A thread of ours in the cgroup (one that joined it to start
			// the container) lists this process in cgroup.procs: killing
			// it would leave that thread frozen and the cgroup with it.
			continue
		}
		if e := unix.Kill(pid, unix.SIGKILL); e != nil && !errors.Is(e, unix.ESRCH) {
			err = errors.Join(err, fmt.Errorf("kill %d: %w", pid, e))
		}
	}
	if st == Frozen {
		err = errors.Join(err, c.Thaw())
	}
	return err
}

// killAll kills until the cgroup is empty (processes can fork while being
// killed) or gives up after about ten seconds.
func (c *Cgroup) killAll() error {
	delay := time.Millisecond
	deadline := time.Now().Add(10 * time.Second)
	for {
		pids, err := c.Pids()
		if err != nil {
			return err
		}
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cgroup %s: processes %v still running after SIGKILL", strings.Join(c.Paths.Unique(), " "), pids)
		}
		if err := c.kill(); err != nil {
			return err
		}
		time.Sleep(delay)
		delay = min(2*delay, 100*time.Millisecond)
	}
}
