package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/pkg/cgroup/limits"
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

// Freeze stops every process of the container and returns when they are
// all stopped: the v1 freezer where there is one (v1 and hybrid hosts,
// as runc), cgroup.freeze on v2.
func (c *Cgroup) Freeze() error {
	var err error
	if d := c.Paths.Dir("freezer"); d != "" {
		err = freezeV1(d)
	} else if d := c.Paths.Dir(Unified); d != "" && c.Paths.V2() {
		err = freezeV2(d)
	} else {
		err = errors.New("the container's cgroup has no freezer")
	}
	if err != nil {
		return fmt.Errorf("freeze: %w", err)
	}
	return nil
}

// Thaw lets a frozen container run again.
func (c *Cgroup) Thaw() error {
	var err error
	if d := c.Paths.Dir("freezer"); d != "" {
		err = limits.WriteFile(filepath.Join(d, "freezer.state"), string(Thawed))
	} else if d := c.Paths.Dir(Unified); d != "" && c.Paths.V2() {
		err = limits.WriteFile(filepath.Join(d, "cgroup.freeze"), "0")
		if errors.Is(err, os.ErrNotExist) {
			err = nil // no freezer (kernel < 5.2): nothing frozen
		}
	}
	if err != nil {
		return fmt.Errorf("thaw: %w", err)
	}
	return nil
}

// freezeV1 writes FROZEN until the state reads FROZEN. A task can keep
// the cgroup in FREEZING (it is in an uninterruptible sleep, or being
// forked): writing again retries, and thawing for a moment now and then
// lets a task that another frozen one waits on finish, as runc does.
func freezeV1(d string) (err error) {
	file := filepath.Join(d, "freezer.state")
	defer func() {
		if err != nil {
			_ = limits.WriteFile(file, string(Thawed))
		}
	}()
	for i := 0; i < 1000; i++ {
		if i%50 == 49 {
			_ = limits.WriteFile(file, string(Thawed))
			time.Sleep(10 * time.Millisecond)
		}
		if err := limits.WriteFile(file, string(Frozen)); err != nil {
			return err
		}
		if i%25 == 24 {
			time.Sleep(10 * time.Microsecond)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		switch st := strings.TrimSpace(string(b)); st {
		case "FREEZING":
			continue
		case string(Frozen):
			return nil
		default:
			return fmt.Errorf("%s: unexpected state %s while freezing", file, st)
		}
	}
	return fmt.Errorf("%s: still FREEZING after 1000 tries", file)
}

// freezeV2 sets cgroup.freeze and waits for cgroup.events to say
// "frozen 1" (the kernel freezes tasks as they reach a safe point).
func freezeV2(d string) error {
	if err := limits.WriteFile(filepath.Join(d, "cgroup.freeze"), "1"); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("freezer not supported (no cgroup.freeze, kernel < 5.2): %w", err)
		}
		return err
	}
	for i := 0; i < 1000; i++ {
		frozen, err := eventCount(d, "cgroup.events", "frozen")
		if err != nil {
			return err
		}
		if frozen == 1 {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("%s: not frozen after 10s", d)
}

// State reads the freezer state.
func (c *Cgroup) State() (State, error) {
	if d := c.Paths.Dir("freezer"); d != "" {
		return stateV1(d)
	}
	if d := c.Paths.Dir(Unified); d != "" && c.Paths.V2() {
		b, err := os.ReadFile(filepath.Join(d, "cgroup.freeze"))
		if err != nil {
			return Undefined, ignoreGone(err)
		}
		switch strings.TrimSpace(string(b)) {
		case "0":
			return Thawed, nil
		case "1":
			// Asked to freeze: frozen once every task is.
			if err := freezeV2(d); err != nil {
				return Undefined, err
			}
			return Frozen, nil
		}
		return Undefined, fmt.Errorf("%s/cgroup.freeze: unknown state %q", d, b)
	}
	return Undefined, nil
}

func stateV1(d string) (State, error) {
	for {
		b, err := os.ReadFile(filepath.Join(d, "freezer.state"))
		if err != nil {
			return Undefined, ignoreGone(err)
		}
		switch st := strings.TrimSpace(string(b)); st {
		case "THAWED":
			return Thawed, nil
		case "FROZEN":
			// Frozen because a parent is: the container itself is not
			// paused.
			self, err := os.ReadFile(filepath.Join(d, "freezer.self_freezing"))
			if err != nil {
				return Frozen, ignoreGone(err)
			}
			if strings.TrimSpace(string(self)) == "0" {
				return Thawed, nil
			}
			return Frozen, nil
		case "FREEZING":
			time.Sleep(time.Millisecond)
		default:
			return Undefined, fmt.Errorf("%s/freezer.state: unknown state %q", d, st)
		}
	}
}

// ignoreGone: a cgroup that is not there has no state.
func ignoreGone(err error) error {
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENODEV) {
		return nil
	}
	return err
}

// Update applies new limits to a live container. Only the fields set in r
// change; device rules never do (runc update does not touch them).
// checkBeforeUpdate (memory) is honoured on v2; v1 kernels refuse a limit
// below the usage by themselves.
func (c *Cgroup) Update(r *specs.LinuxResources) error {
	h, err := ReadHost()
	if err != nil {
		return err
	}
	var avail *Available
	if d := c.Paths.Dir(Unified); h.Mode == V2 && d != "" {
		avail, _ = ReadAvailable(d)
	}
	if _, err := resources(r, nil, h, avail); err != nil {
		return err
	}
	if c.Paths.Systemd != nil {
		if systemd == nil {
			return errSystemdHere
		}
		return systemd.Update(c.Paths, r)
	}
	return applyLimits(h.Mode, c.Paths, r, nil, false)
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
	pr := &specs.LinuxResources{Pids: r.Pids}
	ws := limits.V1(pr)
	if c.Paths.V2() {
		ws, _ = limits.V2(pr)
	}
	return limits.Apply(c.Paths.Dir, ws)
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
		err := limits.WriteFile(filepath.Join(d, "cgroup.kill"), "1")
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
