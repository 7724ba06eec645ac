package mount

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The default runc spec: every mount appears with its type, source and
// options; the devices, links, masked and read-only paths are what
// runtime-spec says; the root is read-only.
func TestDefaultSpec(t *testing.T) {
	s := baseSpec(t, "")
	out := ok(t, s, `
echo "== mountinfo"; cat /proc/self/mountinfo
echo "== dev"; for d in null zero full random urandom tty; do stat -c '%n %F %t:%T %a %u:%g' /dev/$d; done
echo "== links"; for l in fd stdin stdout stderr ptmx; do echo "$l $(readlink /dev/$l)"; done
echo "== rootwrite"; touch /should-fail 2>&1 && echo WRITABLE
echo "== kcore"; head -c 10 /proc/keys | wc -c
echo "== acpi"; ls -A /proc/acpi | wc -l
echo "== sysrq"; echo x > /proc/sysrq-trigger 2>&1 || echo refused
echo "== cwd"; pwd
`)
	mi := parseMountinfo(t, section(out, "mountinfo"))
	want := []struct {
		point, fstype, source string
		opts                  []string
	}{
		{"/", "", "", []string{"ro"}},
		{"/proc", "proc", "proc", []string{"rw"}},
		{"/dev", "tmpfs", "tmpfs", []string{"rw", "nosuid"}},
		{"/dev/pts", "devpts", "devpts", []string{"rw", "nosuid", "noexec"}},
		{"/dev/shm", "tmpfs", "shm", []string{"nosuid", "nodev", "noexec"}},
		{"/dev/mqueue", "mqueue", "mqueue", []string{"nosuid", "nodev", "noexec"}},
		{"/sys", "sysfs", "sysfs", []string{"ro", "nosuid", "nodev", "noexec"}},
		{"/sys/fs/cgroup", "tmpfs", "tmpfs", []string{"ro", "nosuid", "nodev", "noexec"}},
		{"/sys/fs/cgroup/memory", "cgroup", "cgroup", []string{"ro", "nosuid", "nodev", "noexec"}},
		{"/proc/sys", "proc", "proc", []string{"ro"}},
		{"/proc/acpi", "tmpfs", "tmpfs", []string{"ro"}},
		{"/proc/keys", "tmpfs", "tmpfs", nil},
		{"/sys/firmware", "tmpfs", "tmpfs", []string{"ro"}},
	}
	for _, w := range want {
		m, found := find(mi, w.point)
		if !found {
			t.Errorf("%s not mounted:\n%s", w.point, section(out, "mountinfo"))
			continue
		}
		if w.fstype != "" && m.FSType != w.fstype {
			t.Errorf("%s: type %s, want %s", w.point, m.FSType, w.fstype)
		}
		if w.source != "" && m.Source != w.source {
			t.Errorf("%s: source %s, want %s", w.point, m.Source, w.source)
		}
		for _, o := range w.opts {
			if !hasOpt(m.Opts, o) {
				t.Errorf("%s: options %s, want %s", w.point, m.Opts, o)
			}
		}
	}
	if m, _ := find(mi, "/dev"); hasOpt(m.Opts, "relatime") {
		t.Errorf("/dev asked strictatime, got %s", m.Opts)
	}
	if m, _ := find(mi, "/dev/pts"); !strings.Contains(m.Super, "ptmxmode=666") || !strings.Contains(m.Super, "gid=5") {
		t.Errorf("/dev/pts super options %s", m.Super)
	}
	if m, _ := find(mi, "/proc/keys"); m.Root != "/null" {
		t.Errorf("/proc/keys masked by %s, want the container's /dev/null", m.Root)
	}
	devs := section(out, "dev")
	for _, d := range []string{
		"/dev/null character special file 1:3 666 0:0",
		"/dev/zero character special file 1:5 666 0:0",
		"/dev/full character special file 1:7 666 0:0",
		"/dev/random character special file 1:8 666 0:0",
		"/dev/urandom character special file 1:9 666 0:0",
		"/dev/tty character special file 5:0 666 0:0",
	} {
		if !strings.Contains(devs, d+"\n") {
			t.Errorf("want %q in\n%s", d, devs)
		}
	}
	links := section(out, "links")
	for _, l := range []string{"fd /proc/self/fd", "stdin /proc/self/fd/0", "stdout /proc/self/fd/1", "stderr /proc/self/fd/2", "ptmx pts/ptmx"} {
		if !strings.Contains(links, l+"\n") {
			t.Errorf("want link %q in\n%s", l, links)
		}
	}
	if strings.Contains(section(out, "rootwrite"), "WRITABLE") {
		t.Error("root.readonly: / is writable")
	}
	if strings.TrimSpace(section(out, "kcore")) != "0" {
		t.Errorf("masked /proc/keys readable: %q", section(out, "kcore"))
	}
	if strings.TrimSpace(section(out, "acpi")) != "0" {
		t.Errorf("masked /proc/acpi not empty: %q", section(out, "acpi"))
	}
	if !strings.Contains(section(out, "sysrq"), "refused") {
		t.Errorf("read-only /proc/sysrq-trigger written: %q", section(out, "sysrq"))
	}
	if strings.TrimSpace(section(out, "cwd")) != "/" {
		t.Errorf("cwd %q", section(out, "cwd"))
	}
}

// Without root.readonly the root is writable, and the writes land in the
// rootfs directory on the host.
func TestRootWritable(t *testing.T) {
	rootfs := newRootfs(t)
	s := baseSpec(t, rootfs)
	s.Root.Readonly = false
	ok(t, s, `echo hello > /written`)
	assertFile(t, rootfs+"/written", "hello\n")
}

// process.terminal: /dev/console is an empty regular file for oci-exec to
// bind the pty slave onto.
func TestConsolePlaceholder(t *testing.T) {
	s := baseSpec(t, "")
	s.Process.Terminal = true
	out := ok(t, s, `stat -c '%F %s' /dev/console`)
	if strings.TrimSpace(out) != "regular empty file 0" {
		t.Errorf("/dev/console: %q", out)
	}
	s.Process.Terminal = false
	out = ok(t, s, `test -e /dev/console && echo EXISTS || echo absent`)
	if strings.TrimSpace(out) != "absent" {
		t.Errorf("/dev/console without terminal: %q", out)
	}
}

// process.cwd is created if missing and is where the next program starts.
func TestCwd(t *testing.T) {
	rootfs := newRootfs(t)
	s := baseSpec(t, rootfs)
	s.Process.Cwd = "/work/dir"
	out := ok(t, s, `pwd`)
	if strings.TrimSpace(out) != "/work/dir" {
		t.Errorf("cwd %q", out)
	}
}

// oci-mount refuses the host's mount namespace: it would change the
// host's mount table.
func TestRefusesHostMountNamespace(t *testing.T) {
	s := baseSpec(t, "")
	res := runNoUnshare(t, s)
	if res.Err == nil || !strings.Contains(res.Stderr, "host's mount namespace") {
		t.Fatalf("want refusal, got err=%v stderr=%q", res.Err, res.Stderr)
	}
}

// Without root there is nothing to prepare: oci-mount only runs the next
// program, even in the host's namespaces.
func TestNoRootPassesThrough(t *testing.T) {
	s := &specs.Spec{Version: specs.Version}
	res := runNoUnshareSpec(t, s, "echo passed")
	if res.Err != nil || strings.TrimSpace(res.Stdout) != "passed" {
		t.Fatalf("err=%v stdout=%q stderr=%q", res.Err, res.Stdout, res.Stderr)
	}
}
