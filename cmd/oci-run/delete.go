package main

import (
	"flag"

	"github.com/oci-run/oci-run/pkg/lifecycle"
)

func init() {
	register("delete", command{
		usage:        "[options] CONTAINER-ID",
		summary:      "delete a stopped container (--force: kill it first)",
		interspersed: true,
		setup: func(fs *flag.FlagSet) func(*global, []string) error {
			force := fs.Bool("force", false, "kill the container if it is still running")
			fs.BoolVar(force, "f", false, "short for --force")
			return withID(func(_ *global, r *lifecycle.Runtime, id string) error {
				return r.Delete(id, *force)
			})
		},
	})
}
