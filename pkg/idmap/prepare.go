package idmap

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-run/oci-run/pkg/mountopt"
	"github.com/oci-run/oci-run/pkg/spec"
)

// Want is one idmapped mount of a spec, resolved as oci-mount resolves it.
type Want struct {
	// Index in mounts[].
	Index int
	// Source is the absolute host path (relative ones against the bundle).
	Source string
	// Recursive: rbind or ridmap (the submounts come along); RIDMap: they
	// are idmapped too.
	Recursive, RIDMap bool
	// UIDMappings/GIDMappings are the mount's own, or the container's
	// when the mount lists none.
	UIDMappings, GIDMappings []specs.LinuxIDMapping
}

// Wanted lists the idmapped bind mounts of s. Its errors name the field,
// as oci-mount's plan (rootfs.Build) would.
func Wanted(s *specs.Spec, bundle string) ([]Want, error) {
	var out []Want
	for i, m := range s.Mounts {
		opts, err := mountopt.Parse(m.Type, m.Options)
		if err != nil {
			return nil, fmt.Errorf("mounts[%d].%w", i, err)
		}
		if !opts.IDMap && !opts.RIDMap || !opts.Bind || opts.Remount {
			continue
		}
		if m.Source == "" {
			return nil, fmt.Errorf("mounts[%d].source: a bind mount needs a source", i)
		}
		w := Want{Index: i, Source: spec.Resolve(bundle, m.Source), Recursive: opts.Recursive, RIDMap: opts.RIDMap,
			UIDMappings: m.UIDMappings, GIDMappings: m.GIDMappings}
		if len(w.UIDMappings) == 0 && len(w.GIDMappings) == 0 && s.Linux != nil {
			w.UIDMappings, w.GIDMappings = s.Linux.UIDMappings, s.Linux.GIDMappings
		}
		if len(w.UIDMappings) == 0 || len(w.GIDMappings) == 0 {
			return nil, fmt.Errorf("mounts[%d]: an idmapped mount needs uidMappings and gidMappings (on the mount, or linux.uidMappings/gidMappings of a user namespace)", i)
		}
		out = append(out, w)
	}
	return out, nil
}

// Trees are prepared idmapped trees, for OCI_MOUNT_FDS.
type Trees struct {
	// Files[i] is the tree of mounts[Index[i]]; close-on-exec.
	Files []*os.File
	Index []int
}

// Prepare makes the detached idmapped tree of every idmap/ridmap mount of
// s, on the caller's side: the host's, before the container's first
// process is cloned, since a process in the container's user namespace
// has no privilege to do it (see the package comment). Mounts with the
// same mappings share one user namespace. On error nothing stays open.
func Prepare(s *specs.Spec, bundle string) (_ *Trees, err error) {
	wants, err := Wanted(s, bundle)
	if err != nil || len(wants) == 0 {
		return nil, err
	}
	t := &Trees{}
	userns := map[string]*os.File{}
	defer func() {
		for _, f := range userns {
			f.Close()
		}
		if err != nil {
			t.Close()
		}
	}()
	for _, w := range wants {
		key := format(w.UIDMappings) + "/" + format(w.GIDMappings)
		ns, ok := userns[key]
		if !ok {
			if ns, err = UsernsFD(w.UIDMappings, w.GIDMappings); err != nil {
				return nil, fmt.Errorf("mounts[%d].uidMappings: %w", w.Index, err)
			}
			userns[key] = ns
		}
		f, err := tree(w.Source, w.Recursive, w.RIDMap, ns)
		if err != nil {
			return nil, fmt.Errorf("mounts[%d].source: %w", w.Index, err)
		}
		t.Files = append(t.Files, f)
		t.Index = append(t.Index, w.Index)
	}
	return t, nil
}

// Env is the OCI_MOUNT_FDS value for the trees at descriptors fds (in
// the order of Files); nil fds: at their own numbers.
func (t *Trees) Env(fds []int) string {
	if t == nil {
		return ""
	}
	parts := make([]string, len(t.Files))
	for i, f := range t.Files {
		fd := int(f.Fd())
		if fds != nil {
			fd = fds[i]
		}
		parts[i] = strconv.Itoa(t.Index[i]) + "=" + strconv.Itoa(fd)
	}
	return strings.Join(parts, ",")
}

// Close closes every tree.
func (t *Trees) Close() {
	if t == nil {
		return
	}
	for _, f := range t.Files {
		f.Close()
	}
	t.Files, t.Index = nil, nil
}
