package process

import (
	"flag"

	"github.com/oci-run/oci-run/pkg/stage"
)

// Def is the oci-exec stage: its command line, help and work. cmd/oci-exec
// runs it alone; oci-mount runs it in its own process when oci-exec comes
// next (stage.Def.Continues). The caller has locked the main goroutine to
// the main thread from init on (see Run).
func Def() stage.Def {
	var o Options
	return stage.Def{
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
		Run: func(s *stage.Stage) error { return Run(s, o) },
	}
}
