// Package security performs the attacks the security invariants of
// DESIGN.md answer (and the runc CVEs behind them) against real
// containers run by bin/oci-run, and checks from inside and from the host
// that they fail.
package security

import (
	"os"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-run/oci-run/internal/testutil"
)

func TestMain(m *testing.M) {
	testutil.TracerMain()
	os.Exit(m.Run())
}

// run runs a container to its end with oci-run run.
func run(t *testing.T, r *testutil.Runtime, s *specs.Spec) testutil.Result {
	t.Helper()
	b := testutil.Bundle(t, s)
	id := testutil.ID(t)
	res := r.Run("run", "-b", b, id)
	testutil.NoLeaks(t, id, r.Root, b)
	return res
}

// section returns the lines after "== name" up to the next "== ".
func section(out, name string) string {
	i := strings.Index(out, "== "+name+"\n")
	if i < 0 {
		return ""
	}
	rest := out[i+len("== "+name+"\n"):]
	if j := strings.Index(rest, "== "); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

func sleepMs(n int) { time.Sleep(time.Duration(n) * time.Millisecond) }
