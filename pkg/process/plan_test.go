package process

import (
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-run/oci-run/pkg/capability"
	"github.com/oci-run/oci-run/pkg/seccompload"
)

func TestEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     []string
		want    []string
		wantErr string
	}{
		{name: "defaults", env: nil, want: []string{"PATH=" + DefaultPath, "HOME=/home/u"}},
		{name: "kept", env: []string{"PATH=/bin", "HOME=/x", "A=1"}, want: []string{"PATH=/bin", "HOME=/x", "A=1"}},
		{name: "later duplicate wins in the first place", env: []string{"A=1", "B=2", "A=3"},
			want: []string{"A=3", "B=2", "PATH=" + DefaultPath, "HOME=/home/u"}},
		{name: "empty value is set", env: []string{"HOME=", "PATH="}, want: []string{"HOME=", "PATH="}},
		{name: "no =", env: []string{"A=1", "B"}, wantErr: `process.env[1]: "B" is not of the form KEY=VALUE`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Env(tt.env, "/home/u")
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestNewPlanErrors(t *testing.T) {
	host := capability.Host{LastCap: 40, Bounding: 1<<41 - 1}
	base := func() *specs.Spec {
		return &specs.Spec{Process: &specs.Process{Args: []string{"true"}, Cwd: "/"}, Linux: &specs.Linux{}}
	}
	tests := []struct {
		name    string
		mod     func(s *specs.Spec)
		wantErr string
	}{
		{"no args", func(s *specs.Spec) { s.Process.Args = nil }, "process.args: must not be empty"},
		{"relative cwd", func(s *specs.Spec) { s.Process.Cwd = "x" }, `process.cwd: "x" is not an absolute path`},
		{"oom", func(s *specs.Spec) { v := 1001; s.Process.OOMScoreAdj = &v }, "process.oomScoreAdj: 1001 is outside -1000..1000"},
		{"rlimit", func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 2048, Hard: 1024}}
		}, "process.rlimits[0]: soft limit 2048 above hard limit 1024"},
		{"cap", func(s *specs.Spec) {
			s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: []string{"CAP_KILL", "CAP_CHOWN", "CAP_FOO"}}
		}, `process.capabilities.bounding[2]: unknown capability "CAP_FOO"`},
		{"personality", func(s *specs.Spec) { s.Linux.Personality = &specs.LinuxPersonality{Domain: "LINUX64"} },
			`linux.personality.domain: unknown domain "LINUX64"`},
		{"scheduler", func(s *specs.Spec) { s.Process.Scheduler = &specs.Scheduler{Policy: "SCHED_FAST"} },
			`process.scheduler.policy: unknown policy "SCHED_FAST"`},
		{"ioprio", func(s *specs.Spec) {
			s.Process.IOPriority = &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_BE, Priority: 8}
		},
			"process.ioPriority.priority: 8 is outside 0..7"},
		{"affinity", func(s *specs.Spec) { s.Process.ExecCPUAffinity = &specs.CPUAffinity{Final: "0-x"} },
			`process.execCPUAffinity.final: "0-x": "0-x" is not a range`},
		{"mempolicy nodes", func(s *specs.Spec) { s.Linux.MemoryPolicy = &specs.LinuxMemoryPolicy{Mode: specs.MpolBind} },
			"linux.memoryPolicy.nodes: MPOL_BIND needs nodes"},
		{"mempolicy flag", func(s *specs.Spec) {
			s.Linux.MemoryPolicy = &specs.LinuxMemoryPolicy{Mode: specs.MpolBind, Nodes: "0", Flags: []specs.MemoryPolicyFlagType{"MPOL_F_FAST"}}
		}, `linux.memoryPolicy.flags[0]: unknown flag "MPOL_F_FAST"`},
		{"notify without listener", func(s *specs.Spec) {
			s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"mkdir"}, Action: specs.ActNotify}}}
		}, "linux.seccomp.listenerPath: must be set when a rule uses SCMP_ACT_NOTIFY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := base()
			tt.mod(s)
			_, err := NewPlan(s, host, nil)
			if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestNewPlan(t *testing.T) {
	host := capability.Host{LastCap: 40, Bounding: 1<<41 - 1}
	s := &specs.Spec{
		Process: &specs.Process{Args: []string{"sh"}, User: specs.User{UID: 1000, GID: 1000},
			Scheduler:  &specs.Scheduler{Policy: specs.SchedBatch, Nice: 5, Flags: []specs.LinuxSchedulerFlag{specs.SchedFlagResetOnFork}},
			IOPriority: &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_IDLE, Priority: 7}},
		Linux: &specs.Linux{
			Personality:  &specs.LinuxPersonality{Domain: specs.PerLinux32},
			MemoryPolicy: &specs.LinuxMemoryPolicy{Mode: specs.MpolInterleave, Nodes: "0,65", Flags: []specs.MemoryPolicyFlagType{specs.MpolFStaticNodes}},
			Seccomp:      &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Flags: []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog}},
			Namespaces:   []specs.LinuxNamespace{{Type: specs.UserNamespace}},
		},
	}
	p, err := NewPlan(s, host, strings.NewReader("u:x:1000:1000::/home/u:/bin/sh\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Cwd != "/" || p.Identity.Home != "/home/u" || !p.UserNS {
		t.Errorf("cwd %q home %q userns %v", p.Cwd, p.Identity.Home, p.UserNS)
	}
	if *p.Personality != 8 || *p.IOPriority != 3<<13|7 {
		t.Errorf("personality %#x ioprio %#x", *p.Personality, *p.IOPriority)
	}
	if p.Scheduler.Policy != 3 || p.Scheduler.Nice != 5 || p.Scheduler.Flags != 1 {
		t.Errorf("scheduler %+v", p.Scheduler)
	}
	if p.MemPolicy.Mode != 3|1<<15 || !reflect.DeepEqual(p.MemPolicy.Nodes, []uint64{1, 2}) {
		t.Errorf("mempolicy %+v", p.MemPolicy)
	}
	if !p.Seccomp || p.SeccompFlags != seccompload.FlagLog {
		t.Errorf("seccomp %v flags %#x", p.Seccomp, p.SeccompFlags)
	}
}
