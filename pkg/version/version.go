// Package version carries the build's version and commit, set by the
// Makefile through -ldflags.
package version

// Set with -ldflags "-X github.com/oci-run/oci-run/pkg/version.Version=...".
var (
	Version = "0.1.0-dev"
	Commit  = "unknown"
)
