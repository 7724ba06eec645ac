package lifecycle

import (
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-run/oci-run/pkg/hooks"
	"github.com/oci-run/oci-run/pkg/proc"
	"github.com/oci-run/oci-run/pkg/spec"
	"github.com/oci-run/oci-run/pkg/state"
	"github.com/oci-run/oci-run/pkg/syncsock"
)

// When each hook runs (runtime-spec config.md and runtime.md, Lifecycle):
//
//	prestart, createRuntime  oci-run create, here, when oci-mount reaches its
//	                         hook point (mounts done, before pivot_root);
//	                         runtime namespace; status "creating"
//	createContainer          oci-mount itself, right after (pkg/rootfs)
//	startContainer           oci-exec, after start released it, before execve
//	poststart                oci-run start, once the user program is exec'd;
//	                         a failure is a warning
//	poststop                 oci-run delete, once the container is gone;
//	                         a failure is a warning
//
// prestart runs at create, as runc and crun run it and as runtime-spec
// 1.1 says; runtime-spec 1.0's config.md said "after start", which
// runtime-tools v0.9.0's prestart test still checks.

// hookState is the state document on a hook's stdin.
func hookState(c *state.Container, status specs.ContainerState, pid int) specs.State {
	return specs.State{
		Version:     specs.Version,
		ID:          c.State.ID,
		Status:      status,
		Pid:         pid,
		Bundle:      c.State.Bundle,
		Annotations: c.State.Annotations,
	}
}

// createHooks answers oci-mount's hook message: prestart and createRuntime
// hooks, then "continue" with the state for its createContainer hooks, or
// "error".
func (r *Runtime) createHooks(c *state.Container, s *specs.Spec, rt *syncsock.Conn) error {
	st := hookState(c, specs.StateCreating, c.State.Pid)
	err := hooks.Run(hooks.Prestart, hooks.Of(s.Hooks, hooks.Prestart), st)
	if err == nil {
		err = hooks.Run(hooks.CreateRuntime, hooks.Of(s.Hooks, hooks.CreateRuntime), st)
	}
	if err != nil {
		rt.Send(syncsock.Message{Type: syncsock.TypeError, Error: err.Error()})
		return err
	}
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return rt.Send(syncsock.Message{Type: syncsock.TypeContinue, State: b})
}

// savedSpec reads the configuration recorded at create; nil when there is
// none (a create that died early).
func savedSpec(c *state.Container) *specs.Spec {
	s, _, err := spec.LoadFile(c.Path(state.ConfigFile))
	if err != nil {
		return nil
	}
	return s
}

// poststart runs the poststart hooks; a failure is logged, not returned
// (runtime-spec 1.0: "log a warning, ... the lifecycle continues").
func (r *Runtime) poststart(c *state.Container, s *specs.Spec) {
	list := hooks.Of(s.Hooks, hooks.Poststart)
	if len(list) == 0 {
		return
	}
	for _, err := range hooks.RunAll(hooks.Poststart, list, hookState(c, specs.StateRunning, c.State.Pid)) {
		r.Log.Warnf("%v", err)
	}
}

// poststop runs the poststop hooks of a container that is gone.
func (r *Runtime) poststop(c *state.Container, s *specs.Spec) {
	if s == nil {
		return
	}
	list := hooks.Of(s.Hooks, hooks.Poststop)
	if len(list) == 0 {
		return
	}
	for _, err := range hooks.RunAll(hooks.Poststop, list, hookState(c, specs.StateStopped, 0)) {
		r.Log.Warnf("%v", err)
	}
}

// waitExecuted waits until the init has exec'd the user program (its
// executable is no longer the one it had when start released it), or has
// exited: poststart hooks run "after the user-specified process is
// executed". Then it gives the program until it first blocks or exits,
// at most settle: a hook that looks at what the program does at start
// (runtime-tools' poststart test reads a file the program writes) should
// not race its first instructions. Only called when there are poststart
// hooks.
func waitExecuted(pid int, before unix.Stat_t) error {
	const settle = 200 * time.Millisecond
	exe := "/proc/" + strconv.Itoa(pid) + "/exe"
	delay := time.Millisecond
	deadline := time.Now().Add(30 * time.Second)
	for {
		var now unix.Stat_t
		if err := unix.Stat(exe, &now); err != nil {
			return nil // gone: nothing left to wait for
		}
		if now.Dev != before.Dev || now.Ino != before.Ino {
			break
		}
		if time.Now().After(deadline) {
			return errors.New("the container process has not exec'd its program after 30s")
		}
		time.Sleep(delay)
		delay = min(2*delay, 20*time.Millisecond)
	}
	for end := time.Now().Add(settle); time.Now().Before(end); time.Sleep(time.Millisecond) {
		st, err := proc.ReadStat(pid)
		if err != nil || st.State != 'R' {
			return nil
		}
	}
	return nil
}
