// Command oci-exec is a stage of the oci-run chain (placeholder: passes through).
package main

import "github.com/oci-run/oci-run/pkg/stage"

func main() {
	stage.Main(stage.Def{
		Name:     "oci-exec",
		Synopsis: "oci-exec [--spec-fd N] [--bundle DIR] -- NEXT...",
		Usage:    "placeholder",
		Terminal: true,
		Run:      func(s *stage.Stage) error { return nil },
	})
}
