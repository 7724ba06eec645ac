// Package features describes what oci-run supports in the shape of
// runtime-spec's features.json (`oci-run features`), which engines read to
// decide what they may ask for (containerd and Docker look at the mount
// options, e.g. "rro", and at idmapped mounts).
package features

import (
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"

	"github.com/oci-run/oci-run/pkg/capability"
	"github.com/oci-run/oci-run/pkg/hooks"
	"github.com/oci-run/oci-run/pkg/mountopt"
	"github.com/oci-run/oci-run/pkg/namespace"
	"github.com/oci-run/oci-run/pkg/process"
)

// Annotation keys of the features document.
const (
	AnnotationVersion    = "org.oci-run.version"
	AnnotationCommit     = "org.oci-run.commit"
	AnnotationLibseccomp = "io.github.seccomp.libseccomp.version"
)

// Build returns the features document. seccomp is oci-seccomp's part (nil
// when oci-seccomp could not be asked: seccomp is then reported disabled);
// annotations are added as given.
func Build(seccomp *features.Seccomp, annotations map[string]string) features.Features {
	yes, no := true, false
	f := features.Features{
		OCIVersionMin: "1.0.0",
		OCIVersionMax: specs.Version,
		Hooks: []string{hooks.Prestart, hooks.CreateRuntime, hooks.CreateContainer,
			hooks.StartContainer, hooks.Poststart, hooks.Poststop},
		MountOptions: mountopt.Names(),
		Annotations:  annotations,
		Linux: &features.Linux{
			Capabilities: capability.All(),
			Cgroup:       &features.Cgroup{V1: &yes, V2: &yes, Systemd: &yes, SystemdUser: &no, Rdma: &yes},
			// Support built in, whether or not this host runs the module
			// (a profile or label is refused at create when it does not).
			Apparmor:        &features.Apparmor{Enabled: &yes},
			Selinux:         &features.Selinux{Enabled: &yes},
			IntelRdt:        &features.IntelRdt{Enabled: &no},
			MountExtensions: &features.MountExtensions{IDMap: &features.IDMap{Enabled: &yes}},
			NetDevices:      &features.NetDevices{Enabled: &no},
		},
	}
	for _, k := range namespace.Kinds {
		// Only the types this kernel has.
		if _, err := os.Stat("/proc/self/ns/" + k.Proc); err == nil {
			f.Linux.Namespaces = append(f.Linux.Namespaces, string(k.Type))
		}
	}
	modes, flags := process.MemoryPolicyNames()
	f.Linux.MemoryPolicy = &features.MemoryPolicy{Modes: modes, Flags: flags}
	if seccomp != nil {
		f.Linux.Seccomp = seccomp
	} else {
		f.Linux.Seccomp = &features.Seccomp{Enabled: &no}
	}
	return f
}
