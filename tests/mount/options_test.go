package mount

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Every mount option runc accepts, read back from the container's
// /proc/self/mountinfo, plus writes that must fail where a mount is
// read-only.
func TestMountOptions(t *testing.T) {
	rootfs := newRootfs(t)
	host := t.TempDir()
	for _, d := range []string{"src", "lower", "upper", "work"} {
		os.MkdirAll(filepath.Join(host, d), 0o755)
	}
	os.WriteFile(filepath.Join(host, "src", "hostfile"), []byte("host\n"), 0o644)
	os.WriteFile(filepath.Join(host, "lower", "lowerfile"), []byte("lower\n"), 0o644)
	os.WriteFile(filepath.Join(host, "single"), []byte("single\n"), 0o644)
	tm := func(dest string, opts ...string) specs.Mount {
		return specs.Mount{Destination: dest, Type: "tmpfs", Source: "tmpfs", Options: opts}
	}
	bind := func(src, dest string, opts ...string) specs.Mount {
		return specs.Mount{Destination: dest, Type: "bind", Source: src, Options: opts}
	}
	s := baseSpec(t, rootfs)
	s.Root.Readonly = false
	s.Mounts = append(s.Mounts,
		tm("/opt/ro", "ro"),
		tm("/opt/nosuid", "nosuid", "nodev", "noexec"),
		tm("/opt/noatime", "noatime"),
		tm("/opt/strictatime", "strictatime"),
		tm("/opt/nodiratime", "nodiratime"),
		tm("/opt/nosymfollow", "nosymfollow"),
		tm("/opt/sync", "sync", "dirsync"),
		tm("/opt/mode", "mode=700", "size=1m", "nr_inodes=100"),
		bind(filepath.Join(host, "src"), "/opt/bindro", "bind", "ro"),
		bind(filepath.Join(host, "single"), "/opt/newdir/single", "bind", "ro"),
		// A tree with a submount, bound with and without recursion.
		tm("/opt/base"),
		tm("/opt/base/sub"),
		bind(filepath.Join(rootfs, "opt/base"), "/opt/rro", "rbind", "rro"),
		bind(filepath.Join(rootfs, "opt/base"), "/opt/rbindro", "rbind", "ro"),
		bind(filepath.Join(rootfs, "opt/base"), "/opt/plainbind", "bind"),
		bind(filepath.Join(rootfs, "opt/base"), "/opt/rnosuid", "rbind", "rnosuid", "rnodev", "rnoexec"),
		// Propagation.
		tm("/opt/shared", "shared"),
		bind(filepath.Join(rootfs, "opt/shared"), "/opt/slave", "bind", "slave"),
		tm("/opt/rshared", "rshared"),
		tm("/opt/private", "private"),
		tm("/opt/unbindable", "unbindable"),
		// Other filesystem types.
		specs.Mount{Destination: "/opt/overlay", Type: "overlay", Source: "overlay", Options: []string{
			"lowerdir=" + filepath.Join(host, "lower"), "upperdir=" + filepath.Join(host, "upper"), "workdir=" + filepath.Join(host, "work")}},
		specs.Mount{Destination: "/opt/cgroup2", Type: "cgroup2", Source: "cgroup2", Options: []string{"ro"}},
		specs.Mount{Destination: "/opt/proc2", Type: "proc", Source: "proc", Options: []string{"nosuid", "hidepid=1"}},
		// tmpcopyup keeps what the image had there.
		tm("/etc", "tmpcopyup", "mode=755"),
		// remount changes what an earlier entry mounted.
		tm("/opt/later"),
		specs.Mount{Destination: "/opt/later", Options: []string{"remount", "ro", "nosuid"}},
	)
	out := ok(t, s, `
echo "== mountinfo"; cat /proc/self/mountinfo
echo "== writes"
for d in ro bindro rro rro/sub rbindro later; do touch /opt/$d/x 2>/dev/null && echo "$d writable" || echo "$d readonly"; done
touch /opt/rbindro/sub/x && echo "rbindro/sub writable"
echo "== files"
cat /opt/bindro/hostfile /opt/newdir/single /opt/overlay/lowerfile /etc/passwd | head -4
echo upper > /opt/overlay/new
echo changed >> /etc/passwd
ls /opt/plainbind/sub | wc -l
stat -c '%a' /opt/mode
`)
	mi := parseMountinfo(t, section(out, "mountinfo"))
	check := func(point string, want ...string) {
		t.Helper()
		m, found := find(mi, point)
		if !found {
			t.Errorf("%s: not mounted", point)
			return
		}
		for _, w := range want {
			neg := strings.HasPrefix(w, "!")
			w = strings.TrimPrefix(w, "!")
			var has bool
			switch {
			case strings.HasPrefix(w, "type="):
				has = m.FSType == w[5:]
			case strings.HasPrefix(w, "super:"):
				has = hasOpt(m.Super, w[6:])
			case strings.HasPrefix(w, "opt:"):
				has = strings.Contains(m.Optional, w[4:])
			default:
				has = hasOpt(m.Opts, w)
			}
			if has == neg {
				t.Errorf("%s: want %s%s, have opts=%s optional=%q type=%s super=%s", point, map[bool]string{true: "not "}[neg], w, m.Opts, m.Optional, m.FSType, m.Super)
			}
		}
	}
	check("/opt/ro", "ro", "super:ro")
	check("/opt/nosuid", "nosuid", "nodev", "noexec", "rw")
	check("/opt/noatime", "noatime", "!relatime")
	check("/opt/strictatime", "!noatime", "!relatime")
	check("/opt/nodiratime", "nodiratime")
	check("/opt/nosymfollow", "nosymfollow")
	check("/opt/sync", "super:sync", "super:dirsync")
	check("/opt/mode", "super:mode=700", "super:size=1024k", "super:nr_inodes=100")
	check("/opt/bindro", "ro")
	check("/opt/newdir/single", "ro")
	check("/opt/rro", "ro")
	check("/opt/rro/sub", "ro")
	check("/opt/rbindro", "ro")
	check("/opt/rbindro/sub", "rw")
	check("/opt/rnosuid/sub", "nosuid", "nodev", "noexec")
	check("/opt/shared", "opt:shared:")
	check("/opt/slave", "opt:master:")
	check("/opt/rshared", "opt:shared:")
	check("/opt/private", "!opt:shared", "!opt:master")
	check("/opt/unbindable", "opt:unbindable")
	check("/opt/overlay", "type=overlay")
	check("/opt/cgroup2", "type=cgroup2", "ro")
	check("/opt/proc2", "type=proc", "nosuid", "super:hidepid=noaccess")
	check("/etc", "type=tmpfs")
	check("/opt/later", "ro", "nosuid")
	if _, found := find(mi, "/opt/plainbind/sub"); found {
		t.Error("a plain bind must not carry submounts")
	}
	writes := section(out, "writes")
	for _, w := range []string{"ro readonly", "bindro readonly", "rro readonly", "rro/sub readonly", "rbindro readonly", "rbindro/sub writable", "later readonly"} {
		if !strings.Contains(writes, w+"\n") {
			t.Errorf("want %q in\n%s", w, writes)
		}
	}
	files := section(out, "files")
	for _, w := range []string{"host\n", "single\n", "lower\n", "root:x:0:0"} {
		if !strings.Contains(files, w) {
			t.Errorf("want %q in\n%s", w, files)
		}
	}
	if !strings.Contains(files, "\n0\n700\n") {
		t.Errorf("plain bind shows the submount's content or wrong mode:\n%s", files)
	}
	// The overlay wrote to its upper dir; tmpcopyup wrote to the tmpfs,
	// not to the image.
	assertFile(t, filepath.Join(host, "upper", "new"), "upper\n")
	if b, _ := os.ReadFile(filepath.Join(rootfs, "etc", "passwd")); strings.Contains(string(b), "changed") {
		t.Error("tmpcopyup: write reached the image's /etc/passwd")
	}
	// A read-only bind left the host directory alone.
	if _, err := os.Stat(filepath.Join(host, "src", "x")); err == nil {
		t.Error("write through a read-only bind reached the host")
	}
}

