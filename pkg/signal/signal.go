// Package signal parses signals the way runc's kill does: a number, or a
// name with or without the SIG prefix, in any case.
package signal

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Parse returns the signal named or numbered by s.
func Parse(s string) (unix.Signal, error) {
	if s == "" {
		return 0, fmt.Errorf("invalid signal: empty")
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 || n > 64 {
			return 0, fmt.Errorf("invalid signal number %d: must be 1 to 64", n)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	if sig, ok := realtime(name); ok {
		return sig, nil
	}
	return 0, fmt.Errorf("invalid signal %q", s)
}

// realtime parses SIGRTMIN, SIGRTMIN+n, SIGRTMAX and SIGRTMAX-n (the
// kernel's 32..64; glibc reserves the first few, but kill(2) accepts them).
func realtime(name string) (unix.Signal, bool) {
	const rtmin, rtmax = 34, 64
	switch {
	case name == "SIGRTMIN":
		return rtmin, true
	case name == "SIGRTMAX":
		return rtmax, true
	case strings.HasPrefix(name, "SIGRTMIN+"):
		n, err := strconv.Atoi(name[len("SIGRTMIN+"):])
		if err == nil && n >= 0 && rtmin+n <= rtmax {
			return unix.Signal(rtmin + n), true
		}
	case strings.HasPrefix(name, "SIGRTMAX-"):
		n, err := strconv.Atoi(name[len("SIGRTMAX-"):])
		if err == nil && n >= 0 && rtmax-n >= rtmin {
			return unix.Signal(rtmax - n), true
		}
	}
	return 0, false
}
