package main

import (
	"fmt"
	"io"
	"runtime"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-run/oci-run/pkg/version"
)

// printVersion prints runc's `--version` shape, which clients parse.
func printVersion(w io.Writer) {
	fmt.Fprintf(w, "oci-run version %s\ncommit: %s\nspec: %s\ngo: %s\n", version.Version, version.Commit, specs.Version, runtime.Version())
}
