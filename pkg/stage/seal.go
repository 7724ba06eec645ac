package stage

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/pkg/exeseal"
)

// SealStages seals the stage programs of progs that OCI_STAGE_FDS does not
// list yet (pkg/exeseal: CVE-2019-5736, and reachable after pivot_root),
// looked up with env's PATH. The handles are inherited across exec, like
// every handover descriptor, and must stay referenced until then (an
// unreachable *os.File is closed by its finalizer). It returns the new
// value of OCI_STAGE_FDS ("" when nothing was added).
func SealStages(progs []string, env []string) (value string, files []*os.File, err error) {
	var names, paths []string
	for _, prog := range progs {
		name := filepath.Base(prog)
		if _, ok := SealedFD(name); ok || slices.Contains(names, name) {
			continue
		}
		path, err := lookPath(prog, env)
		if err != nil {
			return "", nil, err
		}
		names = append(names, name)
		paths = append(paths, path)
	}
	if len(names) == 0 {
		return "", nil, nil
	}
	files, err = exeseal.SealAll(paths)
	if err != nil {
		return "", nil, err
	}
	fds := make([]int, len(files))
	for i, f := range files {
		if _, err := unix.FcntlInt(f.Fd(), unix.F_SETFD, 0); err != nil {
			for _, f := range files {
				f.Close()
			}
			return "", nil, fmt.Errorf("seal %s: %w", paths[i], err)
		}
		fds[i] = int(f.Fd())
	}
	value = FormatStageFDs(names, fds)
	if cur := os.Getenv(EnvStageFDs); cur != "" {
		value = cur + "," + value
	}
	return value, files, nil
}
