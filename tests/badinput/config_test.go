// Package badinput feeds oci-run malformed configurations, arguments and
// commands in the wrong state: each gets a non-zero exit and one line that
// names the field or the argument, and leaves no state directory, cgroup,
// mount or process behind.
package badinput

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oci-run/oci-run/internal/testutil"
)

// mutation edits the default configuration (as generic JSON, so any type
// can be put anywhere).
type mutation func(c map[string]any)

func get(c map[string]any, path ...any) any {
	var v any = c
	for _, p := range path {
		switch k := p.(type) {
		case string:
			v = v.(map[string]any)[k]
		case int:
			v = v.([]any)[k]
		}
	}
	return v
}

// set puts v at path (the last element a key or an index).
func set(path ...any) func(v any) mutation {
	return func(v any) mutation {
		return func(c map[string]any) {
			parent := get(c, path[:len(path)-1]...)
			switch k := path[len(path)-1].(type) {
			case string:
				parent.(map[string]any)[k] = v
			case int:
				parent.([]any)[k] = v
			}
		}
	}
}

func del(path ...any) mutation {
	return func(c map[string]any) {
		delete(get(c, path[:len(path)-1]...).(map[string]any), path[len(path)-1].(string))
	}
}

func appendTo(path ...any) func(v any) mutation {
	return func(v any) mutation {
		return func(c map[string]any) {
			list, _ := get(c, path...).([]any)
			set(path...)(append(list, v))(c)
		}
	}
}

