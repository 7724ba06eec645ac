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
		Synopsis: "oci-unshare [--spec-fd N] [--bundle DIR] [--detach] [--root-of PID[:START]] -- NEXT...",
		Usage: `
Start NEXT as the first process of the namespaces in linux.namespaces of the
configuration: each one new (no path) or joined (path), with
linux.uidMappings/gidMappings for a new user namespace, linux.timeOffsets
for a new time namespace, hostname and domainname. With a new pid namespace
NEXT is its pid 1. The stages named in NEXT are sealed first (a read-only
overlay, else a sealed memfd copy) and run from there. The host pid of NEXT
is sent on the sync socket (OCI_SYNC_FD) when there is one. Like unshare --fork, oci-unshare then waits for NEXT, forwards
the signals it gets to it, and exits with its status (128+N when signal N
killed it); with --detach it exits as soon as NEXT is started.

With --root-of PID, NEXT starts in the root directory of process PID, as
with nsenter --root (its cwd is that root): after the mount namespace is
joined (which sets the namespace's root) or in the caller's, for a
container entered by chroot rather than pivot_root (oci-run exec does this
for containers whose mount namespace is not their own). The root is opened
before anything is joined; with PID:START, PID must be the process that
started at START (field 22 of /proc/PID/stat) once every /proc/PID path of
the configuration is open.

Example:
  oci-unshare 3<config.json -- readlink /proc/self/ns/net`,
		Flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&o.Detach, "detach", false, "exit once NEXT is started, instead of waiting for it")
			fs.Func("root-of", "start NEXT in the root directory of process PID (PID or PID:START, START its start time)", func(v string) error {
				r, err := unshare.ParseRootOf(v)
				o.RootOf = r
				return err
			})
		},
		Run: func(s *stage.Stage) error { return unshare.Run(s, o) },
	})
}
