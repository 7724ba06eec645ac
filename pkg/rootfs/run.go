package rootfs

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/pkg/idmap"
	"github.com/oci-run/oci-run/pkg/stage"
	"github.com/oci-run/oci-run/pkg/trace"
)

// Run is oci-mount: plan, check, prepare the rootfs, enter it, and exec
// the rest of the pipeline from sealed descriptors.
func Run(s *stage.Stage, o Options) error {
	if err := s.JoinCgroup(); err != nil {
		return err
	}
	p, err := Build(s.Spec, s.Bundle, o)
	if err != nil {
		return err
	}
	trace.Point("plan")
	if p.Empty() {
		idmap.CloseHanded()
		return s.ExecNext()
	}
	// A joined namespace is trusted to be the one oci-unshare entered
	// (its path names it in the namespace oci-unshare ran in, not
	// necessarily in this one, so it cannot be checked from here). oci-run
	// exec does not run oci-mount: a joined namespace here is one a new
	// container was configured to join, and the rootfs is prepared in it.
	if p.MountNS == NSNew {
		if err := CheckMountNamespace(); err != nil {
			return err
		}
	}
	if err := sealStages(s.NextStages()); err != nil {
		return err
	}
	trace.Point("seal")
	err = Apply(p, hookPoint(s))
	idmap.CloseHanded()
	if err != nil {
		return err
	}
	return s.ExecNext()
}

// initMntNSInode is the inode of the initial mount namespace on kernels
// that give initial namespaces fixed inode numbers (MNT_NS_INIT_INO).
const initMntNSInode = 0xEFFFFFF8

// CheckMountNamespace refuses to run in the host's mount namespace when
// the spec asks for a new one: the stage before (oci-unshare, unshare -m)
// did not create it, and the pivot_root would change the host's root.
func CheckMountNamespace() error {
	var self unix.Stat_t
	if err := unix.Stat("/proc/self/ns/mnt", &self); err != nil {
		return fmt.Errorf("mount namespace: %w", err)
	}
	host := uint64(initMntNSInode)
	var init unix.Stat_t
	// /proc/1 is the host's init unless /proc is already a procfs of the
	// container's pid namespace, where pid 1 is this process.
	if me, err := os.Readlink("/proc/self"); err == nil && me != "1" {
		if err := unix.Stat("/proc/1/ns/mnt", &init); err == nil {
			host = init.Ino
		}
	}
	if self.Ino == host {
		return errors.New("refusing to prepare the rootfs in the host's mount namespace: linux.namespaces asks for a new one, which oci-unshare creates (standalone: unshare -m -p -f oci-mount ...); without a \"mount\" entry the rootfs is prepared in the caller's namespace and entered with chroot")
	}
	return nil
}

var keep []*os.File

// sealStages makes sure every stage still to come can be exec'd after
// the pivot, when host paths are out of reach: a stage oci-run (or
// oci-unshare) did not hand down in OCI_STAGE_FDS is sealed here, from the
// host path, before the rootfs is entered.
func sealStages(names []string) error {
	v, files, err := stage.SealStages(names, os.Environ())
	if err != nil || v == "" {
		return err
	}
	keep = append(keep, files...) // an unreferenced *os.File would be closed by its finalizer
	return os.Setenv(stage.EnvStageFDs, v)
}
