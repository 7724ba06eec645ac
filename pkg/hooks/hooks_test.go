package hooks

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestRunStateEnvArgsOrder(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	sh := func(script string) specs.Hook {
		return specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", script, "arg0"}, Env: []string{"A=1"}}
	}
	st := specs.State{Version: specs.Version, ID: "c1", Status: specs.StateCreating, Pid: 42, Bundle: "/b"}
	err := Run(Prestart, []specs.Hook{
		sh(`cat > ` + out + `.state; echo "first $A $0 ${HOME:-nohome}" >> ` + out),
		sh(`echo second >> ` + out),
	}, st)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	if string(b) != "first 1 arg0 nohome\nsecond\n" {
		t.Errorf("hooks wrote %q", b)
	}
	var got specs.State
	b, _ = os.ReadFile(out + ".state")
	if err := json.Unmarshal(b, &got); err != nil || got.ID != "c1" || got.Pid != 42 || got.Status != specs.StateCreating {
		t.Errorf("state on stdin %q: %v", b, err)
	}
}

func TestRunStopsAtFailure(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	err := Run(CreateRuntime, []specs.Hook{
		{Path: "/bin/sh", Args: []string{"sh", "-c", "echo oops >&2; exit 2"}},
		{Path: "/bin/sh", Args: []string{"sh", "-c", "touch " + out}},
	}, specs.State{})
	if err == nil || !strings.Contains(err.Error(), "createRuntime hook #0") || !strings.Contains(err.Error(), "exit status 2") || !strings.Contains(err.Error(), "oops") {
		t.Errorf("error %v", err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("the hook after the failing one ran")
	}
}

func TestRunAllGoesOn(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	errs := RunAll(Poststop, []specs.Hook{
		{Path: "/bin/false"},
		{Path: "/no/such/hook"},
		{Path: "/bin/sh", Args: []string{"sh", "-c", "touch " + out}},
	}, specs.State{})
	if len(errs) != 2 || !strings.Contains(errs[1].Error(), "poststop hook #1") {
		t.Errorf("errors %v", errs)
	}
	if _, err := os.Stat(out); err != nil {
		t.Error("the hook after the failing ones did not run")
	}
}

func TestTimeout(t *testing.T) {
	one := 1
	err := Run(Prestart, []specs.Hook{{Path: "/bin/sleep", Args: []string{"sleep", "30"}, Timeout: &one}}, specs.State{})
	if err == nil || !strings.Contains(err.Error(), "timeout of 1s") {
		t.Errorf("error %v", err)
	}
}

// A hook that exits without reading its stdin is not an error.
func TestHookIgnoresStdin(t *testing.T) {
	big := specs.State{Annotations: map[string]string{"k": strings.Repeat("x", 1<<20)}}
	if err := Run(Poststart, []specs.Hook{{Path: "/bin/true"}}, big); err != nil {
		t.Error(err)
	}
}
