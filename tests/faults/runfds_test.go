package faults

import (
	"strings"
	"testing"

	"github.com/oci-run/oci-run/internal/testutil"
)

// oci-run's own process, for as long as it waits for its container in
// the foreground, holds nothing create used: not the configuration's
// memfd, the sync socket, the exec fifo, the state directory or its lock,
// the bundle.
func TestRunHoldsNoCreateDescriptors(t *testing.T) {
	r := testutil.NewRuntime(t)
	b := testutil.Bundle(t, testutil.Spec("", "sleep", "1000"))
	id := testutil.ID(t)
	cmd := r.Command("run", "-b", b, id)
	out, errf := testutil.OutputFiles(t)
	cmd.Stdout, cmd.Stderr = out, errf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		r.Run("kill", id, "KILL")
		cmd.Wait()
		waitNoLeaks(t, id, r.Root, b)
	}()
	r.WaitStatus(id, "running")
	fds, err := testutil.FDs(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		for _, bad := range []string{"memfd:", "socket:", "exec.fifo", r.Root, b} {
			if strings.Contains(fd, bad) {
				t.Errorf("oci-run run holds %s", fd)
			}
		}
	}
	t.Logf("oci-run run's descriptors while its container runs: %q", fds)
}
