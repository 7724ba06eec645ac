// Package faults kills oci-run and its stages at every point of a create,
// kills containers from outside, races commands on one container and
// fakes stale state, and checks that the host is left clean.
package faults

import (
	"os"
	"testing"

	"github.com/oci-run/oci-run/internal/testutil"
)

func TestMain(m *testing.M) {
	testutil.TracerMain()
	os.Exit(m.Run())
}
