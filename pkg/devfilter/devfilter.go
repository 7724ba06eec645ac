// Package devfilter enforces device cgroup rules on cgroup v2, where the
// device controller is an eBPF program (BPF_PROG_TYPE_CGROUP_DEVICE)
// attached to the cgroup's directory: the kernel runs it on every open
// and mknod of a device node and refuses the access (EPERM) when it
// returns 0.
//
// runc gets that program from github.com/opencontainers/cgroups, which
// builds it with cilium/ebpf: a library (with debug/elf, debug/dwarf and
// their package inits) several times the size of what is needed here,
// which is a dozen kinds of instruction and four bpf(2) commands. This
// package is those, on the standard library and golang.org/x/sys/unix.
//
// What the program computes: each access a request asks for (mknod, read,
// write) gets the verdict of the last rule that matches the device (type,
// major, minor) and lists that access, deny when no rule does; the request
// is allowed when every access it asks for is. Opening a device O_RDWR
// after "allow c 1:3 rwm" then "deny c 1:3 w" is therefore refused, as
// it is by cgroup v1. A request that asks for no access at all
// (access(2) with F_OK or X_OK on a node) is allowed when some access to
// the device is, as v1's exception lists and runc's program do.
package devfilter

import (
	"fmt"
	"math"
	"strconv"
)

// Rule is one device cgroup rule, in the order of the spec (later rules
// override earlier ones).
type Rule struct {
	Type   byte   // 'a' (all), 'b' (block), 'c' (char)
	Major  int64  // -1: any
	Minor  int64  // -1: any
	Access string // subset of "rwm"; empty: the rule matches nothing
	Allow  bool
}

// An 'a' rule stands for every device and every access, whatever its
// numbers and access say: that is what "a" means to cgroup v1's
// devices.allow and devices.deny (the kernel reads no further), and to
// runc, so a spec gets the same devices from both hierarchies and from
// both runtimes.

// String is the rule as devices.allow / devices.deny would take it, with
// its verdict: "c 1:3 rw allow".
func (r Rule) String() string {
	num := func(n int64) string {
		if n < 0 {
			return "*"
		}
		return strconv.FormatInt(n, 10)
	}
	verdict := "deny"
	if r.Allow {
		verdict = "allow"
	}
	return fmt.Sprintf("%c %s:%s %s %s", r.Type, num(r.Major), num(r.Minor), r.Access, verdict)
}

// RuleError is a rule the program cannot express; Index is its position
// in the list, so that a caller can name the spec field
// (linux.resources.devices[Index]).
type RuleError struct {
	Index int
	Err   error
}

func (e *RuleError) Error() string { return fmt.Sprintf("device rule %d: %v", e.Index, e.Err) }
func (e *RuleError) Unwrap() error { return e.Err }

// The kernel's view (include/uapi/linux/bpf.h, struct bpf_cgroup_dev_ctx):
// access_type = access << 16 | type.
const (
	devBlock = 1 // BPF_DEVCG_DEV_BLOCK
	devChar  = 2 // BPF_DEVCG_DEV_CHAR

	accMknod = 1 // BPF_DEVCG_ACC_MKNOD
	accRead  = 2 // BPF_DEVCG_ACC_READ
	accWrite = 4 // BPF_DEVCG_ACC_WRITE
	accAll   = accMknod | accRead | accWrite
)

// rule is a checked Rule in the kernel's terms.
type rule struct {
	typ          uint32 // devBlock, devChar, or 0 for any
	major, minor int64  // -1 for any, else within uint32
	acc          uint32
	allow        bool
}

func check(rules []Rule) ([]rule, error) {
	out := make([]rule, 0, len(rules))
	for i, r := range rules {
		var k rule
		switch r.Type {
		case 'a':
		case 'b':
			k.typ = devBlock
		case 'c':
			k.typ = devChar
		default:
			return nil, &RuleError{i, fmt.Errorf("type %q is not a, b or c", r.Type)}
		}
		for _, n := range []struct {
			name string
			v    int64
		}{{"major", r.Major}, {"minor", r.Minor}} {
			if n.v < -1 || n.v > math.MaxUint32 {
				return nil, &RuleError{i, fmt.Errorf("%s %d is out of range", n.name, n.v)}
			}
		}
		k.major, k.minor = r.Major, r.Minor
		if r.Type == 'a' {
			k.major, k.minor = -1, -1
		}
		for _, c := range r.Access {
			switch c {
			case 'm':
				k.acc |= accMknod
			case 'r':
				k.acc |= accRead
			case 'w':
				k.acc |= accWrite
			default:
				return nil, &RuleError{i, fmt.Errorf("access %q: %q is not r, w or m", r.Access, c)}
			}
		}
		if r.Type == 'a' {
			k.acc = accAll
		}
		k.allow = r.Allow
		out = append(out, k)
	}
	return out, nil
}

