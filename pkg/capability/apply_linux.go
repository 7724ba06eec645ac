package capability

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Capabilities belong to a thread, not to a process: every call here acts
// on the calling thread only, so the caller locks itself to one OS thread
// and execs the user program from it.

// ReadHost reads the kernel's last capability and the calling thread's
// bounding set with PR_CAPBSET_READ, which needs no /proc.
func ReadHost() (Host, error) {
	h := Host{LastCap: -1}
	for c := 0; c < 64; c++ {
		r, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(c), 0, 0, 0)
		if err == unix.EINVAL {
			break
		}
		if err != nil {
			return h, fmt.Errorf("prctl(PR_CAPBSET_READ, %d): %w", c, err)
		}
		h.LastCap = c
		if r == 1 {
			h.Bounding |= 1 << c
		}
	}
	if h.LastCap < 0 {
		return h, fmt.Errorf("prctl(PR_CAPBSET_READ): no capability known to the kernel")
	}
	return h, nil
}

// DropBounding removes from the bounding set every capability up to last
// that keep does not hold. It needs CAP_SETPCAP, so it runs before the
// user changes.
func DropBounding(keep uint64, last int) error {
	for c := 0; c <= last && c < 64; c++ {
		if keep&(1<<c) != 0 {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil {
			// EINVAL: the kernel does not know c; nothing to drop.
			if err == unix.EINVAL {
				continue
			}
			return fmt.Errorf("drop %s from the bounding set: %w", Name(c), err)
		}
	}
	return nil
}

// KeepCaps sets or clears PR_SET_KEEPCAPS: with it, permitted capabilities
// survive the switch from uid 0 to the container's user.
func KeepCaps(on bool) error {
	v := uintptr(0)
	if on {
		v = 1
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, v, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_KEEPCAPS, %d): %w", v, err)
	}
	return nil
}

// Apply sets the effective, permitted and inheritable sets, then the
// ambient set (which the kernel only accepts within permitted and
// inheritable, so it comes last).
func Apply(s Sets) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	for i := 0; i < 2; i++ {
		data[i].Effective = uint32(s.Effective >> (32 * i))
		data[i].Permitted = uint32(s.Permitted >> (32 * i))
		data[i].Inheritable = uint32(s.Inheritable >> (32 * i))
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		if err == unix.EINVAL && s.Ambient == 0 {
			return nil // kernel without ambient capabilities
		}
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	for c := 0; c < 64; c++ {
		if s.Ambient&(1<<c) == 0 {
			continue
		}
		if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(c), 0, 0); err != nil {
			return fmt.Errorf("raise ambient %s: %w", Name(c), err)
		}
	}
	return nil
}
