// Package lifecycle implements the container operations of oci-run
// (create, start, kill, delete, run, state, list) on top of the stage
// chain: it validates, records state, builds the pipeline of stage binaries
// with the descriptors they need, and follows the chain over the sync
// socket until the container is ready or a stage reports an error.
package lifecycle

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/oci-run/oci-run/pkg/logging"
	"github.com/oci-run/oci-run/pkg/pipeline"
	"github.com/oci-run/oci-run/pkg/state"
	"github.com/oci-run/oci-run/pkg/trace"
)

// EnvStageDir overrides where oci-run looks for its stage binaries.
const EnvStageDir = "OCI_RUN_STAGE_DIR"

// Runtime holds the global options of one oci-run invocation.
type Runtime struct {
	Store state.Store
	Log   *logging.Logger
	// StageDir holds oci-cgroup, oci-unshare, ...: --stage-dir, else
	// $OCI_RUN_STAGE_DIR, else the directory of the oci-run executable.
	StageDir string
	Systemd  bool
	// Traces collects the timing marks of oci-run and of the stages
	// (--trace): one group per process or phase.
	Traces []trace.Group
}

// TraceGroup closes the marks oci-run recorded since the last call into a
// group of the trace table.
func (r *Runtime) TraceGroup(name string) {
	if trace.Enabled() {
		r.Traces = append(r.Traces, trace.Group{Process: name, Marks: trace.Take()})
	}
}

// FindStageDir applies the lookup order documented on Runtime.StageDir.
func FindStageDir(flagValue string) (string, error) {
	if flagValue != "" {
		return filepath.Abs(flagValue)
	}
	if d := os.Getenv(EnvStageDir); d != "" {
		return filepath.Abs(d)
	}
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find own executable: %w", err)
	}
	return filepath.Dir(exe), nil
}

// stagePath returns the path of a stage binary and checks it is there, so
// a broken installation fails before anything is created.
func (r *Runtime) stagePath(name string) (string, error) {
	p := filepath.Join(r.StageDir, name)
	fi, err := os.Stat(p)
	if err != nil {
		return "", fmt.Errorf("stage binary %s not found in %s (set --stage-dir or $%s): %w", name, r.StageDir, EnvStageDir, err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("stage binary %s is not an executable file", p)
	}
	return p, nil
}

// checkStages verifies every stage binary exists.
func (r *Runtime) checkStages() error {
	for _, s := range pipeline.Stages {
		if _, err := r.stagePath(s); err != nil {
			return err
		}
	}
	return nil
}
