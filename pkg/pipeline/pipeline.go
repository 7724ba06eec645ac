// Package pipeline parses the argv shape shared by every stage binary:
//
//	oci-STAGE [options] -- NEXT [options] -- NEXT ... -- CMD [ARGS...]
//
// A segment whose program is a known stage continues after its own "--";
// the first segment whose program is not a stage is the final command and
// takes the rest of argv verbatim, so a user command may itself contain "--".
// oci-exec is terminal: it runs process.args and takes no pipeline.
package pipeline

import (
	"path/filepath"
	"strings"
)

// Stages lists the stage binaries in chain order.
var Stages = []string{"oci-cgroup", "oci-unshare", "oci-mount", "oci-seccomp", "oci-exec"}

// IsStage reports whether prog (a path or a name) names a stage binary.
func IsStage(prog string) bool {
	base := filepath.Base(prog)
	for _, s := range Stages {
		if base == s {
			return true
		}
	}
	return false
}

// Segment is one program of a pipeline with its own arguments (options
// only, for stages; everything, for the final command).
type Segment struct {
	Argv  []string
	Stage bool
}

// Name is the base name of the segment's program.
func (s Segment) Name() string { return filepath.Base(s.Argv[0]) }

// Split cuts a pipeline into segments. The separator "--" between stage
// segments is dropped.
func Split(args []string) []Segment {
	var segs []Segment
	for len(args) > 0 {
		if !IsStage(args[0]) {
			segs = append(segs, Segment{Argv: args})
			break
		}
		i := indexOf(args, "--")
		if filepath.Base(args[0]) == "oci-exec" || i < 0 {
			segs = append(segs, Segment{Argv: args, Stage: true})
			break
		}
		segs = append(segs, Segment{Argv: args[:i], Stage: true})
		args = args[i+1:]
	}
	return segs
}

// Join is the inverse of Split.
func Join(segs []Segment) []string {
	var out []string
	for i, s := range segs {
		if i > 0 {
			out = append(out, "--")
		}
		out = append(out, s.Argv...)
	}
	return out
}

// StageNames lists the stage programs of a pipeline, in order.
func StageNames(args []string) []string {
	var out []string
	for _, s := range Split(args) {
		if s.Stage {
			out = append(out, s.Argv[0])
		}
	}
	return out
}

// Quote renders argv as a shell command line, for explain and error output.
func Quote(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = quoteArg(a)
	}
	return strings.Join(q, " ")
}

func quoteArg(a string) string {
	if a == "" {
		return "''"
	}
	safe := true
	for _, r := range a {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@%", r)) {
			safe = false
			break
		}
	}
	if safe {
		return a
	}
	return "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
}

func indexOf(args []string, s string) int {
	for i, a := range args {
		if a == s {
			return i
		}
	}
	return -1
}
