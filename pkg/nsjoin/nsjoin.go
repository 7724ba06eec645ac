// Package nsjoin enters namespaces by descriptor before the Go runtime
// starts, for the namespaces a multi-threaded process cannot enter: the
// kernel refuses setns(2) of a user namespace (EINVAL) and of a time
// namespace (EUSERS) unless the caller is single-threaded, and of a mount
// namespace unless the caller shares its filesystem context with nobody,
// and a Go program has several threads before main runs.
//
// It is a C constructor (nsjoin.c), like runc's nsexec but doing one thing
// only: a process that must join namespaces re-executes its own (sealed)
// binary with the descriptors listed in the environment variable Env; the
// constructor joins them, single-threaded, before the runtime starts, and
// main finds the outcome with Result. Everything else (what to join, in
// which order, errors that name the spec field) is decided in Go.
//
// Importing the package is what links the constructor into a binary; the
// binary must be built with cgo (see the Makefile). Built without cgo,
// Result reports that nothing was joined and Available is false.
package nsjoin

import (
	"fmt"
	"strconv"
	"strings"
)

// Env names the list of descriptors to join, "FD:FLAG,FD:FLAG", where FLAG
// is the CLONE_NEW* value of the namespace type, in joining order.
const Env = "_OCI_UNSHARE_SETNS"

// Entry is one namespace to join.
type Entry struct {
	FD   int
	Flag uintptr
}

// Format renders entries as the value of Env.
func Format(entries []Entry) string {
	parts := make([]string, len(entries))
	for i, e := range entries {
		parts[i] = fmt.Sprintf("%d:%d", e.FD, e.Flag)
	}
	return strings.Join(parts, ",")
}

// Parse reads the value of Env.
func Parse(v string) ([]Entry, error) {
	if v == "" {
		return nil, nil
	}
	var out []Entry
	for _, part := range strings.Split(v, ",") {
		a, b, ok := strings.Cut(part, ":")
		fd, err1 := strconv.Atoi(a)
		flag, err2 := strconv.ParseUint(b, 10, 64)
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%s=%q: malformed", Env, v)
		}
		out = append(out, Entry{FD: fd, Flag: uintptr(flag)})
	}
	return out, nil
}
