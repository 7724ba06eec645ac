package rootfs

import (
	"reflect"
	"strings"
	"testing"

	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/pkg/mountopt"
	"github.com/oci-run/oci-run/pkg/specgen"
)

func TestBuildDefaultSpec(t *testing.T) {
	s := specgen.Default()
	p, err := Build(s, "/bundles/b", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Rootfs != "/bundles/b/rootfs" || !p.Readonly {
		t.Errorf("root: %q readonly=%v", p.Rootfs, p.Readonly)
	}
	if p.HostPropagation != (mountopt.Propagation{Type: unix.MS_SLAVE, Recursive: true}) || p.RootPropagation != nil {
		t.Errorf("propagation: %v %v", p.HostPropagation, p.RootPropagation)
	}
	var kinds []string
	for _, m := range p.Mounts {
		kinds = append(kinds, m.Destination+":"+m.Kind.String())
	}
	want := []string{"/proc:new", "/dev:new", "/dev/pts:new", "/dev/shm:new", "/dev/mqueue:new", "/sys:new", "/sys/fs/cgroup:cgroup"}
	if !reflect.DeepEqual(kinds, want) {
		t.Errorf("mounts %v, want %v", kinds, want)
	}
	if !p.SetupDev || len(p.Devices) != 6 || !p.Console {
		t.Errorf("dev: setup=%v devices=%d console=%v", p.SetupDev, len(p.Devices), p.Console)
	}
	if len(p.MaskedPaths) != 10 || len(p.ReadonlyPaths) != 5 || p.Cwd != "/" {
		t.Errorf("masked %d readonly %d cwd %q", len(p.MaskedPaths), len(p.ReadonlyPaths), p.Cwd)
	}
	// The plan prints in the order it is applied.
	str := p.String()
	order := []string{"propagation / rslave", "rootfs /bundles/b/rootfs", "mounts[0] new proc", "device /dev/null", "symlink /dev/ptmx -> pts/ptmx", "console placeholder", "hooks", "pivot_root", "readonly /proc/bus", "mask /proc/acpi", "readonly /\n", "chdir /"}
	last := -1
	for _, o := range order {
		i := strings.Index(str, o)
		if i < 0 || i < last {
			t.Errorf("plan: %q missing or out of order in\n%s", o, str)
		}
		last = i
	}
}

func TestBuildMounts(t *testing.T) {
	s := &specs.Spec{
		Root: &specs.Root{Path: "rootfs"},
		Mounts: []specs.Mount{
			{Destination: "/data", Type: "bind", Source: "data", Options: []string{"rbind", "ro"}},
			{Destination: "relative/dir", Type: "tmpfs", Source: "tmpfs"},
			{Destination: "/dev", Type: "bind", Source: "/dev", Options: []string{"rbind"}},
			{Destination: "/x/../y", Type: "none", Source: "/abs", Options: []string{"bind"}},
			{Destination: "/proc/cpuinfo", Type: "bind", Source: "/lxcfs/cpuinfo", Options: []string{"bind"}},
			{Destination: "/mnt", Options: []string{"remount", "ro"}},
		},
		Linux: &specs.Linux{RootfsPropagation: "rshared"},
	}
	p, err := Build(s, "/b", Options{NoPivot: true})
	if err != nil {
		t.Fatal(err)
	}
	got := make([]string, len(p.Mounts))
	for i, m := range p.Mounts {
		got[i] = m.Kind.String() + " " + m.Source + " " + m.Destination
	}
	want := []string{"bind /b/data /data", "new tmpfs /relative/dir", "bind /dev /dev", "bind /abs /y", "bind /lxcfs/cpuinfo /proc/cpuinfo", "remount  /mnt"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if p.SetupDev || len(p.Devices) != 0 {
		t.Errorf("a bind-mounted /dev is not populated: setup=%v devices=%v", p.SetupDev, p.Devices)
	}
	if !p.NoPivot || p.RootPropagation == nil || *p.RootPropagation != (mountopt.Propagation{Type: unix.MS_SHARED, Recursive: true}) {
		t.Errorf("nopivot=%v rootPropagation=%v", p.NoPivot, p.RootPropagation)
	}
}

func TestBuildDevReadonly(t *testing.T) {
	s := &specs.Spec{Root: &specs.Root{Path: "/r"}, Mounts: []specs.Mount{
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"ro", "nosuid"}},
	}}
	p, err := Build(s, "/", Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := p.Mounts[0]
	if !p.DevReadonly || m.Opts.ReadOnly || m.Opts.Attr.Set&unix.MOUNT_ATTR_RDONLY != 0 || len(m.Opts.SBFlags) != 0 {
		t.Errorf("/dev ro must be deferred: %+v devReadonly=%v", m.Opts, p.DevReadonly)
	}
}

func TestBuildErrors(t *testing.T) {
	root := &specs.Root{Path: "/r"}
	tests := []struct {
		name string
		spec specs.Spec
		want string
	}{
		{"unknown option", specs.Spec{Root: root, Mounts: []specs.Mount{
			{Destination: "/a", Type: "tmpfs"}, {Destination: "/b", Type: "tmpfs"}, {Destination: "/c", Type: "tmpfs"},
			{Destination: "/d", Type: "tmpfs", Options: []string{"nosuid", "foo"}},
		}}, `mounts[3].options[1]: unknown option "foo"`},
		{"no destination", specs.Spec{Root: root, Mounts: []specs.Mount{{Type: "tmpfs"}}}, "mounts[0].destination: must be set"},
		{"over root", specs.Spec{Root: root, Mounts: []specs.Mount{{Destination: "/..", Type: "tmpfs"}}}, "mounts[0].destination: cannot mount over the container's root"},
		{"bind without source", specs.Spec{Root: root, Mounts: []specs.Mount{{Destination: "/a", Options: []string{"bind"}}}}, "mounts[0].source: a bind mount needs a source"},
		{"no type", specs.Spec{Root: root, Mounts: []specs.Mount{{Destination: "/a", Source: "x"}}}, "mounts[0].type: must be set"},
		{"inside proc", specs.Spec{Root: root, Mounts: []specs.Mount{{Destination: "/proc/kcore", Type: "bind", Source: "/x", Options: []string{"bind"}}}}, `mounts[0].destination: "/proc/kcore" is inside /proc`},
		{"idmap without mappings", specs.Spec{Root: root, Mounts: []specs.Mount{{Destination: "/a", Type: "bind", Source: "/x", Options: []string{"bind", "idmap"}}}}, "mounts[0]: an idmapped mount needs uidMappings"},
		{"mappings without idmap", specs.Spec{Root: root, Mounts: []specs.Mount{{Destination: "/a", Type: "bind", Source: "/x", Options: []string{"bind"}, UIDMappings: []specs.LinuxIDMapping{{Size: 1}}}}}, "mounts[0].uidMappings: set without"},
		{"bad propagation", specs.Spec{Root: root, Linux: &specs.Linux{RootfsPropagation: "sideways"}}, `linux.rootfsPropagation: "sideways" is not one of`},
		{"relative masked path", specs.Spec{Root: root, Linux: &specs.Linux{MaskedPaths: []string{"/ok", "rel"}}}, `linux.maskedPaths[1]: "rel" is not an absolute path`},
		{"relative readonly path", specs.Spec{Root: root, Linux: &specs.Linux{ReadonlyPaths: []string{"rel"}}}, `linux.readonlyPaths[0]: "rel" is not an absolute path`},
		{"bad device type", specs.Spec{Root: root, Linux: &specs.Linux{Devices: []specs.LinuxDevice{{Path: "/dev/x", Type: "q"}}}}, `linux.devices[0].type: "q" is not a device type`},
		{"relative device", specs.Spec{Root: root, Linux: &specs.Linux{Devices: []specs.LinuxDevice{{Path: "dev/x", Type: "c"}}}}, `linux.devices[0].path: "dev/x" is not an absolute path`},
		{"host sysctl", specs.Spec{Root: root, Linux: &specs.Linux{Sysctl: map[string]string{"vm.swappiness": "1"}}}, `linux.sysctl["vm.swappiness"]: is not namespaced`},
		{"label conflict", specs.Spec{Root: root, Mounts: []specs.Mount{{Destination: "/a", Type: "tmpfs", Options: []string{"context=x"}}}, Linux: &specs.Linux{MountLabel: "y"}}, `mounts[0].options[0]: "context=x" conflicts with linux.mountLabel`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Build(&tt.spec, "/b", Options{})
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("got %v, want %s...", err, tt.want)
			}
		})
	}
}

