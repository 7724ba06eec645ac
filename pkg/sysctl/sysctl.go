// Package sysctl checks and writes linux.sysctl. Only keys that belong to a
// namespace the container has of its own are allowed (runtime-spec leaves
// this to the runtime; runc draws the same line): writing any other key
// would change the host.
package sysctl

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Setting is one key to write.
type Setting struct {
	Key   string // as written in the spec
	Path  string // relative to /proc/sys
	Value string
}

// ipcKeys are the IPC-namespaced keys outside fs.mqueue.
var ipcKeys = map[string]bool{
	"kernel.msgmax": true, "kernel.msgmnb": true, "kernel.msgmni": true, "kernel.sem": true,
	"kernel.shmall": true, "kernel.shmmax": true, "kernel.shmmni": true, "kernel.shm_rmid_forced": true,
}

// Plan checks linux.sysctl against the namespaces of the spec and returns
// the settings sorted by key (map order is random; the result is not).
func Plan(s *specs.Spec) ([]Setting, error) {
	if s.Linux == nil || len(s.Linux.Sysctl) == 0 {
		return nil, nil
	}
	has := map[specs.LinuxNamespaceType]bool{}
	for _, ns := range s.Linux.Namespaces {
		has[ns.Type] = true
	}
	keys := make([]string, 0, len(s.Linux.Sysctl))
	for k := range s.Linux.Sysctl {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []Setting
	for _, k := range keys {
		f := fmt.Sprintf("linux.sysctl[%q]", k)
		path, dotted, err := normalize(k)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		if err := allowed(dotted, has, s.Hostname); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		out = append(out, Setting{Key: k, Path: path, Value: s.Linux.Sysctl[k]})
	}
	return out, nil
}

// normalize accepts "net.ipv4.ip_forward" and "net/ipv4/ip_forward" (the
// form that can name an interface with a dot, like runc accepts it).
func normalize(k string) (path, dotted string, err error) {
	if k == "" {
		return "", "", errors.New("empty key")
	}
	if strings.ContainsRune(k, 0) {
		return "", "", errors.New("key contains a NUL byte")
	}
	var parts []string
	if strings.Contains(k, "/") {
		parts = strings.Split(strings.Trim(k, "/"), "/")
	} else {
		parts = strings.Split(k, ".")
	}
	for _, p := range parts {
		if p == "" || p == "." || p == ".." {
			return "", "", fmt.Errorf("%q is not a sysctl key", k)
		}
	}
	return strings.Join(parts, "/"), strings.Join(parts, "."), nil
}

func allowed(k string, has map[specs.LinuxNamespaceType]bool, hostname string) error {
	need := func(t specs.LinuxNamespaceType) error {
		if has[t] {
			return nil
		}
		return fmt.Errorf("belongs to the %s namespace, and the container does not have its own (add it to linux.namespaces)", t)
	}
	switch {
	case ipcKeys[k] || strings.HasPrefix(k, "fs.mqueue."):
		return need(specs.IPCNamespace)
	case strings.HasPrefix(k, "net."):
		return need(specs.NetworkNamespace)
	case k == "kernel.domainname":
		return need(specs.UTSNamespace)
	case k == "kernel.hostname":
		if hostname != "" {
			return errors.New("conflicts with the hostname field")
		}
		return need(specs.UTSNamespace)
	}
	return errors.New("is not namespaced: writing it would change the host")
}

// Apply writes the settings below procSys (the container's /proc/sys),
// which must be a procfs: a directory of the image cannot stand in for it.
func Apply(procSys string, settings []Setting) error {
	if len(settings) == 0 {
		return nil
	}
	var st unix.Statfs_t
	if err := unix.Statfs(procSys, &st); err != nil {
		return fmt.Errorf("sysctl: %s: %w (linux.sysctl needs /proc mounted)", procSys, err)
	}
	if st.Type != unix.PROC_SUPER_MAGIC {
		return fmt.Errorf("sysctl: %s is not a proc filesystem (linux.sysctl needs /proc mounted)", procSys)
	}
	dir, err := unix.Open(procSys, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("sysctl: open %s: %w", procSys, err)
	}
	defer unix.Close(dir)
	for _, s := range settings {
		if err := write(dir, s); err != nil {
			return fmt.Errorf("linux.sysctl[%q]: write %q: %w", s.Key, s.Value, err)
		}
	}
	return nil
}

func write(dir int, s Setting) error {
	fd, err := unix.Openat2(dir, s.Path, &unix.OpenHow{
		Flags:   unix.O_WRONLY | unix.O_TRUNC | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_XDEV,
	})
	if errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("no such key in /proc/sys")
	}
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), s.Path)
	defer f.Close()
	_, err = f.WriteString(s.Value)
	return err
}
