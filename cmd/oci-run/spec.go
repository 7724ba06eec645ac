package main

import (
	"encoding/json"
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
			rootless := fs.Bool("rootless", false, "a configuration for a rootless container: the caller's uid and gid as root in a new user namespace, no network namespace, no cgroup resources")
			return func(g *global, args []string) error {
				if err := exactArgs(args, 0, "options"); err != nil {
					return err
				}
				path := filepath.Join(*bundle, "config.json")
				if _, err := os.Lstat(path); err == nil {
					return fmt.Errorf("file %s exists: remove it first", path)
				}
				s := specgen.Default()
				if *rootless {
					specgen.Rootless(s, uint32(os.Geteuid()), uint32(os.Getegid()))
				}
				b, err := json.MarshalIndent(s, "", "\t")
				if err != nil {
					return err
				}
				return os.WriteFile(path, append(b, '\n'), 0o666)
			}
		},
	})
}
