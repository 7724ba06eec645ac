package spec

import (
	"errors"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-run/oci-run/pkg/specgen"
)

func TestValidateDefault(t *testing.T) {
	s := specgen.Default()
	s.Root.Path = t.TempDir()
	if err := Validate(s, "/", ForContainer); err != nil {
		t.Fatal(err)
	}
}

func TestValidateErrorsNameTheField(t *testing.T) {
	cases := []struct {
		mutate func(s *specs.Spec)
		field  string
	}{
		{func(s *specs.Spec) { s.Root = nil }, "root.path"},
		{func(s *specs.Spec) { s.Root.Path = "/nonexistent/rootfs" }, "root.path"},
		{func(s *specs.Spec) { s.Process.Args = nil }, "process.args"},
		{func(s *specs.Spec) { s.Process.Cwd = "rel" }, "process.cwd"},
		{func(s *specs.Spec) { s.Process.Env = append(s.Process.Env, "NOEQUALS") }, "process.env[2]"},
		{func(s *specs.Spec) { s.Process.Rlimits[0].Type = "RLIMIT_FOO" }, "process.rlimits[0].type"},
		{func(s *specs.Spec) { s.Process.Rlimits[0].Soft = 2048 }, "process.rlimits[0]"},
		{func(s *specs.Spec) { s.Process.Capabilities.Bounding[1] = "CAP_FOO" }, "process.capabilities.bounding[1]"},
		{func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "pid"})
		}, "linux.namespaces[5].type"},
		{func(s *specs.Spec) { s.Linux.Namespaces[0].Type = "bogus" }, "linux.namespaces[0].type"},
		{func(s *specs.Spec) { s.Linux.Namespaces[0].Path = "relative" }, "linux.namespaces[0].path"},
		{func(s *specs.Spec) { s.Linux.Namespaces = s.Linux.Namespaces[:3] }, "hostname"},
		{func(s *specs.Spec) { s.Linux.UIDMappings = []specs.LinuxIDMapping{{HostID: 1000, Size: 1}} }, "linux.uidMappings"},
		{func(s *specs.Spec) { s.Linux.MaskedPaths[0] = "proc/kcore" }, "linux.maskedPaths[0]"},
		{func(s *specs.Spec) { s.Mounts[0].Destination = "" }, "mounts[0].destination"},
	}
	for _, c := range cases {
		s := specgen.Default()
		s.Root.Path = t.TempDir()
		c.mutate(s)
		err := Validate(s, "/", ForContainer)
		var errs Errors
		if !errors.As(err, &errs) {
			t.Errorf("%s: got %v", c.field, err)
			continue
		}
		if errs[0].Field != c.field {
			t.Errorf("want field %s, got %v", c.field, err)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("multi-line error: %q", err)
		}
	}
}

func TestParseNamesWrongType(t *testing.T) {
	_, err := Parse([]byte(`{"ociVersion":"1.0.2","process":{"args":"sh"}}`))
	if err == nil || !strings.Contains(err.Error(), "process.args") {
		t.Fatalf("got %v", err)
	}
	_, err = Parse([]byte("{\n\"ociVersion\": 1.0.2,,}"))
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("got %v", err)
	}
	if _, err := Parse(nil); err == nil {
		t.Fatal("empty accepted")
	}
}
