// Command oci-exec is the last stage of the oci-run chain: it makes the
// current process the configuration's user process and execs process.args.
package main

import (
	"runtime"

	"github.com/oci-run/oci-run/pkg/process"
	"github.com/oci-run/oci-run/pkg/stage"
)

// Credentials, capabilities and the seccomp filter are per thread: stay
// on the main thread from the start and exec from it.
func init() { runtime.LockOSThread() }

func main() { stage.Main(process.Def()) }
