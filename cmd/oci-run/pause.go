package main

import "flag"

func init() {
	register("pause", command{
		usage:        "CONTAINER-ID",
		summary:      "freeze every process of a container",
		interspersed: true,
		setup: func(fs *flag.FlagSet) func(*global, []string) error {
			return func(g *global, args []string) error {
				if err := exactArgs(args, 1, "container id"); err != nil {
					return err
				}
				r, err := g.runtime()
				if err != nil {
					return err
				}
				return r.Pause(args[0])
			}
		},
	})
}
