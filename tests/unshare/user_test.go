package unshare_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/internal/testutil"
)

func userSpec(uid, gid []specs.LinuxIDMapping, more ...specs.LinuxNamespaceType) *specs.Spec {
	s := newSpec(nsNew(append([]specs.LinuxNamespaceType{specs.UserNamespace}, more...)...)...)
	s.Linux.UIDMappings, s.Linux.GIDMappings = uid, gid
	return s
}

func idm(c, h, n uint32) specs.LinuxIDMapping {
	return specs.LinuxIDMapping{ContainerID: c, HostID: h, Size: n}
}

// The container sees its maps; the host sees the mapped ids; the
// container's root keeps its capabilities and may call setgroups.
func TestUserNamespaceMappings(t *testing.T) {
	testutil.RequireRoot(t)
	uid := []specs.LinuxIDMapping{idm(0, 100000, 1000), idm(1000, 300000, 10)}
	gid := []specs.LinuxIDMapping{idm(0, 200000, 65536)}
	s := userSpec(uid, gid, specs.PIDNamespace, specs.MountNamespace)
	cmd := command(t, s, nil, "sh", "-c", `cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; id -u; id -g; grep CapEff /proc/self/status; read x || true`)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	rt := withSync(t, cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	msg, err := rt.Recv()
	if err != nil {
		t.Fatal(err)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", msg.Pid))
	if err != nil {
		t.Fatal(err)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if !strings.Contains(string(status), "\nUid:\t100000\t100000\t100000\t100000\n") ||
		!strings.Contains(string(status), "\nGid:\t200000\t200000\t200000\t200000\n") {
		t.Errorf("host view of the first process: want uid 100000 and gid 200000:\n%s", status)
	}
	fields := strings.Fields(out.String())
	want := strings.Fields(`0 100000 1000 1000 300000 10 0 200000 65536 allow 0 0 CapEff: 000001ffffffffff`)
	if strings.Join(fields, " ") != strings.Join(want, " ") {
		t.Errorf("inside:\n%s\nwant (fields) %q", out.String(), want)
	}
}

// The rootfs of a user-namespaced container must be owned by the mapped
// root (docs/architecture.md): then the container's root owns its files;
// a rootfs owned by the host's root is read-only to it (unmapped owner).
func TestUserNamespaceRootfsOwnership(t *testing.T) {
	testutil.RequireRoot(t)
	uid := []specs.LinuxIDMapping{idm(0, 100000, 65536)}
	s := userSpec(uid, uid, specs.MountNamespace, specs.PIDNamespace)

	owned := testutil.NewRootfs(t)
	chown(t, owned, 100000, 100000)
	traversable(t, owned)
	out := mustRun(t, s, "chroot", owned, "/bin/sh", "-c", "touch /root/made && stat -c '%u:%g' /root/made /bin/busybox")
	if got := strings.Fields(out); strings.Join(got, " ") != "0:0 0:0" {
		t.Errorf("inside a mapped-root rootfs: owners %q, want 0:0 0:0", got)
	}
	if owner := fileOwner(t, filepath.Join(owned, "root", "made")); owner != "100000:100000" {
		t.Errorf("file made by the container's root is owned by %s on the host, want 100000:100000", owner)
	}

	hosts := testutil.NewRootfs(t)
	traversable(t, hosts)
	r := run(t, s, nil, "chroot", hosts, "/bin/sh", "-c", "stat -c '%u' /bin/busybox; touch /root/made")
	if r.code == 0 || !strings.Contains(r.stdout, "65534") || !strings.Contains(r.stderr, "Permission denied") {
		t.Errorf("a host-root-owned rootfs: want its files owned by the overflow uid and unwritable; exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
}

func fileOwner(t *testing.T, p string) string {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%d:%d", st.Uid, st.Gid)
}

// Time namespace offsets: boottime shows in /proc/uptime, both in
// /proc/self/timens_offsets; in a user namespace too (the namespace is
// then owned by it, and the write needs the dumpable dance).
func TestTimeNamespaceOffsets(t *testing.T) {
	testutil.RequireRoot(t)
	const boot, mono = 30 * 86400, 7 * 86400
	for _, withUser := range []bool{false, true} {
		t.Run(fmt.Sprintf("user=%v", withUser), func(t *testing.T) {
			s := newSpec(nsNew(specs.TimeNamespace, specs.PIDNamespace)...)
			if withUser {
				s = userSpec([]specs.LinuxIDMapping{idm(0, 100000, 65536)}, []specs.LinuxIDMapping{idm(0, 100000, 65536)}, specs.TimeNamespace, specs.PIDNamespace)
			}
			s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{
				"boottime":  {Secs: boot, Nanosecs: 500},
				"monotonic": {Secs: mono},
			}
			before := uptime(t, readFile(t, "/proc/uptime"))
			out := mustRun(t, s, "sh", "-c", "cat /proc/uptime /proc/self/timens_offsets")
			after := uptime(t, readFile(t, "/proc/uptime"))
			inside := uptime(t, out)
			if inside < before+boot || inside > after+boot+1 {
				t.Errorf("uptime inside %.2f, want the host's (%.2f..%.2f) + %d", inside, before, after, boot)
			}
			fields := strings.Join(strings.Fields(out)[2:], " ")
			if fields != fmt.Sprintf("monotonic %d 0 boottime %d 500", mono, boot) {
				t.Errorf("timens_offsets: %q", fields)
			}
		})
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func uptime(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(strings.Fields(s)[0], 64)
	if err != nil {
		t.Fatalf("uptime %q: %v", s, err)
	}
	return f
}

// Mappings the kernel would refuse fail with one line naming the field,
// before anything is created.
func TestMappingErrors(t *testing.T) {
	testutil.RequireRoot(t)
	root := []specs.LinuxIDMapping{idm(0, 100000, 65536)}
	cases := []struct {
		name string
		spec *specs.Spec
		want []string
	}{
		{"overlap", userSpec([]specs.LinuxIDMapping{idm(0, 100000, 100), idm(50, 300000, 10)}, root), []string{"linux.uidMappings[1]", "overlap linux.uidMappings[0]"}},
		{"past the last id", userSpec(root, []specs.LinuxIDMapping{idm(0, 4294967000, 1000)}), []string{"linux.gidMappings[0]", "go past 4294967294"}},
		{"too many ranges", userSpec(func() []specs.LinuxIDMapping {
			var m []specs.LinuxIDMapping
			for i := uint32(0); i < 341; i++ {
				m = append(m, idm(i, 100000+i, 1))
			}
			return m
		}(), root), []string{"linux.uidMappings", "341 ranges"}},
		{"root not mapped", userSpec([]specs.LinuxIDMapping{idm(1, 100000, 10)}, root), []string{"linux.uidMappings", "root"}},
		{"no gid mappings", userSpec(root, nil), []string{"linux.gidMappings", "must be set"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			refused(t, c.spec, c.want...)
		})
	}
}
