module github.com/oci-run/oci-run

go 1.26.0

require (
	github.com/cyphar/filepath-securejoin v0.7.0
	github.com/moby/sys/mountinfo v0.7.2
	github.com/opencontainers/runtime-spec v1.3.0
	golang.org/x/sys v0.50.0
)

require cyphar.com/go-pathrs v0.2.5 // indirect
