// Package faults kills oci-run and its stages at every point of a create,
// kills containers from outside, races commands on one container and
// fakes stale state, and checks that the host is left clean.
package faults

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-run/oci-run/internal/testutil"
	"github.com/oci-run/oci-run/pkg/spec"
)

func TestMain(m *testing.M) {
	testutil.TracerMain()
	os.Exit(m.Run())
}

func itoa(n int) string { return strconv.Itoa(n) }

// addMarkMount binds a host directory at /mark in the bundle's container.
func addMarkMount(t *testing.T, bundle, dir string) {
	t.Helper()
	p := filepath.Join(bundle, "config.json")
	s, _, err := spec.LoadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s.Mounts = append(s.Mounts, specs.Mount{Destination: "/mark", Type: "bind", Source: dir, Options: []string{"rbind", "rw"}})
	testutil.WriteSpec(t, p, s)
}
