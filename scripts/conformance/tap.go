package main

import (
	"bufio"
	"encoding/json"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// TAP is what a validation program reported on stdout, read as TAP 13.
// Only lines that start in column 0 count: the suite nests the output of
// runtimetest and runtime stderr inside indented YAML blocks, and those
// may themselves contain "not ok". Some programs print several TAP
// streams one after the other (a "TAP version" line and a plan each);
// their plans add up.
type TAP struct {
	Planned   int    // the sum of the N of "1..N" lines; -1 without a plan
	Ok        int    // "ok" lines, skips and todos excluded
	NotOk     int    // "not ok" lines, todos excluded
	Skip      int    // "ok ... # SKIP"
	Todo      int    // "... # TODO", pass or fail (TAP does not count them)
	SkipAll   bool   // "1..0 # SKIP why": the whole file skipped on purpose
	Bail      string // the "Bail out!" line, if any
	FirstFail string // the first "not ok" line
	// FirstFailError is the "error" of the YAML block or the first "#"
	// diagnostic following FirstFail, which usually says why.
	FirstFailError string
	// OrphanError is the "error" of a YAML block that belongs to no test
	// line. The hook and lifecycle programs (hooks, prestart, poststart,
	// poststop, *_fail) report failure only that way, with a plan of 0.
	OrphanError string
	// Seen says the output had any TAP at all (a version, plan or test
	// line). The *_fail programs print none when the runtime refused the
	// configuration, as they want.
	Seen bool
}

var (
	planRe     = regexp.MustCompile(`^1\.\.(\d+)`)
	testRe     = regexp.MustCompile(`^(not )?ok\b`)
	skipRe     = regexp.MustCompile(`(?i)#\s*skip`)
	todoRe     = regexp.MustCompile(`(?i)#\s*todo`)
	yamlErr    = regexp.MustCompile(`^\s+"?error"?:\s*(.*)$`)
	yamlExpect = regexp.MustCompile(`^ {4}"?(expected|actual)"?:\s*(.*)$`)
)

// ParseTAP reads a TAP stream. It never fails: lines that are not TAP
// (the suite prints "Refer to: ..." and stray runtime errors) are ignored.
func ParseTAP(r io.Reader) TAP {
	t := TAP{Planned: -1}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	var (
		attached       bool // a YAML block here belongs to the last test line
		inYAML, orphan bool
		afterFirstFail bool // looking for the reason of the first failure
		expected       string
		actual         string
	)
	for sc.Scan() {
		line := sc.Text()
		if inYAML {
			if strings.TrimSpace(line) == "..." {
				inYAML = false
				// runtimetest's failures say what differed, not why.
				if afterFirstFail && t.FirstFailError == "" && (expected != "" || actual != "") {
					t.FirstFailError = "expected " + expected + ", actual " + actual
				}
				continue
			}
			if m := yamlErr.FindStringSubmatch(line); m != nil {
				switch {
				case orphan && t.OrphanError == "":
					t.OrphanError = yamlString(m[1])
				case !orphan && afterFirstFail && t.FirstFailError == "":
					t.FirstFailError = yamlString(m[1])
				}
			}
			if m := yamlExpect.FindStringSubmatch(line); m != nil && !orphan && afterFirstFail {
				if m[1] == "expected" {
					expected = yamlString(m[2])
				} else {
					actual = yamlString(m[2])
				}
			}
			continue
		}
		if strings.TrimSpace(line) == "---" && strings.HasPrefix(line, " ") {
			inYAML, orphan = true, !attached
			continue
		}
		switch {
		case strings.HasPrefix(line, "TAP version"):
			attached, t.Seen = false, true
		case planRe.MatchString(line):
			attached, t.Seen = false, true
			n, _ := strconv.Atoi(planRe.FindStringSubmatch(line)[1])
			if t.Planned < 0 {
				t.Planned = 0
			}
			t.Planned += n
			if n == 0 && skipRe.MatchString(line) {
				t.SkipAll = true
			}
		case testRe.MatchString(line):
			attached, afterFirstFail, t.Seen = true, false, true
			notOk := strings.HasPrefix(line, "not ")
			directive := ""
			if i := strings.Index(line, "#"); i >= 0 {
				directive = line[i:]
			}
			switch {
			case todoRe.MatchString(directive):
				t.Todo++
			case skipRe.MatchString(directive) && !notOk:
				t.Skip++
			case notOk:
				t.NotOk++
				if t.FirstFail == "" {
					t.FirstFail = line
					afterFirstFail = true
				}
			default:
				t.Ok++
			}
		case strings.HasPrefix(line, "# "):
			if afterFirstFail && t.FirstFailError == "" {
				t.FirstFailError = strings.TrimPrefix(line, "# ")
			}
		case strings.HasPrefix(line, "Bail out!"):
			if t.Bail == "" {
				t.Bail = line
			}
		}
	}
	return t
}

// yamlString returns the first line of a YAML (here: JSON) scalar.
func yamlString(v string) string {
	v = strings.TrimSuffix(strings.TrimSpace(v), ",")
	var s string
	if err := json.Unmarshal([]byte(v), &s); err != nil {
		s = strings.Trim(v, `"`)
	}
	return firstLine(s)
}

// Ran is the number of test lines seen.
func (t TAP) Ran() int { return t.Ok + t.NotOk + t.Skip + t.Todo }
