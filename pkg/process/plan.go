// Package process is oci-exec: it turns the process section of the
// configuration (and linux.personality, linux.memoryPolicy, the compiled
// seccomp filter) into the user process, in the order runc's
// standard_init_linux.go applies them, and execs process.args.
//
// NewPlan is the pure part: every field is checked and resolved before the
// process is changed at all, so a bad configuration fails with one line
// naming the field and nothing applied. Run applies the plan.
package process

import (
	"errors"
	"fmt"
	"io"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/pkg/capability"
	"github.com/oci-run/oci-run/pkg/rlimit"
	"github.com/oci-run/oci-run/pkg/seccompload"
	"github.com/oci-run/oci-run/pkg/spec"
	"github.com/oci-run/oci-run/pkg/user"
)

// DefaultPath is the PATH a process gets when process.env has none (the
// value crun and Docker use).
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Plan is what oci-exec will do.
type Plan struct {
	Args     []string
	Env      []string
	Cwd      string
	Identity user.Identity
	Caps     capability.Sets
	LastCap  int
	Rlimits  []rlimit.Limit

	NoNewPrivileges bool
	OOMScoreAdj     *int
	AppArmorProfile string
	SELinuxLabel    string
	Personality     *uint
	Scheduler       *unix.SchedAttr
	IOPriority      *int
	Affinity        *unix.CPUSet
	MemPolicy       *memPolicy

	Terminal    bool
	ConsoleSize *specs.Box
	// UserNS: the process is in a user namespace of the configuration
	// (the session keyring needs other-search permission then).
	UserNS bool

	// Seccomp: flags for seccomp(2), when linux.seccomp is set.
	Seccomp          bool
	SeccompFlags     uint
	ListenerPath     string
	ListenerMetadata string

	// Warnings are reported, not fatal.
	Warnings []string
}

// NewPlan checks and resolves the configuration. host is the capability
// state of the runtime; passwd is the container's /etc/passwd (nil when
// it has none).
func NewPlan(s *specs.Spec, host capability.Host, passwd io.Reader) (*Plan, error) {
	pr := s.Process
	if pr == nil {
		return nil, errors.New("process: not set")
	}
	if len(pr.Args) == 0 {
		return nil, errors.New("process.args: must not be empty")
	}
	p := &Plan{Args: pr.Args, Cwd: pr.Cwd, NoNewPrivileges: pr.NoNewPrivileges,
		OOMScoreAdj: pr.OOMScoreAdj, AppArmorProfile: pr.ApparmorProfile, SELinuxLabel: pr.SelinuxLabel,
		Terminal: pr.Terminal, ConsoleSize: pr.ConsoleSize, LastCap: host.LastCap}
	if p.Cwd == "" {
		p.Cwd = "/"
	}
	if !strings.HasPrefix(p.Cwd, "/") {
		return nil, fmt.Errorf("process.cwd: %q is not an absolute path", p.Cwd)
	}
	var err error
	if p.Identity, err = user.Resolve(pr.User, passwd); err != nil {
		return nil, err
	}
	if p.Env, err = Env(pr.Env, p.Identity.Home); err != nil {
		return nil, err
	}
	var warns []string
	if p.Caps, warns, err = capability.Plan(pr.Capabilities, host); err != nil {
		return nil, err
	}
	p.Warnings = append(p.Warnings, warns...)
	if p.Rlimits, err = rlimit.Plan(pr.Rlimits); err != nil {
		return nil, err
	}
	if adj := pr.OOMScoreAdj; adj != nil && (*adj < -1000 || *adj > 1000) {
		return nil, fmt.Errorf("process.oomScoreAdj: %d is outside -1000..1000", *adj)
	}
	if p.Scheduler, err = planScheduler(pr.Scheduler); err != nil {
		return nil, err
	}
	if p.IOPriority, err = planIOPriority(pr.IOPriority); err != nil {
		return nil, err
	}
	if p.Affinity, err = planAffinity(pr.ExecCPUAffinity); err != nil {
		return nil, err
	}
	if l := s.Linux; l != nil {
		if p.Personality, err = planPersonality(l.Personality); err != nil {
			return nil, err
		}
		if p.MemPolicy, err = planMemPolicy(l.MemoryPolicy); err != nil {
			return nil, err
		}
		if sc := l.Seccomp; sc != nil {
			p.Seccomp = true
			if p.SeccompFlags, err = seccompload.Flags(sc); err != nil {
				return nil, err
			}
			p.ListenerPath, p.ListenerMetadata = sc.ListenerPath, sc.ListenerMetadata
			if p.SeccompFlags&seccompload.FlagNewListener != 0 && sc.ListenerPath == "" {
				return nil, errors.New("linux.seccomp.listenerPath: must be set when a rule uses SCMP_ACT_NOTIFY")
			}
		}
	}
	_, p.UserNS = spec.HasNamespace(s, specs.UserNamespace)
	return p, nil
}

// Env is the environment of the user process: process.env with later
// duplicates replacing earlier ones (the first position is kept), PATH
// defaulting to DefaultPath and HOME to the user's passwd home, as runc
// and crun set them.
func Env(env []string, home string) ([]string, error) {
	out := make([]string, 0, len(env)+2)
	pos := map[string]int{}
	for i, kv := range env {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("process.env[%d]: %q is not of the form KEY=VALUE", i, kv)
		}
		if strings.ContainsRune(kv, 0) {
			return nil, fmt.Errorf("process.env[%d]: contains a NUL byte", i)
		}
		if j, dup := pos[k]; dup {
			out[j] = kv
			continue
		}
		pos[k] = len(out)
		out = append(out, kv)
	}
	if _, ok := pos["PATH"]; !ok {
		out = append(out, "PATH="+DefaultPath)
	}
	if _, ok := pos["HOME"]; !ok {
		out = append(out, "HOME="+home)
	}
	return out, nil
}

// Getenv returns the value of key in env.
func Getenv(env []string, key string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			return v
		}
	}
	return ""
}
