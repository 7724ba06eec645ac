package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/oci-run/oci-run/pkg/lifecycle"
)

func init() {
	register("ps", command{
		usage:   "[options] CONTAINER-ID [ps options]",
		summary: "list the processes of a container (ps -ef rows, or pids as JSON)",
		setup: func(fs *flag.FlagSet) func(*global, []string) error {
			format := fs.String("format", "table", "table or json")
			fs.StringVar(format, "f", "table", "short for --format")
			return func(g *global, args []string) error {
				if len(args) < 1 {
					return exactArgs(args, 1, "container id")
				}
				if *format != "table" && *format != "json" {
					return fmt.Errorf("invalid --format %q: must be table or json", *format)
				}
				r, err := g.runtime()
				if err != nil {
					return err
				}
				pids, err := r.Pids(args[0])
				if err != nil {
					return err
				}
				if *format == "json" {
					if len(args) > 1 {
						return fmt.Errorf("ps options %q cannot be used with --format json", args[1:])
					}
					return json.NewEncoder(os.Stdout).Encode(pids)
				}
				return lifecycle.PsTable(os.Stdout, pids, args[1:])
			}
		},
	})
}
