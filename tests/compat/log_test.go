package compat_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go/features"

	"github.com/oci-run/oci-run/internal/testutil"
)

type logEntry struct {
	Level, Msg, Time string
}

func readLog(t *testing.T, path string) []logEntry {
	t.Helper()
	var out []logEntry
	for _, l := range strings.Split(strings.TrimSpace(readFile(t, path)), "\n") {
		var e logEntry
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("log line %q is not JSON: %v", l, err)
		}
		if _, err := time.Parse(time.RFC3339Nano, e.Time); err != nil {
			t.Errorf("log line %q: time: %v", l, err)
		}
		out = append(out, e)
	}
	return out
}

// containerd and Docker pass --log FILE --log-format json and read the
// last error back from the file; dockerd turns "no such file or directory"
// from create into exit code 127. The error is also on stderr.
func TestJSONLogCarriesErrors(t *testing.T) {
	r := newRT(t)
	dir := t.TempDir()
	log := filepath.Join(dir, "log.json")
	id := testutil.ID(t)
	res := r.do("--log", log, "--log-format", "json", "create", "--bundle", testutil.Bundle(t, testutil.Spec("", "/no/such/program")), id)
	if res.code == 0 {
		t.Fatal("create of a missing program succeeded")
	}
	entries := readLog(t, log)
	last := entries[len(entries)-1]
	if last.Level != "error" || !strings.Contains(last.Msg, `exec: "/no/such/program": stat /no/such/program: no such file or directory`) {
		t.Errorf("last log entry %+v", last)
	}
	if !strings.Contains(res.stderr, "no such file or directory") {
		t.Errorf("stderr: %q", res.stderr)
	}

	// exec errors go to the same place.
	cid, _ := r.started(testutil.Spec("", "sleep", "1000"))
	res = r.do("--log", log, "--log-format", "json", "exec", cid, "nosuchprogram")
	entries = readLog(t, log)
	last = entries[len(entries)-1]
	if res.code == 0 || last.Level != "error" || !strings.Contains(last.Msg, `exec: "nosuchprogram": executable file not found in $PATH`) {
		t.Errorf("exec: exit %d, last log entry %+v", res.code, last)
	}

	// Without --log, errors are plain lines on stderr (podman reads them
	// there when the runtime is not in runtime_supports_json).
	res = r.do("state", "no-such-"+id)
	if res.code == 0 || !strings.Contains(res.stderr, "does not exist") || strings.HasPrefix(res.stderr, "{") {
		t.Errorf("state of an unknown container: exit %d: %q", res.code, res.stderr)
	}
}

// --version in runc's shape: dockerd takes name and version from the line
// with "version", and the commit from "commit:".
func TestVersion(t *testing.T) {
	r := newRT(t)
	out := r.must("--version")
	re := regexp.MustCompile(`^oci-run version \S+\ncommit: \S+\nspec: 1\.\d+\.\d+\S*\ngo: go\S+\nlibseccomp: \d+\.\d+\.\d+\n$`)
	if !re.MatchString(out) {
		t.Errorf("--version:\n%s", out)
	}
}

func TestFeatures(t *testing.T) {
	r := newRT(t)
	var f features.Features
	if err := json.Unmarshal([]byte(r.must("features")), &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Hooks) != 6 || f.Linux == nil || f.Linux.Seccomp == nil || f.Linux.Seccomp.Enabled == nil || !*f.Linux.Seccomp.Enabled {
		t.Fatalf("features: %+v", f)
	}
	if len(f.Linux.Seccomp.Actions) == 0 || len(f.Linux.Seccomp.Archs) == 0 || len(f.Linux.Seccomp.Operators) != 7 {
		t.Errorf("seccomp: %+v", f.Linux.Seccomp)
	}
	if f.Annotations["io.github.seccomp.libseccomp.version"] == "" {
		t.Errorf("annotations: %v", f.Annotations)
	}
	if _, err := os.Stat("/proc/self/ns/time"); err == nil && !contains(f.Linux.Namespaces, "time") {
		t.Errorf("namespaces %v lack time", f.Linux.Namespaces)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
