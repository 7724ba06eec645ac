package process

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Scheduling and placement attributes. Each is a pure plan from the
// configuration plus an apply step on the calling thread (scheduler,
// I/O priority, affinity and memory policy are per thread in Linux; the
// thread that applies them is the one that execs the user program).

var personalities = map[specs.LinuxPersonalityDomain]uint{
	specs.PerLinux:   0x0000, // PER_LINUX
	specs.PerLinux32: 0x0008, // PER_LINUX32
}

func planPersonality(p *specs.LinuxPersonality) (*uint, error) {
	if p == nil {
		return nil, nil
	}
	v, ok := personalities[p.Domain]
	if !ok {
		return nil, fmt.Errorf("linux.personality.domain: unknown domain %q", p.Domain)
	}
	if len(p.Flags) > 0 {
		return nil, fmt.Errorf("linux.personality.flags[0]: unknown flag %q", p.Flags[0])
	}
	return &v, nil
}

func applyPersonality(v uint) error {
	if _, _, e := unix.RawSyscall(unix.SYS_PERSONALITY, uintptr(v), 0, 0); e != 0 {
		return fmt.Errorf("linux.personality: personality(%#x): %w", v, e)
	}
	return nil
}

var schedPolicies = map[specs.LinuxSchedulerPolicy]uint32{
	specs.SchedOther: 0, specs.SchedFIFO: 1, specs.SchedRR: 2, specs.SchedBatch: 3,
	specs.SchedISO: 4, specs.SchedIdle: 5, specs.SchedDeadline: 6,
}

var schedFlags = map[specs.LinuxSchedulerFlag]uint64{
	specs.SchedFlagResetOnFork: 0x01, specs.SchedFlagReclaim: 0x02, specs.SchedFlagDLOverrun: 0x04,
	specs.SchedFlagKeepPolicy: 0x08, specs.SchedFlagKeepParams: 0x10,
	specs.SchedFlagUtilClampMin: 0x20, specs.SchedFlagUtilClampMax: 0x40,
}

func planScheduler(s *specs.Scheduler) (*unix.SchedAttr, error) {
	if s == nil {
		return nil, nil
	}
	pol, ok := schedPolicies[s.Policy]
	if !ok {
		return nil, fmt.Errorf("process.scheduler.policy: unknown policy %q", s.Policy)
	}
	a := &unix.SchedAttr{Size: uint32(unsafe.Sizeof(unix.SchedAttr{})), Policy: pol, Nice: s.Nice,
		Runtime: s.Runtime, Deadline: s.Deadline, Period: s.Period}
	if s.Nice < -20 || s.Nice > 19 {
		return nil, fmt.Errorf("process.scheduler.nice: %d is outside -20..19", s.Nice)
	}
	if s.Priority < 0 {
		return nil, fmt.Errorf("process.scheduler.priority: %d is negative", s.Priority)
	}
	a.Priority = uint32(s.Priority)
	for i, f := range s.Flags {
		v, ok := schedFlags[f]
		if !ok {
			return nil, fmt.Errorf("process.scheduler.flags[%d]: unknown flag %q", i, f)
		}
		a.Flags |= v
	}
	return a, nil
}

func applyScheduler(a *unix.SchedAttr) error {
	if err := unix.SchedSetAttr(0, a, 0); err != nil {
		return fmt.Errorf("process.scheduler: sched_setattr: %w", err)
	}
	return nil
}

var ioClasses = map[specs.IOPriorityClass]int{
	specs.IOPRIO_CLASS_RT: 1, specs.IOPRIO_CLASS_BE: 2, specs.IOPRIO_CLASS_IDLE: 3,
}

func planIOPriority(p *specs.LinuxIOPriority) (*int, error) {
	if p == nil {
		return nil, nil
	}
	class, ok := ioClasses[p.Class]
	if !ok {
		return nil, fmt.Errorf("process.ioPriority.class: unknown class %q", p.Class)
	}
	if p.Priority < 0 || p.Priority > 7 {
		return nil, fmt.Errorf("process.ioPriority.priority: %d is outside 0..7", p.Priority)
	}
	v := class<<13 | p.Priority
	return &v, nil
}

func applyIOPriority(v int) error {
	const whoProcess = 1 // IOPRIO_WHO_PROCESS; who 0 is the calling thread
	if _, _, e := unix.RawSyscall(unix.SYS_IOPRIO_SET, whoProcess, 0, uintptr(v)); e != 0 {
		return fmt.Errorf("process.ioPriority: ioprio_set: %w", e)
	}
	return nil
}

