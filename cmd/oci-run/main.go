// Command oci-run is the runc-compatible runtime CLI: it composes the stage
// binaries (oci-cgroup, oci-unshare, oci-mount, oci-seccomp, oci-exec)
// into containers. One file per subcommand; the work is in pkg/lifecycle.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/oci-run/oci-run/pkg/lifecycle"
	"github.com/oci-run/oci-run/pkg/logging"
	"github.com/oci-run/oci-run/pkg/state"
	"github.com/oci-run/oci-run/pkg/sysmon"
	"github.com/oci-run/oci-run/pkg/trace"
)

// command is one subcommand: flags are registered on fs, run gets the
// positional arguments.
type command struct {
	usage   string // arguments after the command name
	summary string
	// interspersed commands accept options after their positional
	// arguments (runc does not; it costs nothing to be kind). Commands
	// that take a user command line (exec) do not.
	interspersed bool
	setup        func(fs *flag.FlagSet) func(g *global, args []string) error
}

var commands = map[string]command{}

func register(name string, c command) { commands[name] = c }

// unsupported are runc's commands that oci-run refuses by name, whatever
// their options, so a caller learns why rather than "unknown command".
var unsupported = map[string]string{
	"checkpoint": "oci-run has no CRIU integration (checkpoint and restore)",
	"restore":    "oci-run has no CRIU integration (checkpoint and restore)",
}

// global holds the options given before the subcommand.
type global struct {
	root, log, logFormat, criu, rootless, stageDir string
	debug, systemd                                 bool
	logger                                         *logging.Logger
	exitCode                                       int
	// rt is the runtime of the command, for its trace.
	rt *lifecycle.Runtime
}

func (g *global) runtime() (*lifecycle.Runtime, error) {
	dir, err := lifecycle.FindStageDir(g.stageDir)
	if err != nil {
		return nil, err
	}
	g.rt = &lifecycle.Runtime{
		Store:    state.Store{Root: g.root},
		Log:      g.logger,
		StageDir: dir,
		Systemd:  g.systemd,
	}
	return g.rt, nil
}

// started is when main began, for the first mark of --trace.
var started time.Time

