package main

import "flag"

func init() {
	register("delete", command{
		usage:        "[options] CONTAINER-ID",
		summary:      "delete a stopped container (--force: kill it first)",
		interspersed: true,
		setup: func(fs *flag.FlagSet) func(*global, []string) error {
			force := fs.Bool("force", false, "kill the container if it is still running")
			fs.BoolVar(force, "f", false, "short for --force")
			return func(g *global, args []string) error {
				if err := exactArgs(args, 1, "container id"); err != nil {
					return err
				}
				r, err := g.runtime()
				if err != nil {
					return err
				}
				return r.Delete(args[0], *force)
			}
		},
	})
}
