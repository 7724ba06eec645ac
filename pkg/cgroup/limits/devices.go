package limits

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-run/oci-run/pkg/devfilter"
	"github.com/oci-run/oci-run/pkg/spec"
)

// DeviceRule is one device cgroup rule (pkg/devfilter's): the last rule
// matching an access decides it, and an access no rule matches is
// denied. Type 'a' is every device and access.
type DeviceRule = devfilter.Rule

// Wildcard is the Major or Minor of a rule for any number.
const Wildcard = -1

// v1Rule is the rule in the form of the v1 devices.allow and devices.deny
// files: "c 1:3 rwm", "b *:* m", "a".
func v1Rule(r DeviceRule) string {
	if r.Type == 'a' {
		// The kernel reads nothing after "a": every device, every access.
		return "a"
	}
	num := func(n int64) string {
		if n < 0 {
			return "*"
		}
		return strconv.FormatInt(n, 10)
	}
	return string(r.Type) + " " + num(r.Major) + ":" + num(r.Minor) + " " + r.Access
}

// DeviceRules converts linux.resources.devices and appends the rules every
// container gets (DefaultDeviceRules), naming the field of a bad entry.
func DeviceRules(in []specs.LinuxDeviceCgroup, linuxDevices []specs.LinuxDevice) ([]DeviceRule, error) {
	var out []DeviceRule
	for i, d := range in {
		f := fmt.Sprintf("linux.resources.devices[%d]", i)
		r := DeviceRule{Allow: d.Allow, Major: Wildcard, Minor: Wildcard, Access: d.Access}
		switch d.Type {
		case "", "a":
			r.Type = 'a'
		case "b", "c":
			r.Type = d.Type[0]
		default:
			return nil, fieldError(f+".type", "%q: must be \"a\", \"b\" or \"c\"", d.Type)
		}
		if d.Major != nil {
			r.Major = *d.Major
		}
		if d.Minor != nil {
			r.Minor = *d.Minor
		}
		for name, n := range map[string]int64{"major": r.Major, "minor": r.Minor} {
			if n < -1 || n > math.MaxUint32 {
				return nil, fieldError(f+"."+name, "%d is not a device number", n)
			}
		}
		if d.Access == "" {
			return nil, fieldError(f+".access", "must not be empty (a combination of r, w, m)")
		}
		if strings.Trim(d.Access, "rwm") != "" {
			return nil, fieldError(f+".access", "%q: only r, w and m are allowed", d.Access)
		}
		out = append(out, r)
	}
	return append(out, DefaultDeviceRules(linuxDevices)...), nil
}

// defaultDevice is a device every container may use whatever its device
// list says, as with runc: the ones the runtime creates in /dev, pseudo
// terminals, /dev/net/tun, and mknod of anything (opening a node still
// needs a rule).
type defaultDevice struct {
	path string
	rule DeviceRule
}

var defaultDevices = []defaultDevice{
	{"", DeviceRule{Type: 'c', Major: Wildcard, Minor: Wildcard, Access: "m", Allow: true}},
	{"", DeviceRule{Type: 'b', Major: Wildcard, Minor: Wildcard, Access: "m", Allow: true}},
	{"/dev/null", DeviceRule{Type: 'c', Major: 1, Minor: 3, Access: "rwm", Allow: true}},
	{"/dev/random", DeviceRule{Type: 'c', Major: 1, Minor: 8, Access: "rwm", Allow: true}},
	{"/dev/full", DeviceRule{Type: 'c', Major: 1, Minor: 7, Access: "rwm", Allow: true}},
	{"/dev/tty", DeviceRule{Type: 'c', Major: 5, Minor: 0, Access: "rwm", Allow: true}},
	{"/dev/zero", DeviceRule{Type: 'c', Major: 1, Minor: 5, Access: "rwm", Allow: true}},
	{"/dev/urandom", DeviceRule{Type: 'c', Major: 1, Minor: 9, Access: "rwm", Allow: true}},
	{"", DeviceRule{Type: 'c', Major: 136, Minor: Wildcard, Access: "rwm", Allow: true}}, // /dev/pts/*
	{"", DeviceRule{Type: 'c', Major: 5, Minor: 2, Access: "rwm", Allow: true}},          // /dev/ptmx
	{"", DeviceRule{Type: 'c', Major: 10, Minor: 200, Access: "rwm", Allow: true}},       // /dev/net/tun
}

// DefaultDeviceRules are appended after linux.resources.devices, so the
// spec cannot take them away; a linux.devices entry at the same path
// replaces the default (its own node, its own resource rule).
func DefaultDeviceRules(linuxDevices []specs.LinuxDevice) []DeviceRule {
	var out []DeviceRule
	for _, d := range defaultDevices {
		if d.path != "" && slices.ContainsFunc(linuxDevices, func(ld specs.LinuxDevice) bool { return ld.Path == d.path }) {
			continue
		}
		out = append(out, d.rule)
	}
	return out
}

// WriteDevicesV1 gives a new v1 devices cgroup the rules, one write each
// in the order given, after a "deny everything": what is not allowed is
// denied, as with runc (whose target state starts from an empty allow
// list), and the kernel lists the allowed devices in devices.list in the
// order written, which is how the runtime-spec's "apply entries in the
// listed order" is checked. The kernel applies each rule as the last
// matching one, exactly as the rules are meant.
func WriteDevicesV1(dir string, rules []DeviceRule) error {
	if err := WriteFile(filepath.Join(dir, "devices.deny"), "a"); err != nil {
		return fieldError("linux.resources.devices", "devices.deny \"a\": %v", err)
	}
	for _, r := range rules {
		file := "devices.deny"
		if r.Allow {
			file = "devices.allow"
		}
		if err := WriteFile(filepath.Join(dir, file), v1Rule(r)); err != nil {
			return fieldError("linux.resources.devices", "%s %q: %v", file, v1Rule(r), err)
		}
	}
	return nil
}

// ApplyDevicesV2 attaches the rules to a cgroup v2 directory as an eBPF
// device program (cgroup v2 has no device files; pkg/devfilter),
// replacing the one attached before.
func ApplyDevicesV2(dir string, rules []DeviceRule) error {
	if err := devfilter.Apply(dir, rules); err != nil {
		return fieldError("linux.resources.devices", "%v", err)
	}
	return nil
}

func fieldError(field, format string, args ...any) error {
	return &spec.FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}
