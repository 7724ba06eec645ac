// Command oci-mount is a stage of the oci-run chain (placeholder: passes through).
package main

import "github.com/oci-run/oci-run/pkg/stage"

func main() {
	stage.Main(stage.Def{
		Name:     "oci-mount",
		Synopsis: "oci-mount [--spec-fd N] [--bundle DIR] -- NEXT...",
		Usage:    "placeholder",
		Run:      func(s *stage.Stage) error { return s.ExecNext() },
	})
}
