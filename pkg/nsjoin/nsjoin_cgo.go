//go:build cgo

package nsjoin

// extern int nsjoin_ran, nsjoin_failed, nsjoin_errno, nsjoin_fork_errno;
import "C"

import "syscall"

// Available reports whether the constructor is linked in.
const Available = true

// Result tells what the constructor did in this process: ran is false when
// Env was not set; failed is the position in the list of the entry that
// could not be joined (-1 when all were), err its error.
func Result() (ran bool, failed int, err error) {
	if C.nsjoin_ran == 0 {
		return false, -1, nil
	}
	if C.nsjoin_errno != 0 {
		err = syscall.Errno(C.nsjoin_errno)
	}
	return true, int(C.nsjoin_failed), err
}

// ForkError is the error of the fork that follows the joins in fork mode
// (EnvFork), nil when there was none.
func ForkError() error {
	if C.nsjoin_fork_errno != 0 {
		return syscall.Errno(C.nsjoin_fork_errno)
	}
	return nil
}
