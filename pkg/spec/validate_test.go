package spec

import (
	"errors"
	"os"
	"path/filepath"
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

func TestParseNamesTheEntry(t *testing.T) {
	cases := map[string]string{
		`{"linux":{"namespaces":[{"type":"pid"},{"type":"mount"},{"type":5}]}}`: "linux.namespaces[2].type: expected string, got JSON number",
		`{"mounts":[{"destination":"/a"},{"destination":"/b","options":"ro"}]}`: "mounts[1].options: expected array of string, got JSON string",
		`{"process":{"user":{"uid":-1}}}`:                                       "process.user.uid: expected uint32, got JSON number -1",
		`{"process":{"args":["a",{"b":1}]}}`:                                    "process.args[1]: expected string, got JSON object",
		`{"linux":{"resources":{"devices":[{"allow":true,"major":"x"}]}}}`:      "linux.resources.devices[0].major: expected int64, got JSON string",
		`{"annotations":{"a.b":1}}`:                                             `annotations["a.b"]: expected string, got JSON number`,
		`{"process":[]}`:                                                        "process: expected object, got JSON array",
		`[]`:                                                                    "(top level): expected object, got JSON array",
		`{"linux":{"sysctl":{"net.ipv4.ip_forward":true},"maskedPaths":[1]}}`:   `linux.sysctl["net.ipv4.ip_forward"]: expected string, got JSON bool`,
	}
	for in, want := range cases {
		_, err := Parse([]byte(in))
		if err == nil || err.Error() != want {
			t.Errorf("Parse(%s) = %v, want %q", in, err, want)
		}
	}
}

func TestUnknownFields(t *testing.T) {
	in := `{"ociVersion":"1.0.2","bogus":1,"Hostname":"x","process":{"args":["sh"],"typo":true,
	  "capabilities":{"bounding":[],"extra":[]}},"linux":{"namespaces":[{"type":"pid"},{"type":"net","pathh":"/x"}],
	  "sysctl":{"net.x":"1"},"resources":{"memory":{"limitt":1}}},"annotations":{"any.key":"v"},
	  "mounts":[{"destination":"/a","uidMappings":[{"containerID":0,"hostID":0,"size":1,"z":1}]}]}`
	got := UnknownFields([]byte(in))
	want := []string{"bogus", "linux.namespaces[1].pathh", "linux.resources.memory.limitt",
		"mounts[0].uidMappings[0].z", "process.capabilities.extra", "process.typo"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("UnknownFields = %q, want %q", got, want)
	}
}

func TestValidateRootThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real")
	os.Mkdir(real, 0o755)
	os.Symlink("real", filepath.Join(dir, "link"))
	s := specgen.Default()
	s.Root.Path = "link"
	err := Validate(s, dir, ForContainer)
	if err == nil || !strings.HasPrefix(err.Error(), "root.path: ") || !strings.Contains(err.Error(), "symlink") {
		t.Fatalf("got %v", err)
	}
	s.Root.Path = "real"
	if err := Validate(s, dir, ForContainer); err != nil {
		t.Fatal(err)
	}
}
