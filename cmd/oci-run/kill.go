package main

import (
	"flag"

	"github.com/oci-run/oci-run/pkg/signal"
)

func init() {
	register("kill", command{
		usage:        "[options] CONTAINER-ID [SIGNAL]",
		summary:      "send a signal (default SIGTERM) to a container's init",
		interspersed: true,
		setup: func(fs *flag.FlagSet) func(*global, []string) error {
			all := fs.Bool("all", false, "send the signal to every process of the container's cgroup")
			fs.BoolVar(all, "a", false, "short for --all")
			return func(g *global, args []string) error {
				if len(args) < 1 || len(args) > 2 {
					return exactArgs(args, 2, "container id and signal")
				}
				name := "SIGTERM"
				if len(args) == 2 {
					name = args[1]
				}
				sig, err := signal.Parse(name)
				if err != nil {
					return err
				}
				r, err := g.runtime()
				if err != nil {
					return err
				}
				return r.Kill(args[0], sig, *all)
			}
		},
	})
}
