package namespace

import (
	"fmt"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Mode says where a namespace of the container comes from.
type Mode int

const (
	// Shared: not listed in linux.namespaces, the container shares the
	// runtime's namespace.
	Shared Mode = iota
	// New: listed without a path, created for the container.
	New
	// Joined: listed with a path, entered with setns.
	Joined
)

func (m Mode) String() string {
	return [...]string{"shared", "new", "joined"}[m]
}

// Join is one namespace entered by path.
type Join struct {
	// Field is the JSON path of the entry, for error messages.
	Field string
	Kind  Kind
	Path  string
}

// TimeOffset is one line of /proc/PID/timens_offsets.
type TimeOffset struct {
	Clock    string // "monotonic" or "boottime", as in linux.timeOffsets
	ClockID  int    // CLOCK_MONOTONIC or CLOCK_BOOTTIME
	Secs     int64
	Nanosecs uint32
}

// Clock ids of the clocks a time namespace offsets (linux/time.h).
var timeClocks = map[string]int{"monotonic": 1, "boottime": 7}

// Plan is what oci-unshare does, derived from the configuration alone.
type Plan struct {
	// Modes has an entry for each of the eight types.
	Modes map[specs.LinuxNamespaceType]Mode
	// Clone holds the CLONE_NEW* flags of the namespaces created by the
	// clone of the container's first process: every new one but time
	// (a time namespace is created by the first process itself, so that
	// its offsets can be written before anything runs in it).
	Clone uintptr
	// Join lists the namespaces the runtime process enters before the
	// clone, before its Go runtime starts (pkg/nsjoin), in the order it
	// enters them: the user namespace last, so that joining the others
	// still uses the runtime's privileges, and new namespaces are then
	// owned by the joined user namespace.
	Join []Join
	// JoinPid is the pid namespace the runtime process enters on the
	// thread that clones, right before the clone. Not before the Go
	// runtime starts: a process whose pid namespace for children is not its
	// own cannot create threads (clone with CLONE_THREAD fails, EINVAL).
	JoinPid *Join
	// JoinMount is the mount namespace the first process enters itself,
	// after the clone, so that the runtime process keeps the host's /proc
	// (it writes the id maps there). Nil when not joined.
	JoinMount *Join
	// UIDMappings and GIDMappings are written by the runtime process for a
	// new user namespace, before the first process goes on.
	UIDMappings, GIDMappings []specs.LinuxIDMapping
	// NewTime: the first process unshares a time namespace, writes
	// TimeOffsets to it, and execs the next program into it.
	NewTime     bool
	TimeOffsets []TimeOffset
	// Hostname and Domainname are set by the first process ("" = leave).
	Hostname, Domainname string
	// LoopbackUp: a new network namespace gets its loopback interface up,
	// as runc and crun do.
	LoopbackUp bool
}

// Mode returns how the namespace of type t is provided.
func (p *Plan) Mode(t specs.LinuxNamespaceType) Mode { return p.Modes[t] }

// User is the mode of the user namespace.
func (p *Plan) User() Mode { return p.Modes[specs.UserNamespace] }

// joinOrder: the user namespace is entered last (see Plan.Join).
var joinOrder = map[specs.LinuxNamespaceType]int{
	specs.NetworkNamespace: 1, specs.IPCNamespace: 2,
	specs.UTSNamespace: 3, specs.CgroupNamespace: 4, specs.TimeNamespace: 5,
	specs.UserNamespace: 6,
}

// NewPlan derives the plan from a configuration that pkg/spec.Validate
// accepted (known types, no duplicates).
func NewPlan(s *specs.Spec) *Plan {
	p := &Plan{Modes: map[specs.LinuxNamespaceType]Mode{}}
	for _, k := range Kinds {
		p.Modes[k.Type] = Shared
	}
	if s.Linux != nil {
		for i, ns := range s.Linux.Namespaces {
			k, ok := KindOf(ns.Type)
			if !ok {
				continue
			}
			if ns.Path == "" {
				p.Modes[k.Type] = New
				if k.Type != specs.TimeNamespace {
					p.Clone |= k.Flag
				}
				continue
			}
			p.Modes[k.Type] = Joined
			j := Join{Field: fmt.Sprintf("linux.namespaces[%d]", i), Kind: k, Path: ns.Path}
			switch k.Type {
			case specs.MountNamespace:
				p.JoinMount = &j
			case specs.PIDNamespace:
				p.JoinPid = &j
			default:
				p.Join = append(p.Join, j)
			}
		}
		sort.SliceStable(p.Join, func(a, b int) bool {
			return joinOrder[p.Join[a].Kind.Type] < joinOrder[p.Join[b].Kind.Type]
		})
		if p.User() != Shared {
			p.UIDMappings = s.Linux.UIDMappings
			p.GIDMappings = s.Linux.GIDMappings
		}
		if p.Mode(specs.TimeNamespace) == New {
			p.NewTime = true
			for _, clock := range sortedKeys(s.Linux.TimeOffsets) {
				off := s.Linux.TimeOffsets[clock]
				p.TimeOffsets = append(p.TimeOffsets, TimeOffset{Clock: clock, ClockID: timeClocks[clock], Secs: off.Secs, Nanosecs: off.Nanosecs})
			}
		}
	}
	if p.Mode(specs.UTSNamespace) != Shared {
		p.Hostname = s.Hostname
		p.Domainname = s.Domainname
	}
	p.LoopbackUp = p.Mode(specs.NetworkNamespace) == New
	return p
}

// TimeOffsetsFile renders the offsets as written to /proc/PID/timens_offsets
// (clock ids rather than names: the names came later to the kernel).
func (p *Plan) TimeOffsetsFile() string {
	var b strings.Builder
	for _, o := range p.TimeOffsets {
		fmt.Fprintf(&b, "%d %d %d\n", o.ClockID, o.Secs, o.Nanosecs)
	}
	return b.String()
}

// String renders the plan for explain output and test failures.
func (p *Plan) String() string {
	var parts []string
	for _, k := range Kinds {
		parts = append(parts, fmt.Sprintf("%s=%s", k.Proc, p.Modes[k.Type]))
	}
	s := strings.Join(parts, " ")
	for _, j := range p.Join {
		s += fmt.Sprintf(" join(%s %s)", j.Kind.Proc, j.Path)
	}
	if p.JoinPid != nil {
		s += fmt.Sprintf(" clone-join(pid %s)", p.JoinPid.Path)
	}
	if p.JoinMount != nil {
		s += fmt.Sprintf(" child-join(mnt %s)", p.JoinMount.Path)
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
