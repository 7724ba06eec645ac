package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-run/oci-run/pkg/lifecycle"
	"github.com/oci-run/oci-run/pkg/version"
)

// printVersion prints runc's `--version` shape, which clients parse
// (dockerd takes the runtime name and version from the line with
// "version" and the commit from "commit:").
func printVersion(w io.Writer, stageDir string) {
	fmt.Fprintf(w, "oci-run version %s\ncommit: %s\nspec: %s\ngo: %s\n", version.Version, version.Commit, specs.Version, runtime.Version())
	if v := libseccompVersion(stageDir); v != "" {
		fmt.Fprintf(w, "libseccomp: %s\n", v)
	}
}

// libseccompVersion asks oci-seccomp, which links libseccomp statically;
// "" when it cannot be found or run.
func libseccompVersion(stageDir string) string {
	dir, err := lifecycle.FindStageDir(stageDir)
	if err != nil {
		return ""
	}
	out, err := exec.Command(filepath.Join(dir, "oci-seccomp"), "--version").Output()
	if err != nil {
		return ""
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "libseccomp: "); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
