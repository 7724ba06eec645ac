// Command oci-cgroup is a stage of the oci-run chain (placeholder: passes through).
package main

import "github.com/oci-run/oci-run/pkg/stage"

func main() {
	stage.Main(stage.Def{
		Name:     "oci-cgroup",
		Synopsis: "oci-cgroup [--spec-fd N] [--bundle DIR] -- NEXT...",
		Usage:    "placeholder",
		Run:      func(s *stage.Stage) error { return s.ExecNext() },
	})
}
