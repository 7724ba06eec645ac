//go:build cgo

package seccomp

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Compile needs libseccomp, not privileges: the program is exported, not
// loaded.
func TestCompileSkipsUnknownSyscalls(t *testing.T) {
	p, err := NewPlan(&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86},
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"getcwd", "no_such_syscall"}, Action: specs.ActErrno},
			{Names: []string{"socket"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 0, Op: specs.OpMaskedEqual, Value: 0xff, ValueTwo: 40}}},
			{Names: []string{"mkdir"}, Action: specs.ActNotify},
		}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Compile(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Program) < 4 {
		t.Errorf("program of %d instructions", len(res.Program))
	}
	if len(res.Skipped) != 1 || res.Skipped[0] != "no_such_syscall" {
		t.Errorf("skipped = %q, want [no_such_syscall]", res.Skipped)
	}
}
