package security

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-run/oci-run/internal/testutil"
)

// victim is a directory of the host that a hostile image aims at.
func victim(t *testing.T) string {
	d := t.TempDir()
	os.WriteFile(filepath.Join(d, "marker"), []byte("host\n"), 0o644)
	return d
}

func tree(dir string) string {
	var out []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil {
			b, _ := os.ReadFile(p)
			out = append(out, strings.TrimPrefix(p, dir)+" "+fi.Mode().String()+" "+string(b))
		}
		return nil
	})
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// hostMountsUnder lists the host's mount points under dir.
func hostMountsUnder(t *testing.T, dir string) []string {
	var out []string
	for _, m := range testutil.Mounts(t) {
		if m == dir || strings.HasPrefix(m, dir+"/") {
			out = append(out, m)
		}
	}
	return out
}

// CVE-2021-30465 and CVE-2019-19921 class: an image whose /proc, whose
// mount destinations, masked and read-only paths, device paths and cwd
// are symlinks to a host directory, absolute and climbing, run through
// oci-run: every mount and device lands inside the rootfs, proc works in
// the container, the host directory is unchanged and has nothing mounted
// on it.
func TestHostileImageSymlinks(t *testing.T) {
	r := testutil.NewRuntime(t)
	host := victim(t)
	before := tree(host)
	for _, target := range []string{host, strings.Repeat("../", 10) + strings.TrimPrefix(host, "/")} {
		rootfs := testutil.NewRootfs(t)
		os.Remove(filepath.Join(rootfs, "proc"))
		// The image's own directory at the path the links name (oci-mount
		// does not create missing directories through a symlink).
		for _, d := range []string{"p", "e", "d"} {
			os.MkdirAll(filepath.Join(rootfs, host, d), 0o755)
		}
		// The image's own files where the links point.
		os.WriteFile(filepath.Join(rootfs, host, "marker"), []byte("image\n"), 0o644)
		os.WriteFile(filepath.Join(rootfs, host, "ro"), []byte("image\n"), 0o644)
		for l, to := range map[string]string{"proc": target + "/p", "evil": target + "/e", "cwd-link": target,
			"mask-link": target + "/marker", "ro-link": target + "/ro", "dev-link": target + "/d"} {
			if err := os.Symlink(to, filepath.Join(rootfs, l)); err != nil {
				t.Fatal(err)
			}
		}
		s := testutil.Spec(rootfs, "sh", "-c", `
echo "== proc"; head -1 /proc/self/status
echo "== cwd"; pwd
echo "== mask"; cat /mask-link | wc -c
echo "== ro"; echo x >> /ro-link 2>/dev/null && echo WRITABLE || echo readonly
echo "== dev"; stat -c '%t:%T' /dev-link/evil-null
echo "== mounts"; cut -d' ' -f5 /proc/self/mountinfo`)
		s.Process.Cwd = "/cwd-link"
		s.Root.Readonly = false
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/evil/mnt", Type: "tmpfs", Source: "tmpfs"})
		s.Linux.MaskedPaths = append(s.Linux.MaskedPaths, "/mask-link")
		s.Linux.ReadonlyPaths = append(s.Linux.ReadonlyPaths, "/ro-link")
		s.Linux.Devices = append(s.Linux.Devices, specs.LinuxDevice{Path: "/dev-link/evil-null", Type: "c", Major: 1, Minor: 3})
		res := run(t, r, s)
		if res.Code != 0 {
			t.Errorf("symlinks to %s: exit %d: %s", target, res.Code, res.Stderr)
			continue
		}
		if !strings.HasPrefix(section(res.Stdout, "proc"), "Name:") {
			t.Errorf("proc through a symlink does not work in the container: %q", section(res.Stdout, "proc"))
		}
		if cwd := strings.TrimSpace(section(res.Stdout, "cwd")); cwd != host {
			t.Errorf("cwd %q, want the image's own %s", cwd, host)
		}
		if got := strings.TrimSpace(section(res.Stdout, "mask")); got != "0" {
			t.Errorf("the masked symlink's target reads %s bytes", got)
		}
		if got := strings.TrimSpace(section(res.Stdout, "ro")); got != "readonly" {
			t.Errorf("the read-only symlink's target: %s", got)
		}
		if got := strings.TrimSpace(section(res.Stdout, "dev")); got != "1:3" {
			t.Errorf("the device through a symlink: %q", got)
		}
		for _, m := range []string{host + "/p\n", host + "/e/mnt\n", host + "/marker\n", host + "/ro\n"} {
			if !strings.Contains(section(res.Stdout, "mounts"), m) {
				t.Errorf("no mount at %s inside:\n%s", m, section(res.Stdout, "mounts"))
			}
		}
		if _, err := os.Stat(filepath.Join(rootfs, host, "e", "mnt")); err != nil {
			t.Errorf("the mount point was not made inside the rootfs: %v", err)
		}
	}
	if after := tree(host); after != before {
		t.Errorf("the host directory changed:\nbefore %s\nafter  %s", before, after)
	}
	if m := hostMountsUnder(t, host); len(m) > 0 {
		t.Errorf("mounted on the host: %q", m)
	}
}

