// Command oci-cgroup is the cgroup stage of the oci-run chain: it creates
// the container's cgroup with the spec's limits, joins it and execs the
// rest of the pipeline (see pkg/cgroup).
package main

import (
	"flag"
	"os"
	"runtime"

	"github.com/oci-run/oci-run/pkg/cgroup"
	"github.com/oci-run/oci-run/pkg/cgroup/systemd"
	"github.com/oci-run/oci-run/pkg/stage"
)

// The cgroup is joined by the main thread alone, which then execs the next
// program (cgroup.JoinThread): stay on it from the start.
func init() { runtime.LockOSThread() }

func main() {
	systemd.Install()
	if cgroup.IsManage(os.Args[1:]) {
		o, err := cgroup.ParseManage(os.Args[1:])
		if err == nil {
			err = cgroup.Manage(o)
		}
		if err != nil {
			stage.Fail("oci-cgroup", nil, err)
		}
		return
	}
	var o cgroup.StageOptions
	stage.Main(stage.Def{
		Name:     "oci-cgroup",
		Synopsis: "oci-cgroup [--spec-fd N] [--bundle DIR] [--id ID] [--systemd] [--defer-pids] [--rm | --join [--paths FILE] [--sub [CTRL:]PATH]...] -- NEXT...\n       " + cgroup.ManageSynopsis,
		Usage:    cgroup.StageUsage,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&o.ID, "id", "", "container id: names the cgroup when linux.cgroupsPath is empty (default oci-cgroup-PID)")
			fs.BoolVar(&o.Systemd, "systemd", false, "systemd owns the cgroup; linux.cgroupsPath is slice:prefix:name")
			fs.BoolVar(&o.Join, "join", false, "join the container's existing cgroup instead of creating it")
			fs.Func("sub", "with --join: sub-cgroup to join, PATH or CTRL[,CTRL]:PATH (repeatable)", func(v string) error {
				o.Sub = append(o.Sub, v)
				return nil
			})
			fs.StringVar(&o.PathsFile, "paths", "", "with --join: file with the recorded cgroup paths (JSON) instead of computing them")
			fs.BoolVar(&o.Rm, "rm", false, "run the next program as a child and remove the cgroup when it exits")
			fs.BoolVar(&o.DeferPids, "defer-pids", false, "leave pids.max unlimited; the caller sets linux.resources.pids.limit once the runtime's own processes are set up (oci-run does)")
		},
		Run: func(s *stage.Stage) error { return cgroup.RunStage(s, o) },
	})
}
