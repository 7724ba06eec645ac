package rlimit

import (
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestPlan(t *testing.T) {
	tests := []struct {
		name    string
		in      []specs.POSIXRlimit
		want    []Limit
		wantErr string
	}{
		{name: "none", in: nil, want: []Limit{}},
		{
			name: "two",
			in:   []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 4000, Soft: 3000}, {Type: "RLIMIT_CPU", Hard: 120, Soft: 60}},
			want: []Limit{
				{Field: "process.rlimits[0]", Name: "RLIMIT_NOFILE", Resource: unix.RLIMIT_NOFILE, Soft: 3000, Hard: 4000},
				{Field: "process.rlimits[1]", Name: "RLIMIT_CPU", Resource: unix.RLIMIT_CPU, Soft: 60, Hard: 120},
			},
		},
		{name: "unknown", in: []specs.POSIXRlimit{{Type: "RLIMIT_TEST", Hard: 1024, Soft: 1024}},
			wantErr: `process.rlimits[0].type: unknown resource "RLIMIT_TEST"`},
		{name: "soft above hard", in: []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 2048}},
			wantErr: "process.rlimits[0]: soft limit 2048 above hard limit 1024"},
		{name: "twice", in: []specs.POSIXRlimit{{Type: "RLIMIT_CORE"}, {Type: "RLIMIT_CORE"}},
			wantErr: "process.rlimits[1].type: RLIMIT_CORE is already set by process.rlimits[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Plan(tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
