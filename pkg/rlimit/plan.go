package rlimit

import (
	"errors"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Limit is one process.rlimits entry, resolved.
type Limit struct {
	// Field is the JSON path of the entry, for errors.
	Field      string
	Name       string
	Resource   int
	Soft, Hard uint64
}

// Plan resolves process.rlimits. An unknown type or a soft limit above the
// hard one is an error naming the entry.
func Plan(rls []specs.POSIXRlimit) ([]Limit, error) {
	out := make([]Limit, 0, len(rls))
	seen := map[string]int{}
	for i, rl := range rls {
		f := fmt.Sprintf("process.rlimits[%d]", i)
		res, ok := Resource(rl.Type)
		if !ok {
			return nil, fmt.Errorf("%s.type: unknown resource %q", f, rl.Type)
		}
		if j, dup := seen[rl.Type]; dup {
			return nil, fmt.Errorf("%s.type: %s is already set by process.rlimits[%d]", f, rl.Type, j)
		}
		seen[rl.Type] = i
		if rl.Soft > rl.Hard {
			return nil, fmt.Errorf("%s: soft limit %d above hard limit %d", f, rl.Soft, rl.Hard)
		}
		out = append(out, Limit{Field: f, Name: rl.Type, Resource: res, Soft: rl.Soft, Hard: rl.Hard})
	}
	return out, nil
}

// Apply sets each limit on the calling process. Raising a hard limit needs
// CAP_SYS_RESOURCE; the error says so.
func Apply(limits []Limit) error {
	for _, l := range limits {
		var old unix.Rlimit
		// unix.Prlimit goes through the standard library, which then stops
		// restoring its own saved RLIMIT_NOFILE at exec time.
		err := unix.Prlimit(0, l.Resource, &unix.Rlimit{Cur: l.Soft, Max: l.Hard}, &old)
		if err == nil {
			continue
		}
		if errors.Is(err, unix.EPERM) {
			unix.Prlimit(0, l.Resource, nil, &old)
			if l.Hard > old.Max {
				return fmt.Errorf("%s: %s hard limit %d is above the current hard limit %d and raising it needs CAP_SYS_RESOURCE: %w",
					l.Field, l.Name, l.Hard, old.Max, err)
			}
			if l.Resource == unix.RLIMIT_NOFILE {
				return fmt.Errorf("%s: %s %d is above the kernel's fs.nr_open: %w", l.Field, l.Name, l.Hard, err)
			}
		}
		return fmt.Errorf("%s: set %s to soft %d, hard %d: %w", l.Field, l.Name, l.Soft, l.Hard, err)
	}
	return nil
}
