// Package hooks runs the OCI lifecycle hooks of one phase (runtime-spec
// config.md, "POSIX-platform Hooks"): each hook in the listed order, with
// its own path, args and env only, the container's state as JSON on its
// stdin, and its timeout. Where a hook runs (which process, which
// namespaces) is the caller's business: oci-run runs prestart,
// createRuntime, poststart and poststop in the runtime's namespaces,
// oci-mount runs createContainer inside the container's namespaces before
// pivot_root, oci-exec runs startContainer inside the container right
// before execve.
package hooks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Phase names, as config.json spells them.
const (
	Prestart        = "prestart"
	CreateRuntime   = "createRuntime"
	CreateContainer = "createContainer"
	StartContainer  = "startContainer"
	Poststart       = "poststart"
	Poststop        = "poststop"
)

// Of returns the hooks of a phase; nil when the spec has none.
func Of(h *specs.Hooks, phase string) []specs.Hook {
	if h == nil {
		return nil
	}
	switch phase {
	case Prestart:
		//lint:ignore SA1019 deprecated in the spec, still what Docker uses
		return h.Prestart
	case CreateRuntime:
		return h.CreateRuntime
	case CreateContainer:
		return h.CreateContainer
	case StartContainer:
		return h.StartContainer
	case Poststart:
		return h.Poststart
	case Poststop:
		return h.Poststop
	}
	return nil
}

// Run runs the hooks of one phase in order with state on their stdin and
// stops at the first that fails. The error names the phase and the hook's
// position in its list, and carries what it printed (as runc's does).
func Run(phase string, list []specs.Hook, state specs.State) error {
	if len(list) == 0 {
		return nil
	}
	b, err := json.Marshal(state)
	if err != nil {
		return err
	}
	for i, h := range list {
		if err := runOne(h, b); err != nil {
			return fmt.Errorf("error running %s hook #%d (%s): %w", phase, i, h.Path, err)
		}
	}
	return nil
}

// RunAll runs every hook of a phase whatever the others do, for the
// phases whose failures are only warnings (poststart, poststop: "the
// remaining hooks and lifecycle continue as if the hook had succeeded"),
// and returns the error of each hook that failed.
func RunAll(phase string, list []specs.Hook, state specs.State) []error {
	if len(list) == 0 {
		return nil
	}
	b, err := json.Marshal(state)
	if err != nil {
		return []error{err}
	}
	var errs []error
	for i, h := range list {
		if err := runOne(h, b); err != nil {
			errs = append(errs, fmt.Errorf("error running %s hook #%d (%s): %w", phase, i, h.Path, err))
		}
	}
	return errs
}

func runOne(h specs.Hook, state []byte) error {
	if h.Path == "" {
		return errors.New("path is empty")
	}
	args := h.Args
	if len(args) == 0 {
		args = []string{h.Path}
	}
	var stdout, stderr bytes.Buffer
	// Not exec.Command: it would look the path up and set Args[0] itself.
	cmd := &exec.Cmd{
		Path:   h.Path,
		Args:   args,
		Env:    h.Env,
		Stdin:  bytes.NewReader(state),
		Stdout: &stdout,
		Stderr: &stderr,
		// A hook that leaves a child holding its stdout must not hold up
		// the lifecycle once the hook itself is gone.
		WaitDelay: time.Second,
	}
	if cmd.Env == nil {
		// nil would mean "inherit the runtime's environment".
		cmd.Env = []string{}
	}
	// A hook that does not read its stdin and exits makes the copy fail
	// with EPIPE; os/exec ignores that, and the Go runtime ignores SIGPIPE
	// on descriptors other than stdout and stderr.
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var timeout <-chan time.Time
	if h.Timeout != nil && *h.Timeout > 0 {
		t := time.NewTimer(time.Duration(*h.Timeout) * time.Second)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case err := <-done:
		if err != nil {
			return withOutput(err, &stdout, &stderr)
		}
		return nil
	case <-timeout:
		cmd.Process.Signal(syscall.SIGKILL)
		<-done
		return fmt.Errorf("ran past its timeout of %ds", *h.Timeout)
	}
}

func withOutput(err error, stdout, stderr *bytes.Buffer) error {
	o := strings.TrimSpace(stdout.String())
	e := strings.TrimSpace(stderr.String())
	if o == "" && e == "" {
		return err
	}
	return fmt.Errorf("%w, stdout: %s, stderr: %s", err, o, e)
}
