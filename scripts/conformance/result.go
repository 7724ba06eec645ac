package main

import (
	"fmt"
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
	Name    string  `json:"name"`
	Result  string  `json:"result"`
	Reason  string  `json:"reason,omitempty"` // the first failure, one line
	Exit    int     `json:"exit"`             // -1 when killed by a signal
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
	Code     int    `json:"code"`   // -1 when killed by a signal
	Signal   string `json:"signal"` // empty unless killed by a signal
	TimedOut bool   `json:"timedOut"`
	Seconds  float64
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
	firstErr := firstLine(stderr)
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
	return r
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
