package lifecycle

import (
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
)

func TestActivationFDs(t *testing.T) {
	self := strconv.Itoa(os.Getpid())
	for _, c := range []struct {
		pid, fds string
		want     int
	}{{self, "2", 2}, {"1", "2", 0}, {"", "2", 0}, {self, "", 0}, {self, "x", 0}, {self, "-1", 0}} {
		t.Setenv("LISTEN_PID", c.pid)
		t.Setenv("LISTEN_FDS", c.fds)
		if got := activationFDs(); got != c.want {
			t.Errorf("LISTEN_PID=%q LISTEN_FDS=%q: %d, want %d", c.pid, c.fds, got, c.want)
		}
	}
}

func TestWithListenEnv(t *testing.T) {
	raw := []byte(`{"ociVersion":"1.0.2","process":{"args":["sh"],"env":["A=1"]},"linux":{"resources":{"memory":{"limit":9223372036854771712}}},"x-unknown":true}`)
	out, err := withListenEnv(raw, 2)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Process struct{ Env []string }
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.Process.Env, " ") != "A=1 LISTEN_FDS=2 LISTEN_PID=1" {
		t.Errorf("env %q", cfg.Process.Env)
	}
	for _, kept := range []string{`9223372036854771712`, `"x-unknown":true`} {
		if !strings.Contains(string(out), kept) {
			t.Errorf("%s lost: %s", kept, out)
		}
	}
	if out, _ := withListenEnv([]byte(`{"ociVersion":"1.0.2"}`), 1); string(out) != `{"ociVersion":"1.0.2"}` {
		t.Errorf("without process: %s", out)
	}
}