// planAffinity parses process.execCPUAffinity.final. The initial set is
// for the process that joins the container's cgroup (the runtime's part,
// before this stage); the final set is what the program runs with.
func planAffinity(a *specs.CPUAffinity) (*unix.CPUSet, error) {
	if a == nil {
		return nil, nil
	}
	if a.Initial != "" {
		if _, err := parseList(a.Initial, 1024); err != nil {
			return nil, fmt.Errorf("process.execCPUAffinity.initial: %w", err)
		}
	}
	if a.Final == "" {
		return nil, nil
	}
	cpus, err := parseList(a.Final, 1024)
	if err != nil {
		return nil, fmt.Errorf("process.execCPUAffinity.final: %w", err)
	}
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	return &set, nil
}

func applyAffinity(set *unix.CPUSet) error {
	if err := unix.SchedSetaffinity(0, set); err != nil {
		return fmt.Errorf("process.execCPUAffinity.final: sched_setaffinity: %w", err)
	}
	return nil
}

// memPolicy is a set_mempolicy(2) call.
type memPolicy struct {
	Mode  int
	Nodes []uint64
}

var memModes = map[specs.MemoryPolicyModeType]int{
	specs.MpolDefault: 0, specs.MpolPreferred: 1, specs.MpolBind: 2, specs.MpolInterleave: 3,
	specs.MpolLocal: 4, specs.MpolPreferredMany: 5, specs.MpolWeightedInterleave: 6,
}

var memFlags = map[specs.MemoryPolicyFlagType]int{
	specs.MpolFNumaBalancing: 1 << 13, specs.MpolFRelativeNodes: 1 << 14, specs.MpolFStaticNodes: 1 << 15,
}

// maxNodes bounds the node numbers accepted (the kernel's MAX_NUMNODES is
// at most 1024).
const maxNodes = 1024

func planMemPolicy(p *specs.LinuxMemoryPolicy) (*memPolicy, error) {
	if p == nil {
		return nil, nil
	}
	mode, ok := memModes[p.Mode]
	if !ok {
		return nil, fmt.Errorf("linux.memoryPolicy.mode: unknown mode %q", p.Mode)
	}
	for i, f := range p.Flags {
		v, ok := memFlags[f]
		if !ok {
			return nil, fmt.Errorf("linux.memoryPolicy.flags[%d]: unknown flag %q", i, f)
		}
		mode |= v
	}
	mp := &memPolicy{Mode: mode}
	if p.Nodes == "" {
		if p.Mode != specs.MpolDefault && p.Mode != specs.MpolLocal && p.Mode != specs.MpolPreferred {
			return nil, fmt.Errorf("linux.memoryPolicy.nodes: %s needs nodes", p.Mode)
		}
		return mp, nil
	}
	if p.Mode == specs.MpolDefault || p.Mode == specs.MpolLocal {
		return nil, fmt.Errorf("linux.memoryPolicy.nodes: %s takes no nodes", p.Mode)
	}
	nodes, err := parseList(p.Nodes, maxNodes)
	if err != nil {
		return nil, fmt.Errorf("linux.memoryPolicy.nodes: %w", err)
	}
	top := 0
	for _, n := range nodes {
		top = max(top, n)
	}
	mp.Nodes = make([]uint64, top/64+1)
	for _, n := range nodes {
		mp.Nodes[n/64] |= 1 << (n % 64)
	}
	return mp, nil
}

func applyMemPolicy(mp *memPolicy) error {
	var ptr unsafe.Pointer
	maxnode := 0
	if len(mp.Nodes) > 0 {
		ptr = unsafe.Pointer(&mp.Nodes[0])
		// The kernel reads maxnode-1 bits.
		maxnode = len(mp.Nodes)*64 + 1
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SET_MEMPOLICY, uintptr(mp.Mode), uintptr(ptr), uintptr(maxnode)); e != 0 {
		return fmt.Errorf("linux.memoryPolicy: set_mempolicy: %w", e)
	}
	return nil
}

// parseList parses "0-3,7" into numbers below limit.
func parseList(s string, limit int) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("%q: %q is not a number or range", s, part)
		}
		b := a
		if isRange {
			b, err = strconv.Atoi(hi)
			if err != nil || b < a {
				return nil, fmt.Errorf("%q: %q is not a range", s, part)
			}
		}
		if b >= limit {
			return nil, fmt.Errorf("%q: %d is too large", s, b)
		}
		for i := a; i <= b; i++ {
			out = append(out, i)
		}
	}
	return out, nil
}

// MemoryPolicyNames lists the linux.memoryPolicy modes and flags oci-exec
// applies (for `oci-run features`), sorted.
func MemoryPolicyNames() (modes, flags []string) {
	for m := range memModes {
		modes = append(modes, string(m))
	}
	for f := range memFlags {
		flags = append(flags, string(f))
	}
	sort.Strings(modes)
	sort.Strings(flags)
	return modes, flags
}
