package mount

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// victim is a host directory a hostile image aims at; listing it before
// and after shows whether anything landed there.
func victim(t *testing.T) string {
	d := t.TempDir()
	os.WriteFile(filepath.Join(d, "marker"), []byte("host secret\n"), 0o644)
	return d
}

func listTree(t *testing.T, dir string) []string {
	var out []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil {
			out = append(out, strings.TrimPrefix(p, dir)+" "+fi.Mode().String())
		}
		return nil
	})
	sort.Strings(out)
	return out
}

// Symlinks in the image at mount destinations, masked and read-only
// paths, device paths and the cwd, absolute and relative, all pointing at
// a host directory: everything lands inside the rootfs.
func TestHostileSymlinks(t *testing.T) {
	rootfs := newRootfs(t)
	host := victim(t)
	before := listTree(t, host)
	climb := strings.Repeat("../", 12)
	links := map[string]string{
		"evil-abs":    host,
		"evil-rel":    climb + host,
		"mask-link":   host + "/marker",
		"ro-link":     climb + host + "/marker2",
		"cwd-link":    climb + host,
		"dev-link":    host,
		"file-link":   host + "/created-file",
		"etc-link":    "/etc",
		"parent-link": "..",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(rootfs, name)); err != nil {
			t.Fatal(err)
		}
	}
	// The image's own copy of the file the masked/readonly links name.
	inRoot := filepath.Join(rootfs, host)
	os.MkdirAll(inRoot, 0o755)
	os.WriteFile(filepath.Join(inRoot, "marker"), []byte("image file\n"), 0o644)
	os.WriteFile(filepath.Join(inRoot, "marker2"), []byte("image file\n"), 0o644)
	src := filepath.Join(t.TempDir(), "src")
	os.WriteFile(src, []byte("bound\n"), 0o644)

	s := baseSpec(t, rootfs)
	s.Root.Readonly = false
	s.Process.Cwd = "/cwd-link"
	s.Mounts = append(s.Mounts,
		specs.Mount{Destination: "/evil-abs/newdir", Type: "tmpfs", Source: "tmpfs"},
		specs.Mount{Destination: "/evil-rel/newdir2", Type: "tmpfs", Source: "tmpfs"},
		specs.Mount{Destination: "/file-link", Type: "bind", Source: src, Options: []string{"bind"}},
		specs.Mount{Destination: "/etc-link/mounted", Type: "tmpfs", Source: "tmpfs"},
		specs.Mount{Destination: "/parent-link/parent-link/" + climb + "dotdot", Type: "tmpfs", Source: "tmpfs"},
	)
	s.Linux.MaskedPaths = append(s.Linux.MaskedPaths, "/mask-link")
	s.Linux.ReadonlyPaths = append(s.Linux.ReadonlyPaths, "/ro-link")
	s.Linux.Devices = append(s.Linux.Devices, specs.LinuxDevice{Path: "/dev-link/evil-null", Type: "c", Major: 1, Minor: 3})
	out := ok(t, s, `
echo "== cwd"; pwd; cat marker2
echo "== mountinfo"; cat /proc/self/mountinfo
echo "== mask"; cat /mask-link | wc -c
echo "== ro"; echo x >> /ro-link 2>/dev/null && echo WRITABLE || echo readonly
echo "== file"; cat /file-link
echo "== dev"; stat -c '%t:%T' `+host+`/evil-null
`)
	if after := listTree(t, host); strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Errorf("host directory changed:\nbefore %v\nafter  %v", before, after)
	}
	if b, _ := os.ReadFile(filepath.Join(host, "marker")); string(b) != "host secret\n" {
		t.Errorf("host marker changed: %q", b)
	}
	if got := section(out, "cwd"); got != host+"\nimage file\n" {
		t.Errorf("cwd: %q (want the image's %s)", got, host)
	}
	mi := parseMountinfo(t, section(out, "mountinfo"))
	for _, p := range []string{host + "/newdir", host + "/newdir2", host + "/created-file", "/etc/mounted", "/dotdot"} {
		if _, found := find(mi, p); !found {
			t.Errorf("mount for %s not at its in-root place:\n%s", p, section(out, "mountinfo"))
		}
	}
	if strings.TrimSpace(section(out, "mask")) != "0" {
		t.Errorf("masked symlink target readable: %q", section(out, "mask"))
	}
	if strings.TrimSpace(section(out, "ro")) != "readonly" {
		t.Errorf("read-only symlink target: %q", section(out, "ro"))
	}
	if section(out, "file") != "bound\n" || section(out, "dev") != "1:3\n" {
		t.Errorf("file %q dev %q", section(out, "file"), section(out, "dev"))
	}
	// What was created went into the rootfs.
	for _, p := range []string{"newdir", "newdir2", "created-file", "evil-null"} {
		if _, err := os.Lstat(filepath.Join(inRoot, p)); err != nil {
			t.Errorf("%s not created inside the rootfs: %v", p, err)
		}
	}
}

