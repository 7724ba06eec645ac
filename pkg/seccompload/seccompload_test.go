package seccompload

import (
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestFlags(t *testing.T) {
	notify := []specs.LinuxSyscall{{Names: []string{"mkdir"}, Action: specs.ActNotify}}
	tests := []struct {
		name    string
		sc      specs.LinuxSeccomp
		want    uint
		wantErr string
	}{
		{name: "none", want: 0},
		{name: "log and spec allow", sc: specs.LinuxSeccomp{Flags: []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog, specs.LinuxSeccompFlagSpecAllow}},
			want: FlagLog | FlagSpecAllow},
		{name: "tsync ignored as runc does", sc: specs.LinuxSeccomp{Flags: []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_TSYNC"}}, want: 0},
		{name: "notify adds the listener", sc: specs.LinuxSeccomp{Syscalls: notify}, want: FlagNewListener},
		{name: "wait killable with a listener", sc: specs.LinuxSeccomp{Syscalls: notify, Flags: []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagWaitKillableRecv}},
			want: FlagNewListener | FlagWaitKillableRecv},
		{name: "wait killable without a listener", sc: specs.LinuxSeccomp{Flags: []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagWaitKillableRecv}}, want: 0},
		{name: "unknown", sc: specs.LinuxSeccomp{Flags: []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog, "SECCOMP_FILTER_FLAG_FOO"}},
			wantErr: `linux.seccomp.flags[1]: unknown flag "SECCOMP_FILTER_FLAG_FOO"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Flags(&tt.sc)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Flags = %#x, %v; want %#x", got, err, tt.want)
			}
		})
	}
}

func TestHandoverRoundTrip(t *testing.T) {
	prog := []unix.SockFilter{{Code: 0x20, K: 4}, {Code: 0x15, Jt: 1, Jf: 0, K: 0xc000003e}, {Code: 0x6, K: 0x7fff0000}}
	fd, err := Handover(prog)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Receive(fd)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, prog) {
		t.Errorf("got %+v, want %+v", got, prog)
	}
}

func TestReceiveRefusesUnsealed(t *testing.T) {
	fd, err := unix.MemfdCreate("x", unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	unix.Write(fd, make([]byte, 8))
	if _, err := Receive(fd); err == nil || !strings.Contains(err.Error(), "not a sealed memfd") {
		t.Fatalf("err = %v", err)
	}
}

func TestDecodeRejectsPartial(t *testing.T) {
	if _, err := Decode(make([]byte, 12)); err == nil {
		t.Fatal("12 bytes decoded")
	}
}
