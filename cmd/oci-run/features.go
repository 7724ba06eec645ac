package main

import (
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"

	specfeatures "github.com/opencontainers/runtime-spec/specs-go/features"

	"github.com/oci-run/oci-run/pkg/features"
	"github.com/oci-run/oci-run/pkg/lifecycle"
	"github.com/oci-run/oci-run/pkg/version"
)

func init() {
	register("features", command{
		usage:   "",
		summary: "print what this runtime supports (runtime-spec features.json)",
		setup: func(fs *flag.FlagSet) func(*global, []string) error {
			return func(g *global, args []string) error {
				if err := exactArgs(args, 0, "no arguments"); err != nil {
					return err
				}
				ann := map[string]string{
					features.AnnotationVersion: version.Version,
					features.AnnotationCommit:  version.Commit,
				}
				if v := libseccompVersion(g.stageDir); v != "" {
					ann[features.AnnotationLibseccomp] = v
				}
				enc := json.NewEncoder(os.Stdout)
				enc.SetIndent("", "    ")
				return enc.Encode(features.Build(seccompFeatures(g.stageDir), ann))
			}
		},
	})
}

// seccompFeatures asks oci-seccomp (cgo, libseccomp) for its part.
func seccompFeatures(stageDir string) *specfeatures.Seccomp {
	dir, err := lifecycle.FindStageDir(stageDir)
	if err != nil {
		return nil
	}
	out, err := exec.Command(filepath.Join(dir, "oci-seccomp"), "--features").Output()
	if err != nil {
		return nil
	}
	var s specfeatures.Seccomp
	if json.Unmarshal(out, &s) != nil {
		return nil
	}
	return &s
}
