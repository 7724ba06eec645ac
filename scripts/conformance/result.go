package main

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Results of one validation program.
const (
	ResultPass    = "pass"
	ResultFail    = "fail"
	ResultTimeout = "timeout"
	ResultCrash   = "crash" // killed by a signal, or a Go panic
)

// Result is the outcome of one validation program, as results.json has it.
type Result struct {
	Name   string `json:"name"`
	Result string `json:"result"`
	Reason string `json:"reason,omitempty"` // the first failure, one line
	// Stderr is the first error on the program's stderr (for the suite's
	// "failed to create the container", with the runtime's message).
	Stderr  string  `json:"stderr,omitempty"`
	Exit    int     `json:"exit"` // -1 when killed by a signal
	Signal  string  `json:"signal,omitempty"`
	Planned int     `json:"planned"` // -1: no plan
	Ok      int     `json:"ok"`
	NotOk   int     `json:"notOk"`
	Skip    int     `json:"skip"`
	Todo    int     `json:"todo"`
	Seconds float64 `json:"seconds"`
	// Cleanup lists what the runner had to remove after the test:
	// containers still known to the runtime, cgroups, processes.
	Cleanup []string `json:"cleanup,omitempty"`
	Log     string   `json:"log"` // file prefix of .stdout, .stderr, .runtime
}

// Exit is how a validation program ended.
type Exit struct {
	Code     int     `json:"code"`   // -1 when killed by a signal
	Signal   string  `json:"signal"` // empty unless killed by a signal
	TimedOut bool    `json:"timedOut"`
	Seconds  float64 `json:"seconds"`
}

// Verdict judges one program: it passes when it exited 0, printed a plan
// that matches the tests it ran, and no "not ok". The suite reports some
// failures only through a non-zero exit and an error on stderr (util.Fatal),
// so stderr gives the reason when TAP has none.
func Verdict(name string, e Exit, t TAP, stderr string) Result {
	r := Result{
		Name: name, Exit: e.Code, Signal: e.Signal, Seconds: e.Seconds,
		Planned: t.Planned, Ok: t.Ok, NotOk: t.NotOk, Skip: t.Skip, Todo: t.Todo,
	}
	firstErr := stderrDetail(stderr)
	tapReason := t.FirstFail
	if t.FirstFailError != "" {
		tapReason += ": " + t.FirstFailError
	}
	panicked := panicLine(stderr)
	switch {
	case e.TimedOut:
		r.Result, r.Reason = ResultTimeout, fmt.Sprintf("timed out after %.0fs", e.Seconds)
		if tapReason != "" {
			r.Reason += "; " + tapReason
		}
	case e.Signal != "":
		r.Result, r.Reason = ResultCrash, "killed by "+e.Signal
	case panicked != "":
		r.Result, r.Reason = ResultCrash, panicked
	case e.Code != 0:
		r.Result = ResultFail
		switch {
		case tapReason != "":
			r.Reason = fmt.Sprintf("exit %d: %s", e.Code, tapReason)
		case firstErr != "":
			r.Reason = fmt.Sprintf("exit %d: %s", e.Code, firstErr)
		default:
			r.Reason = fmt.Sprintf("exit %d", e.Code)
		}
	case t.Bail != "":
		r.Result, r.Reason = ResultFail, t.Bail
	case t.NotOk > 0:
		r.Result, r.Reason = ResultFail, tapReason
	case t.OrphanError != "":
		r.Result, r.Reason = ResultFail, "error: "+t.OrphanError
	case !t.Seen:
		// process_capabilities_fail, process_rlimits_fail: nothing on
		// stdout and exit 0 means the runtime refused the configuration,
		// which the suite reports as "failed to create (start) the
		// container". Without that line the run proves nothing.
		if strings.Contains(stderr, "failed to create the container") || strings.Contains(stderr, "failed to start the container") {
			r.Result = ResultPass
		} else {
			r.Result, r.Reason = ResultFail, "no TAP output and no runtime error"
		}
	case t.Planned < 0:
		r.Result, r.Reason = ResultFail, "no TAP plan"
		if firstErr != "" {
			r.Reason += ": " + firstErr
		}
	case t.Planned != t.Ran() && !t.SkipAll:
		r.Result, r.Reason = ResultFail, fmt.Sprintf("planned %d tests, ran %d", t.Planned, t.Ran())
	default:
		r.Result = ResultPass
	}
	if r.Result != ResultPass && firstErr != "" && !strings.Contains(r.Reason, firstErr) {
		r.Stderr = firstErr
	}
	return r
}

var logPrefix = regexp.MustCompile(`^time="[^"]*" level=\w+ msg=`)

// stderrDetail is the first line of stderr, joined with the next one when
// the first is the suite's own "failed to ..." (the runtime's error
// follows it). runc's and oci-run's logrus-style prefix is dropped.
func stderrDetail(stderr string) string {
	var lines []string
	for _, l := range strings.Split(stderr, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
		if len(lines) == 2 {
			break
		}
	}
	for i, l := range lines {
		if m := logPrefix.FindString(l); m != "" {
			msg := l[len(m):]
			if u, err := strconv.Unquote(msg); err == nil {
				msg = u
			}
			lines[i] = msg
		}
	}
	switch {
	case len(lines) == 0:
		return ""
	case len(lines) == 2 && strings.HasPrefix(lines[0], "failed to "):
		return lines[0] + ": " + lines[1]
	default:
		return lines[0]
	}
}

func firstLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return ""
}

func panicLine(stderr string) string {
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "panic: ") || strings.HasPrefix(l, "fatal error: ") {
			return l
		}
	}
	return ""
}
