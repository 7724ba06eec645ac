package namespace

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestNewPlan(t *testing.T) {
	joined := func(typ specs.LinuxNamespaceType) specs.LinuxNamespace {
		return specs.LinuxNamespace{Type: typ, Path: "/proc/42/ns/" + string(typ)}
	}
	fresh := func(typ specs.LinuxNamespaceType) specs.LinuxNamespace { return specs.LinuxNamespace{Type: typ} }
	cases := []struct {
		name      string
		ns        []specs.LinuxNamespace
		clone     uintptr
		join      []string // kinds, in joining order
		pid, mnt  bool
		newTime   bool
		loopback  bool
		userMode  Mode
		hostnamed bool
	}{
		{name: "none"},
		{name: "ordinary container",
			ns:    []specs.LinuxNamespace{fresh(specs.PIDNamespace), fresh(specs.NetworkNamespace), fresh(specs.IPCNamespace), fresh(specs.UTSNamespace), fresh(specs.MountNamespace), fresh(specs.CgroupNamespace)},
			clone: unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS | unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP, loopback: true, hostnamed: true},
		{name: "time is not a clone flag", ns: []specs.LinuxNamespace{fresh(specs.TimeNamespace), fresh(specs.UserNamespace)},
			clone: unix.CLONE_NEWUSER, newTime: true, userMode: New},
		{name: "exec joins all, user last, pid at clone, mount in the child",
			ns: []specs.LinuxNamespace{joined(specs.UserNamespace), joined(specs.MountNamespace), joined(specs.PIDNamespace), joined(specs.NetworkNamespace),
				joined(specs.IPCNamespace), joined(specs.UTSNamespace), joined(specs.CgroupNamespace), joined(specs.TimeNamespace)},
			join: []string{"net", "ipc", "uts", "cgroup", "time", "user"}, pid: true, mnt: true, userMode: Joined, hostnamed: true},
		{name: "pod: new mount and pid in a joined user and net namespace",
			ns:    []specs.LinuxNamespace{fresh(specs.MountNamespace), joined(specs.NetworkNamespace), fresh(specs.PIDNamespace), joined(specs.UserNamespace)},
			clone: unix.CLONE_NEWNS | unix.CLONE_NEWPID, join: []string{"net", "user"}, userMode: Joined},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := &specs.Spec{Hostname: "h", Linux: &specs.Linux{Namespaces: c.ns}}
			p := NewPlan(s)
			if p.Clone != c.clone {
				t.Errorf("clone flags %#x, want %#x", p.Clone, c.clone)
			}
			var join []string
			for _, j := range p.Join {
				join = append(join, j.Kind.Proc)
			}
			if strings.Join(join, ",") != strings.Join(c.join, ",") {
				t.Errorf("join order %v, want %v", join, c.join)
			}
			if (p.JoinPid != nil) != c.pid || (p.JoinMount != nil) != c.mnt {
				t.Errorf("pid join %v, mount join %v", p.JoinPid, p.JoinMount)
			}
			if p.NewTime != c.newTime || p.LoopbackUp != c.loopback || p.User() != c.userMode {
				t.Errorf("plan %s: newTime %v loopback %v user %v", p, p.NewTime, p.LoopbackUp, p.User())
			}
			if (p.Hostname != "") != c.hostnamed {
				t.Errorf("hostname %q", p.Hostname)
			}
		})
	}
}

func TestJoinFieldsNameTheEntry(t *testing.T) {
	s := &specs.Spec{Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{
		{Type: specs.PIDNamespace}, {Type: specs.UserNamespace, Path: "/u"}, {Type: specs.NetworkNamespace, Path: "/n"},
	}}}
	p := NewPlan(s)
	if len(p.Join) != 2 || p.Join[0].Field != "linux.namespaces[2]" || p.Join[1].Field != "linux.namespaces[1]" {
		t.Fatalf("joins %+v", p.Join)
	}
}

func TestTimeOffsetsFile(t *testing.T) {
	s := &specs.Spec{Linux: &specs.Linux{
		Namespaces:  []specs.LinuxNamespace{{Type: specs.TimeNamespace}},
		TimeOffsets: map[string]specs.LinuxTimeOffset{"monotonic": {Secs: -10}, "boottime": {Secs: 86400, Nanosecs: 7}},
	}}
	if got, want := NewPlan(s).TimeOffsetsFile(), "7 86400 7\n1 -10 0\n"; got != want {
		t.Errorf("offsets file %q, want %q", got, want)
	}
}
