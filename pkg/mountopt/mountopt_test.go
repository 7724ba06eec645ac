package mountopt

import (
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		typ  string
		opts []string
		want Options
	}{
		{
			name: "runc default /dev",
			typ:  "tmpfs", opts: []string{"nosuid", "strictatime", "mode=755", "size=65536k"},
			want: Options{
				Attr:   Attr{Set: unix.MOUNT_ATTR_NOSUID, Atime: unix.MOUNT_ATTR_STRICTATIME, AtimeSet: true},
				Params: []Param{{Key: "mode", Value: "755"}, {Key: "size", Value: "65536k"}},
			},
		},
		{
			name: "devpts flags and values",
			typ:  "devpts", opts: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"},
			want: Options{
				Attr:   Attr{Set: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NOEXEC},
				Params: []Param{{Key: "newinstance", Flag: true}, {Key: "ptmxmode", Value: "0666"}, {Key: "mode", Value: "0620"}, {Key: "gid", Value: "5"}},
			},
		},
		{
			name: "ro sysfs: superblock and mount",
			typ:  "sysfs", opts: []string{"nosuid", "noexec", "nodev", "ro"},
			want: Options{
				Attr:     Attr{Set: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NOEXEC | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_RDONLY},
				SBFlags:  []string{"ro"},
				ReadOnly: true,
			},
		},
		{
			name: "later option wins",
			typ:  "tmpfs", opts: []string{"ro", "rw", "nosuid", "suid", "noatime", "atime"},
			want: Options{
				Attr:    Attr{Clr: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID},
				SBFlags: []string{"ro", "rw"},
			},
		},
		{
			name: "rbind with recursive attributes and propagation",
			typ:  "bind", opts: []string{"rbind", "rro", "rnosuid", "rnodev", "rnoexec", "rnoatime", "rshared"},
			want: Options{
				Bind: true, Recursive: true, ReadOnly: true,
				RecAttr:     Attr{Set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC, Atime: unix.MOUNT_ATTR_NOATIME, AtimeSet: true},
				Propagation: []Propagation{{unix.MS_SHARED, true}},
			},
		},
		{
			name: "bind by option, data ignored",
			typ:  "none", opts: []string{"bind", "ro", "mode=755", "private", "x-systemd.automount"},
			want: Options{
				Bind: true, ReadOnly: true,
				Attr:        Attr{Set: unix.MOUNT_ATTR_RDONLY},
				SBFlags:     []string{"ro"},
				Propagation: []Propagation{{unix.MS_PRIVATE, false}},
			},
		},
		{
			name: "every propagation",
			typ:  "tmpfs", opts: []string{"shared", "slave", "private", "unbindable", "rslave", "rprivate", "runbindable"},
			want: Options{Propagation: []Propagation{
				{unix.MS_SHARED, false}, {unix.MS_SLAVE, false}, {unix.MS_PRIVATE, false}, {unix.MS_UNBINDABLE, false},
				{unix.MS_SLAVE, true}, {unix.MS_PRIVATE, true}, {unix.MS_UNBINDABLE, true},
			}},
		},
		{
			name: "superblock flags",
			typ:  "tmpfs", opts: []string{"sync", "dirsync", "mand", "lazytime", "async", "nomand", "nolazytime", "silent", "loud", "iversion", "defaults"},
			want: Options{SBFlags: []string{"sync", "dirsync", "mand", "lazytime", "async", "nomand", "nolazytime"}},
		},
		{
			name: "mount attributes",
			typ:  "tmpfs", opts: []string{"nodiratime", "nosymfollow", "relatime"},
			want: Options{Attr: Attr{Set: unix.MOUNT_ATTR_NODIRATIME | unix.MOUNT_ATTR_NOSYMFOLLOW, Atime: unix.MOUNT_ATTR_RELATIME, AtimeSet: true}},
		},
		{
			name: "tmpcopyup",
			typ:  "tmpfs", opts: []string{"tmpcopyup"},
			want: Options{TmpCopyUp: true},
		},
		{
			name: "idmap and ridmap",
			typ:  "bind", opts: []string{"rbind", "ridmap"},
			want: Options{Bind: true, Recursive: true, RIDMap: true},
		},
		{
			name: "unknown filesystem passes words through",
			typ:  "xfs", opts: []string{"nouuid", "logbufs=8"},
			want: Options{Params: []Param{{Key: "nouuid", Flag: true}, {Key: "logbufs", Value: "8"}}},
		},
		{
			name: "cgroup v1 controllers",
			typ:  "cgroup", opts: []string{"cpu", "cpuacct", "name=systemd"},
			want: Options{Params: []Param{{Key: "cpu", Flag: true}, {Key: "cpuacct", Flag: true}, {Key: "name", Value: "systemd"}}},
		},
		{
			name: "remount",
			typ:  "", opts: []string{"remount", "ro"},
			want: Options{Remount: true, ReadOnly: true, Attr: Attr{Set: unix.MOUNT_ATTR_RDONLY}, SBFlags: []string{"ro"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.typ, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse(%q, %q)\n got %+v\nwant %+v", tt.typ, tt.opts, got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		typ  string
		opts []string
		want string
	}{
		{"tmpfs", []string{"nosuid", "foo"}, `options[1]: unknown option "foo"`},
		{"proc", []string{"newinstance"}, `options[0]: unknown option "newinstance"`},
		{"bind", []string{"rbind", "newinstance"}, `options[1]: unknown option "newinstance"`},
		{"tmpfs", []string{""}, `options[0]: empty option`},
		{"tmpfs", []string{"=x"}, `options[0]: option "=x" has no name`},
		{"proc", []string{"nosuid", "tmpcopyup"}, `options[1]: "tmpcopyup" needs a tmpfs mount, not "proc"`},
		{"tmpfs", []string{"idmap"}, `options[0]: "idmap" needs a bind mount`},
	}
	for _, tt := range tests {
		_, err := Parse(tt.typ, tt.opts)
		if err == nil || err.Error() != tt.want {
			t.Errorf("Parse(%q, %q) = %v, want %s", tt.typ, tt.opts, err, tt.want)
		}
	}
}

func TestAttrUnix(t *testing.T) {
	a := Attr{Set: unix.MOUNT_ATTR_RDONLY, Clr: unix.MOUNT_ATTR_NOSUID, Atime: unix.MOUNT_ATTR_NOATIME, AtimeSet: true}
	m := a.Unix()
	if m.Attr_set != unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOATIME || m.Attr_clr != unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR__ATIME {
		t.Errorf("Unix() = %+v", m)
	}
	if f := a.FsmountFlags(); f != unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOATIME {
		t.Errorf("FsmountFlags() = %#x", f)
	}
	if (Attr{}).Empty() != true || a.Empty() {
		t.Error("Empty")
	}
}

func TestIsBind(t *testing.T) {
	for _, c := range []struct {
		typ  string
		opts string
		want bool
	}{
		{"bind", "", true}, {"rbind", "", true}, {"none", "rbind,ro", true}, {"", "bind", true},
		{"tmpfs", "nosuid", false}, {"proc", "", false},
	} {
		if got := IsBind(c.typ, strings.Split(c.opts, ",")); got != c.want {
			t.Errorf("IsBind(%q, %q) = %v", c.typ, c.opts, got)
		}
	}
}
