package lifecycle

import (
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strconv"
	"strings"

	"github.com/oci-run/oci-run/pkg/state"
)

// Pids lists the host pids of every process in the container's cgroup.
func (r *Runtime) Pids(id string) ([]int, error) {
	c, err := r.Store.Peek(id)
	if err != nil {
		return nil, err
	}
	r.wire(c)
	if c.Status() == state.Stopped {
		return nil, errors.New("container is not running")
	}
	cg, err := loadCgroup(c.State.CgroupPaths)
	if cg == nil || err != nil {
		return []int{}, err
	}
	return cg.Pids()
}

// PsTable runs ps(1) with psArgs (default -ef) and prints its header and
// the rows of the given pids, as runc ps does.
func PsTable(w io.Writer, pids []int, psArgs []string) error {
	if len(psArgs) == 0 {
		psArgs = []string{"-ef"}
	}
	out, err := exec.Command("ps", psArgs...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && len(ee.Stderr) > 0 {
			return fmt.Errorf("ps %s: %s", strings.Join(psArgs, " "), strings.TrimSpace(string(ee.Stderr)))
		}
		return fmt.Errorf("ps %s: %w", strings.Join(psArgs, " "), err)
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	col := slices.Index(strings.Fields(lines[0]), "PID")
	if col < 0 {
		return fmt.Errorf("ps %s: no PID column in its output", strings.Join(psArgs, " "))
	}
	fmt.Fprintln(w, lines[0])
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) <= col {
			continue
		}
		if pid, err := strconv.Atoi(f[col]); err == nil && slices.Contains(pids, pid) {
			fmt.Fprintln(w, l)
		}
	}
	return nil
}
