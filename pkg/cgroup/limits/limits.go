// Package limits turns linux.resources into the cgroup files that carry
// them, on cgroup v1 and v2, and writes them. It is the one writer of
// container limits: oci-cgroup and oci-run's in-process create use it
// when the cgroup is made, oci-run update when it changes.
//
// The plan (V1, V2) is a pure function from the spec to a list of writes:
// file, value, and the spec field the value comes from, so that a kernel
// refusal names the field. The conversions follow runc's (specconv and
// the cgroup drivers of github.com/opencontainers/cgroups), so that a
// container gets the same values under oci-run as under runc:
// cpu.shares → cpu.weight, blkio weight → io.weight, OCI swap
// (memory+swap) → memory.swap.max (swap alone).
//
// What a plan cannot know, because it depends on the cgroup's current
// values or the kernel, is said declaratively in each write and handled
// by Apply: a file a kernel may lack (Optional, Else), and pairs the
// kernel checks against each other (After: memory and memory+swap, cfs
// period and quota, rt period and runtime), which must be written in one
// order when raising and the other when lowering.
package limits

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Unified is the controller name of cgroup2 files (and the Dirs key of
// the cgroup2 hierarchy in pkg/cgroup).
const Unified = ""

// Write is one value for one cgroup file.
type Write struct {
	// Ctrl is the v1 controller whose directory holds File, or Unified.
	Ctrl  string
	File  string
	Value string
	// Field is the spec field the value comes from (JSON path).
	Field string
	// Optional: a missing file is skipped. For values that ask for
	// nothing a kernel without the file would not do anyway (a "max"
	// swap where swap accounting is off, the reserved huge page limit
	// of kernels before 5.7).
	Optional bool
	// Else is written instead when File does not exist (the BFQ
	// scheduler's weight files replace the CFQ ones).
	Else *Write
	// After names the file of a pair the kernel checks this one
	// against: when the kernel refuses this write (EINVAL), it is
	// written again right after that file. Written first, the value
	// goes in when lowering; after, when raising.
	After string
	// Check is not a write: Value is a limit that must be above the
	// usage File reports (linux.resources.memory.checkBeforeUpdate).
	Check bool
	// ReadBack: the kernel clamps the value silently (cpu.shares);
	// reading it back turns a clamp into an error, as runc does.
	ReadBack bool
}

// Dirs gives the container's directory of a controller ("" when that
// hierarchy is not mounted).
type Dirs func(ctrl string) string

// Error is a write the kernel refused, naming the spec field.
type Error struct {
	Field, Path, Value string
	Err                error
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: write %q to %s: %v", e.Field, e.Value, e.Path, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Apply makes the writes in order (see Write for the exceptions).
func Apply(dirs Dirs, writes []Write) error {
	type pend struct {
		w   Write
		err error
	}
	pending := map[string][]pend{}
	for _, w := range writes {
		err := apply(dirs, w)
		if err != nil && w.After != "" && errors.Is(err, unix.EINVAL) {
			pending[w.After] = append(pending[w.After], pend{w, err})
			continue
		}
		if err != nil {
			return err
		}
		for _, p := range pending[w.File] {
			if err := apply(dirs, p.w); err != nil {
				return err
			}
		}
		delete(pending, w.File)
	}
	// The pair's other half was not written: the first refusal stands.
	for _, w := range writes {
		if ps := pending[w.After]; w.After != "" && len(ps) > 0 {
			return ps[0].err
		}
	}
	return nil
}

func apply(dirs Dirs, w Write) error {
	dir := dirs(w.Ctrl)
	if dir == "" {
		return fmt.Errorf("%s: the %s controller is not mounted", w.Field, w.Ctrl)
	}
	path := filepath.Join(dir, w.File)
	if w.Check {
		return checkAbove(path, w)
	}
	err := WriteFile(path, w.Value)
	switch {
	case err == nil:
	case errors.Is(err, unix.ENOENT) && w.Else != nil:
		return apply(dirs, *w.Else)
	case errors.Is(err, unix.ENOENT) && w.Optional:
		return nil
	default:
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return &Error{Field: w.Field, Path: path, Value: w.Value, Err: err}
	}
	if w.ReadBack {
		b, err := os.ReadFile(path)
		if err != nil {
			return &Error{Field: w.Field, Path: path, Value: w.Value, Err: err}
		}
		if got := strings.TrimSpace(string(b)); got != w.Value {
			return fmt.Errorf("%s: %s is out of the range the kernel allows (%s reads %s)", w.Field, w.Value, path, got)
		}
	}
	return nil
}

// checkAbove refuses a limit not above the usage: runc's check, which
// ignores a usage it cannot read.
func checkAbove(path string, w Write) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	usage, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return nil
	}
	limit, _ := strconv.ParseUint(w.Value, 10, 64)
	if limit <= usage {
		return fmt.Errorf("%s: %d is not above the current usage %d (checkBeforeUpdate)", w.Field, limit, usage)
	}
	return nil
}

// WriteFile writes value to a cgroup file in one write(2), as the kernel
// takes one value (one line of a multi-line file) per write; EINTR is
// retried, as cgroupfs writes can be interrupted.
func WriteFile(path, value string) error {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	for {
		_, err = unix.Write(fd, []byte(value))
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		return &os.PathError{Op: "write", Path: path, Err: err}
	}
	return nil
}
