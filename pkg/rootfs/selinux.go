package rootfs

import (
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

const selinuxMagic = 0xf97cff8c

// selinuxEnabled reports whether SELinux is on: selinuxfs mounted at
// /sys/fs/selinux (where the kernel's userspace expects it).
var selinuxEnabled = sync.OnceValue(func() bool {
	var st unix.Statfs_t
	return unix.Statfs("/sys/fs/selinux", &st) == nil && st.Type == selinuxMagic
})

// contextParams are the mount options only an SELinux kernel accepts.
var contextParams = map[string]bool{"context": true, "fscontext": true, "defcontext": true, "rootcontext": true}

// checkLabels refuses SELinux context options on a host without SELinux,
// before the kernel does it with a bare EINVAL. linux.mountLabel itself
// is ignored there, as runc does: it only has meaning under SELinux.
func checkLabels(m *Mount) error {
	if selinuxEnabled() {
		return nil
	}
	for _, p := range m.Opts.Params {
		if contextParams[p.Key] {
			return fmt.Errorf("option %q needs SELinux, which is not enabled on this host", p.String())
		}
	}
	return nil
}

// mountLabel is the label to give new filesystems, "" when SELinux is off.
func (a *applier) mountLabel() string {
	if !selinuxEnabled() {
		return ""
	}
	return a.p.MountLabel
}
