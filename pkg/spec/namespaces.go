package spec

import (
	"fmt"
	"sort"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// hostNameMax is HOST_NAME_MAX, the longest hostname or domainname the
// kernel accepts.
const hostNameMax = 64

// maxIDMapLines is the kernel's limit on the lines of uid_map and gid_map
// (since Linux 4.15).
const maxIDMapLines = 340

// validateNamespaces checks the rules on hostname, domainname, the user
// namespace's mappings and the time namespace's offsets that the
// configuration alone decides. seen maps each listed namespace type to its
// index in linux.namespaces. Whether a path is a namespace of the right
// type, and whether a joined uts namespace is the runtime's own, depend on
// the host: pkg/namespace.Check.
func validateNamespaces(c *checker, s *specs.Spec, seen map[specs.LinuxNamespaceType]int) {
	mode := func(t specs.LinuxNamespaceType) (listed, isNew bool, field string) {
		i, ok := seen[t]
		if !ok {
			return false, false, ""
		}
		return true, s.Linux.Namespaces[i].Path == "", fmt.Sprintf("linux.namespaces[%d]", i)
	}

	// As runc: a hostname needs a uts namespace of the container, new or
	// joined (Kubernetes sets the pod's hostname in containers that join
	// the pod's uts namespace).
	hasUTS, _, _ := mode(specs.UTSNamespace)
	for _, f := range []struct{ name, value string }{{"hostname", s.Hostname}, {"domainname", s.Domainname}} {
		if f.value == "" {
			continue
		}
		if !hasUTS {
			c.add(f.name, "cannot be set without a uts namespace in linux.namespaces (it would change the host's)")
		}
		if len(f.value) > hostNameMax {
			c.add(f.name, "is %d bytes long, the kernel allows %d", len(f.value), hostNameMax)
		}
	}
	if s.Linux == nil {
		return
	}
	l := s.Linux

	hasUser, newUser, userField := mode(specs.UserNamespace)
	if !hasUser {
		if len(l.UIDMappings) > 0 {
			c.add("linux.uidMappings", "set without a user namespace in linux.namespaces")
		}
		if len(l.GIDMappings) > 0 {
			c.add("linux.gidMappings", "set without a user namespace in linux.namespaces")
		}
	}
	validateIDMappings(c, "linux.uidMappings", "uid", l.UIDMappings)
	validateIDMappings(c, "linux.gidMappings", "gid", l.GIDMappings)
	if newUser {
		// The container's first process becomes root of the new user
		// namespace (without it, it would lose its capabilities at exec).
		for _, m := range []struct {
			field, what string
			list        []specs.LinuxIDMapping
		}{{"linux.uidMappings", "uid", l.UIDMappings}, {"linux.gidMappings", "gid", l.GIDMappings}} {
			if len(m.list) == 0 {
				c.add(m.field, "must be set with a new user namespace (%s)", userField)
			} else if !mapsID(m.list, 0) {
				c.add(m.field, "does not map the container's root (%s 0)", m.what)
			}
		}
		if hasMnt, newMnt, mntField := mode(specs.MountNamespace); hasMnt && !newMnt {
			c.add(mntField+".path", "a mount namespace cannot be joined from a new user namespace (%s): it is owned by another user namespace", userField)
		}
	}

	if len(l.TimeOffsets) > 0 {
		hasTime, newTime, timeField := mode(specs.TimeNamespace)
		switch {
		case !hasTime:
			c.add("linux.timeOffsets", "set without a time namespace in linux.namespaces")
		case !newTime:
			c.add("linux.timeOffsets", "cannot be set for a joined time namespace (%s.path)", timeField)
		}
		clocks := make([]string, 0, len(l.TimeOffsets))
		for clock := range l.TimeOffsets {
			clocks = append(clocks, clock)
		}
		sort.Strings(clocks)
		for _, clock := range clocks {
			f := "linux.timeOffsets." + clock
			if clock != "monotonic" && clock != "boottime" {
				c.add(f, "unknown clock %q (a time namespace offsets monotonic and boottime)", clock)
			}
			if ns := l.TimeOffsets[clock].Nanosecs; ns >= 1e9 {
				c.add(f+".nanosecs", "%d is not below one second", ns)
			}
		}
	}
}

// validateIDMappings applies the kernel's rules for uid_map and gid_map
// (user_namespaces(7)): at most 340 lines, no empty range, no range past
// 4294967294 on either side, no two ranges overlapping on either side.
func validateIDMappings(c *checker, field, what string, m []specs.LinuxIDMapping) {
	if len(m) > maxIDMapLines {
		c.add(field, "has %d ranges, the kernel allows %d", len(m), maxIDMapLines)
	}
	for i, x := range m {
		f := fmt.Sprintf("%s[%d]", field, i)
		if x.Size == 0 {
			c.add(f+".size", "must not be 0")
			continue
		}
		if uint64(x.ContainerID)+uint64(x.Size) > 1<<32-1 {
			c.add(f, "container %ss %d..%d go past %d", what, x.ContainerID, uint64(x.ContainerID)+uint64(x.Size)-1, uint32(1<<32-2))
		}
		if uint64(x.HostID)+uint64(x.Size) > 1<<32-1 {
			c.add(f, "host %ss %d..%d go past %d", what, x.HostID, uint64(x.HostID)+uint64(x.Size)-1, uint32(1<<32-2))
		}
		for j := 0; j < i; j++ {
			y := m[j]
			if y.Size == 0 {
				continue
			}
			if overlap(x.ContainerID, x.Size, y.ContainerID, y.Size) {
				c.add(f, "container %ss %d..%d overlap %s[%d]", what, x.ContainerID, uint64(x.ContainerID)+uint64(x.Size)-1, field, j)
			}
			if overlap(x.HostID, x.Size, y.HostID, y.Size) {
				c.add(f, "host %ss %d..%d overlap %s[%d]", what, x.HostID, uint64(x.HostID)+uint64(x.Size)-1, field, j)
			}
		}
	}
}

func overlap(a, na, b, nb uint32) bool {
	return uint64(a) < uint64(b)+uint64(nb) && uint64(b) < uint64(a)+uint64(na)
}

func mapsID(m []specs.LinuxIDMapping, id uint32) bool {
	for _, x := range m {
		if id >= x.ContainerID && uint64(id) < uint64(x.ContainerID)+uint64(x.Size) {
			return true
		}
	}
	return false
}
