package mount

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-run/oci-run/internal/testutil"
)

func u32(v uint32) *uint32 { return &v }

func mode(m os.FileMode) *os.FileMode { return &m }

// linux.devices: type, numbers, mode and owner, as runtime-tools
// linux_devices checks them.
func TestDevices(t *testing.T) {
	s := baseSpec(t, "")
	s.Linux.Devices = []specs.LinuxDevice{
		{Path: "/dev/test1", Type: "c", Major: 10, Minor: 666, FileMode: mode(0o660), UID: u32(0), GID: u32(0)},
		{Path: "/dev/test2", Type: "b", Major: 8, Minor: 666, FileMode: mode(0o660), UID: u32(1000), GID: u32(1001)},
		{Path: "/dev/test3", Type: "p", FileMode: mode(0o640)},
		{Path: "/dev/sub/dir/test4", Type: "u", Major: 1, Minor: 5},
		// A spec entry replaces a default device.
		{Path: "/dev/null", Type: "c", Major: 1, Minor: 3, FileMode: mode(0o600)},
	}
	out := ok(t, s, `for d in /dev/test1 /dev/test2 /dev/test3 /dev/sub/dir/test4 /dev/null; do stat -c '%n %F %t:%T %a %u:%g' $d; done`)
	for _, w := range []string{
		"/dev/test1 character special file a:29a 660 0:0",
		"/dev/test2 block special file 8:29a 660 1000:1001",
		"/dev/test3 fifo 0:0 640 0:0",
		"/dev/sub/dir/test4 character special file 1:5 666 0:0",
		"/dev/null character special file 1:3 600 0:0",
	} {
		if !strings.Contains(out, w+"\n") {
			t.Errorf("want %q in\n%s", w, out)
		}
	}
}

// linux.sysctl: namespaced keys are written inside; others are refused
// before anything is done.
func TestSysctl(t *testing.T) {
	s := baseSpec(t, "")
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace}, specs.LinuxNamespace{Type: specs.IPCNamespace})
	s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1", "kernel.shmmni": "1234", "net/ipv4/ip_default_ttl": "33"}
	out := ok(t, s, `cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni /proc/sys/net/ipv4/ip_default_ttl`, run{Unshare: []string{"-n", "-i"}})
	if out != "1\n1234\n33\n" {
		t.Errorf("sysctl values %q", out)
	}
	s.Linux.Sysctl = map[string]string{"kernel.panic": "1"}
	if msg := fails(t, s, run{Unshare: []string{"-n", "-i"}}); !strings.Contains(msg, `linux.sysctl["kernel.panic"]: is not namespaced`) {
		t.Errorf("got %q", msg)
	}
	s.Linux.Namespaces = s.Linux.Namespaces[:2]
	s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
	if msg := fails(t, s); !strings.Contains(msg, "belongs to the network namespace") {
		t.Errorf("got %q", msg)
	}
}

// linux.rootfsPropagation, checked the way runtime-tools does it from
// inside: bind "/" elsewhere, mount below "/", and see whether the mount
// shows through the bind (shared) or not (slave, private); an unbindable
// root cannot be bound at all.
func TestRootfsPropagation(t *testing.T) {
	script := `
mkdir -p /target /mnt1 /test && touch /test/example
if ! mount -o rbind / /target 2>/dev/null; then echo unbindable; exit 0; fi
mount -o bind /test /mnt1
test -e /target/mnt1/example && echo exposed || echo hidden
true
`
	for prop, want := range map[string]string{
		"shared": "exposed", "rshared": "exposed", "slave": "hidden", "rslave": "hidden",
		"private": "hidden", "rprivate": "hidden", "unbindable": "unbindable", "runbindable": "unbindable",
	} {
		t.Run(prop, func(t *testing.T) {
			s := baseSpec(t, newRootfs(t))
			s.Root.Readonly = false
			s.Linux.RootfsPropagation = prop
			out := ok(t, s, script)
			if first := strings.SplitN(out, "\n", 2)[0]; first != want {
				t.Errorf("%s: got %q, want %s", prop, out, want)
			}
		})
	}
}

