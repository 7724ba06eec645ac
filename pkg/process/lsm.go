package process

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// Linux security modules: both labels take effect at execve (the "exec"
// attribute of the calling thread), so the runtime's own setup runs
// unconfined and the user program starts confined. A label for a module
// the host does not run is an error: starting unconfined would be less
// than the configuration asks.

func appArmorEnabled() bool {
	b, err := os.ReadFile("/sys/module/apparmor/parameters/enabled")
	if err != nil || strings.TrimSpace(string(b)) != "Y" {
		return false
	}
	_, err = os.Stat("/sys/kernel/security/apparmor")
	return err == nil
}

func selinuxEnabled() bool {
	_, err := os.Stat("/sys/fs/selinux/enforce")
	return err == nil
}

// CheckLSM refuses labels for a security module this host does not run.
func CheckLSM(p *Plan) error {
	if p.AppArmorProfile != "" && !appArmorEnabled() {
		return fmt.Errorf("process.apparmorProfile: %q: AppArmor is not enabled on this host", p.AppArmorProfile)
	}
	if p.SELinuxLabel != "" && !selinuxEnabled() {
		return fmt.Errorf("process.selinuxLabel: %q: SELinux is not enabled on this host", p.SELinuxLabel)
	}
	return nil
}

func applyLSM(p *Plan) error {
	if p.AppArmorProfile != "" {
		err := writeAttr("/proc/thread-self/attr/apparmor/exec", "exec "+p.AppArmorProfile)
		if errors.Is(err, os.ErrNotExist) {
			err = writeAttr("/proc/thread-self/attr/exec", "exec "+p.AppArmorProfile)
		}
		if err != nil {
			return fmt.Errorf("process.apparmorProfile: %q: %w", p.AppArmorProfile, err)
		}
	}
	if p.SELinuxLabel != "" {
		if err := writeAttr("/proc/thread-self/attr/exec", p.SELinuxLabel); err != nil {
			return fmt.Errorf("process.selinuxLabel: %q: %w", p.SELinuxLabel, err)
		}
	}
	return nil
}

func writeAttr(path, value string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Write([]byte(value))
	return err
}
