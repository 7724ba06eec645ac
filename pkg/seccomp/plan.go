// Package seccomp compiles linux.seccomp into a BPF program with
// libseccomp (cgo). The translation from the configuration to filter rules
// is a pure plan, unit-tested without libseccomp; Compile feeds the plan to
// libseccomp and exports the program. Installing the program is package
// seccompload's job (pure Go, used by oci-exec).
package seccomp

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
	"golang.org/x/sys/unix"
)

// ActionKind is a seccomp action, independent of libseccomp's encoding.
type ActionKind int

const (
	KillThread ActionKind = iota
	KillProcess
	Trap
	Errno
	Trace
	Allow
	Log
	Notify
)

var actionNames = map[specs.LinuxSeccompAction]ActionKind{
	specs.ActKill:        KillThread, // SCMP_ACT_KILL is the thread kill
	specs.ActKillThread:  KillThread,
	specs.ActKillProcess: KillProcess,
	specs.ActTrap:        Trap,
	specs.ActErrno:       Errno,
	specs.ActTrace:       Trace,
	specs.ActAllow:       Allow,
	specs.ActLog:         Log,
	specs.ActNotify:      Notify,
}

// Action is an action with its return code (ERRNO and TRACE only).
type Action struct {
	Kind ActionKind
	Ret  uint
}

func (a Action) String() string {
	for n, k := range actionNames {
		if k == a.Kind && n != specs.ActKill {
			if a.Kind == Errno || a.Kind == Trace {
				return fmt.Sprintf("%s(%d)", n, a.Ret)
			}
			return string(n)
		}
	}
	return fmt.Sprintf("action(%d)", a.Kind)
}

// Op is a comparison of a syscall argument.
type Op int

const (
	NotEqual Op = iota + 1
	LessThan
	LessOrEqual
	Equal
	GreaterOrEqual
	GreaterThan
	MaskedEqual
)

var opNames = map[specs.LinuxSeccompOperator]Op{
	specs.OpNotEqual: NotEqual, specs.OpLessThan: LessThan, specs.OpLessEqual: LessOrEqual,
	specs.OpEqualTo: Equal, specs.OpGreaterEqual: GreaterOrEqual, specs.OpGreaterThan: GreaterThan,
	specs.OpMaskedEqual: MaskedEqual,
}

// Cond compares argument Index. For MaskedEqual, (arg & Value) == ValueTwo.
type Cond struct {
	Index           uint
	Op              Op
	Value, ValueTwo uint64
}

// Rule is one libseccomp rule: a syscall by name, an action, and
// conditions that must all hold.
type Rule struct {
	// Field is the JSON path of the entry, for errors.
	Field   string
	Syscall string
	Action  Action
	Conds   []Cond
}

// Plan is a profile ready for libseccomp.
type Plan struct {
	Default Action
	// Arches are libseccomp architecture names ("amd64", "x86", ...).
	Arches []string
	Rules  []Rule
}

// archNames maps the configuration's SCMP_ARCH_* to libseccomp's names.
var archNames = map[specs.Arch]string{
	specs.ArchX86: "x86", specs.ArchX86_64: "amd64", specs.ArchX32: "x32",
	specs.ArchARM: "arm", specs.ArchAARCH64: "arm64",
	specs.ArchMIPS: "mips", specs.ArchMIPS64: "mips64", specs.ArchMIPS64N32: "mips64n32",
	specs.ArchMIPSEL: "mipsel", specs.ArchMIPSEL64: "mipsel64", specs.ArchMIPSEL64N32: "mipsel64n32",
	specs.ArchPPC: "ppc", specs.ArchPPC64: "ppc64", specs.ArchPPC64LE: "ppc64le",
	specs.ArchS390: "s390", specs.ArchS390X: "s390x",
	specs.ArchPARISC: "parisc", specs.ArchPARISC64: "parisc64",
	specs.ArchRISCV64: "riscv64", specs.ArchLOONGARCH64: "loong64",
	specs.ArchM68K: "m68k", specs.ArchSH: "sh", specs.ArchSHEB: "sheb",
}

// maxArgs is the number of syscall arguments a condition can look at.
const maxArgs = 6