func main() {
	started = time.Now()
	sysmon.Calm()
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	g := &global{}
	fs := flag.NewFlagSet("oci-run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&g.root, "root", "/run/oci-run", "directory for the state of containers")
	fs.StringVar(&g.log, "log", "", "log file (default stderr)")
	fs.StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
	fs.BoolVar(&g.debug, "debug", false, "log debug messages")
	fs.BoolVar(&g.systemd, "systemd-cgroup", false, "manage cgroups through systemd (cgroupsPath slice:prefix:name)")
	fs.StringVar(&g.criu, "criu", "criu", "path to criu: accepted as runc does, unused (checkpoint and restore are not supported)")
	fs.StringVar(&g.rootless, "rootless", "auto", "rootless cgroup handling: true, false or auto")
	fs.StringVar(&g.stageDir, "stage-dir", "", "directory of the stage binaries (default: $"+lifecycle.EnvStageDir+", else next to oci-run)")
	traceFlag := fs.Bool("trace", false, "print where the time of a create, run or exec goes, stage by stage, on stderr (also: $"+trace.Env+"=1)")
	help := fs.Bool("help", false, "show help")
	fs.BoolVar(help, "h", false, "show help")
	version := fs.Bool("version", false, "print the version")
	fs.BoolVar(version, "v", false, "print the version")
	if err := fs.Parse(args); err != nil {
		fmt.Fprintf(os.Stderr, "oci-run: %v (see oci-run --help)\n", err)
		return 1
	}
	if *traceFlag {
		trace.Enable()
	}
	trace.PointAt("start", started)
	if *version {
		printVersion(os.Stdout, g.stageDir)
		return 0
	}
	rest := fs.Args()
	if *help || len(rest) == 0 || rest[0] == "help" {
		usage(os.Stdout, fs)
		if len(rest) == 0 && !*help {
			return 1
		}
		return 0
	}
	logger, err := logging.New(g.log, g.logFormat, g.debug)
	if err != nil {
		fmt.Fprintf(os.Stderr, "oci-run: %v\n", err)
		return 1
	}
	defer logger.Close()
	g.logger = logger
	switch g.rootless {
	case "auto", "true", "false":
	default:
		logger.Error(fmt.Sprintf("invalid --rootless %q: must be true, false or auto", g.rootless))
		return 1
	}

	name := rest[0]
	if why, ok := unsupported[name]; ok {
		logger.Error(fmt.Sprintf("oci-run %s: not supported: %s", name, why))
		return 1
	}
	cmd, ok := commands[name]
	if !ok {
		logger.Error(fmt.Sprintf("oci-run: unknown command %q (see oci-run --help)", name))
		return 1
	}
	cfs := flag.NewFlagSet(name, flag.ContinueOnError)
	cfs.SetOutput(io.Discard)
	chelp := cfs.Bool("help", false, "show help")
	cfs.BoolVar(chelp, "h", false, "show help")
	action := cmd.setup(cfs)
	pos, err := parse(cfs, rest[1:], cmd.interspersed)
	if err != nil {
		logger.Error(fmt.Sprintf("%s: %v (see oci-run %s --help)", name, err, name))
		return 1
	}
	if *chelp {
		fmt.Fprintf(os.Stdout, "Usage: oci-run %s %s\n\n%s\n\nOptions:\n", name, cmd.usage, cmd.summary)
		cfs.SetOutput(os.Stdout)
		cfs.PrintDefaults()
		return 0
	}
	logger.Debugf("oci-run %s", strings.Join(args, " "))
	trace.Point("flags")
	err = action(g, pos)
	if trace.Enabled() && g.rt != nil {
		g.rt.TraceGroup("oci-run")
		fmt.Fprintf(os.Stderr, "oci-run --trace: %s\n%s", name, trace.Table(g.rt.Traces))
	}
	if err != nil {
		logger.Error(err.Error())
		if g.exitCode == 0 {
			return 1
		}
	}
	return g.exitCode
}

// parse parses flags; interspersed commands may put them after positional
// arguments. "--" ends option parsing.
func parse(fs *flag.FlagSet, args []string, interspersed bool) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if !interspersed {
			return append(pos, rest...), nil
		}
		// Go's flag package stops at the first positional argument, and
		// swallows a "--" that ends the options: after one, all is positional.
		if i := len(args) - len(rest) - 1; i >= 0 && args[i] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// idCommand is the shape of the commands that take one container id and
// no options of their own (start, pause, resume).
func idCommand(summary string, do func(r *lifecycle.Runtime, id string) error) command {
	return command{
		usage:        "CONTAINER-ID",
		summary:      summary,
		interspersed: true,
		setup: func(fs *flag.FlagSet) func(*global, []string) error {
			return withID(func(_ *global, r *lifecycle.Runtime, id string) error {
				return do(r, id)
			})
		},
	}
}

// withID is the body of a command that takes one container id: it checks
// the arguments, opens the runtime and calls do with the id.
func withID(do func(g *global, r *lifecycle.Runtime, id string) error) func(*global, []string) error {
	return func(g *global, args []string) error {
		if err := exactArgs(args, 1, "container id"); err != nil {
			return err
		}
		r, err := g.runtime()
		if err != nil {
			return err
		}
		return do(g, r, args[0])
	}
}

// exactArgs checks the number of positional arguments.
func exactArgs(args []string, n int, what string) error {
	if len(args) != n {
		if len(args) < n {
			return fmt.Errorf("missing %s", what)
		}
		return fmt.Errorf("unexpected arguments %q after %s", args[n:], what)
	}
	return nil
}

func usage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, `Usage: oci-run [global options] COMMAND [options] [arguments]

oci-run runs OCI containers (a drop-in for runc) by composing the stage
binaries oci-cgroup, oci-unshare, oci-mount, oci-seccomp and oci-exec.

Commands:
`)
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(w, "\nGlobal options:\n")
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}
