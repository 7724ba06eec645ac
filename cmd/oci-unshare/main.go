// Command oci-unshare runs the next program of an oci-run chain in the
// container's namespaces: new or joined by path, with the user namespace's
// id mappings, the time namespace's offsets, hostname and domainname.
package main

import (
	"flag"

	"github.com/oci-run/oci-run/pkg/stage"
	"github.com/oci-run/oci-run/pkg/unshare"
)

func main() {
	var o unshare.Options
	stage.Main(stage.Def{
		Name:     "oci-unshare",
		Synopsis: "oci-unshare [--spec-fd N] [--bundle DIR] [--detach] -- NEXT...",
		Usage: `
Start NEXT as the first process of the namespaces in linux.namespaces of the
configuration: each one new (no path) or joined (path), with
linux.uidMappings/gidMappings for a new user namespace, linux.timeOffsets
for a new time namespace, hostname and domainname. With a new pid namespace
NEXT is its pid 1. The stages named in NEXT are sealed (memfd) first and run
from there. The host pid of NEXT is sent on the sync socket (OCI_SYNC_FD) when
there is one. Like unshare --fork, oci-unshare then waits for NEXT, forwards
the signals it gets to it, and exits with its status (128+N when signal N
killed it); with --detach it exits as soon as NEXT is started.

Example:
  oci-unshare 3<config.json -- readlink /proc/self/ns/net`,
		Flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&o.Detach, "detach", false, "exit once NEXT is started, instead of waiting for it")
		},
		Run: func(s *stage.Stage) error { return unshare.Run(s, o) },
	})
}
