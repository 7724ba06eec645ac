module github.com/oci-run/oci-run

go 1.26.0

// The Go runtime sizes GOMAXPROCS from the cgroup CPU limit (Go 1.25):
// every stage would read the cgroup files at start and keep descriptors
// to them open, which the container's init would then hold until it
// execs the user program (a host descriptor in the container, invariant
// 1). The stages live for milliseconds and need no such tuning.
// decoratemappings (Go 1.25) names every anonymous mapping the runtime
// makes with prctl(PR_SET_VMA): a system call per mapping, for names
// nobody reads (on kernels without CONFIG_ANON_VMA_NAME, one failed call
// per process).
godebug (
	containermaxprocs=0
	updatemaxprocs=0
	decoratemappings=0
)

require (
	github.com/cyphar/filepath-securejoin v0.7.0
	github.com/moby/sys/mountinfo v0.7.2
	github.com/moby/sys/user v0.5.0
	github.com/opencontainers/cgroups v0.1.0
	github.com/opencontainers/runtime-spec v1.3.0
	github.com/seccomp/libseccomp-golang v0.11.1
	github.com/sirupsen/logrus v1.9.3
	golang.org/x/sys v0.50.0
)

require (
	cyphar.com/go-pathrs v0.2.5 // indirect
	github.com/cilium/ebpf v0.17.3 // indirect
	github.com/coreos/go-systemd/v22 v22.6.0 // indirect
	github.com/godbus/dbus/v5 v5.1.0 // indirect
	github.com/moby/sys/userns v0.1.0 // indirect
)