// Bad options are refused before anything is mounted, with the field.
func TestMountOptionErrors(t *testing.T) {
	s := baseSpec(t, "")
	s.Mounts = append(s.Mounts, specs.Mount{Destination: "/opt/x", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "foo"}})
	n := len(s.Mounts) - 1
	msg := fails(t, s)
	want := "oci-mount: mounts[" + strconv.Itoa(n) + `].options[1]: unknown option "foo"`
	if msg != want {
		t.Errorf("got %q\nwant %q", msg, want)
	}
	// The kernel's own refusal is reported with the mount and the
	// filesystem's message.
	s = baseSpec(t, "")
	s.Mounts = append(s.Mounts, specs.Mount{Destination: "/opt/x", Type: "tmpfs", Source: "tmpfs", Options: []string{"size=lots"}})
	msg = fails(t, s)
	if !strings.Contains(msg, `mount "tmpfs" on "/opt/x" (rootfs `) || !strings.Contains(msg, "size") {
		t.Errorf("got %q", msg)
	}
	s = baseSpec(t, "")
	s.Mounts = append(s.Mounts, specs.Mount{Destination: "/opt/x", Type: "nosuchfs", Source: "x"})
	msg = fails(t, s)
	if !strings.Contains(msg, `"nosuchfs" is not supported by the kernel`) {
		t.Errorf("got %q", msg)
	}
}
