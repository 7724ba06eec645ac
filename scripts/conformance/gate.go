package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

// ReadExpected reads the list of tests expected to pass: one test name a
// line; blank lines and "#" comments are ignored.
func ReadExpected(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var names []string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.Index(line, "#"); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if strings.ContainsAny(line, " \t/") {
			return nil, fmt.Errorf("%s:%d: %q is not a test name", path, n, line)
		}
		names = append(names, line)
	}
	return names, sc.Err()
}

// Regression is a listed test that did not pass.
type Regression struct {
	Name   string `json:"name"`
	Result string `json:"result"`
	Reason string `json:"reason,omitempty"`
}

// Gate is the verdict against the expected-pass list.
type Gate struct {
	Expected    string       `json:"expected"`
	Regressions []Regression `json:"regressions"`
	// Unlisted pass but are not on the list: candidates to add to it.
	Unlisted []string `json:"unlisted"`
}

// OK says whether the gate passes: every listed test that ran passed.
func (g Gate) OK() bool { return len(g.Regressions) == 0 }

// CheckGate compares the results with the expected list. suite is every
// test the suite has: a listed name outside it is a regression (a typo or
// a test that went away must not pass silently); a listed test that exists
// but was filtered out of this run is not judged.
func CheckGate(expected, suite []string, results []Result) Gate {
	g := Gate{Regressions: []Regression{}, Unlisted: []string{}}
	inSuite := map[string]bool{}
	for _, n := range suite {
		inSuite[n] = true
	}
	byName := map[string]Result{}
	for _, r := range results {
		byName[r.Name] = r
	}
	listed := map[string]bool{}
	for _, n := range expected {
		if listed[n] {
			continue
		}
		listed[n] = true
		r, ran := byName[n]
		switch {
		case !inSuite[n]:
			g.Regressions = append(g.Regressions, Regression{Name: n, Result: "missing", Reason: "no such test in the suite"})
		case !ran:
		case r.Result != ResultPass:
			g.Regressions = append(g.Regressions, Regression{Name: n, Result: r.Result, Reason: r.Reason})
		}
	}
	for _, r := range results {
		if r.Result == ResultPass && !listed[r.Name] {
			g.Unlisted = append(g.Unlisted, r.Name)
		}
	}
	return g
}
