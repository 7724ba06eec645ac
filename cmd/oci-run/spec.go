package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/oci-run/oci-run/pkg/specgen"
)

func init() {
	register("spec", command{
		usage:        "[options]",
		summary:      "write a default config.json (like runc spec)",
		interspersed: true,
		setup: func(fs *flag.FlagSet) func(*global, []string) error {
			bundle := fs.String("bundle", "", "write config.json in this directory (default: current directory)")
			fs.StringVar(bundle, "b", "", "short for --bundle")
			rootless := fs.Bool("rootless", false, "a configuration for a rootless container (not supported yet)")
			return func(g *global, args []string) error {
				if err := exactArgs(args, 0, "options"); err != nil {
					return err
				}
				if *rootless {
					return errors.New("spec --rootless: rootless containers are not supported yet")
				}
				path := filepath.Join(*bundle, "config.json")
				if _, err := os.Lstat(path); err == nil {
					return fmt.Errorf("file %s exists: remove it first", path)
				}
				b, err := json.MarshalIndent(specgen.Default(), "", "\t")
				if err != nil {
					return err
				}
				return os.WriteFile(path, append(b, '\n'), 0o666)
			}
		},
	})
}
