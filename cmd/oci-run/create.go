package main

import (
	"flag"

	"github.com/oci-run/oci-run/pkg/lifecycle"
)

func init() {
	register("create", command{
		usage:        "[options] CONTAINER-ID",
		summary:      "create a container, leaving its process waiting for start",
		interspersed: true,
		setup: func(fs *flag.FlagSet) func(*global, []string) error {
			o := createFlags(fs)
			return withID(func(_ *global, r *lifecycle.Runtime, id string) error {
				o.ID = id
				return r.Create(*o)
			})
		},
	})
}

// createFlags registers the options create and run share.
func createFlags(fs *flag.FlagSet) *lifecycle.CreateOptions {
	o := &lifecycle.CreateOptions{}
	fs.StringVar(&o.Bundle, "bundle", ".", "path to the bundle directory")
	fs.StringVar(&o.Bundle, "b", ".", "short for --bundle")
	fs.StringVar(&o.PidFile, "pid-file", "", "write the container's init pid to this file")
	fs.StringVar(&o.ConsoleSocket, "console-socket", "", "unix socket to send the pty master to (process.terminal)")
	fs.BoolVar(&o.NoPivot, "no-pivot", false, "use chroot instead of pivot_root (for a rootfs on ramfs)")
	fs.BoolVar(&o.NoNewKeyring, "no-new-keyring", false, "do not give the container a new session keyring")
	fs.IntVar(&o.PreserveFDs, "preserve-fds", 0, "pass this many extra descriptors (3, 4, ...) to the container")
	return o
}
