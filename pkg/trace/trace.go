// Package trace times the start of a container, stage by stage: where the
// milliseconds go between `oci-run run` and the user program's execve.
//
// Every process of a chain records marks (a name and the wall clock) when
// OCI_TRACE is set in its environment (oci-run --trace sets it for the
// chain). A stage hands its marks to oci-run in one "trace" message on the
// sync socket right before it execs the next program; run alone, it prints
// them on stderr. oci-run collects its own marks and the stages' and prints
// a table (Table): per process, the time from the previous process's exec
// to its main (kernel exec, Go runtime and package init), its work split
// into the steps between its marks, and the hand-over to the next.
//
// The clock is CLOCK_REALTIME, which time namespaces do not offset
// (CLOCK_MONOTONIC is shifted inside a time namespace with offsets).
// Disabled, Mark is one branch on a boolean.
package trace

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"time"
)

// Env switches tracing on for the process that has it in its environment.
// It is a handover variable: oci-exec never passes it to the user process.
const Env = "OCI_TRACE"

// Mark is one point in time in one process.
type Mark struct {
	What string `json:"w"`
	// T is nanoseconds since the Unix epoch (CLOCK_REALTIME).
	T int64 `json:"t"`
}

var (
	on    = os.Getenv(Env) != ""
	marks []Mark
)

// Enabled reports whether this process records marks.
func Enabled() bool { return on }

// Enable switches recording on (oci-run --trace).
func Enable() { on = true }

// Point records a mark named what.
func Point(what string) {
	if on {
		marks = append(marks, Mark{What: what, T: time.Now().UnixNano()})
	}
}

// PointAt records a mark taken before tracing was switched on (oci-run
// reads its --trace flag after its start): it goes first.
func PointAt(what string, t time.Time) {
	if on {
		marks = append([]Mark{{What: what, T: t.UnixNano()}}, marks...)
	}
}

// Take returns the marks recorded so far and forgets them.
func Take() []Mark {
	m := marks
	marks = nil
	return m
}

// Line renders marks as one line for stderr, for a stage run alone:
// "oci-trace STAGE START main=0.000 spec=0.210 ... exec=1.900", START the
// wall clock of the first mark in seconds, the others in ms after it.
func Line(process string, ms []Mark) string {
	if len(ms) == 0 {
		return ""
	}
	var b strings.Builder
	t0 := ms[0].T
	fmt.Fprintf(&b, "oci-trace %s %d.%06d", process, t0/1e9, t0%1e9/1e3)
	for _, m := range ms {
		fmt.Fprintf(&b, " %s=%.3f", m.What, float64(m.T-t0)/1e6)
	}
	return b.String()
}

// Group is the marks of one process (or of one phase of oci-run).
type Group struct {
	Process string
	Marks   []Mark
}

// handoff marks end a process's part: the next process's start is
// measured from the latest of them before its first mark.
// "fuse" is a stage going on into the next one in the same process
// (stage.Def.Continues).
var handoff = map[string]bool{"exec": true, "clone": true, "spawn": true, "fuse": true}

// Table renders the groups as a table, rows in the order of their first
// mark, times in ms from the earliest mark:
//
//	process            at  exec+init   work  steps (ms)
//	oci-run          0.00          -   2.71  flags 0.05, spec 0.80, ...
//	oci-cgroup       3.10       1.20   2.30  spec 0.20, seal 1.60, ...
//
// "exec+init" is from the hand-off (exec, clone or spawn mark) that
// started the process to its first mark: the kernel's exec and the Go
// runtime's start-up and package initialisation. "work" is from its first
// mark to its last; the steps are the gaps between consecutive marks,
// named after the mark that ends them.
func Table(groups []Group) string {
	var gs []Group
	for _, g := range groups {
		if len(g.Marks) > 0 {
			gs = append(gs, g)
		}
	}
	if len(gs) == 0 {
		return "no trace marks recorded\n"
	}
	sort.SliceStable(gs, func(i, j int) bool { return gs[i].Marks[0].T < gs[j].Marks[0].T })
	t0 := gs[0].Marks[0].T
	var all []Mark
	for _, g := range gs {
		for _, m := range g.Marks {
			if handoff[m.What] {
				all = append(all, m)
			}
		}
	}
	msf := func(d int64) string { return fmt.Sprintf("%.2f", float64(d)/1e6) }
	rows := [][]string{{"process", "at", "exec+init", "work", "steps (ms)"}}
	for _, g := range gs {
		first, last := g.Marks[0], g.Marks[len(g.Marks)-1]
		startup := "-"
		var from int64
		for _, m := range all {
			if m.T <= first.T && m.T > from {
				from = m.T
			}
		}
		// Only a process that starts at main was started by a hand-off;
		// oci-run's own rows start elsewhere.
		if from != 0 && first.What == "main" {
			startup = msf(first.T - from)
		}
		var steps []string
		for i := 1; i < len(g.Marks); i++ {
			steps = append(steps, g.Marks[i].What+" "+msf(g.Marks[i].T-g.Marks[i-1].T))
		}
		rows = append(rows, []string{g.Process, msf(first.T - t0), startup, msf(last.T - first.T), strings.Join(steps, ", ")})
	}
	var end int64
	for _, g := range gs {
		end = max(end, g.Marks[len(g.Marks)-1].T)
	}
	width := make([]int, 4)
	for _, r := range rows {
		for i := range width {
			width[i] = max(width[i], len(r[i]))
		}
	}
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "%-*s  %*s  %*s  %*s  %s\n", width[0], r[0], width[1], r[1], width[2], r[2], width[3], r[3], r[4])
	}
	fmt.Fprintf(&b, "total %s ms\n", msf(end-t0))
	return b.String()
}