// A proc mounted elsewhere than /proc cannot be used to reach the host
// through its magic links (/myproc/self/root is the host's root before
// the pivot): resolution refuses magic links.
func TestMagicLinkDestination(t *testing.T) {
	rootfs := newRootfs(t)
	host := victim(t)
	before := listTree(t, host)
	s := baseSpec(t, rootfs)
	s.Mounts = append(s.Mounts,
		specs.Mount{Destination: "/myproc", Type: "proc", Source: "proc"},
		specs.Mount{Destination: "/myproc/self/root" + host + "/escaped", Type: "tmpfs", Source: "tmpfs"},
	)
	msg := fails(t, s)
	if !strings.Contains(msg, "/myproc/self/root") {
		t.Errorf("error %q does not name the destination", msg)
	}
	if after := listTree(t, host); strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Errorf("host directory changed:\nbefore %v\nafter  %v", before, after)
	}
}

// A component of the destination is swapped between a directory and a
// symlink to the host while oci-mount creates mount points, files and
// device nodes below it. Whatever wins each race, nothing is created in
// the host directory.
func TestSymlinkSwapRace(t *testing.T) {
	rootfs := newRootfs(t)
	host := victim(t)
	before := listTree(t, host)
	real := filepath.Join(rootfs, "race")
	alt := filepath.Join(rootfs, "race-alt")
	os.MkdirAll(real, 0o755)
	if err := os.Symlink(host, alt); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "src")
	os.WriteFile(src, nil, 0o644)
	var stop atomic.Bool
	var wg sync.WaitGroup
	var swaps atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			if err := unix.Renameat2(unix.AT_FDCWD, real, unix.AT_FDCWD, alt, unix.RENAME_EXCHANGE); err == nil {
				swaps.Add(1)
			}
		}
	}()
	const runs = 40
	for i := range runs {
		s := baseSpec(t, rootfs)
		s.Mounts = []specs.Mount{
			{Destination: "/race/a/dir" + strconv.Itoa(i), Type: "tmpfs", Source: "tmpfs"},
			{Destination: "/race/file" + strconv.Itoa(i), Type: "bind", Source: src, Options: []string{"bind"}},
		}
		s.Linux.MaskedPaths, s.Linux.ReadonlyPaths = nil, nil
		s.Linux.Devices = []specs.LinuxDevice{{Path: "/race/dev" + strconv.Itoa(i), Type: "c", Major: 1, Minor: 3}}
		// Success or a clean failure (the path changed under us) are both
		// fine; only where things land matters.
		container(t, s, "true", run{})
	}
	stop.Store(true)
	wg.Wait()
	t.Logf("%d runs, %d swaps", runs, swaps.Load())
	if after := listTree(t, host); strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Errorf("host directory changed:\nbefore %v\nafter  %v", before, after)
	}
}
