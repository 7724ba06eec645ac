package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// SystemdDriver is the part of a systemd-owned cgroup that goes through
// systemd (D-Bus): starting the transient scope with its first process,
// setting the limits as unit properties, stopping the unit. It is linked
// into oci-cgroup only (package pkg/cgroup/systemd, set with UseSystemd);
// oci-run runs `oci-cgroup --systemd --update|--destroy` for these
// (pkg/lifecycle). Freezing, statistics, processes and signals need no
// systemd: they work on the scope's cgroupfs directories in either.
type SystemdDriver interface {
	// Create starts the scope of p.Paths.Systemd with process pid in it and
	// the plan's limits.
	Create(p *Plan, pid int) error
	// Update sets new limits (not device rules).
	Update(p Paths, r *specs.LinuxResources) error
	// Destroy stops the unit and removes what is left of its cgroups.
	Destroy(p Paths) error
}

var systemd SystemdDriver

// UseSystemd installs the systemd driver (oci-cgroup's main does).
func UseSystemd(d SystemdDriver) { systemd = d }

// errSystemdHere is what oci-run gets if it ever asks for systemd work
// itself instead of running oci-cgroup for it.
var errSystemdHere = errors.New("the cgroup is owned by systemd: this program has no systemd driver (oci-cgroup --systemd does that work)")

// SystemdRunning reports whether systemd is the init of this host, the
// way systemd itself tells (sd_booted): /run/systemd/system exists.
func SystemdRunning() bool {
	fi, err := os.Lstat("/run/systemd/system")
	return err == nil && fi.IsDir()
}

func (p *Plan) createSystemd(pid int) (*Cgroup, error) {
	if systemd == nil {
		return nil, errSystemdHere
	}
	if err := systemd.Create(p, pid); err != nil {
		return nil, err
	}
	return &Cgroup{Paths: p.Paths}, nil
}

// DefaultSlice is where systemd puts a scope whose slice is not given.
const DefaultSlice = "system.slice"

// ExpandSlice turns a slice name into its cgroup path: systemd nests
// slices by their dash-separated prefixes, "a-b.slice" is
// /a.slice/a-b.slice; "-.slice" is the root.
func ExpandSlice(slice string) (string, error) {
	name, ok := strings.CutSuffix(slice, ".slice")
	if !ok || name == "" || strings.Contains(slice, "/") {
		return "", fmt.Errorf("invalid slice name %q", slice)
	}
	if name == "-" {
		return "/", nil
	}
	path, prefix := "", ""
	for _, part := range strings.Split(name, "-") {
		if part == "" {
			return "", fmt.Errorf("invalid slice name %q", slice)
		}
		path += "/" + prefix + part + ".slice"
		prefix += part + "-"
	}
	return path, nil
}

// UnitName is the unit of the container: the scope prefix-name.scope,
// or the slice itself when the name is one.
func (u *SystemdUnit) UnitName() string {
	if strings.HasSuffix(u.Name, ".slice") {
		return u.Name
	}
	return u.Prefix + "-" + u.Name + ".scope"
}

// systemdDirs are the directories systemd gives the unit in each
// hierarchy: MOUNTPOINT/SLICE-PATH/UNIT.
func systemdDirs(h *Host, u *SystemdUnit) (map[string]string, error) {
	slice := u.Slice
	if slice == "" {
		slice = DefaultSlice
	}
	sp, err := ExpandSlice(slice)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, hi := range h.Hierarchies {
		d := filepath.Join(hi.Mountpoint, sp, u.UnitName())
		for _, c := range hi.Controllers {
			out[c] = d
		}
	}
	return out, nil
}
