package cgroup

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ManageOptions are oci-cgroup's management mode: change or remove the
// existing cgroup of a container, given by its recorded paths, and exit;
// there is no spec fd and no pipeline. oci-run uses it for the cgroups
// systemd owns, whose D-Bus driver only oci-cgroup links.
type ManageOptions struct {
	Systemd bool
	Destroy bool
	Update  bool
	// PathsFile holds the recorded Paths (JSON).
	PathsFile string
	// ResourcesFile holds the linux.resources to apply (JSON), "-" for
	// stdin: the whole set, not only the changes (oci-run merges).
	ResourcesFile string
}

// ManageSynopsis is the management mode's line of oci-cgroup's synopsis.
const ManageSynopsis = "oci-cgroup [--systemd] --paths FILE (--destroy | --update --resources FILE|-)"

// IsManage reports whether args (oci-cgroup's, without the program name)
// ask for the management mode: --destroy or --update before any "--".
func IsManage(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && (name == "destroy" || name == "update") {
			return true
		}
	}
	return false
}

// ParseManage parses the management mode's options and checks their
// combination.
func ParseManage(args []string) (ManageOptions, error) {
	var o ManageOptions
	fs := flag.NewFlagSet("oci-cgroup", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.BoolVar(&o.Systemd, "systemd", false, "")
	fs.BoolVar(&o.Destroy, "destroy", false, "")
	fs.BoolVar(&o.Update, "update", false, "")
	fs.StringVar(&o.PathsFile, "paths", "", "")
	fs.StringVar(&o.ResourcesFile, "resources", "", "")
	if err := fs.Parse(args); err != nil {
		return o, fmt.Errorf("%v (management mode: %s)", err, ManageSynopsis)
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments %q: --destroy and --update run nothing", fs.Args())
	case o.Destroy == o.Update:
		return o, errors.New("give one of --destroy and --update")
	case o.PathsFile == "":
		return o, errors.New("--destroy and --update need --paths FILE (the recorded cgroup paths)")
	case o.Update && o.ResourcesFile == "":
		return o, errors.New("--update needs --resources FILE|- (linux.resources as JSON)")
	case o.Destroy && o.ResourcesFile != "":
		return o, errors.New("--resources goes with --update, not --destroy")
	}
	return o, nil
}

// Manage runs the management mode.
func Manage(o ManageOptions) error {
	b, err := os.ReadFile(o.PathsFile)
	if err != nil {
		return fmt.Errorf("--paths: %w", err)
	}
	p, err := ParsePaths(b)
	if err != nil {
		return fmt.Errorf("--paths %s: %w", o.PathsFile, err)
	}
	switch {
	case p.Systemd != nil && !o.Systemd:
		return fmt.Errorf("--paths %s: the cgroup is a systemd unit (%s): add --systemd", o.PathsFile, p.Systemd.UnitName())
	case p.Systemd == nil && o.Systemd:
		return fmt.Errorf("--systemd: the cgroup of --paths %s is not a systemd unit", o.PathsFile)
	case p.Systemd != nil && !SystemdRunning():
		return errors.New("--systemd: systemd is not running on this host (PID 1 is not systemd)")
	}
	c, err := Load(p)
	if err != nil {
		return err
	}
	if o.Destroy {
		return c.Destroy()
	}
	r, err := readResources(o.ResourcesFile)
	if err != nil {
		return err
	}
	return c.Update(r)
}

func readResources(file string) (*specs.LinuxResources, error) {
	in := os.Stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("--resources: %w", err)
		}
		defer f.Close()
		in = f
	}
	return ReadUpdate(in)
}
