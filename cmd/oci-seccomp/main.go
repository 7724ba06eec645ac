// Command oci-seccomp is the stage of the oci-run chain that compiles
// linux.seccomp (libseccomp) into a BPF program.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"

	"github.com/oci-run/oci-run/pkg/process"
	"github.com/oci-run/oci-run/pkg/seccomp"
	"github.com/oci-run/oci-run/pkg/stage"
)

// The filter is per thread when this stage installs it (and so are the
// credentials and capabilities oci-exec sets when it runs in this
// process, Continues): stay on the main thread and exec from it.
func init() { runtime.LockOSThread() }

func main() {
	// oci-run --version reports the libseccomp this stage links (oci-run
	// itself is built without cgo).
	if len(os.Args) == 2 && os.Args[1] == "--version" {
		fmt.Printf("oci-seccomp\nlibseccomp: %s\n", seccomp.LibraryVersion())
		os.Exit(0)
	}
	// oci-run features: the seccomp part, as runtime-spec features JSON.
	if len(os.Args) == 2 && os.Args[1] == "--features" {
		json.NewEncoder(os.Stdout).Encode(seccomp.Features())
		os.Exit(0)
	}
	stage.Main(stage.Def{
		Name:     "oci-seccomp",
		Synopsis: "oci-seccomp [--spec-fd N] [--bundle DIR] -- NEXT...  |  oci-seccomp --version | --features",
		Usage: `
Compile linux.seccomp with libseccomp: default action, every action
(SCMP_ACT_KILL, KILL_PROCESS, KILL_THREAD, TRAP, ERRNO, TRACE, ALLOW, LOG,
NOTIFY), architectures, argument conditions, flags. Syscall names this
libseccomp does not know are skipped, as runc skips them. Without
linux.seccomp it just runs NEXT.

Who installs the filter:
  - NEXT is oci-exec: the compiled program is handed down in a sealed
    memfd named by OCI_SECCOMP_FD, and oci-exec installs it right before
    execve of the user program, after its own setup (the filter must not
    break the runtime's setup). oci-exec runs in this process rather
    than being exec'd, with the same options and result, unless a
    descriptor an exec would close is still open.
  - NEXT is anything else: oci-seccomp installs the filter itself
    (no_new_privs first when process.noNewPrivileges is true; otherwise
    loading needs CAP_SYS_ADMIN) and execs NEXT under it. A notify
    listener goes to linux.seccomp.listenerPath with a state naming this
    process.

--check compiles the profile and exits: 1 with the error the stage would
fail with, 0 otherwise, after printing one line per syscall name
libseccomp does not know (oci-run check uses it).

Examples:
  oci-seccomp 3<config.json -- sh -c 'getcwd-using-command'
  oci-seccomp --check 3<config.json
  oci-seccomp 3<config.json -- oci-exec`,
		Checkable: true,
		Run:       seccomp.Run,
		Continues: []stage.Def{process.Def()},
	})
}
