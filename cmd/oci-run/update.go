package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-run/oci-run/pkg/cgroup"
)

func init() {
	register("update", command{
		usage:        "[options] CONTAINER-ID",
		summary:      "change the resource limits of a live container",
		interspersed: true,
		setup: func(fs *flag.FlagSet) func(*global, []string) error {
			var f cgroup.UpdateFlags
			resources := fs.String("resources", "", "file with a linux.resources JSON object to merge, or - for stdin (other options are then ignored)")
			fs.StringVar(resources, "r", "", "short for --resources")
			for _, o := range []struct {
				name, usage string
				dst         *string
			}{
				{"blkio-weight", "block I/O weight, 10-1000", &f.BlkioWeight},
				{"cpu-period", "CPU CFS period (µs)", &f.CPUPeriod},
				{"cpu-quota", "CPU CFS quota (µs per period, -1 for none)", &f.CPUQuota},
				{"cpu-burst", "CPU CFS burst (µs)", &f.CPUBurst},
				{"cpu-share", "CPU shares (relative weight)", &f.CPUShare},
				{"cpu-rt-period", "CPU realtime period (µs)", &f.CPURtPeriod},
				{"cpu-rt-runtime", "CPU realtime runtime (µs per period)", &f.CPURtRuntime},
				{"cpuset-cpus", "CPUs to run on (0-3,5)", &f.CpusetCpus},
				{"cpuset-mems", "memory nodes to use", &f.CpusetMems},
				{"cpu-idle", "1: SCHED_IDLE for the cgroup, 0: normal", &f.CPUIdle},
				{"memory", "memory limit (bytes, or with unit k m g; -1 for none)", &f.Memory},
				{"memory-reservation", "memory soft limit", &f.MemoryReservation},
				{"memory-swap", "memory plus swap limit (-1 for unlimited swap)", &f.MemorySwap},
				{"pids-limit", "maximum number of tasks (-1 for none)", &f.PidsLimit},
				{"kernel-memory", "obsolete, ignored", &f.KernelMemory},
				{"kernel-memory-tcp", "obsolete, ignored", &f.KernelMemoryTCP},
			} {
				fs.StringVar(o.dst, o.name, "", o.usage)
			}
			l3 := fs.String("l3-cache-schema", "", "Intel RDT L3 cache schema (not supported)")
			mba := fs.String("mem-bw-schema", "", "Intel RDT memory bandwidth schema (not supported)")
			return func(g *global, args []string) error {
				if err := exactArgs(args, 1, "container id"); err != nil {
					return err
				}
				if *l3 != "" || *mba != "" {
					return errors.New("update: Intel RDT (--l3-cache-schema, --mem-bw-schema) is not supported by oci-run")
				}
				var upd *specs.LinuxResources
				var err error
				if *resources != "" {
					upd, err = readResources(*resources)
				} else {
					upd, err = f.Resources()
				}
				if err != nil {
					return err
				}
				if f.KernelMemory != "" || f.KernelMemoryTCP != "" {
					g.logger.Warnf("update: --kernel-memory and --kernel-memory-tcp are ignored (no kernel memory limit on this kernel)")
				}
				r, err := g.runtime()
				if err != nil {
					return err
				}
				return r.Update(args[0], upd)
			}
		},
	})
}

func readResources(path string) (*specs.LinuxResources, error) {
	var in io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("--resources: %w", err)
		}
		defer f.Close()
		in = f
	}
	return cgroup.ReadUpdate(in)
}
