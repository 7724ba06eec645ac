// Command oci-exec is the last stage of the oci-run chain: it makes the
// current process the configuration's user process and execs process.args.
package main

import (
	"flag"
	"runtime"

	"github.com/oci-run/oci-run/pkg/process"
	"github.com/oci-run/oci-run/pkg/stage"
)

// Credentials, capabilities and the seccomp filter are per thread: stay
// on the main thread from the start and exec from it.
func init() { runtime.LockOSThread() }

func main() {
	var o process.Options
	stage.Main(stage.Def{
		Name:     "oci-exec",
		Synopsis: "oci-exec [--spec-fd N] [--bundle DIR] [--session-keyring NAME] [--id ID]",
		Usage: `
Set up the current process as the configuration's process and exec
process.args, in the current namespaces and root: session keyring,
terminal (a pty sent to the console socket of OCI_CONSOLE_FD), rlimits,
oomScoreAdj, cwd (created if missing) and umask, personality, scheduler,
ioPriority, execCPUAffinity.final, memoryPolicy, apparmorProfile and
selinuxLabel, then the user (uid, gid, additionalGids; HOME from
/etc/passwd), the five capability sets, noNewPrivileges and the seccomp
filter, the ready message on the sync socket and the wait on the exec fifo
(OCI_FIFO_FD), hooks.startContainer (after the wait, with the container's
state on their stdin; only with an exec fifo). Every descriptor above 2 + OCI_PRESERVE_FDS is closed at
exec; the program gets process.env (PATH and HOME defaulted) only.

Seccomp: oci-exec installs the program that oci-seccomp compiled and
handed down in OCI_SECCOMP_FD (flags from linux.seccomp). Without
OCI_SECCOMP_FD it installs no filter at all, whatever linux.seccomp says:
compiling the profile is the oci-seccomp stage's job. Run
"oci-seccomp 3<config.json -- oci-exec" for both.

Example:
  oci-exec 3<config.json
  unshare -m -p -f --mount-proc chroot rootfs /oci-exec 3<config.json`,
		Terminal: true,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&o.SessionKeyring, "session-keyring", "", "join the session keyring of this name, made if none exists (runc: _ses.ID)")
			fs.StringVar(&o.ID, "id", "", "container id, for the state on the stdin of hooks.startContainer")
		},
		Run: func(s *stage.Stage) error { return process.Run(s, o) },
	})
}
