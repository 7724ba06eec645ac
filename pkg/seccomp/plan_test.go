package seccomp

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func uptr(v uint) *uint { return &v }

func TestNewPlan(t *testing.T) {
	tests := []struct {
		name    string
		sc      specs.LinuxSeccomp
		want    string
		wantErr string
	}{
		{
			name: "errno with errnoRet, default EPERM, redundant rule dropped",
			sc: specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
				Syscalls: []specs.LinuxSyscall{
					{Names: []string{"getcwd"}, Action: specs.ActErrno, ErrnoRet: uptr(13)},
					{Names: []string{"mkdir", "rmdir"}, Action: specs.ActErrno},
					{Names: []string{"read"}, Action: specs.ActAllow},
				}},
			want: "default SCMP_ACT_ALLOW arches [amd64 x86 x32]\ngetcwd SCMP_ACT_ERRNO(13)\nmkdir SCMP_ACT_ERRNO(1)\nrmdir SCMP_ACT_ERRNO(1)\n",
		},
		{
			name: "every action",
			sc: specs.LinuxSeccomp{DefaultAction: specs.ActErrno, DefaultErrnoRet: uptr(38), Syscalls: []specs.LinuxSyscall{
				{Names: []string{"a"}, Action: specs.ActKill}, {Names: []string{"b"}, Action: specs.ActKillProcess},
				{Names: []string{"c"}, Action: specs.ActKillThread}, {Names: []string{"d"}, Action: specs.ActTrap},
				{Names: []string{"e"}, Action: specs.ActTrace, ErrnoRet: uptr(5)}, {Names: []string{"f"}, Action: specs.ActAllow},
				{Names: []string{"g"}, Action: specs.ActLog}, {Names: []string{"h"}, Action: specs.ActNotify},
				{Names: []string{"i"}, Action: specs.ActErrno, ErrnoRet: uptr(38)},
			}},
			want: "default SCMP_ACT_ERRNO(38) arches []\na SCMP_ACT_KILL_THREAD\nb SCMP_ACT_KILL_PROCESS\nc SCMP_ACT_KILL_THREAD\n" +
				"d SCMP_ACT_TRAP\ne SCMP_ACT_TRACE(5)\nf SCMP_ACT_ALLOW\ng SCMP_ACT_LOG\nh SCMP_ACT_NOTIFY\n",
		},
		{
			name: "conditions on distinct arguments form one rule",
			sc: specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{
				Names: []string{"personality"}, Action: specs.ActErrno,
				Args: []specs.LinuxSeccompArg{{Index: 0, Op: specs.OpEqualTo, Value: 8}, {Index: 1, Op: specs.OpMaskedEqual, Value: 0xf0, ValueTwo: 0x10}},
			}}},
			want: "default SCMP_ACT_ALLOW arches []\npersonality SCMP_ACT_ERRNO(1) arg0==0x8 arg1&0xf0==0x10\n",
		},
		{
			name: "conditions on one argument split into rules, as runc",
			sc: specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{
				Names: []string{"socket"}, Action: specs.ActErrno,
				Args: []specs.LinuxSeccompArg{{Index: 0, Op: specs.OpEqualTo, Value: 1}, {Index: 0, Op: specs.OpGreaterEqual, Value: 40},
					{Index: 1, Op: specs.OpNotEqual, Value: 2}},
			}}},
			want: "default SCMP_ACT_ALLOW arches []\nsocket SCMP_ACT_ERRNO(1) arg0==0x1\nsocket SCMP_ACT_ERRNO(1) arg0>=0x28\nsocket SCMP_ACT_ERRNO(1) arg1!=0x2\n",
		},
		{name: "unknown action", sc: specs.LinuxSeccomp{DefaultAction: "SCMP_ACT_FOO"},
			wantErr: `linux.seccomp.defaultAction: unknown action "SCMP_ACT_FOO"`},
		{name: "notify default", sc: specs.LinuxSeccomp{DefaultAction: specs.ActNotify},
			wantErr: "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action"},
		{name: "notify write", sc: specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"mkdir", "write"}, Action: specs.ActNotify}}},
			wantErr: "linux.seccomp.syscalls[0].names[1]: SCMP_ACT_NOTIFY cannot be used for write"},
		{name: "unknown arch", sc: specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{"SCMP_ARCH_X86_64", "SCMP_ARCH_Z80"}},
			wantErr: `linux.seccomp.architectures[1]: unknown architecture "SCMP_ARCH_Z80"`},
		{name: "unknown op", sc: specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"x"}, Action: specs.ActErrno,
			Args: []specs.LinuxSeccompArg{{Index: 0, Op: "SCMP_CMP_LIKE"}}}}},
			wantErr: `linux.seccomp.syscalls[0].args[0].op: unknown operator "SCMP_CMP_LIKE"`},
		{name: "bad index", sc: specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"x"}, Action: specs.ActErrno,
			Args: []specs.LinuxSeccompArg{{Index: 6, Op: specs.OpEqualTo}}}}},
			wantErr: "linux.seccomp.syscalls[0].args[0].index: 6 is not an argument index (0-5)"},
		{name: "no names", sc: specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Action: specs.ActErrno}}},
			wantErr: "linux.seccomp.syscalls[0].names: must not be empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewPlan(&tt.sc)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want prefix %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := p.String(); got != tt.want {
				t.Errorf("plan:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}