// CVE-2025-31133 class: an image (run without a /dev tmpfs, so its own
// /dev shows) whose /dev/null is not the null device: a symlink to a
// procfs file, or a regular file. Masked paths must never be covered
// with it; oci-run refuses the container, or masks with the real null
// device.
func TestHostileDevNull(t *testing.T) {
	r := testutil.NewRuntime(t)
	for name, plant := range map[string]func(p string) error{
		"symlink to core_pattern": func(p string) error { return os.Symlink("/proc/sys/kernel/core_pattern", p) },
		"symlink out":             func(p string) error { return os.Symlink("../../../../../../etc/hostname", p) },
		"regular file":            func(p string) error { return os.WriteFile(p, []byte("image\n"), 0o666) },
	} {
		t.Run(name, func(t *testing.T) {
			rootfs := testutil.NewRootfs(t)
			if err := plant(filepath.Join(rootfs, "dev", "null")); err != nil {
				t.Fatal(err)
			}
			s := testutil.Spec(rootfs, "sh", "-c", `stat -c '%F %t:%T' /proc/version; head -c 100 /proc/version`)
			// A masked file that this kernel has (it may lack /proc/kcore).
			s.Linux.MaskedPaths = append(s.Linux.MaskedPaths, "/proc/version")
			var mounts []specs.Mount
			for _, m := range s.Mounts {
				if m.Destination != "/dev" {
					mounts = append(mounts, m)
				}
			}
			s.Mounts = mounts
			res := run(t, r, s)
			switch {
			case res.Code != 0 && strings.Contains(res.Stderr, "null"):
				// Refused, naming the null device.
			case res.Code != 0:
				t.Errorf("refused without saying why: %q", res.Stderr)
			case res.Stdout != "character special file 1:3\n":
				t.Errorf("/proc/version is masked with, and reads: %q (%s)", res.Stdout, res.Stderr)
			}
		})
	}
}

// CVE-2025-52565 class: an image whose /dev/console is a symlink to a
// procfs file, with a terminal: the pty is bound on the container's
// console and nowhere else.
func TestHostileDevConsole(t *testing.T) {
	r := testutil.NewRuntime(t)
	rootfs := testutil.NewRootfs(t)
	if err := os.Symlink("/proc/sys/kernel/core_pattern", filepath.Join(rootfs, "dev", "console")); err != nil {
		t.Fatal(err)
	}
	s := testutil.Spec(rootfs, "sh", "-c", `echo "== mounts"; cut -d' ' -f5 /proc/self/mountinfo; echo "== core"; cat /proc/sys/kernel/core_pattern; echo "== end"`)
	s.Process.Terminal = true
	var mounts []specs.Mount
	for _, m := range s.Mounts {
		if m.Destination != "/dev" {
			mounts = append(mounts, m)
		}
	}
	s.Mounts = mounts
	hostCore, _ := os.ReadFile("/proc/sys/kernel/core_pattern")
	b := testutil.Bundle(t, s)
	id := testutil.ID(t)
	res := r.RunIn([]byte{}, "run", "-b", b, id)
	testutil.NoLeaks(t, id, r.Root, b)
	if res.Code != 0 {
		if !strings.Contains(res.Stderr, "console") {
			t.Errorf("refused without naming the console: %q", res.Stderr)
		}
		t.Logf("refused: %s", strings.TrimSpace(res.Stderr))
		return
	}
	out := strings.ReplaceAll(res.Stdout, "\r", "")
	t.Logf("ran; mounts under /dev: %q", grepLines(section(out, "mounts"), "/dev"))
	if strings.Contains(section(out, "mounts"), "/proc/sys/kernel/core_pattern") {
		t.Errorf("something was mounted on /proc/sys/kernel/core_pattern:\n%s", section(out, "mounts"))
	}
	if got := strings.TrimSpace(section(out, "core")); got != strings.TrimSpace(string(hostCore)) {
		t.Errorf("core_pattern in the container reads %q, the host's is %q", got, hostCore)
	}
}