func obj(kv ...any) map[string]any {
	m := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

// writeConfig writes the default configuration of a sleeping container,
// changed by m, into a new bundle on the shared rootfs.
func writeConfig(t *testing.T, ms ...mutation) string {
	t.Helper()
	s := testutil.Spec(testutil.SharedRootfs(t), "sleep", "1000")
	b, _ := json.Marshal(s)
	var c map[string]any
	json.Unmarshal(b, &c)
	for _, m := range ms {
		m(c)
	}
	dir := t.TempDir()
	b, _ = json.MarshalIndent(c, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// refused runs a command that must fail: exit non-zero, exactly one line
// on stderr containing want, nothing of id left.
func refused(t *testing.T, r *testutil.Runtime, id, want string, dirs []string, args ...string) {
	t.Helper()
	res := r.Run(args...)
	line := strings.TrimSpace(res.Stderr)
	switch {
	case res.Code == 0:
		t.Errorf("%q: exit 0, want a failure naming %q (stdout %q)", args, want, res.Stdout)
	case line == "" || strings.Contains(line, "\n"):
		t.Errorf("%q: want one line on stderr, got %q", args, res.Stderr)
	case !strings.Contains(line, want):
		t.Errorf("%q: %q does not name %q", args, line, want)
	}
	if id != "" {
		if l := testutil.FindLeaks(id, "", dirs...); !l.Empty() {
			t.Errorf("%q: left behind: %s", args, l)
		}
		if _, err := os.Stat(filepath.Join(r.Root, id)); err == nil {
			t.Errorf("%q: state dir of %s left behind", args, id)
		}
	}
}

func TestBadConfigurations(t *testing.T) {
	r := testutil.NewRuntime(t)
	rootfsLink := filepath.Join(t.TempDir(), "rootfs-link")
	os.Symlink(testutil.SharedRootfs(t), rootfsLink)
	aFile := filepath.Join(t.TempDir(), "file")
	os.WriteFile(aFile, nil, 0o644)
	cases := []struct {
		name string
		m    []mutation
		want string
	}{
		// Missing or empty required parts.
		{"no root", []mutation{del("root")}, "root.path"},
		{"rootfs missing", []mutation{set("root", "path")("/nonexistent/rootfs")}, "root.path"},
		{"rootfs a file", []mutation{set("root", "path")(aFile)}, "root.path"},
		{"rootfs through a symlink", []mutation{set("root", "path")(rootfsLink)}, "root.path"},
		{"empty args", []mutation{set("process", "args")([]any{})}, "process.args"},
		{"relative cwd", []mutation{set("process", "cwd")("tmp")}, "process.cwd"},
		{"env without =", []mutation{appendTo("process", "env")("NOEQUALS")}, "process.env[2]"},
		// Wrong types, one per section.
		{"ociVersion number", []mutation{set("ociVersion")(1)}, "ociVersion"},
		{"root string", []mutation{set("root")("/")}, "root"},
		{"root.path number", []mutation{set("root", "path")(1)}, "root.path"},
		{"process array", []mutation{set("process")([]any{})}, "process"},
		{"args string", []mutation{set("process", "args")("sh")}, "process.args"},
		{"args entry number", []mutation{set("process", "args", 1)(5)}, "process.args[1]"},
		{"terminal string", []mutation{set("process", "terminal")("yes")}, "process.terminal"},
		{"uid string", []mutation{set("process", "user", "uid")("0")}, "process.user.uid"},
		{"uid negative", []mutation{set("process", "user", "uid")(-1)}, "process.user.uid"},
		{"uid too big", []mutation{set("process", "user", "uid")(1 << 40)}, "process.user.uid"},
		{"capabilities string", []mutation{set("process", "capabilities", "bounding")("CAP_KILL")}, "process.capabilities.bounding"},
		{"rlimit hard string", []mutation{set("process", "rlimits", 0, "hard")("1024")}, "process.rlimits[0].hard"},
		{"hostname number", []mutation{set("hostname")(5)}, "hostname"},
		{"mounts object", []mutation{set("mounts")(obj())}, "mounts"},
		{"mount options string", []mutation{set("mounts", 2, "options")("ro")}, "mounts[2].options"},
		{"mount destination number", []mutation{set("mounts", 1, "destination")(1)}, "mounts[1].destination"},
		{"linux array", []mutation{set("linux")([]any{})}, "linux"},
		{"namespace type number", []mutation{set("linux", "namespaces", 1, "type")(5)}, "linux.namespaces[1].type"},
		{"memory limit string", []mutation{set("linux", "resources")(obj("memory", obj("limit", "1G")))}, "linux.resources.memory.limit"},
		{"device rule allow string", []mutation{set("linux", "resources", "devices", 0, "allow")("no")}, "linux.resources.devices[0].allow"},
		{"seccomp action number", []mutation{set("linux", "seccomp")(obj("defaultAction", 1))}, "linux.seccomp.defaultAction"},
		{"maskedPaths string", []mutation{set("linux", "maskedPaths")("/proc/kcore")}, "linux.maskedPaths"},
		{"sysctl array", []mutation{set("linux", "sysctl")([]any{"a"})}, "linux.sysctl"},
		{"annotation value number", []mutation{set("annotations")(obj("a.b", 1))}, `annotations["a.b"]`},
		{"hook path number", []mutation{set("hooks")(obj("prestart", []any{obj("path", 1)}))}, "hooks.prestart[0].path"},
		// Values the runtime-spec or this host does not allow.
		{"unknown namespace", []mutation{appendTo("linux", "namespaces")(obj("type", "foo"))}, "linux.namespaces[5].type"},
		{"namespace twice", []mutation{appendTo("linux", "namespaces")(obj("type", "pid"))}, "linux.namespaces[5].type"},
		{"namespace path relative", []mutation{set("linux", "namespaces", 1, "path")("proc/1/ns/net")}, "linux.namespaces[1].path"},
		{"namespace path missing", []mutation{set("linux", "namespaces", 1, "path")("/nonexistent/ns")}, "linux.namespaces[1].path"},
		{"namespace path of another type", []mutation{set("linux", "namespaces", 1, "path")("/proc/self/ns/uts")}, "linux.namespaces[1].path"},
		{"user namespace without mount namespace", []mutation{set("linux", "namespaces")([]any{obj("type", "pid"), obj("type", "user")}),
			set("linux", "uidMappings")([]any{obj("containerID", 0, "hostID", 100000, "size", 65536)}),
			set("linux", "gidMappings")([]any{obj("containerID", 0, "hostID", 100000, "size", 65536)}), del("hostname")}, "linux.namespaces"},
		{"hostname without uts", []mutation{set("linux", "namespaces")([]any{obj("type", "pid"), obj("type", "mount")})}, "hostname"},
		{"uid mappings without user namespace", []mutation{set("linux", "uidMappings")([]any{obj("containerID", 0, "hostID", 1000, "size", 1)})}, "linux.uidMappings"},
		{"time offsets without time namespace", []mutation{set("linux", "timeOffsets")(obj("monotonic", obj("secs", 1)))}, "linux.timeOffsets"},
		{"unknown capability", []mutation{set("process", "capabilities", "bounding", 1)("CAP_NOPE")}, "process.capabilities.bounding[1]"},
		{"capability the host lacks", []mutation{appendTo("process", "capabilities", "bounding")("CAP_SYS_RESOURCE")}, "process.capabilities.bounding[3]"},
		{"unknown rlimit", []mutation{set("process", "rlimits", 0, "type")("RLIMIT_NOPE")}, "process.rlimits[0].type"},
		{"rlimit soft above hard", []mutation{set("process", "rlimits", 0, "soft")(4096)}, "process.rlimits[0]"},
		{"oom score", []mutation{set("process", "oomScoreAdj")(5000)}, "process.oomScoreAdj"},
		{"umask", []mutation{set("process", "user", "umask")(0o7777)}, "process.user.umask"},
		{"apparmor without AppArmor", []mutation{set("process", "apparmorProfile")("x")}, "process.apparmorProfile"},
		{"selinux without SELinux", []mutation{set("process", "selinuxLabel")("x")}, "process.selinuxLabel"},
		{"personality", []mutation{set("linux", "personality")(obj("domain", "LINUX99"))}, "linux.personality.domain"},
		{"scheduler", []mutation{set("process", "scheduler")(obj("policy", "SCHED_NOPE"))}, "process.scheduler.policy"},
		{"console size without terminal", []mutation{set("process", "consoleSize")(obj("height", 1, "width", 1))}, "process.consoleSize"},
		{"relative masked path", []mutation{appendTo("linux", "maskedPaths")("proc/kcore")}, "linux.maskedPaths[10]"},
		{"relative readonly path", []mutation{appendTo("linux", "readonlyPaths")("proc/sys")}, "linux.readonlyPaths[5]"},
		{"empty mount destination", []mutation{set("mounts", 1, "destination")("")}, "mounts[1].destination"},
		{"unknown mount option", []mutation{appendTo("mounts")(obj("destination", "/x", "type", "tmpfs", "source", "tmpfs", "options", []any{"nosuchoption"}))}, "mounts[7].options[0]"},
		{"bad propagation", []mutation{set("linux", "rootfsPropagation")("sideways")}, "linux.rootfsPropagation"},
		{"relative device path", []mutation{set("linux", "devices")([]any{obj("path", "dev/x", "type", "c", "major", 1, "minor", 3)})}, "linux.devices[0].path"},
		{"device type", []mutation{set("linux", "devices")([]any{obj("path", "/dev/x", "type", "q", "major", 1, "minor", 3)})}, "linux.devices[0].type"},
		{"host sysctl", []mutation{set("linux", "sysctl")(obj("kernel.panic", "1"))}, `linux.sysctl["kernel.panic"]`},
		{"root cgroup", []mutation{set("linux", "cgroupsPath")("/")}, "linux.cgroupsPath"},
		{"intel rdt", []mutation{set("linux", "intelRdt")(obj("l3CacheSchema", "L3:0=f"))}, "linux.intelRdt"},
		{"network devices", []mutation{set("linux", "netDevices")(obj("dummy0", obj("name", "eth1")))}, "linux.netDevices"},
		{"cpuset cpus", []mutation{set("linux", "resources")(obj("cpu", obj("cpus", "abc")))}, "linux.resources.cpu.cpus"},
		{"cpuset mems", []mutation{set("linux", "resources")(obj("cpu", obj("mems", "0-")))}, "linux.resources.cpu.mems"},
		{"hugetlb without the controller", []mutation{set("linux", "resources")(obj("hugepageLimits", []any{obj("pageSize", "2MB", "limit", 1)}))}, "linux.resources.hugepageLimits"},
		{"device rule type", []mutation{set("linux", "resources", "devices", 0, "type")("q")}, "linux.resources.devices[0].type"},
		{"seccomp action", []mutation{set("linux", "seccomp")(obj("defaultAction", "SCMP_ACT_NOPE"))}, "linux.seccomp.defaultAction"},
		{"seccomp notify default", []mutation{set("linux", "seccomp")(obj("defaultAction", "SCMP_ACT_NOTIFY"))}, "linux.seccomp.defaultAction"},
		{"seccomp arch", []mutation{set("linux", "seccomp")(obj("defaultAction", "SCMP_ACT_ALLOW", "architectures", []any{"SCMP_ARCH_NOPE"}))}, "linux.seccomp.architectures[0]"},
		{"seccomp flag", []mutation{set("linux", "seccomp")(obj("defaultAction", "SCMP_ACT_ALLOW", "flags", []any{"NOPE"}))}, "linux.seccomp.flags[0]"},
		{"seccomp rule without names", []mutation{set("linux", "seccomp")(obj("defaultAction", "SCMP_ACT_ALLOW", "syscalls", []any{obj("names", []any{}, "action", "SCMP_ACT_ERRNO")}))}, "linux.seccomp.syscalls[0].names"},
		{"seccomp operator", []mutation{set("linux", "seccomp")(obj("defaultAction", "SCMP_ACT_ALLOW", "syscalls", []any{obj("names", []any{"kill"}, "action", "SCMP_ACT_ERRNO", "args", []any{obj("index", 0, "value", 1, "op", "SCMP_CMP_NOPE")})}))}, "linux.seccomp.syscalls[0].args[0].op"},
		{"seccomp notify without listener", []mutation{set("linux", "seccomp")(obj("defaultAction", "SCMP_ACT_ALLOW", "syscalls", []any{obj("names", []any{"mkdir"}, "action", "SCMP_ACT_NOTIFY")}))}, "linux.seccomp.listenerPath"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := writeConfig(t, c.m...)
			id := testutil.ID(t)
			refused(t, r, id, c.want, []string{b}, "create", "-b", b, id)
			// check names the same field, and every problem.
			res := r.Run("check", "-b", b)
			if res.Code == 0 || !strings.Contains(res.Stdout, c.want) {
				t.Errorf("check: exit %d, output does not name %s:\n%s%s", res.Code, c.want, res.Stdout, res.Stderr)
			}
		})
	}
}

// Files that are not configurations.
func TestBadConfigFiles(t *testing.T) {
	r := testutil.NewRuntime(t)
	cases := map[string]struct {
		content string
		want    string
	}{
		"truncated":     {`{"ociVersion": "1.0.2", "process": {`, "config.json: invalid JSON"},
		"syntax":        {"{\n\"ociVersion\": 1.0.2,,\n}", "config.json: invalid JSON at line 2"},
		"empty":         {"", "config.json: empty configuration"},
		"not an object": {`["a"]`, "config.json: (top level)"},
		"binary":        {"\x7fELF\x00\x01", "config.json: invalid JSON"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			b := t.TempDir()
			os.WriteFile(filepath.Join(b, "config.json"), []byte(c.content), 0o644)
			id := testutil.ID(t)
			refused(t, r, id, c.want, []string{b}, "create", "-b", b, id)
		})
	}
	t.Run("missing", func(t *testing.T) {
		b := t.TempDir()
		id := testutil.ID(t)
		refused(t, r, id, "config.json: no such file or directory", []string{b}, "create", "-b", b, id)
	})
	t.Run("a directory", func(t *testing.T) {
		b := t.TempDir()
		os.Mkdir(filepath.Join(b, "config.json"), 0o755)
		id := testutil.ID(t)
		refused(t, r, id, "config.json", []string{b}, "create", "-b", b, id)
	})
	t.Run("no bundle", func(t *testing.T) {
		id := testutil.ID(t)
		refused(t, r, id, "/nonexistent/bundle", nil, "create", "-b", "/nonexistent/bundle", id)
	})
}

// The runtime-spec requires runtimes to ignore properties they do not
// know ("MUST NOT generate an error", config.md, Extensibility): create
// accepts them; check names each one, and --strict makes them errors.
func TestUnknownFields(t *testing.T) {
	r := testutil.NewRuntime(t)
	b := writeConfig(t,
		set("bogus")(1),
		set("process", "typo")(true),
		set("linux", "namespaces", 0, "pathh")("/x"),
		set("linux", "resources", "memory")(obj("limitt", 1)),
		set("mounts", 0, "extra")("x"),
	)
	want := []string{"bogus", "process.typo", "linux.namespaces[0].pathh", "linux.resources.memory.limitt", "mounts[0].extra"}
	id := testutil.ID(t)
	r.Must("create", "-b", b, id)
	r.Must("delete", "--force", id)
	res := r.Run("check", "-b", b)
	if res.Code != 0 {
		t.Errorf("check: exit %d: %s", res.Code, res.Stdout)
	}
	for _, f := range want {
		if !strings.Contains(res.Stdout, "warning: "+f+": ") {
			t.Errorf("check does not name %s:\n%s", f, res.Stdout)
		}
	}
	res = r.Run("check", "--strict", "-b", b)
	if res.Code == 0 || !strings.Contains(res.Stdout, "error: process.typo: ") {
		t.Errorf("check --strict: exit %d:\n%s", res.Code, res.Stdout)
	}
}
