package capability

import (
	"fmt"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Sets holds the five capability sets of a process, bit n standing for
// capability n.
type Sets struct {
	Bounding, Effective, Permitted, Inheritable, Ambient uint64
}

// Host is what the kernel and the runtime's own process can give: a
// process cannot hand out a capability its bounding set has lost.
type Host struct {
	// LastCap is /proc/sys/kernel/cap_last_cap.
	LastCap int
	// Bounding is the runtime's own bounding set.
	Bounding uint64
}

// Plan computes the sets process.capabilities asks for. A capability name
// that is unknown, that this kernel does not have, or that the runtime's
// bounding set lacks is an error naming the field: the process would
// otherwise start with less than the configuration says, silently. An
// ambient capability that is not both permitted and inheritable cannot be
// raised (the kernel refuses it); like runc, it is left out with a warning.
// A nil c means no capabilities at all.
func Plan(c *specs.LinuxCapabilities, h Host) (Sets, []string, error) {
	var s Sets
	if c == nil {
		return s, nil, nil
	}
	lists := []struct {
		name string
		list []string
		set  *uint64
	}{
		{"bounding", c.Bounding, &s.Bounding},
		{"effective", c.Effective, &s.Effective},
		{"permitted", c.Permitted, &s.Permitted},
		{"inheritable", c.Inheritable, &s.Inheritable},
		{"ambient", c.Ambient, &s.Ambient},
	}
	for _, l := range lists {
		for i, name := range l.list {
			field := fmt.Sprintf("process.capabilities.%s[%d]", l.name, i)
			n, ok := Parse(name)
			if !ok {
				return Sets{}, nil, fmt.Errorf("%s: unknown capability %q", field, name)
			}
			if n > h.LastCap || n > 63 {
				return Sets{}, nil, fmt.Errorf("%s: %s is not supported by this kernel (its last capability is %s)", field, Name(n), Name(h.LastCap))
			}
			if h.Bounding&(1<<n) == 0 {
				return Sets{}, nil, fmt.Errorf("%s: %s is not in the runtime's bounding set: this host does not grant it", field, Name(n))
			}
			*l.set |= 1 << n
		}
	}
	// The kernel keeps effective within permitted (capset(2) fails
	// otherwise); say which entry is wrong rather than "operation not
	// permitted".
	if extra := s.Effective &^ s.Permitted; extra != 0 {
		return Sets{}, nil, fmt.Errorf("process.capabilities.effective[%d]: %s is not in process.capabilities.permitted",
			indexOf(c.Effective, lowest(extra)), Name(lowest(extra)))
	}
	var warnings []string
	if drop := s.Ambient &^ (s.Permitted & s.Inheritable); drop != 0 {
		warnings = append(warnings, fmt.Sprintf(
			"process.capabilities.ambient: %s not raised: an ambient capability must also be permitted and inheritable",
			strings.Join(Names(drop), ", ")))
		s.Ambient &^= drop
	}
	return s, warnings, nil
}

// Names lists the names of the capabilities in set, lowest first.
func Names(set uint64) []string {
	var out []string
	for n := 0; n < 64; n++ {
		if set&(1<<n) != 0 {
			name := Name(n)
			if name == "" {
				name = fmt.Sprintf("capability %d", n)
			}
			out = append(out, name)
		}
	}
	return out
}

func lowest(set uint64) int {
	for n := 0; n < 64; n++ {
		if set&(1<<n) != 0 {
			return n
		}
	}
	return -1
}

func indexOf(list []string, c int) int {
	for i, name := range list {
		if n, ok := Parse(name); ok && n == c {
			return i
		}
	}
	return -1
}
