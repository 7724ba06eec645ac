//go:build cgo

package seccomp

import (
	"encoding/json"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-run/oci-run/pkg/seccompload"
)

// FuzzCompile: any linux.seccomp (as JSON) either fails the plan with one
// line naming a field of linux.seccomp, or compiles with libseccomp into
// a program the kernel could load (1 to 4096 instructions, ending in a
// return). Seeds: the profiles of the compat configs (Docker's and
// podman's default profiles).
func FuzzCompile(f *testing.F) {
	f.Add([]byte(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mknod"],"action":"SCMP_ACT_ERRNO"}]}`))
	f.Add([]byte(`{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86"],"syscalls":[{"names":["read","write"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"}]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var sc specs.LinuxSeccomp
		if json.Unmarshal(b, &sc) != nil {
			return
		}
		if _, err := seccompload.Flags(&sc); err != nil {
			checkErr(t, err)
			return
		}
		p, err := NewPlan(&sc)
		if err != nil {
			checkErr(t, err)
			return
		}
		res, err := Compile(p)
		if err != nil {
			checkErr(t, err)
			return
		}
		n := len(res.Program)
		if n == 0 || n > 4096 {
			// Too long for one filter: refused by the kernel, which the
			// stage reports; not a crash.
			if n == 0 {
				t.Fatalf("empty program for %s", b)
			}
			return
		}
		if last := res.Program[n-1]; last.Code != 0x06 { // BPF_RET|BPF_K
			t.Errorf("program does not end in a return: %+v", last)
		}
	})
}

func checkErr(t *testing.T, err error) {
	t.Helper()
	msg := err.Error()
	if strings.Contains(msg, "\n") {
		t.Errorf("multi-line error %q", msg)
	}
	if !strings.HasPrefix(msg, "linux.seccomp") && !strings.HasPrefix(msg, "libseccomp") {
		t.Errorf("error does not name a field of linux.seccomp: %q", msg)
	}
}
