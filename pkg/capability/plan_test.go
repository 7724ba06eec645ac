package capability

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func bit(names ...string) uint64 {
	var s uint64
	for _, n := range names {
		c, ok := Parse(n)
		if !ok {
			panic(n)
		}
		s |= 1 << c
	}
	return s
}

func TestPlan(t *testing.T) {
	// This VM's host: every capability but CAP_SYS_RESOURCE.
	host := Host{LastCap: 40, Bounding: (1<<41 - 1) &^ bit("CAP_SYS_RESOURCE")}
	def := []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}
	tests := []struct {
		name    string
		caps    *specs.LinuxCapabilities
		want    Sets
		warn    string
		wantErr string
	}{
		{name: "nil drops everything", caps: nil, want: Sets{}},
		{
			name: "runc default: ambient without inheritable is not raised",
			caps: &specs.LinuxCapabilities{Bounding: def, Effective: def, Permitted: def, Ambient: def},
			want: Sets{Bounding: bit(def...), Effective: bit(def...), Permitted: bit(def...)},
			warn: "CAP_KILL, CAP_NET_BIND_SERVICE, CAP_AUDIT_WRITE not raised",
		},
		{
			name: "all five sets",
			caps: &specs.LinuxCapabilities{Bounding: def, Effective: []string{"CAP_KILL"}, Permitted: def,
				Inheritable: []string{"CAP_KILL"}, Ambient: []string{"CAP_KILL"}},
			want: Sets{Bounding: bit(def...), Effective: bit("CAP_KILL"), Permitted: bit(def...),
				Inheritable: bit("CAP_KILL"), Ambient: bit("CAP_KILL")},
		},
		{
			name: "lower case without prefix, as runc accepts",
			caps: &specs.LinuxCapabilities{Bounding: []string{"kill"}},
			want: Sets{Bounding: bit("CAP_KILL")},
		},
		{
			name:    "unknown name",
			caps:    &specs.LinuxCapabilities{Bounding: []string{"CAP_KILL", "CAP_CHOWN", "CAP_FOO"}},
			wantErr: `process.capabilities.bounding[2]: unknown capability "CAP_FOO"`,
		},
		{
			name:    "missing from the host",
			caps:    &specs.LinuxCapabilities{Permitted: []string{"CAP_SYS_RESOURCE"}},
			wantErr: "process.capabilities.permitted[0]: CAP_SYS_RESOURCE is not in the runtime's bounding set",
		},
		{
			name:    "newer than the kernel",
			caps:    &specs.LinuxCapabilities{Bounding: []string{"CAP_CHECKPOINT_RESTORE"}},
			wantErr: "process.capabilities.bounding[0]: CAP_CHECKPOINT_RESTORE is not supported by this kernel",
		},
		{
			name:    "effective outside permitted",
			caps:    &specs.LinuxCapabilities{Effective: []string{"CAP_KILL", "CAP_CHOWN"}, Permitted: []string{"CAP_KILL"}},
			wantErr: "process.capabilities.effective[1]: CAP_CHOWN is not in process.capabilities.permitted",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := host
			if strings.Contains(tt.name, "newer") {
				h.LastCap = 39
			}
			got, warns, err := Plan(tt.caps, h)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want prefix %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("sets = %+v, want %+v", got, tt.want)
			}
			if tt.warn == "" && len(warns) > 0 || tt.warn != "" && (len(warns) != 1 || !strings.Contains(warns[0], tt.warn)) {
				t.Errorf("warnings = %q, want one containing %q", warns, tt.warn)
			}
		})
	}
}
