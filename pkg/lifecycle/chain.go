package lifecycle

import (
	"os"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-run/oci-run/pkg/stage"
)

// Chain is the command create runs for a container: the stage pipeline,
// the handover variables it gets on top of oci-run's environment, and the
// descriptors it inherits. create runs it; explain prints it; both get it
// from the same function, so what explain shows is what create runs.
type Chain struct {
	Argv []string
	// Env holds the OCI_* handover variables.
	Env []string
	// FDs are the inherited descriptors, numbered from 3 in order.
	FDs []ChainFD
	// Dir is the working directory: the bundle.
	Dir string
}

// ChainFD is one inherited descriptor.
type ChainFD struct {
	Num int
	// Name is the handover variable naming it, fdSpecName, or
	// fdPreserved.
	Name string
	// What describes it for people.
	What string
}

const (
	fdSpecName  = "config.json"
	fdPreserved = "preserved"
)

// chain lays out the pipeline for a new container. The user's preserved
// descriptors keep their numbers (3..3+N-1); the configuration, the sync
// socket, the exec fifo (at fifoPath) and the console socket go above them.
func (r *Runtime) chain(s *specs.Spec, o CreateOptions, fifoPath string) (*Chain, error) {
	ch := &Chain{Dir: o.Bundle}
	add := func(name, what string) int {
		n := 3 + len(ch.FDs)
		ch.FDs = append(ch.FDs, ChainFD{Num: n, Name: name, What: what})
		return n
	}
	for i := 0; i < o.PreserveFDs; i++ {
		add(fdPreserved, "the caller's descriptor "+strconv.Itoa(3+i)+" (--preserve-fds), passed on to the user process")
	}
	fdSpec := add(fdSpecName, "config.json of the bundle as a sealed memfd, read by every stage")
	fdSync := add(stage.EnvSync, "SOCK_SEQPACKET socket to oci-run: the init's pid, hooks, errors, ready")
	fdFifo := add(stage.EnvFifo, "the exec fifo "+fifoPath+", read-write: oci-exec waits on it until start")
	ch.Env = []string{
		stageProcs,
		stage.EnvSync + "=" + strconv.Itoa(fdSync),
		stage.EnvFifo + "=" + strconv.Itoa(fdFifo),
		stage.EnvPreserve + "=" + strconv.Itoa(o.PreserveFDs),
	}
	if o.console != nil || o.ConsoleSocket != "" {
		n := add(stage.EnvConsole, "connection to the --console-socket "+o.ConsoleSocket+": oci-exec sends the pty master there")
		ch.Env = append(ch.Env, stage.EnvConsole+"="+strconv.Itoa(n))
	}
	argv, err := r.pipeline(s, o, fdSpec, false)
	if err != nil {
		return nil, err
	}
	ch.Argv = argv
	return ch, nil
}

// pipeline builds the stage chain for a new container. A stage the spec
// does not need is left out (no seccomp profile, no oci-seccomp). alone
// builds the form that runs without oci-run, in the foreground:
// oci-cgroup removes the cgroup when the container exits (--rm) and
// oci-unshare waits for the container instead of detaching.
func (r *Runtime) pipeline(s *specs.Spec, o CreateOptions, fdSpec int, alone bool) ([]string, error) {
	chain := &chainArgv{r: r, sfd: strconv.Itoa(fdSpec)}
	add := chain.add
	cg := []string{"--bundle", o.Bundle, "--id", o.ID}
	if r.Systemd {
		cg = append(cg, "--systemd")
	}
	if alone {
		cg = append(cg, "--rm")
	} else {
		// oci-run sets pids.max once the init is ready (applyDeferred).
		cg = append(cg, "--defer-pids")
	}
	if err := add("oci-cgroup", cg...); err != nil {
		return nil, err
	}
	un := []string{"--bundle", o.Bundle}
	if !alone {
		un = append(un, "--detach")
	}
	if err := add("oci-unshare", un...); err != nil {
		return nil, err
	}
	mnt := []string{"--bundle", o.Bundle}
	if o.NoPivot {
		mnt = append(mnt, "--no-pivot")
	}
	if err := add("oci-mount", mnt...); err != nil {
		return nil, err
	}
	if s.Linux != nil && s.Linux.Seccomp != nil {
		if err := add("oci-seccomp"); err != nil {
			return nil, err
		}
	}
	ex := []string{"--bundle", o.Bundle, "--id", o.ID}
	if !o.NoNewKeyring {
		// runc names the keyring _ses.ID.
		ex = append(ex, "--session-keyring", "_ses."+o.ID)
	}
	if err := add("oci-exec", ex...); err != nil {
		return nil, err
	}
	return chain.argv, nil
}

// chainArgv is the argv of a stage chain being built, for a new
// container (pipeline) and for an exec'd process (execPipeline): each
// stage's path, its spec descriptor and its options, the stages joined by
// "--".
type chainArgv struct {
	r    *Runtime
	sfd  string
	argv []string
}

// add appends the stage name with opts.
func (c *chainArgv) add(name string, opts ...string) error {
	p, err := c.r.stagePath(name)
	if err != nil {
		return err
	}
	if len(c.argv) > 0 {
		c.argv = append(c.argv, "--")
	}
	c.argv = append(c.argv, p, "--spec-fd", c.sfd)
	c.argv = append(c.argv, opts...)
	return nil
}

// stageProcs is in the environment of every stage: GOMAXPROCS=1. A stage
// is one sequential program that lives for milliseconds; with a P per CPU
// the Go runtime wakes idle threads to look for work at every hand-off
// between goroutines, and in this VM context switches are dear: measured
// with the bench (50 rounds, both ways round), the stages with
// GOMAXPROCS=1 cost 35 fewer page faults and 0-3% less CPU per run.
// oci-exec gives the user process process.env only, and hooks get their
// own env, so the setting reaches no program of the container.
const stageProcs = "GOMAXPROCS=1"

// stageEnv is oci-run's environment for its stages, without handover
// variables and GOMAXPROCS (stageProcs comes with the chain's own).
func stageEnv() []string {
	return stage.SetEnv(stage.StripEnv(os.Environ()), "GOMAXPROCS", "")
}
