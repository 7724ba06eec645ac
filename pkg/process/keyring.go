package process

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// joinSessionKeyring gives the container a session keyring of its own, so
// it does not share the runtime's (runc does this unless --no-new-keyring).
// Keyrings are best effort, as in runc: a kernel without them (ENOSYS) or
// a sandbox that forbids them (EACCES, EPERM) leaves the process with the
// inherited keyring. The new keyring is made searchable by the
// possessor's uid (other, in a user namespace) so the user process can use
// it after the switch of user.
func joinSessionKeyring(name string, userNS bool) error {
	id, err := unix.KeyctlJoinSessionKeyring(name)
	if err != nil {
		if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) {
			return nil
		}
		return fmt.Errorf("join session keyring %q: %w", name, err)
	}
	desc, err := unix.KeyctlString(unix.KEYCTL_DESCRIBE, id)
	if err != nil {
		return fmt.Errorf("describe session keyring %q: %w", name, err)
	}
	// "type;uid;gid;perm;description"
	fields := strings.SplitN(desc, ";", 5)
	if len(fields) < 5 {
		return fmt.Errorf("session keyring %q: unexpected description %q", name, desc)
	}
	perm, err := strconv.ParseUint(fields[3], 16, 32)
	if err != nil {
		return fmt.Errorf("session keyring %q: permission %q: %w", name, fields[3], err)
	}
	search := uint64(0x80000) // KEY_USR_SEARCH
	if userNS {
		search = 0x8 // KEY_OTH_SEARCH
	}
	if err := unix.KeyctlSetperm(id, uint32(perm|search)); err != nil {
		return fmt.Errorf("session keyring %q: set permissions: %w", name, err)
	}
	return nil
}
