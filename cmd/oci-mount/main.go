// Command oci-mount prepares the container's filesystem from the spec
// (root, mounts, devices, masked and read-only paths, sysctl), enters it
// with pivot_root, and execs the rest of the pipeline.
package main

import (
	"flag"
	"runtime"

	"github.com/oci-run/oci-run/pkg/process"
	"github.com/oci-run/oci-run/pkg/rootfs"
	"github.com/oci-run/oci-run/pkg/stage"
)

// When oci-exec comes next it runs in this process (Continues), and its
// credentials, capabilities and seccomp filter are per thread: stay on
// the main thread from the start, as oci-exec does.
func init() { runtime.LockOSThread() }

func main() {
	var o rootfs.Options
	stage.Main(stage.Def{
		Name:     "oci-mount",
		Synopsis: "oci-mount [--spec-fd N] [--bundle DIR] [--no-pivot] -- NEXT...",
		Usage: `
Prepare the container's root filesystem as config.json says (root, mounts,
linux.rootfsPropagation, linux.devices, linux.maskedPaths,
linux.readonlyPaths, linux.sysctl, linux.mountLabel), make it the root
with pivot_root (chroot with --no-pivot), and exec NEXT inside it. Every
path inside the rootfs is resolved inside it, symlinks included.

With a "mount" entry in linux.namespaces it must run in that new mount
namespace (it refuses the host's), as pid 1 of the container's pid
namespace in a chain. Standalone, unshare(1) provides the namespaces;
NEXT is then looked up inside the rootfs:

  unshare -m -p -f oci-mount --bundle mybundle 3<mybundle/config.json -- /bin/sh

Without a "mount" entry (the caller's mount namespace), or with one joined
by path (run after oci-unshare or nsenter -m), nothing outside the rootfs
changes: the rootfs is bound onto itself, everything is mounted below it,
and it is entered with chroot (--no-pivot does not apply). oci-run delete
removes those mounts; run alone, they stay until unmounted (umount -R).

A stage named in NEXT (oci-seccomp, oci-exec) is exec'd from a sealed copy
made before the pivot (or handed down in OCI_STAGE_FDS). When NEXT is
oci-exec, oci-mount runs oci-exec's work itself, in this process, with
the same options and the same result (errors still start "oci-exec:"),
unless a descriptor an exec would close is still open.`,
		Flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&o.NoPivot, "no-pivot", false, "enter the rootfs with MS_MOVE and chroot instead of pivot_root (for a rootfs on initramfs)")
		},
		Run:       func(s *stage.Stage) error { return rootfs.Run(s, o) },
		Continues: []stage.Def{process.Def()},
	})
}
