package main

import (
	"flag"
	"os"
	"time"
)

func init() {
	register("events", command{
		usage:        "[options] CONTAINER-ID",
		summary:      "print resource usage and OOM events of a container as JSON lines",
		interspersed: true,
		setup: func(fs *flag.FlagSet) func(*global, []string) error {
			interval := fs.Duration("interval", 5*time.Second, "how often to print stats")
			stats := fs.Bool("stats", false, "print the stats once and exit")
			return func(g *global, args []string) error {
				if err := exactArgs(args, 1, "container id"); err != nil {
					return err
				}
				r, err := g.runtime()
				if err != nil {
					return err
				}
				return r.Events(args[0], *interval, *stats, os.Stdout)
			}
		},
	})
}
