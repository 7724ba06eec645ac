package rootfs

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-run/oci-run/pkg/hooks"
	"github.com/oci-run/oci-run/pkg/stage"
	"github.com/oci-run/oci-run/pkg/syncsock"
)

// hookPoint is what Apply calls between preparing the rootfs and entering
// it: the runtime runs prestart and createRuntime hooks (in its own
// namespaces) while this stage waits, then this stage runs the
// createContainer hooks itself, in the container's namespaces, where the
// host's paths still resolve (runtime-spec: the path resolves in the
// runtime namespace, the hook runs in the container namespace; runc runs
// them from its init at the same point).
//
// Hooks need a runtime: run alone, without a sync socket, oci-mount runs
// none of them.
func hookPoint(s *stage.Stage) Hooks {
	h := s.Spec.Hooks
	if s.Sync == nil || (len(hooks.Of(h, hooks.Prestart)) == 0 && len(hooks.Of(h, hooks.CreateRuntime)) == 0 && len(hooks.Of(h, hooks.CreateContainer)) == 0) {
		return nil
	}
	return func() error {
		if err := s.Send(syncsock.Message{Type: syncsock.TypeHook, Hook: hooks.CreateRuntime}); err != nil {
			return err
		}
		m, err := s.Sync.Recv()
		if err != nil {
			return fmt.Errorf("hooks: waiting for the runtime: %w", err)
		}
		switch m.Type {
		case syncsock.TypeContinue:
		case syncsock.TypeError:
			// The runtime reports its own error; this one only ends the stage.
			return errors.New(m.Error)
		default:
			return fmt.Errorf("hooks: unexpected answer %q from the runtime", m.Type)
		}
		list := hooks.Of(h, hooks.CreateContainer)
		if len(list) == 0 {
			return nil
		}
		var st specs.State
		if err := json.Unmarshal(m.State, &st); err != nil {
			return fmt.Errorf("hooks: the runtime's state: %w", err)
		}
		// The pid as the container sees it (runtime-spec, State).
		st.Pid = os.Getpid()
		st.Status = specs.StateCreating
		return hooks.Run(hooks.CreateContainer, list, st)
	}
}