// CVE-2025-52881 class: the runtime's own writes into /proc (sysctl) are
// redirected by a mount the container controls: a volume mounted over
// /proc/sys/net whose content (attacker's) has ipv4/ip_forward as a
// symlink to a global sysctl of the host. The write is refused; the
// host's value does not change.
func TestSysctlWriteRedirected(t *testing.T) {
	r := testutil.NewRuntime(t)
	const global = "/proc/sys/fs/lease-break-time"
	orig, err := os.ReadFile(global)
	if err != nil {
		t.Skip(err)
	}
	t.Cleanup(func() {
		if now, _ := os.ReadFile(global); string(now) != string(orig) {
			os.WriteFile(global, orig, 0)
		}
	})
	n, _ := strconv.Atoi(strings.TrimSpace(string(orig)))
	volume := t.TempDir()
	os.MkdirAll(filepath.Join(volume, "ipv4"), 0o755)
	os.Symlink(global, filepath.Join(volume, "ipv4", "ip_forward"))
	s := testutil.Spec("", "true")
	s.Mounts = append(s.Mounts, specs.Mount{Destination: "/proc/sys/net", Type: "bind", Source: volume, Options: []string{"rbind"}})
	s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": strconv.Itoa(n + 1)}
	res := run(t, r, s)
	if now, _ := os.ReadFile(global); string(now) != string(orig) {
		t.Errorf("the host's %s changed from %q to %q", global, orig, now)
	}
	// Refused before anything runs: a mount may cover only a few files
	// of /proc (as runc, after CVE-2019-19921), and a write of linux.sysctl
	// does not leave procfs or follow a symlink.
	if res.Code == 0 {
		t.Errorf("the sysctl write through the volume succeeded")
	} else if !strings.Contains(res.Stderr, "mounts[7].destination") && !strings.Contains(res.Stderr, "linux.sysctl") {
		t.Errorf("refused without naming the mount or linux.sysctl: %q", res.Stderr)
	}
	t.Logf("refused: %s", strings.TrimSpace(res.Stderr))
}

// CVE-2019-5736 as it was exploited: the container's command is
// /proc/self/exe, so the runtime execs itself in the container. Here
// that is the sealed copy of oci-mount (which runs oci-exec's stage in
// its own process when oci-exec comes next), or of oci-exec when it is
// exec'd: it runs (and prints its help) without touching the host
// binaries.
func TestProcSelfExeAsTheCommand(t *testing.T) {
	r := testutil.NewRuntime(t)
	before := map[string][]byte{}
	for _, name := range []string{"oci-mount", "oci-exec"} {
		b, _ := os.ReadFile(testutil.Bin(t, name))
		before[name] = b
	}
	res := run(t, r, testutil.Spec("", "/proc/self/exe", "--help"))
	if res.Code != 0 || !strings.Contains(res.Stdout, "Usage: oci-mount") && !strings.Contains(res.Stdout, "Usage: oci-exec") {
		t.Errorf("exit %d: %q %q", res.Code, res.Stdout, res.Stderr)
	}
	for name, b := range before {
		if after, _ := os.ReadFile(testutil.Bin(t, name)); string(after) != string(b) {
			t.Errorf("%s changed", name)
		}
	}
}

func grepLines(s, sub string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return out
}
