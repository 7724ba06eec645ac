package main

import (
	"strings"
	"testing"
)

func TestParseTAP(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want TAP
	}{
		{
			name: "plan at the end, skips, todo, nested TAP in YAML ignored",
			in: `TAP version 13
  ---
  {
    "stdout": "not ok 1 - inner\nok 2",
    "stderr": ""
  }
  ...
ok 1 - a
ok 2 # SKIP not set
not ok 3 # TODO later
ok 4 - b
  ---
  {
    "error": "exit status 1"
  }
  ...
Refer to: https://example/spec
1..4
`,
			want: TAP{Planned: 4, Ok: 2, Skip: 1, Todo: 1, Seen: true},
		},
		{
			name: "first failure and its reason from a diagnostic",
			in: `TAP version 13
ok 1 - find
not ok 2 - devices set correctly
# expect: c 10:229 rwm, actual: b 0:0 m
not ok 3 - other
1..3
`,
			want: TAP{Seen: true, Planned: 3, Ok: 1, NotOk: 2, FirstFail: "not ok 2 - devices set correctly", FirstFailError: "expect: c 10:229 rwm, actual: b 0:0 m"},
		},
		{
			name: "first failure and its reason from YAML",
			in: `not ok 1 - create works
  ---
  {
    "error": "exit status 1\nmore",
    "reference": "x"
  }
  ...
1..1
`,
			want: TAP{Seen: true, Planned: 1, NotOk: 1, FirstFail: "not ok 1 - create works", FirstFailError: "exit status 1"},
		},
		{
			name: "runtimetest failure: expected and actual",
			in: `not ok 13 - has expected soft RLIMIT_NOFILE
  ---
  {
    "actual": 3999,
    "expected": 3000,
    "level": "MUST"
  }
  ...
1..1
`,
			want: TAP{Seen: true, Planned: 1, NotOk: 1, FirstFail: "not ok 13 - has expected soft RLIMIT_NOFILE", FirstFailError: "expected 3000, actual 3999"},
		},
		{
			name: "error reported only in a YAML block of no test (hooks)",
			in: `TAP version 13
  ---
  {
    "error": "Hooks MUST be called in the listed order\nRefer to: https://x"
  }
  ...
1..0
`,
			want: TAP{Seen: true, Planned: 0, OrphanError: "Hooks MUST be called in the listed order"},
		},
		{
			name: "expected errors attached to ok lines are not failures",
			in: `ok 1 - create MUST generate an error if the ID is not provided
  ---
  {
    "error": "exit status 1"
  }
  ...
1..1
`,
			want: TAP{Seen: true, Planned: 1, Ok: 1},
		},
		{
			name: "two streams: plans add up",
			in:   "TAP version 13\nok 1\nok 2\n1..2\nTAP version 13\n1..0\n",
			want: TAP{Seen: true, Planned: 2, Ok: 2},
		},
		{
			name: "nothing",
			in:   "",
			want: TAP{Planned: -1},
		},
		{
			name: "no plan",
			in:   "TAP version 13\nok 1\n",
			want: TAP{Seen: true, Planned: -1, Ok: 1},
		},
		{
			name: "skip all, bail out",
			in:   "1..0 # SKIP no hugetlb\nBail out! broken\n",
			want: TAP{Seen: true, Planned: 0, SkipAll: true, Bail: "Bail out! broken"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ParseTAP(strings.NewReader(tt.in))
			if got != tt.want {
				t.Errorf("ParseTAP:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestVerdict(t *testing.T) {
	ok := TAP{Seen: true, Planned: 2, Ok: 2}
	tests := []struct {
		name   string
		exit   Exit
		tap    TAP
		stderr string
		result string
		reason string
	}{
		{"pass", Exit{}, ok, "", ResultPass, ""},
		{"all skipped on purpose", Exit{}, TAP{Seen: true, Planned: 0, SkipAll: true}, "", ResultPass, ""},
		{"empty plan, no error (poststop)", Exit{}, TAP{Seen: true, Planned: 0}, "", ResultPass, ""},
		{"not ok", Exit{}, TAP{Seen: true, Planned: 1, NotOk: 1, FirstFail: "not ok 1 - x", FirstFailError: "why"}, "", ResultFail, "not ok 1 - x: why"},
		{"orphan error", Exit{}, TAP{Seen: true, Planned: 0, OrphanError: "Hooks MUST"}, "", ResultFail, "error: Hooks MUST"},
		{"fatal exit with the runtime's error", Exit{Code: 1}, TAP{Seen: true, Planned: -1}, "\nfailed to create the container\ntime=\"2026-01-01T00:00:00Z\" level=error msg=\"runc create failed: \\\"x\\\"\"\n", ResultFail, `exit 1: failed to create the container: runc create failed: "x"`},
		{"fatal exit", Exit{Code: 1}, TAP{Planned: -1}, "Any value which cannot be mapped MUST cause an error\nRefer to: x\n", ResultFail, "exit 1: Any value which cannot be mapped MUST cause an error"},
		{"exit code beats a clean TAP", Exit{Code: 1}, ok, "", ResultFail, "exit 1"},
		{"no TAP, runtime refused (*_fail)", Exit{}, TAP{Planned: -1}, "failed to create the container\nwrong rlimit\n", ResultPass, ""},
		{"no TAP, nothing refused", Exit{}, TAP{Planned: -1}, "", ResultFail, "no TAP output and no runtime error"},
		{"no plan", Exit{}, TAP{Seen: true, Planned: -1, Ok: 1}, "", ResultFail, "no TAP plan"},
		{"plan mismatch", Exit{}, TAP{Seen: true, Planned: 3, Ok: 2}, "", ResultFail, "planned 3 tests, ran 2"},
		{"bail out", Exit{}, TAP{Seen: true, Planned: 1, Ok: 1, Bail: "Bail out! x"}, "", ResultFail, "Bail out! x"},
		{"timeout", Exit{Code: -1, Signal: "SIGKILL", TimedOut: true, Seconds: 120}, ok, "", ResultTimeout, "timed out after 120s"},
		{"signal", Exit{Code: -1, Signal: "SIGSEGV"}, ok, "", ResultCrash, "killed by SIGSEGV"},
		{"go panic", Exit{Code: 2}, ok, "panic: runtime error: invalid memory address\n", ResultCrash, "panic: runtime error: invalid memory address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Verdict("x", tt.exit, tt.tap, tt.stderr)
			if r.Result != tt.result || r.Reason != tt.reason {
				t.Errorf("Verdict = %q %q, want %q %q", r.Result, r.Reason, tt.result, tt.reason)
			}
		})
	}
}
