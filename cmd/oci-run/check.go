package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/oci-run/oci-run/pkg/lifecycle"
)

func init() {
	register("check", command{
		usage:        "[options] [CONTAINER-ID]",
		summary:      "check a bundle against the runtime-spec and this host, creating nothing",
		interspersed: true,
		setup: func(fs *flag.FlagSet) func(*global, []string) error {
			o := lifecycle.CheckOptions{}
			co := createFlags(fs)
			fs.BoolVar(&o.Strict, "strict", false, "count fields the runtime-spec does not define as errors")
			return func(g *global, args []string) error {
				if len(args) > 1 {
					return fmt.Errorf("unexpected arguments %q after the container id", args[1:])
				}
				r, err := g.runtime()
				if err != nil {
					return err
				}
				o.CreateOptions = *co
				if len(args) == 1 {
					o.ID = args[0]
				}
				res, features := r.Check(o)
				for _, f := range features {
					if f.Missing != "" {
						fmt.Fprintf(os.Stdout, "# %s: %s (%s)\n", f.Name, f.Value, f.Missing)
						continue
					}
					fmt.Fprintf(os.Stdout, "# %s: %s\n", f.Name, f.Value)
				}
				for _, e := range res.Errors {
					fmt.Fprintf(os.Stdout, "error: %v\n", e)
				}
				for _, w := range res.Warnings {
					fmt.Fprintf(os.Stdout, "warning: %s\n", w)
				}
				if n := len(res.Errors); n > 0 {
					return fmt.Errorf("check: %d problem(s) in bundle %s", n, co.Bundle)
				}
				fmt.Fprintf(os.Stdout, "ok: bundle %s can be created on this host\n", co.Bundle)
				return nil
			}
		},
	})
	register("explain", command{
		usage:        "[options] CONTAINER-ID",
		summary:      "print the stage chain create would run, as shell command lines, creating nothing",
		interspersed: true,
		setup: func(fs *flag.FlagSet) func(*global, []string) error {
			co := createFlags(fs)
			return withID(func(_ *global, r *lifecycle.Runtime, id string) error {
				co.ID = id
				return r.Explain(*co, os.Stdout)
			})
		},
	})
}
