package seccomp_test

import (
	"bytes"
	"os"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-run/oci-run/internal/testutil"
	"github.com/oci-run/oci-run/pkg/syncsock"
)

// What `busybox true` (static) calls, from strace.
var busyboxTrue = []string{"arch_prctl", "brk", "execve", "exit_group", "getrandom", "getuid", "getgid",
	"mprotect", "prctl", "prlimit64", "readlink", "rseq", "set_robust_list", "set_tid_address", "setgid", "setuid"}

// What the runtime does under the filter, as documented in
// docs/architecture.md: with no_new_privs, the ready message (write), the
// wait on the exec fifo (read) and execve (these three suffice in 20 runs
// out of 20), plus what the Go runtime may do on that thread meanwhile
// (futex to wait for a scheduler slot, rt_sigreturn after a preemption
// signal). runc documents futex, stat and execve for the same window; its
// stat is the PATH lookup, done here before the filter.
var runtimeNNP = []string{"write", "read", "execve", "futex", "rt_sigreturn"}

// Without no_new_privs the filter goes on before the user switch, which
// adds these.
var runtimePriv = []string{"prctl", "setgroups", "setresgid", "setresuid", "capset"}

// A strict allow-list profile starts a container: the full handover (sync
// socket, exec fifo) with everything else denied.
func TestStrictAllowList(t *testing.T) {
	testutil.RequireRoot(t)
	rootfs := testutil.StageRootfs(t, "oci-seccomp", "oci-exec")
	for _, nnp := range []bool{true, false} {
		t.Run(map[bool]string{true: "noNewPrivileges", false: "privileges"}[nnp], func(t *testing.T) {
			allowed := append(append([]string(nil), busyboxTrue...), runtimeNNP...)
			if !nnp {
				allowed = append(allowed, runtimePriv...)
			}
			s := spec(nnp, "/bin/busybox", "true")
			s.Process.Capabilities = &specs.LinuxCapabilities{} // all empty, no ambient warning
			s.Linux.Seccomp = &specs.LinuxSeccomp{
				DefaultAction: specs.ActErrno,
				Architectures: []specs.Arch{specs.ArchX86_64},
				Syscalls:      []specs.LinuxSyscall{{Names: allowed, Action: specs.ActAllow}},
			}
			runtimeEnd, stageEnd := testutil.SyncPair(t)
			fifo := testutil.ExecFifo(t)
			cmd := testutil.InRootCommand(rootfs, "/oci-seccomp", "--", "/oci-exec")
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			cmd.ExtraFiles = []*os.File{testutil.SpecFile(t, s), stageEnd.File(), fifo}
			cmd.Env = append(os.Environ(), "OCI_SYNC_FD=4", "OCI_FIFO_FD=5")
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			stageEnd.Close()
			m, err := runtimeEnd.Recv()
			if err != nil || m.Type != syncsock.TypeReady {
				cmd.Wait()
				t.Fatalf("got %+v, %v; want ready (output %q)", m, err, out.String())
			}
			fifo.Write([]byte{0})
			if err := cmd.Wait(); err != nil {
				t.Fatalf("busybox true under the strict profile: %v: %q", err, out.String())
			}
		})
	}
}
