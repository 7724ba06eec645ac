package main

import (
	"flag"
	"os"
	"time"

	"github.com/oci-run/oci-run/pkg/lifecycle"
)

func init() {
	register("events", command{
		usage:        "[options] CONTAINER-ID",
		summary:      "print resource usage and OOM events of a container as JSON lines",
		interspersed: true,
		setup: func(fs *flag.FlagSet) func(*global, []string) error {
			interval := fs.Duration("interval", 5*time.Second, "how often to print stats")
			stats := fs.Bool("stats", false, "print the stats once and exit")
			return withID(func(_ *global, r *lifecycle.Runtime, id string) error {
				return r.Events(id, *interval, *stats, os.Stdout)
			})
		},
	})
}