// prune drops the rules that cannot change a verdict: those with no
// access, those before the last "a *:* rwm" (it overrides all of them:
// the spec's usual leading deny-all), and the denials before the first
// allow (deny is already the default).
func prune(rules []rule) []rule {
	var kept []rule
	for _, r := range rules {
		if r.acc == 0 {
			continue
		}
		if r.typ == 0 && r.major < 0 && r.minor < 0 && r.acc == accAll {
			kept = kept[:0]
		}
		if !r.allow && !anyAllow(kept) {
			continue
		}
		kept = append(kept, r)
	}
	return kept
}

func anyAllow(rules []rule) bool {
	for _, r := range rules {
		if r.allow {
			return true
		}
	}
	return false
}

// allowsAll tells whether pruned rules allow every access to every device,
// so that no program is needed: for each device type and access, the last
// rule that covers all such devices allows, and no later rule denies any.
func allowsAll(rules []rule) bool {
	for _, typ := range []uint32{devBlock, devChar} {
		for _, acc := range []uint32{accMknod, accRead, accWrite} {
			allowed := false
			for _, r := range rules {
				if r.typ != 0 && r.typ != typ || r.acc&acc == 0 {
					continue
				}
				if !r.allow {
					allowed = false
				} else if r.major < 0 && r.minor < 0 {
					allowed = true
				}
			}
			if !allowed {
				return false
			}
		}
	}
	return true
}

// Registers: r1 is the context at entry, r0 the verdict at exit.
const (
	r0 = iota
	r1
	rType    // r2: the device type (block, char)
	rPending // r3: the accesses asked for whose verdict is still open
	rMajor   // r4
	rMinor   // r5
)

// Program returns the eBPF instructions (the kernel's struct bpf_insn, 8
// bytes each, little endian) of a BPF_PROG_TYPE_CGROUP_DEVICE program
// implementing rules (see the package documentation for the verdicts). It
// is a pure function.
//
// The rules are tested from the last to the first, with r3 holding the
// accesses whose verdict is still open: a matching deny that lists one of
// them refuses the request, a matching allow closes the ones it lists,
// and the request is allowed when none is left. A request for no access
// runs the same list with all three open and the verdicts' roles swapped
// (an allow decides at once, denials close), so that it is allowed when
// any access is. Falling off the list denies.
func Program(rules []Rule) ([]byte, error) {
	checked, err := check(rules)
	if err != nil {
		return nil, err
	}
	return program(prune(checked))
}

func program(rules []rule) ([]byte, error) {
	var a asm
	if !anyAllow(rules) {
		a.alu32Imm(opMOV, r0, 0)
		a.exit()
		return a.assemble()
	}
	deny, allow, none := a.newLabel(), a.newLabel(), a.newLabel()

	a.ldxW(rType, r1, 0)
	a.alu32Imm(opAND, rType, 0xffff)
	a.ldxW(rPending, r1, 0)
	a.alu32Imm(opRSH, rPending, 16)
	a.ldxW(rMajor, r1, 4)
	a.ldxW(rMinor, r1, 8)
	a.jmpImm(opJEQ, rPending, 0, none)
	for i := len(rules) - 1; i >= 0; i-- {
		a.rule(rules[i], false, deny, allow)
	}
	a.ja(deny)
	a.bind(none)
	a.alu32Imm(opMOV, rPending, accAll)
	for i := len(rules) - 1; i >= 0; i-- {
		a.rule(rules[i], true, deny, allow)
	}
	a.bind(deny)
	a.alu32Imm(opMOV, r0, 0)
	a.exit()
	a.bind(allow)
	a.alu32Imm(opMOV, r0, 1)
	a.exit()
	return a.assemble()
}

// rule emits the test of one rule. anyAccess selects the roles for a
// request of no access: there an allow decides and a deny closes.
func (a *asm) rule(r rule, anyAccess bool, deny, allow int) {
	next := a.newLabel()
	if r.typ != 0 {
		a.jmpImm(opJNE, rType, int32(r.typ), next)
	}
	a.jneU32(rMajor, r.major, next)
	a.jneU32(rMinor, r.minor, next)
	verdict := deny
	if r.allow {
		verdict = allow
	}
	if r.allow == anyAccess {
		a.jmpImm(opJSET, rPending, int32(r.acc), verdict)
	} else {
		a.alu32Imm(opAND, rPending, int32(^r.acc))
		a.jmpImm(opJEQ, rPending, 0, verdict)
	}
	a.bind(next)
}

// jneU32 jumps to l unless reg (a zero-extended u32) equals v; v < 0 is
// the wildcard. An immediate is sign-extended in a 64-bit comparison, so a
// number of 2^31 or more goes through r1 (mov32 zero-extends).
func (a *asm) jneU32(reg uint8, v int64, l int) {
	switch {
	case v < 0:
	case v <= math.MaxInt32:
		a.jmpImm(opJNE, reg, int32(v), l)
	default:
		a.alu32Imm(opMOV, r1, int32(uint32(v)))
		a.jmpReg(opJNE, reg, r1, l)
	}
}
