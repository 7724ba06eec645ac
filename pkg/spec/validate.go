package spec

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-run/oci-run/pkg/capability"
	"github.com/oci-run/oci-run/pkg/rlimit"
)

// FieldError is a problem with one field of the configuration.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Errors collects every problem found, so `oci-run check` can list them all;
// its Error() is the first one, which is what a failing command prints.
type Errors []*FieldError

func (e Errors) Error() string {
	if len(e) == 0 {
		return "no errors"
	}
	return e[0].Error()
}

type checker struct{ errs Errors }

func (c *checker) add(field, format string, args ...any) {
	c.errs = append(c.errs, &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
}

// Purpose says what the configuration will be used for; creating a
// container needs more than running one stage alone.
type Purpose int

const (
	// ForContainer: everything `create` needs (root, process, ...).
	ForContainer Purpose = iota
	// ForStage: only what a stage reads; a missing section means nothing to do.
	ForStage
)

var namespaceTypes = map[specs.LinuxNamespaceType]bool{
	specs.PIDNamespace: true, specs.NetworkNamespace: true, specs.MountNamespace: true,
	specs.IPCNamespace: true, specs.UTSNamespace: true, specs.UserNamespace: true,
	specs.CgroupNamespace: true, specs.TimeNamespace: true,
}

// Validate checks a configuration against the runtime-spec rules this
// runtime relies on. bundle resolves relative paths.
func Validate(s *specs.Spec, bundle string, p Purpose) error {
	c := &checker{}
	if p == ForContainer {
		if s.Root == nil || s.Root.Path == "" {
			c.add("root.path", "must be set")
		} else if fi, err := os.Stat(RootPath(s, bundle)); err != nil {
			c.add("root.path", "%v", trimPathErr(err))
		} else if !fi.IsDir() {
			c.add("root.path", "%q is not a directory", RootPath(s, bundle))
		} else if real, err := filepath.EvalSymlinks(RootPath(s, bundle)); err == nil && real != RootPath(s, bundle) {
			// As runc: the rootfs is bound and pivoted into by its path,
			// which must be the directory itself.
			c.add("root.path", "%q is reached through a symlink (it is %q): give the real path", RootPath(s, bundle), real)
		}
	}
	if s.Process != nil {
		validateProcess(c, s.Process, p)
	}
	validateLinux(c, s)
	for i, m := range s.Mounts {
		f := fmt.Sprintf("mounts[%d]", i)
		if m.Destination == "" {
			c.add(f+".destination", "must be set")
		}
		if strings.ContainsRune(m.Destination, 0) {
			c.add(f+".destination", "contains a NUL byte")
		}
	}
	if len(c.errs) == 0 {
		return nil
	}
	return c.errs
}

func validateProcess(c *checker, pr *specs.Process, p Purpose) {
	if len(pr.Args) == 0 && pr.CommandLine == "" && p == ForContainer {
		c.add("process.args", "must not be empty")
	}
	if pr.Cwd == "" {
		if p == ForContainer {
			c.add("process.cwd", "must be set")
		}
	} else if !filepath.IsAbs(pr.Cwd) {
		c.add("process.cwd", "%q is not an absolute path", pr.Cwd)
	}
	for i, e := range pr.Env {
		if !strings.Contains(e, "=") {
			c.add(fmt.Sprintf("process.env[%d]", i), "%q is not of the form KEY=VALUE", e)
		}
	}
	seen := map[string]bool{}
	for i, rl := range pr.Rlimits {
		f := fmt.Sprintf("process.rlimits[%d]", i)
		if _, ok := rlimit.Resource(rl.Type); !ok {
			c.add(f+".type", "unknown resource %q", rl.Type)
		}
		if seen[rl.Type] {
			c.add(f+".type", "%q is listed twice", rl.Type)
		}
		seen[rl.Type] = true
		if rl.Soft > rl.Hard {
			c.add(f, "soft limit %d is above hard limit %d", rl.Soft, rl.Hard)
		}
	}
	if caps := pr.Capabilities; caps != nil {
		sets := []struct {
			name string
			list []string
		}{
			{"bounding", caps.Bounding}, {"effective", caps.Effective},
			{"inheritable", caps.Inheritable}, {"permitted", caps.Permitted},
			{"ambient", caps.Ambient},
		}
		for _, set := range sets {
			for i, name := range set.list {
				if _, ok := capability.Parse(name); !ok {
					c.add(fmt.Sprintf("process.capabilities.%s[%d]", set.name, i), "unknown capability %q", name)
				}
			}
		}
	}
	if pr.ConsoleSize != nil && !pr.Terminal {
		c.add("process.consoleSize", "set without process.terminal")
	}
}

func validateLinux(c *checker, s *specs.Spec) {
	l := s.Linux
	seen := map[specs.LinuxNamespaceType]int{}
	if l != nil {
		for i, ns := range l.Namespaces {
			f := fmt.Sprintf("linux.namespaces[%d]", i)
			if !namespaceTypes[ns.Type] {
				c.add(f+".type", "unknown namespace type %q", ns.Type)
				continue
			}
			if j, dup := seen[ns.Type]; dup {
				c.add(f+".type", "%q is already listed at linux.namespaces[%d]", ns.Type, j)
			}
			seen[ns.Type] = i
			if ns.Path != "" && !filepath.IsAbs(ns.Path) {
				c.add(f+".path", "%q is not an absolute path", ns.Path)
			}
		}
	}
	validateNamespaces(c, s, seen)
	if l == nil {
		return
	}
	for i, p := range l.MaskedPaths {
		if !filepath.IsAbs(p) {
			c.add(fmt.Sprintf("linux.maskedPaths[%d]", i), "%q is not an absolute path", p)
		}
	}
	for i, p := range l.ReadonlyPaths {
		if !filepath.IsAbs(p) {
			c.add(fmt.Sprintf("linux.readonlyPaths[%d]", i), "%q is not an absolute path", p)
		}
	}
}

func trimPathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%q: %w", pe.Path, pe.Err)
	}
	return err
}
