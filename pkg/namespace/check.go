package namespace

import (
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-run/oci-run/pkg/spec"
)

// Check verifies against the running host what pkg/spec.Validate cannot
// know from the configuration alone: that each namespace path names a
// namespace of the entry's type, that the kernel has the namespace types
// asked for, that hostname and domainname are not about to be set in the
// runtime's own UTS namespace, and that a caller without privileges maps
// only its own ids. It creates and changes nothing, so oci-run can call it
// before it creates anything; oci-unshare calls it again right before it
// acts. The result is nil or a spec.Errors listing every problem.
func Check(s *specs.Spec) error {
	var errs spec.Errors
	add := func(field, format string, args ...any) {
		errs = append(errs, &spec.FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if s.Linux == nil {
		return nil
	}
	// Moving host network devices in is not done (features.json says
	// so): refused rather than a container started without them.
	if len(s.Linux.NetDevices) > 0 {
		add("linux.netDevices", "moving network devices into the container is not supported by oci-run")
	}
	for i, ns := range s.Linux.Namespaces {
		field := fmt.Sprintf("linux.namespaces[%d]", i)
		k, ok := KindOf(ns.Type)
		if !ok {
			continue // pkg/spec.Validate reports it
		}
		if ns.Path == "" {
			if _, err := os.Stat("/proc/self/ns/" + k.Proc); err != nil {
				add(field+".type", "this kernel has no %s namespaces", k.Type)
			}
			continue
		}
		f, err := Open(ns.Path, k)
		if err != nil {
			add(field+".path", "%v", err)
			continue
		}
		if k.Type == specs.UTSNamespace && (s.Hostname != "" || s.Domainname != "") {
			if same, _ := sameAsRuntime(f, k); same {
				name := "hostname"
				if s.Hostname == "" {
					name = "domainname"
				}
				add(name, "cannot be set: %s.path %q is the runtime's own uts namespace", field, ns.Path)
			}
		}
		f.Close()
	}
	if _, hasUser := spec.HasNamespace(s, specs.UserNamespace); hasUser && os.Geteuid() != 0 {
		checkUnprivilegedMapping(add, "linux.uidMappings", s.Linux.UIDMappings, os.Geteuid())
		checkUnprivilegedMapping(add, "linux.gidMappings", s.Linux.GIDMappings, os.Getegid())
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// sameAsRuntime reports whether the namespace f refers to is the calling
// process's own.
func sameAsRuntime(f *os.File, k Kind) (bool, error) {
	mine, err := IDOf("/proc/self/ns/" + k.Proc)
	if err != nil {
		return false, err
	}
	theirs, err := IDOfFD(int(f.Fd()))
	if err != nil {
		return false, err
	}
	return mine == theirs, nil
}

// checkUnprivilegedMapping applies the kernel's rule for a writer without
// CAP_SETUID/CAP_SETGID over the parent namespace (user_namespaces(7)): one
// line that maps the writer's own id, count 1 (as `unshare --map-root-user`).
func checkUnprivilegedMapping(add func(string, string, ...any), field string, m []specs.LinuxIDMapping, own int) {
	if len(m) == 0 {
		return
	}
	if len(m) > 1 || m[0].Size != 1 || int(m[0].HostID) != own {
		add(field, "without root privileges only one mapping of your own id (%d, size 1) is allowed", own)
	}
}