// In a user namespace, mknod is refused: the devices are bind mounts of
// the host's nodes; sysfs of the host's network namespace is a bind too.
func TestUserNamespace(t *testing.T) {
	rootfs := newRootfs(t)
	s := baseSpec(t, rootfs)
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace}, specs.LinuxNamespace{Type: specs.IPCNamespace})
	s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 0, Size: 65536}}
	s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 0, Size: 65536}}
	out := ok(t, s, `
echo "== dev"; stat -c '%n %F %t:%T' /dev/null /dev/zero /dev/tty
echo "== mountinfo"; cat /proc/self/mountinfo
echo "== null"; echo x > /dev/null && echo writable
`, run{UserNS: userNS()})
	for _, w := range []string{"/dev/null character special file 1:3", "/dev/zero character special file 1:5", "/dev/tty character special file 5:0"} {
		if !strings.Contains(section(out, "dev"), w) {
			t.Errorf("want %q in %s", w, section(out, "dev"))
		}
	}
	mi := parseMountinfo(t, section(out, "mountinfo"))
	if m, found := find(mi, "/dev/null"); !found || m.FSType != "devtmpfs" {
		t.Errorf("/dev/null is not a bind of the host's node: %+v", m)
	}
	if m, _ := find(mi, "/sys"); m.FSType != "sysfs" || !hasOpt(m.Opts, "ro") {
		t.Errorf("/sys: %+v", m)
	}
	if strings.TrimSpace(section(out, "null")) != "writable" {
		t.Errorf("/dev/null: %q", section(out, "null"))
	}
}

// idmap: without a user namespace of its own, oci-mount makes the
// idmapped tree itself; the files of the host directory appear with the
// mapped owner.
func TestIDMapMount(t *testing.T) {
	src := t.TempDir()
	// On-disk ids are shown through the mapping: 0 (containerID) appears
	// as 1000 (hostID), as for an image owned by root in a container
	// whose root is host uid 1000.
	os.WriteFile(filepath.Join(src, "owned"), []byte("x"), 0o644)
	s := baseSpec(t, "")
	s.Mounts = append(s.Mounts,
		specs.Mount{Destination: "/idmapped", Type: "bind", Source: src, Options: []string{"bind", "idmap"},
			UIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 10}},
			GIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 10}}},
		specs.Mount{Destination: "/plain", Type: "bind", Source: src, Options: []string{"bind"}},
	)
	out := ok(t, s, `stat -c '%u:%g' /idmapped/owned /plain/owned; grep idmapped /proc/self/mountinfo`)
	lines := strings.Split(out, "\n")
	if len(lines) < 3 || lines[0] != "1000:1000" || lines[1] != "0:0" || !strings.Contains(lines[2], "idmapped") {
		t.Errorf("idmapped owner: %q", out)
	}
	// Inside a user namespace the tree needs the host's privilege: a
	// clear error that says how it is provided.
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace}, specs.LinuxNamespace{Type: specs.IPCNamespace})
	s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 0, Size: 65536}}
	s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 0, Size: 65536}}
	msg := fails(t, s, run{UserNS: userNS()})
	if !strings.Contains(msg, "OCI_MOUNT_FDS") {
		t.Errorf("got %q", msg)
	}
}

// A cgroup namespace shows its own root in every hierarchy; without one,
// the container's cgroup directories are bound (checked in
// TestDefaultSpec through /sys/fs/cgroup/memory).
func TestCgroupNamespace(t *testing.T) {
	s := baseSpec(t, "")
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.CgroupNamespace})
	out := ok(t, s, `cat /proc/self/mountinfo; cat /proc/self/cgroup`, run{Unshare: []string{"-C"}})
	mi := parseMountinfo(t, out)
	for _, h := range []string{"memory", "cpu", "pids", "systemd", "unified"} {
		m, found := find(mi, "/sys/fs/cgroup/"+h)
		if !found || m.Root != "/" || !hasOpt(m.Opts, "ro") {
			t.Errorf("%s: %+v (found %v)", h, m, found)
		}
	}
	if m, _ := find(mi, "/sys/fs/cgroup/systemd"); !strings.Contains(m.Super, "name=systemd") {
		t.Errorf("systemd hierarchy: %+v", m)
	}
}

// --no-pivot: the rootfs is moved over "/" and chrooted into.
func TestNoPivot(t *testing.T) {
	s := baseSpec(t, "")
	out := ok(t, s, `cat /etc/hosts; grep -c . /proc/self/mountinfo >/dev/null && echo mountinfo-ok`, run{Args: []string{"--no-pivot"}})
	if out != "127.0.0.1\tlocalhost\nmountinfo-ok\n" {
		t.Errorf("--no-pivot: %q", out)
	}
}

// A stage after oci-mount runs after the pivot, where its host path is
// gone: oci-mount seals it beforehand.
func TestNextStageIsSealed(t *testing.T) {
	s := baseSpec(t, "")
	seccomp := testutil.Bin(t, "oci-seccomp")
	out := ok(t, s, "", run{Next: []string{seccomp, "--", "/bin/sh", "-c", "test -e " + seccomp + " && echo host-visible; echo ran"}})
	if out != "ran\n" {
		t.Errorf("got %q", out)
	}
}
