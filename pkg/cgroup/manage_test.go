package cgroup

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestIsManage(t *testing.T) {
	for args, want := range map[string]bool{
		"--systemd --destroy --paths f":         true,
		"--update=true --paths f --resources -": true,
		"-destroy --paths f":                    true,
		"--id x -- oci-unshare --update":        false,
		"--join --paths f -- true":              false,
		"--systemd --id x -- sh -c --destroy":   false,
		"--paths f --destroy -- leftover":       true,
	} {
		if got := IsManage(strings.Fields(args)); got != want {
			t.Errorf("%q: %v, want %v", args, got, want)
		}
	}
}

func TestParseManage(t *testing.T) {
	o, err := ParseManage(strings.Fields("--systemd --update --paths /p --resources -"))
	if err != nil || !o.Systemd || !o.Update || o.Destroy || o.PathsFile != "/p" || o.ResourcesFile != "-" {
		t.Errorf("%+v %v", o, err)
	}
	for args, want := range map[string]string{
		"--destroy --update --paths f":      "one of --destroy and --update",
		"--destroy":                         "need --paths",
		"--update --paths f":                "--update needs --resources",
		"--destroy --paths f --resources r": "--resources goes with --update",
		"--destroy --paths f -- true":       "run nothing",
		"--destroy --paths f --id x":        "flag provided but not defined: -id",
	} {
		_, err := ParseManage(strings.Fields(args))
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: %v, want one line with %q", args, err, want)
		}
	}
}

func TestManageRefusesMismatch(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sd := write("sd.json", `{"dirs":{"":"/sys/fs/cgroup/system.slice/oci-run-x.scope"},"systemd":{"slice":"","prefix":"oci-run","name":"x"}}`)
	plain := write("plain.json", `{"dirs":{"":"/sys/fs/cgroup/nolib-test-none"}}`)
	if err := Manage(ManageOptions{Destroy: true, PathsFile: sd}); err == nil || !strings.Contains(err.Error(), "oci-run-x.scope): add --systemd") {
		t.Errorf("systemd paths without --systemd: %v", err)
	}
	if err := Manage(ManageOptions{Systemd: true, Destroy: true, PathsFile: plain}); err == nil || !strings.Contains(err.Error(), "is not a systemd unit") {
		t.Errorf("--systemd with plain paths: %v", err)
	}
	if err := Manage(ManageOptions{Destroy: true, PathsFile: filepath.Join(dir, "none")}); err == nil || !strings.HasPrefix(err.Error(), "--paths: ") {
		t.Errorf("missing paths file: %v", err)
	}
}

func TestExpandSlice(t *testing.T) {
	for in, want := range map[string]string{"system.slice": "/system.slice", "a-b-c.slice": "/a.slice/a-b.slice/a-b-c.slice", "-.slice": "/"} {
		if got, err := ExpandSlice(in); err != nil || got != want {
			t.Errorf("%s: %q %v", in, got, err)
		}
	}
	for _, bad := range []string{"a", ".slice", "a--b.slice", "-a.slice", "a/b.slice"} {
		if _, err := ExpandSlice(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	u := &SystemdUnit{Slice: "machine.slice", Prefix: "oci-run", Name: "c1"}
	d, err := systemdDirs(hybridHost(t), u)
	if err != nil || d["memory"] != "/sys/fs/cgroup/memory/machine.slice/oci-run-c1.scope" || d[Unified] != "/sys/fs/cgroup/unified/machine.slice/oci-run-c1.scope" {
		t.Errorf("%v %v", d, err)
	}
}
