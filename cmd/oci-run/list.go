package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/oci-run/oci-run/pkg/state"
)

func init() {
	register("list", command{
		usage:        "[options]",
		summary:      "list the containers of --root",
		interspersed: true,
		setup: func(fs *flag.FlagSet) func(*global, []string) error {
			format := fs.String("format", "table", "table or json")
			fs.StringVar(format, "f", "table", "short for --format")
			quiet := fs.Bool("quiet", false, "print only the ids")
			fs.BoolVar(quiet, "q", false, "short for --quiet")
			return func(g *global, args []string) error {
				if err := exactArgs(args, 0, "options"); err != nil {
					return err
				}
				if *format != "table" && *format != "json" {
					return fmt.Errorf("invalid --format %q: must be table or json", *format)
				}
				r, err := g.runtime()
				if err != nil {
					return err
				}
				list, err := r.List()
				if err != nil {
					return err
				}
				return printList(list, *format, *quiet)
			}
		},
	})
}

func printList(list []state.Spec, format string, quiet bool) error {
	if quiet {
		for _, c := range list {
			fmt.Println(c.ID)
		}
		return nil
	}
	if format == "json" {
		if list == nil {
			list = []state.Spec{}
		}
		return json.NewEncoder(os.Stdout).Encode(list)
	}
	w := tabwriter.NewWriter(os.Stdout, 12, 1, 3, ' ', 0)
	fmt.Fprint(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER\n")
	for _, c := range list {
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", c.ID, c.Pid, c.Status, c.Bundle, c.Created.Format(time.RFC3339Nano), c.Owner)
	}
	return w.Flush()
}
