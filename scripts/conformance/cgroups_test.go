package main

import (
	"reflect"
	"testing"
)

// A hybrid host like the one this project is developed on.
const mountinfo = `25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
33 25 0:28 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
34 33 0:29 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
35 33 0:30 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
36 33 0:31 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,cpu,cpuacct
37 33 0:32 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,memory
38 33 0:33 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,pids
39 30 0:33 /sub /mnt/pids\040sub rw,relatime shared:14 - cgroup cgroup rw,pids
40 30 0:5 / /dev rw - devtmpfs udev rw
`

const procCgroup = `5:pids:/
4:memory:/process_api/973fdc72
2:cpu,cpuacct:/
1:name=systemd:/
0::/
`

func TestHierarchies(t *testing.T) {
	mounts := ParseCgroupMounts(mountinfo)
	if len(mounts) != 6 {
		t.Fatalf("ParseCgroupMounts found %d cgroup mounts, want 6: %+v", len(mounts), mounts)
	}
	if mounts[5].Point != "/mnt/pids sub" {
		t.Errorf("escaped mount point = %q", mounts[5].Point)
	}
	got := Hierarchies(mounts, procCgroup)
	want := []Hierarchy{
		{Mount: "/sys/fs/cgroup/pids", Own: ""},
		{Mount: "/sys/fs/cgroup/memory", Own: "process_api/973fdc72"},
		{Mount: "/sys/fs/cgroup/cpu,cpuacct", Own: ""},
		{Mount: "/sys/fs/cgroup/systemd", Own: ""},
		{Mount: "/sys/fs/cgroup/unified", Own: ""},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Hierarchies:\n got %+v\nwant %+v", got, want)
	}

	cands := FixedCandidates(got[:2])
	wantC := []string{
		"/sys/fs/cgroup/pids/cgrouptest", "/sys/fs/cgroup/pids/testdir",
		"/sys/fs/cgroup/memory/cgrouptest", "/sys/fs/cgroup/memory/testdir",
		"/sys/fs/cgroup/memory/process_api/973fdc72/cgrouptest", "/sys/fs/cgroup/memory/process_api/973fdc72/testdir",
	}
	if !reflect.DeepEqual(cands, wantC) {
		t.Errorf("FixedCandidates:\n got %q\nwant %q", cands, wantC)
	}
}

func TestRelCgroup(t *testing.T) {
	for _, tt := range []struct {
		root, cg, rel string
		ok            bool
	}{
		{"/", "/a/b", "a/b", true},
		{"/", "/", "", true},
		{"/a", "/a/b", "b", true},
		{"/a", "/a", "", true},
		{"/a", "/ab/c", "", false},
	} {
		rel, ok := relCgroup(tt.root, tt.cg)
		if rel != tt.rel || ok != tt.ok {
			t.Errorf("relCgroup(%q, %q) = %q %v, want %q %v", tt.root, tt.cg, rel, ok, tt.rel, tt.ok)
		}
	}
}
