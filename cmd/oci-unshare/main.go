// Command oci-unshare is a stage of the oci-run chain (placeholder: passes through).
package main

import "github.com/oci-run/oci-run/pkg/stage"

func main() {
	stage.Main(stage.Def{
		Name:     "oci-unshare",
		Synopsis: "oci-unshare [--spec-fd N] [--bundle DIR] -- NEXT...",
		Usage:    "placeholder",
		Run:      func(s *stage.Stage) error { return s.ExecNext() },
	})
}
