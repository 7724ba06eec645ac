//go:build cgo

package seccomp

import (
	"fmt"
	"io"
	"os"

	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/pkg/seccompload"
)

// Result is a compiled profile.
type Result struct {
	Program []unix.SockFilter
	// Skipped lists the syscall names libseccomp does not know; like runc,
	// their rules are left out.
	Skipped []string
}

// Compile builds the BPF program of a plan for the native architecture
// and the plan's architectures.
func Compile(p *Plan) (*Result, error) {
	def, err := scmpAction(p.Default)
	if err != nil {
		return nil, err
	}
	f, err := libseccomp.NewFilter(def)
	if err != nil {
		return nil, fmt.Errorf("libseccomp: new filter: %w", err)
	}
	defer f.Release()
	// no_new_privs is process.noNewPrivileges' business, not the
	// filter's; the program is exported, not loaded, anyway.
	if err := f.SetNoNewPrivsBit(false); err != nil {
		return nil, fmt.Errorf("libseccomp: %w", err)
	}
	for i, name := range p.Arches {
		a, err := libseccomp.GetArchFromString(name)
		if err != nil {
			return nil, fmt.Errorf("linux.seccomp.architectures[%d]: %s: %w", i, name, err)
		}
		if err := f.AddArch(a); err != nil {
			return nil, fmt.Errorf("linux.seccomp.architectures[%d]: add %s: %w", i, name, err)
		}
	}
	res := &Result{}
	skipped := map[string]bool{}
	for _, r := range p.Rules {
		call, err := libseccomp.GetSyscallFromName(r.Syscall)
		if err != nil {
			if !skipped[r.Syscall] {
				skipped[r.Syscall] = true
				res.Skipped = append(res.Skipped, r.Syscall)
			}
			continue
		}
		act, err := scmpAction(r.Action)
		if err != nil {
			return nil, err
		}
		conds := make([]libseccomp.ScmpCondition, 0, len(r.Conds))
		for _, c := range r.Conds {
			vals := []uint64{c.Value}
			if c.Op == MaskedEqual {
				vals = append(vals, c.ValueTwo)
			}
			sc, err := libseccomp.MakeCondition(c.Index, scmpOp[c.Op], vals...)
			if err != nil {
				return nil, fmt.Errorf("%s: %s: condition on arg %d: %w", r.Field, r.Syscall, c.Index, err)
			}
			conds = append(conds, sc)
		}
		if len(conds) == 0 {
			err = f.AddRule(call, act)
		} else {
			err = f.AddRuleConditional(call, act, conds)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: add rule for %s: %w", r.Field, r.Syscall, err)
		}
	}
	res.Program, err = export(f)
	if err != nil {
		return nil, err
	}
	return res, nil
}

// export writes the program through a memfd: libseccomp before 2.6 can
// only export to a descriptor.
func export(f *libseccomp.ScmpFilter) ([]unix.SockFilter, error) {
	fd, err := unix.MemfdCreate("seccomp-export", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("libseccomp: export: memfd_create: %w", err)
	}
	mf := os.NewFile(uintptr(fd), "seccomp-export")
	defer mf.Close()
	if err := f.ExportBPF(mf); err != nil {
		return nil, fmt.Errorf("libseccomp: export BPF: %w", err)
	}
	if _, err := mf.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(mf)
	if err != nil {
		return nil, fmt.Errorf("libseccomp: read exported BPF: %w", err)
	}
	return seccompload.Decode(b)
}

func scmpAction(a Action) (libseccomp.ScmpAction, error) {
	switch a.Kind {
	case KillThread:
		return libseccomp.ActKillThread, nil
	case KillProcess:
		return libseccomp.ActKillProcess, nil
	case Trap:
		return libseccomp.ActTrap, nil
	case Errno:
		return libseccomp.ActErrno.SetReturnCode(int16(a.Ret)), nil
	case Trace:
		return libseccomp.ActTrace.SetReturnCode(int16(a.Ret)), nil
	case Allow:
		return libseccomp.ActAllow, nil
	case Log:
		return libseccomp.ActLog, nil
	case Notify:
		return libseccomp.ActNotify, nil
	}
	return 0, fmt.Errorf("seccomp: unknown action %d", a.Kind)
}

var scmpOp = map[Op]libseccomp.ScmpCompareOp{
	NotEqual: libseccomp.CompareNotEqual, LessThan: libseccomp.CompareLess,
	LessOrEqual: libseccomp.CompareLessOrEqual, Equal: libseccomp.CompareEqual,
	GreaterOrEqual: libseccomp.CompareGreaterEqual, GreaterThan: libseccomp.CompareGreater,
	MaskedEqual: libseccomp.CompareMaskedEqual,
}

// LibraryVersion is the version of the libseccomp linked in, "2.5.4".
func LibraryVersion() string {
	major, minor, micro := libseccomp.GetLibraryVersion()
	return fmt.Sprintf("%d.%d.%d", major, minor, micro)
}
