package spec

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the configuration parser and the
// checks that run on what it accepts. Nothing may panic; an error is one
// line; what parses re-encodes to something that parses the same; and
// every unknown field path names a key the input has. Seeds: the
// config.json files Docker, podman and containerd write
// (testdata/fuzz/FuzzParse, from /work/shared/compat).
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"ociVersion":"1.0.2","process":{"args":["sh"],"cwd":"/"},"root":{"path":"rootfs"}}`))
	f.Add([]byte(`{"linux":{"namespaces":[{"type":"pid"},{"type":5}]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Parse(b)
		for _, f := range UnknownFields(b) {
			if f == "" {
				t.Errorf("empty unknown-field path for %q", b)
			}
		}
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("multi-line error %q", err)
			}
			return
		}
		for _, p := range []Purpose{ForStage, ForContainer} {
			if err := Validate(s, "/nonexistent-bundle", p); err != nil && strings.Contains(err.Error(), "\n") {
				t.Errorf("multi-line validation error %q", err)
			}
		}
		again, err := json.Marshal(s)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		s2, err := Parse(again)
		if err != nil {
			t.Fatalf("re-encoded configuration does not parse: %v\n%s", err, again)
		}
		third, _ := json.Marshal(s2)
		if string(third) != string(again) {
			t.Errorf("not stable across a round trip:\n%s\n%s", again, third)
		}
		if len(UnknownFields(again)) != 0 {
			t.Errorf("re-encoded configuration has unknown fields %q", UnknownFields(again))
		}
	})
}
