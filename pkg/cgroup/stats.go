package cgroup

import (
	"github.com/oci-run/oci-run/pkg/cgroup/usage"
)

// Event is one line of `events` output, the shape runc prints and
// containerd/Docker parse: {"type":"stats"|"oom","id":ID,"data":...}.
type Event struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Data any    `json:"data,omitempty"`
}

// Stats reads the container's resource usage (package usage): from the
// v1 hierarchies on v1 and hybrid hosts, where the limits are, from the
// cgroup2 directory on v2 hosts.
func (c *Cgroup) Stats() (*usage.Stats, error) {
	if c.Paths.V2() {
		return usage.ReadV2(c.Paths.Dir(Unified))
	}
	return usage.ReadV1(c.Paths.Dirs)
}
