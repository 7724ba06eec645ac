package lifecycle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-run/oci-run/pkg/pipeline"
	"github.com/oci-run/oci-run/pkg/preflight"
	"github.com/oci-run/oci-run/pkg/spec"
	"github.com/oci-run/oci-run/pkg/state"
)

// CheckOptions are the flags of `check`.
type CheckOptions struct {
	CreateOptions
	// Strict makes unknown fields errors.
	Strict bool
}

// Check runs everything create checks before it creates anything, and
// what this host offers (pkg/preflight), and collects every problem
// instead of stopping at the first. It creates nothing.
func (r *Runtime) Check(o CheckOptions) (*preflight.Result, []preflight.Feature) {
	if o.ID == "" {
		// Only names the cgroup of a configuration without
		// linux.cgroupsPath.
		o.ID = "oci-run-check"
	}
	bundle, err := filepath.Abs(o.Bundle)
	if err != nil {
		bundle = o.Bundle
	}
	res := preflight.Bundle(preflight.Options{ID: o.ID, Bundle: bundle, NoPivot: o.NoPivot, Systemd: r.Systemd})
	if err := state.ValidateID(o.ID); err != nil {
		res.Add(err)
	}
	features := preflight.Host(res, res.Spec)
	if err := r.checkStages(); err != nil {
		res.Add(err)
	}
	if res.Spec == nil {
		return res, features
	}
	if err := checkConsole(res.Spec, &o.CreateOptions); err != nil {
		res.Add(err)
	}
	for _, f := range spec.UnknownFields(res.Raw) {
		msg := f + ": not a field of the runtime-spec " + specs.Version + ": ignored, as the runtime-spec requires"
		if o.Strict {
			res.Add(errors.New(msg))
		} else {
			res.Warn(msg)
		}
	}
	if s := res.Spec; s.Linux != nil && s.Linux.Seccomp != nil {
		r.checkSeccomp(res)
	}
	return res, features
}

// checkSeccomp asks oci-seccomp to compile the profile: oci-run is built
// without cgo and cannot link libseccomp.
func (r *Runtime) checkSeccomp(res *preflight.Result) {
	p, err := r.stagePath("oci-seccomp")
	if err != nil {
		return // reported by checkStages
	}
	// Only the profile: the rest of the configuration is checked here,
	// and a problem there must not hide the profile's.
	only, err := json.Marshal(specs.Spec{Version: res.Spec.Version, Linux: &specs.Linux{Seccomp: res.Spec.Linux.Seccomp}})
	if err != nil {
		res.Add(err)
		return
	}
	fd, err := spec.SealedMemfd("config.json", only)
	if err != nil {
		res.Add(err)
		return
	}
	f := os.NewFile(uintptr(fd), "config.json")
	defer f.Close()
	var out, errb bytes.Buffer
	cmd := exec.Command(p, "--check")
	cmd.ExtraFiles = []*os.File{f}
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Env = []string{}
	err = cmd.Run()
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if l != "" {
			res.Warn(l)
		}
	}
	if err != nil {
		msg := strings.TrimSpace(errb.String())
		if msg == "" {
			msg = fmt.Sprintf("%s --check: %v", p, err)
		}
		res.Add(errors.New(strings.TrimPrefix(msg, "oci-seccomp: ")))
	}
}

// Explain prints the stage chain create would run for o, as shell command
// lines, after the same checks create makes; it creates nothing.
func (r *Runtime) Explain(o CreateOptions, w io.Writer) error {
	pf, err := r.prepare(&o)
	if err != nil {
		return err
	}
	fifo := filepath.Join(r.Store.Root, o.ID, state.FifoFile)
	ch, err := r.chain(pf.Spec, o, fifo)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "# oci-run create runs this chain for container %s, in %s:\n", o.ID, ch.Dir)
	fmt.Fprintf(w, "%s\n", pipeline.Quote(append(append([]string{"env"}, ch.Env...), ch.Argv...)))
	if r.inProcess(pf.Spec) {
		fmt.Fprintf(w, "# For this container oci-run does the work of oci-cgroup and oci-unshare\n")
		fmt.Fprintf(w, "# itself (the same packages, on a thread of its own) and starts oci-mount\n")
		fmt.Fprintf(w, "# as the container's first process; %s=stages runs the chain as it is.\n", EnvChain)
	}
	fmt.Fprintf(w, "# with these descriptors (oci-run passes its own stdin, stdout and stderr as 0-2):\n")
	var specFD int
	for _, d := range ch.FDs {
		name := d.Name
		if d.Name == fdSpecName {
			specFD = d.Num
		}
		fmt.Fprintf(w, "#   %d  %s: %s\n", d.Num, name, d.What)
	}
	alone, err := r.pipeline(pf.Spec, o, specFD, true)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "# The same chain from a shell, without oci-run: in the foreground, the\n")
	fmt.Fprintf(w, "# process starts at once (no exec fifo), stages report errors on stderr,\n")
	fmt.Fprintf(w, "# and oci-cgroup removes the cgroup when the container exits:\n")
	line := "cd " + pipeline.Quote([]string{ch.Dir}) + " && "
	if o.PreserveFDs > 0 {
		line += fmt.Sprintf("%s=%d ", "OCI_PRESERVE_FDS", o.PreserveFDs)
	}
	line += pipeline.Quote(alone) + fmt.Sprintf(" %d<%s", specFD, pipeline.Quote([]string{filepath.Join(ch.Dir, "config.json")}))
	fmt.Fprintln(w, line)
	return nil
}
