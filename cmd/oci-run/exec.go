package main

import (
	"flag"
	"strconv"

	"github.com/oci-run/oci-run/pkg/lifecycle"
)

func init() {
	register("exec", command{
		usage:   "[options] CONTAINER-ID [COMMAND [ARG...]]",
		summary: "run a new process inside a running container",
		setup: func(fs *flag.FlagSet) func(*global, []string) error {
			o := lifecycle.ExecOptions{}
			fs.StringVar(&o.ProcessFile, "process", "", "process.json to run (runtime-spec Process); the process flags below are then ignored")
			fs.StringVar(&o.ProcessFile, "p", "", "short for --process")
			fs.BoolVar(&o.Detach, "detach", false, "return once the process runs, leaving it to the caller")
			fs.BoolVar(&o.Detach, "d", false, "short for --detach")
			fs.StringVar(&o.ConsoleSocket, "console-socket", "", "unix socket to send the pty master to (with --tty)")
			fs.StringVar(&o.PidFile, "pid-file", "", "write the process's host pid to this file")
			fs.IntVar(&o.PreserveFDs, "preserve-fds", 0, "pass this many extra descriptors (3, 4, ...) to the process")
			fs.BoolVar(&o.IgnorePaused, "ignore-paused", false, "exec in a paused container (the process starts frozen)")
			fs.Func("cgroup", "join this sub-cgroup of the container's, PATH or CTRL[,CTRL]:PATH (repeatable)", func(v string) error {
				o.Cgroup = append(o.Cgroup, v)
				return nil
			})
			tty := optBool{&o.Tty}
			fs.Var(tty, "tty", "give the process a terminal")
			fs.Var(tty, "t", "short for --tty")
			fs.StringVar(&o.User, "user", "", "UID[:GID] to run as")
			fs.StringVar(&o.User, "u", "", "short for --user")
			gids := func(v string) error {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					return err
				}
				o.AdditionalGids = append(o.AdditionalGids, n)
				return nil
			}
			fs.Func("additional-gids", "supplementary group id (repeatable)", gids)
			fs.Func("g", "short for --additional-gids", gids)
			env := func(v string) error { o.Env = append(o.Env, v); return nil }
			fs.Func("env", "KEY=VALUE to add to the environment (repeatable)", env)
			fs.Func("e", "short for --env", env)
			fs.StringVar(&o.Cwd, "cwd", "", "working directory in the container")
			caps := func(v string) error { o.Caps = append(o.Caps, v); return nil }
			fs.Func("cap", "capability to add to the bounding, effective and permitted sets (repeatable)", caps)
			fs.Func("c", "short for --cap", caps)
			fs.Var(optBool{&o.NoNewPrivs}, "no-new-privs", "set no_new_privs for the process")
			fs.StringVar(&o.AppArmor, "apparmor", "", "AppArmor profile for the process")
			fs.StringVar(&o.ProcessLabel, "process-label", "", "SELinux label for the process")
			return func(g *global, args []string) error {
				if len(args) < 1 {
					return exactArgs(args, 1, "container id")
				}
				o.ID = args[0]
				o.Args = args[1:]
				if o.ProcessFile == "" && len(o.Args) == 0 {
					return exactArgs(args, 2, "container id and command")
				}
				r, err := g.runtime()
				if err != nil {
					return err
				}
				code, err := r.Exec(o)
				g.exitCode = code
				return err
			}
		},
	})
}

// optBool is a boolean flag that remembers whether it was given, for
// flags that override a value of the configuration only when set.
type optBool struct{ p **bool }

func (b optBool) IsBoolFlag() bool { return true }

func (b optBool) String() string {
	if b.p == nil || *b.p == nil {
		return "false"
	}
	return strconv.FormatBool(**b.p)
}

func (b optBool) Set(v string) error {
	x, err := strconv.ParseBool(v)
	if err != nil {
		return err
	}
	*b.p = &x
	return nil
}
