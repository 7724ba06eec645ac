// Command oci-seccomp is a stage of the oci-run chain (placeholder: passes through).
package main

import "github.com/oci-run/oci-run/pkg/stage"

func main() {
	stage.Main(stage.Def{
		Name:     "oci-seccomp",
		Synopsis: "oci-seccomp [--spec-fd N] [--bundle DIR] -- NEXT...",
		Usage:    "placeholder",
		Run:      func(s *stage.Stage) error { return s.ExecNext() },
	})
}
