package lifecycle

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-run/oci-run/pkg/idmap"
	"github.com/oci-run/oci-run/pkg/namespace"
	"github.com/oci-run/oci-run/pkg/unshare"
)

// idmappedTrees makes the idmapped trees of s on the host side when the
// container's first process cannot (unshare.PreparesIDMapped): the same
// rule as oci-unshare's parent. nil when there is nothing to prepare.
// (Today launch never has a user namespace, see inProcess; the call keeps
// both host sides alike.)
func idmappedTrees(s *specs.Spec, bundle string) (*idmap.Trees, error) {
	if !unshare.PreparesIDMapped(namespace.NewPlan(s)) {
		return nil, nil
	}
	return idmap.Prepare(s, bundle)
}

// handTrees places the trees among the child's descriptors fds (fds[i]
// becomes its descriptor i) and names them in OCI_MOUNT_FDS; oci-mount
// closes them.
func handTrees(t *idmap.Trees, fds []uintptr, env []string) ([]uintptr, []string) {
	if t == nil || len(t.Files) == 0 {
		return fds, env
	}
	nums := make([]int, len(t.Files))
	for i, f := range t.Files {
		nums[i] = len(fds)
		fds = append(fds, f.Fd())
	}
	return fds, append(env, idmap.EnvMountFDs+"="+t.Env(nums))
}
