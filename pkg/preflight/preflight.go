// Package preflight checks a bundle before any part of a container exists:
// the configuration against the runtime-spec and against this host, with
// the plan functions of the stages themselves (pkg/rootfs.Build,
// pkg/cgroup.NewPlan, pkg/process.NewPlan, pkg/seccomp.NewPlan,
// pkg/namespace.Check). `create` runs Bundle and refuses the first
// problem, so bad input fails before a state directory, cgroup, mount or
// process is made, in the words the stage would have used; `oci-run
// check` runs Bundle and Host and prints every problem.
package preflight

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-run/oci-run/pkg/capability"
	"github.com/oci-run/oci-run/pkg/cgroup"
	"github.com/oci-run/oci-run/pkg/namespace"
	"github.com/oci-run/oci-run/pkg/process"
	"github.com/oci-run/oci-run/pkg/rootfs"
	"github.com/oci-run/oci-run/pkg/seccomp"
	"github.com/oci-run/oci-run/pkg/spec"
)

// Options are what create knows besides the bundle.
type Options struct {
	// ID names the cgroup when linux.cgroupsPath is empty.
	ID string
	// Bundle is the absolute bundle directory.
	Bundle  string
	NoPivot bool
	Systemd bool
	// Raw and Spec, when set, are config.json and its parse as the
	// caller already read them (run, which needs process.terminal
	// first): they are not read again.
	Raw  []byte
	Spec *specs.Spec
}

// Result is what the checks found, and what create goes on with.
type Result struct {
	Spec *specs.Spec
	// Raw is config.json as read: what the chain gets.
	Raw []byte
	// Cgroup is where the container's cgroup will be.
	Cgroup cgroup.Paths
	// CgroupPlan is the whole plan, for a create that goes on with it.
	CgroupPlan *cgroup.Plan
	// Rootfs is oci-mount's plan (nil when it does not build).
	Rootfs *rootfs.Plan
	// Errors, one problem each (a spec.Errors list is split into its
	// fields), without duplicates.
	Errors []error
	// Warnings do not stop create.
	Warnings []string
}

// Err is the first problem, which create reports.
func (r *Result) Err() error {
	if len(r.Errors) == 0 {
		return nil
	}
	return r.Errors[0]
}

// Add records err, split into its fields when it is a spec.Errors list,
// unless the same problem is already recorded.
func (r *Result) Add(err error) { r.add(err) }

func (r *Result) add(err error) {
	if err == nil {
		return
	}
	var list spec.Errors
	if errors.As(err, &list) {
		for _, fe := range list {
			r.addOne(fe)
		}
		return
	}
	r.addOne(err)
}

func (r *Result) addOne(err error) {
	for _, e := range r.Errors {
		if e.Error() == err.Error() {
			return
		}
	}
	r.Errors = append(r.Errors, err)
}

// Warn records a warning.
func (r *Result) Warn(w string) { r.Warnings = append(r.Warnings, w) }

// Bundle reads BUNDLE/config.json and checks it as create does. When the
// file cannot be read or parsed, that is the only error and Spec is nil.
func Bundle(o Options) *Result {
	r := &Result{}
	if o.Raw != nil && o.Spec != nil {
		r.Spec, r.Raw = o.Spec, o.Raw
		Config(r, o)
		return r
	}
	path := filepath.Join(o.Bundle, "config.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = fmt.Errorf("bundle %s: config.json: %w", o.Bundle, pe.Err)
		}
		r.add(err)
		return r
	}
	s, err := spec.Parse(raw)
	if err != nil {
		r.add(fmt.Errorf("config.json: %w", err))
		return r
	}
	r.Spec, r.Raw = s, raw
	Config(r, o)
	return r
}

// Config checks a parsed configuration; what it plans (the cgroup) goes
// into r.
func Config(r *Result, o Options) {
	s := r.Spec
	r.add(spec.Validate(s, o.Bundle, spec.ForContainer))
	if p, err := rootfs.Build(s, o.Bundle, rootfs.Options{NoPivot: o.NoPivot}); err != nil {
		r.add(err)
	} else {
		r.Rootfs = p
	}
	r.add(namespace.Check(s))
	if plan, err := cgroup.NewPlan(s, o.ID, o.Systemd); err != nil {
		r.add(err)
	} else {
		r.Cgroup, r.CgroupPlan = plan.Paths, plan
	}
	if s.Process != nil {
		host, err := capability.ReadHost()
		if err != nil {
			r.add(fmt.Errorf("capabilities of the runtime: %w", err))
		} else if p, err := process.NewPlan(s, host, nil); err != nil {
			r.add(err)
		} else {
			r.add(process.CheckLSM(p))
			for _, w := range p.Warnings {
				r.Warn(w)
			}
		}
	}
	if s.Linux != nil && s.Linux.Seccomp != nil {
		// The rules as oci-seccomp reads them; whether libseccomp knows
		// every syscall name is oci-seccomp --check's to say.
		if _, err := seccomp.NewPlan(s.Linux.Seccomp); err != nil {
			r.add(err)
		}
	}
}
