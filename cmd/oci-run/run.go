package main

import (
	"flag"

	"github.com/oci-run/oci-run/pkg/lifecycle"
)

func init() {
	register("run", command{
		usage:        "[options] CONTAINER-ID",
		summary:      "create and start a container, wait for it and delete it",
		interspersed: true,
		setup: func(fs *flag.FlagSet) func(*global, []string) error {
			o := lifecycle.RunOptions{}
			co := createFlags(fs)
			fs.BoolVar(&o.Detach, "detach", false, "start the container and return")
			fs.BoolVar(&o.Detach, "d", false, "short for --detach")
			fs.BoolVar(&o.Keep, "keep", false, "do not delete the container after it exits")
			fs.BoolVar(&o.NoSubreaper, "no-subreaper", false, "do not make oci-run a child subreaper")
			return withID(func(g *global, r *lifecycle.Runtime, id string) error {
				co.ID = id
				o.CreateOptions = *co
				code, err := r.Run(o)
				g.exitCode = code
				return err
			})
		},
	})
}
