package state

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidateID(t *testing.T) {
	for _, id := range []string{"a", "abc-123", "x_y.z+1", strings.Repeat("a", 1024)} {
		if err := ValidateID(id); err != nil {
			t.Errorf("ValidateID(%q): %v", id, err)
		}
	}
	for _, id := range []string{"", ".", "..", "../x", "a/b", "a b", "a\x00", strings.Repeat("a", 1025), "/abs"} {
		if err := ValidateID(id); err == nil {
			t.Errorf("ValidateID(%q) accepted", id)
		}
	}
}

func TestCreateOpenRemove(t *testing.T) {
	s := Store{Root: filepath.Join(t.TempDir(), "root")}
	c, err := s.Create("c1")
	if err != nil {
		t.Fatal(err)
	}
	c.State = State{ID: "c1", Bundle: "/b", Pid: 0}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create("c1"); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("duplicate create: %v", err)
	}
	c.Close()
	c2, err := s.Open("c1")
	if err != nil {
		t.Fatal(err)
	}
	if c2.State.Bundle != "/b" || c2.Status() != Stopped {
		t.Fatalf("got %+v status %s", c2.State, c2.Status())
	}
	ids, _ := s.List()
	if len(ids) != 1 || ids[0] != "c1" {
		t.Fatalf("list: %q", ids)
	}
	if err := c2.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open("c1"); err == nil {
		t.Fatal("open after remove succeeded")
	}
	if _, err := os.Stat(filepath.Join(s.Root, "c1")); !os.IsNotExist(err) {
		t.Fatal("dir left behind")
	}
}

func TestStatusCreatedRunning(t *testing.T) {
	s := Store{Root: t.TempDir()}
	c, err := s.Create("self")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// This test process plays the container init.
	c.State.Pid = os.Getpid()
	st, err := readSelfStart()
	if err != nil {
		t.Fatal(err)
	}
	c.State.PidStart = st
	os.WriteFile(c.Path(FifoFile), nil, 0o600)
	if got := c.Status(); got != Created {
		t.Fatalf("with fifo: %s", got)
	}
	os.Remove(c.Path(FifoFile))
	if got := c.Status(); got != Running {
		t.Fatalf("without fifo: %s", got)
	}
	c.State.FreezerState = func() (bool, error) { return true, nil }
	if got := c.Status(); got != Paused {
		t.Fatalf("frozen: %s", got)
	}
	c.State.PidStart++
	if got := c.Status(); got != Stopped {
		t.Fatalf("reused pid: %s", got)
	}
}

// The state document has runc's keys, pid included when it is 0.
func TestOCIStateJSON(t *testing.T) {
	c := &Container{State: State{ID: "c1", Bundle: "/b", Rootfs: "/b/rootfs", Pid: 42}}
	for status, pid := range map[string]string{Stopped: `"pid":0,`, Running: `"pid":42,`} {
		b, err := json.Marshal(c.OCIState(status))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Count(string(b), `"pid"`) != 1 || !strings.Contains(string(b), pid) {
			t.Errorf("%s: %s", status, b)
		}
		for _, k := range []string{"ociVersion", "id", "status", "bundle", "rootfs", "created", "owner"} {
			if !strings.Contains(string(b), `"`+k+`"`) {
				t.Errorf("%s: no %q in %s", status, k, b)
			}
		}
	}
}

// OpenUnchanged uses the caller's copy while state.json is the version
// the caller saved, and reads the file once anyone has saved since.
func TestOpenUnchanged(t *testing.T) {
	s := Store{Root: filepath.Join(t.TempDir(), "root")}
	c, err := s.Create("c1")
	if err != nil {
		t.Fatal(err)
	}
	c.State = State{ID: "c1", Bundle: "/saved"}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	stamp, err := c.Stamp()
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	// A copy that differs from the file shows which one was used.
	known := State{ID: "c1", Bundle: "/known"}
	c, err = s.OpenUnchanged("c1", known, stamp)
	if err != nil {
		t.Fatal(err)
	}
	if c.State.Bundle != "/known" {
		t.Errorf("unchanged state.json: got bundle %q, want the caller's copy", c.State.Bundle)
	}
	c.State.Bundle = "/other"
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	c.Close()
	c, err = s.OpenUnchanged("c1", known, stamp)
	if err != nil {
		t.Fatal(err)
	}
	if c.State.Bundle != "/other" {
		t.Errorf("state.json saved since: got bundle %q, want the file's /other", c.State.Bundle)
	}
	if err := c.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.OpenUnchanged("c1", known, stamp); !errors.Is(err, ErrNotExist) {
		t.Errorf("removed container: %v, want ErrNotExist", err)
	}
}
