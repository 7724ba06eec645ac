package main

import (
	"encoding/json"
	"flag"
	"os"
)

func init() {
	register("state", command{
		usage:        "CONTAINER-ID",
		summary:      "print the state of a container as JSON",
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
				st, err := r.State(args[0])
				if err != nil {
					return err
				}
				enc := json.NewEncoder(os.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
		},
	})
}