// NewPlan translates linux.seccomp the way runc does:
//   - SCMP_ACT_ERRNO and SCMP_ACT_TRACE return errnoRet (defaultErrnoRet for
//     the default action), EPERM when it is unset;
//   - a rule whose action equals the default action is redundant and
//     dropped (libseccomp refuses it);
//   - the conditions of an entry form one rule, except when two of them
//     test the same argument: libseccomp cannot AND those, so each
//     condition becomes a rule of its own (runc's long-standing behaviour);
//   - SCMP_ACT_NOTIFY cannot be the default action, nor apply to write(2)
//     or sendmsg(2), which the runtime needs after the filter is in place to
//     hand the listener over.
//
// Syscall names are resolved by Compile, which skips names libseccomp does
// not know, as runc does.
func NewPlan(sc *specs.LinuxSeccomp) (*Plan, error) {
	if sc == nil {
		return nil, errors.New("linux.seccomp: not set")
	}
	p := &Plan{}
	def, err := action(sc.DefaultAction, sc.DefaultErrnoRet, "linux.seccomp.defaultAction")
	if err != nil {
		return nil, err
	}
	if def.Kind == Notify {
		return nil, errors.New("linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action")
	}
	p.Default = def
	for i, a := range sc.Architectures {
		name, ok := archNames[a]
		if !ok {
			return nil, fmt.Errorf("linux.seccomp.architectures[%d]: unknown architecture %q", i, a)
		}
		p.Arches = append(p.Arches, name)
	}
	for i, sys := range sc.Syscalls {
		f := fmt.Sprintf("linux.seccomp.syscalls[%d]", i)
		if len(sys.Names) == 0 {
			return nil, fmt.Errorf("%s.names: must not be empty", f)
		}
		act, err := action(sys.Action, sys.ErrnoRet, f+".action")
		if err != nil {
			return nil, err
		}
		conds, err := conditions(sys.Args, f)
		if err != nil {
			return nil, err
		}
		for j, name := range sys.Names {
			if name == "" {
				return nil, fmt.Errorf("%s.names[%d]: empty syscall name", f, j)
			}
			if act.Kind == Notify && (name == "write" || name == "sendmsg") {
				return nil, fmt.Errorf("%s.names[%d]: SCMP_ACT_NOTIFY cannot be used for %s: the runtime needs it to hand the listener over", f, j, name)
			}
		}
		if act == def {
			continue
		}
		for _, name := range sys.Names {
			for _, c := range conds {
				p.Rules = append(p.Rules, Rule{Field: f, Syscall: name, Action: act, Conds: c})
			}
		}
	}
	return p, nil
}

func action(a specs.LinuxSeccompAction, ret *uint, field string) (Action, error) {
	kind, ok := actionNames[a]
	if !ok {
		return Action{}, fmt.Errorf("%s: unknown action %q", field, a)
	}
	act := Action{Kind: kind}
	if kind == Errno || kind == Trace {
		act.Ret = uint(unix.EPERM)
		if ret != nil {
			act.Ret = *ret
		}
		if act.Ret > 0xffff {
			return Action{}, fmt.Errorf("%s: errno %d does not fit the 16 bits seccomp returns", field, act.Ret)
		}
	}
	return act, nil
}

// conditions returns the condition sets of one entry: one set with every
// condition, or one set per condition when an argument is tested twice.
// No argument gives one empty set (an unconditional rule).
func conditions(args []specs.LinuxSeccompArg, field string) ([][]Cond, error) {
	var all []Cond
	var count [maxArgs]int
	split := false
	for i, a := range args {
		f := fmt.Sprintf("%s.args[%d]", field, i)
		if a.Index >= maxArgs {
			return nil, fmt.Errorf("%s.index: %d is not an argument index (0-%d)", f, a.Index, maxArgs-1)
		}
		op, ok := opNames[a.Op]
		if !ok {
			return nil, fmt.Errorf("%s.op: unknown operator %q", f, a.Op)
		}
		count[a.Index]++
		if count[a.Index] > 1 {
			split = true
		}
		all = append(all, Cond{Index: a.Index, Op: op, Value: a.Value, ValueTwo: a.ValueTwo})
	}
	if len(all) == 0 {
		return [][]Cond{nil}, nil
	}
	if !split {
		return [][]Cond{all}, nil
	}
	out := make([][]Cond, len(all))
	for i, c := range all {
		out[i] = []Cond{c}
	}
	return out, nil
}

// String renders the plan, one rule a line, for tests and explain.
func (p *Plan) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "default %s arches %v\n", p.Default, p.Arches)
	for _, r := range p.Rules {
		fmt.Fprintf(&b, "%s %s", r.Syscall, r.Action)
		for _, c := range r.Conds {
			fmt.Fprintf(&b, " arg%d%s%#x", c.Index, opSymbol[c.Op], c.Value)
			if c.Op == MaskedEqual {
				fmt.Fprintf(&b, "==%#x", c.ValueTwo)
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

var opSymbol = map[Op]string{
	NotEqual: "!=", LessThan: "<", LessOrEqual: "<=", Equal: "==",
	GreaterOrEqual: ">=", GreaterThan: ">", MaskedEqual: "&",
}

// Features is what this stage supports, in runtime-spec features.json
// terms (the "linux.seccomp" object of `oci-run features`).
func Features() features.Seccomp {
	yes := true
	f := features.Seccomp{Enabled: &yes}
	for a := range actionNames {
		f.Actions = append(f.Actions, string(a))
	}
	for o := range opNames {
		f.Operators = append(f.Operators, string(o))
	}
	for a := range archNames {
		f.Archs = append(f.Archs, string(a))
	}
	// Flags are given to seccomp(2) by oci-exec (pkg/seccompload).
	f.KnownFlags = []string{
		string(specs.LinuxSeccompFlagLog), string(specs.LinuxSeccompFlagSpecAllow),
		string(specs.LinuxSeccompFlagWaitKillableRecv), "SECCOMP_FILTER_FLAG_TSYNC",
	}
	f.SupportedFlags = f.KnownFlags
	sort.Strings(f.Actions)
	sort.Strings(f.Operators)
	sort.Strings(f.Archs)
	sort.Strings(f.KnownFlags)
	return f
}