func TestPlanCgroupV1(t *testing.T) {
	procs := ParseProcCgroup("12:cpu,cpuacct:/c1\n11:memory:/user/c1\n1:name=systemd:/c1\n0::/c1\n")
	host := []*mountinfo.Info{
		{Mountpoint: "/sys/fs/cgroup/cpu,cpuacct", FSType: "cgroup", Root: "/", VFSOptions: "rw,cpu,cpuacct"},
		{Mountpoint: "/sys/fs/cgroup/memory", FSType: "cgroup", Root: "/user", VFSOptions: "rw,memory"},
		{Mountpoint: "/sys/fs/cgroup/systemd", FSType: "cgroup", Root: "/", VFSOptions: "rw,xattr,name=systemd"},
		{Mountpoint: "/sys/fs/cgroup/unified", FSType: "cgroup2", Root: "/", VFSOptions: "rw"},
	}
	got, err := PlanCgroupV1(procs, host)
	if err != nil {
		t.Fatal(err)
	}
	want := []CgroupMount{
		{Dir: "cpu,cpuacct", FSType: "cgroup", Params: []string{"cpu", "cpuacct"}, HostDir: "/sys/fs/cgroup/cpu,cpuacct/c1", Links: []string{"cpu", "cpuacct"}},
		{Dir: "memory", FSType: "cgroup", Params: []string{"memory"}, HostDir: "/sys/fs/cgroup/memory/c1"},
		{Dir: "systemd", FSType: "cgroup", Params: []string{"name=systemd"}, HostDir: "/sys/fs/cgroup/systemd/c1"},
		{Dir: "unified", FSType: "cgroup2", HostDir: "/sys/fs/cgroup/unified/c1"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if _, err := PlanCgroupV1(ParseProcCgroup("3:blkio:/x\n"), host); err == nil {
		t.Error("a hierarchy the host does not mount must be an error")
	}
}

// A cgroup2 mounted over a hybrid host's /sys/fs/cgroup hides the
// hierarchies below it, cgroup2 at unified included: the visible cgroup2
// is the source of a bind; the container's own mounts never are.
func TestHostCgroupMountsSkipsHidden(t *testing.T) {
	all := []*mountinfo.Info{
		{Mountpoint: "/sys/fs/cgroup", FSType: "tmpfs"},
		{Mountpoint: "/sys/fs/cgroup/memory", FSType: "cgroup", VFSOptions: "rw,memory"},
		{Mountpoint: "/sys/fs/cgroup/unified", FSType: "cgroup2", Root: "/.."},
		{Mountpoint: "/sys/fs/cgroup", FSType: "cgroup2", Root: "/"},
		{Mountpoint: "/rootfs/sys/fs/cgroup", FSType: "cgroup2", Root: "/"},
		{Mountpoint: "/rootfs", FSType: "overlay"},
	}
	got := HostCgroupMounts(all, "/rootfs")
	if len(got) != 1 || got[0] != all[3] {
		t.Errorf("got %+v, want only the cgroup2 at /sys/fs/cgroup", got)
	}
	if m := findCgroup2(got); m == nil || hostDir(m, "/c1") != "/sys/fs/cgroup/c1" {
		t.Errorf("bind source of /c1: %+v", m)
	}
}

// Whose mount namespace the rootfs is prepared in decides how it is
// entered: only the container's own is changed outside the rootfs.
func TestBuildMountNamespace(t *testing.T) {
	for _, c := range []struct {
		name   string
		ns     []specs.LinuxNamespace
		want   MountNS
		path   string
		has    []string
		hasnot []string
	}{
		{"new", []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.MountNamespace}}, NSNew, "",
			[]string{"propagation / rslave", "pivot_root"}, []string{"chroot"}},
		{"joined", []specs.LinuxNamespace{{Type: specs.MountNamespace, Path: "/proc/7/ns/mnt"}}, NSJoined, "/proc/7/ns/mnt",
			[]string{"joined mount namespace: nothing outside the rootfs changes", "rootfs /bundles/b/rootfs (private shield, then a rslave recursive bind onto itself)", "chroot\n"}, []string{"propagation /", "pivot_root"}},
		{"shared", nil, NSShared, "",
			[]string{"shared mount namespace", "chroot\n"}, []string{"propagation / ", "pivot_root", "move rootfs"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := specgen.Default()
			s.Linux.Namespaces = c.ns
			// --no-pivot does not apply where the rootfs is never moved.
			p, err := Build(s, "/bundles/b", Options{NoPivot: c.want == NSShared})
			if err != nil {
				t.Fatal(err)
			}
			if p.MountNS != c.want || p.JoinedPath != c.path {
				t.Errorf("MountNS %v %q, want %v %q", p.MountNS, p.JoinedPath, c.want, c.path)
			}
			str := p.String()
			for _, h := range c.has {
				if !strings.Contains(str, h) {
					t.Errorf("plan lacks %q:\n%s", h, str)
				}
			}
			for _, h := range c.hasnot {
				if strings.Contains(str, h) {
					t.Errorf("plan has %q:\n%s", h, str)
				}
			}
		})
	}
}

// A new user namespace has no privilege over the runtime's mount
// namespace: refused before anything exists.
func TestBuildUserNamespaceNeedsMountNamespace(t *testing.T) {
	s := specgen.Default()
	s.Linux.Namespaces = []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.UserNamespace}}
	if _, err := Build(s, "/b", Options{}); err == nil || !strings.Contains(err.Error(), `linux.namespaces: a new user namespace needs a "mount" entry`) {
		t.Errorf("err = %v", err)
	}
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.MountNamespace})
	if _, err := Build(s, "/b", Options{}); err != nil {
		t.Errorf("with a mount namespace: %v", err)
	}
}
