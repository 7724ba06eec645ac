package faults

import (
	"os"
	"strings"
	"testing"

	"github.com/oci-run/oci-run/internal/testutil"
)

// SIGKILL of oci-run exec, or of the stage, at every stage boundary of an
// exec: the container runs on unharmed, a later exec works, and delete
// --force leaves nothing.
func TestKillExecAtEveryBoundary(t *testing.T) {
	r := testutil.NewRuntime(t)
	if r.Run("exec", "--help").Code != 0 {
		t.Skip("no oci-run exec in this build")
	}
	id := testutil.ID(t)
	s := testutil.Spec("", "sleep", "1000")
	s.Linux.Seccomp = faultSpec().Linux.Seccomp
	bundle := testutil.Bundle(t, s)
	r.Must("run", "-d", "-b", bundle, id)
	defer func() {
		r.Run("delete", "--force", id)
		waitNoLeaks(t, id, r.Root, bundle)
	}()

	// The boundaries of one exec.
	out, errf := testutil.OutputFiles(t)
	tr := testutil.StartTraced(t, out, errf, nil, r.Bin, "--root", r.Root, "exec", id, "true")
	var list []boundary
	count := map[string]int{}
	for {
		e := tr.Next()
		if e.Kind == "done" || e.Kind == "exit" && e.Pid == tr.Pid {
			break
		}
		if e.Kind == "exit" {
			continue
		}
		k := e.Kind + " " + e.Prog
		list = append(list, boundary{e.Kind, e.Prog, count[k]})
		count[k]++
		tr.Continue()
	}
	tr.Close()
	t.Logf("exec boundaries: %v", list)

	for _, b := range list {
		for _, victim := range []string{"oci-run", "stage"} {
			if b.prog == "oci-run" && b.kind == "exec" && victim == "stage" {
				continue
			}
			errf := killTracedAt(t, r, b, victim, "exec", id, "true")
			if st := r.Status(id); st != "running" {
				eb, _ := os.ReadFile(errf.Name())
				t.Fatalf("exec killed at %v (%s): container %s: %s", b, victim, st, eb)
			}
		}
	}
	if res := r.Run("exec", id, "sh", "-c", "echo still here"); res.Code != 0 || !strings.Contains(res.Stdout, "still here") {
		t.Errorf("exec after the kills: %+v", res)
	}
}
