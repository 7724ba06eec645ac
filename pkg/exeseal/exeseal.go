// Package exeseal makes the copies of the runtime's own binaries that run
// inside a container's namespaces.
//
// CVE-2019-5736: a process in the container's pid namespace could open
// /proc/PID/exe of a runtime process and, once that process had exec'd the
// user program, write through the handle into the host binary. A stage that
// runs where the container can see it is therefore exec'd from a memfd that
// holds a copy of the binary and carries every seal (F_SEAL_WRITE and the
// rest): /proc/PID/exe then names an anonymous, immutable file, and nothing
// on the host is reachable through it.
package exeseal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Seal returns a close-on-exec, fully sealed memfd holding a copy of the
// executable at path.
func Seal(path string) (*os.File, error) {
	src, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("seal %s: %w", path, err)
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return nil, fmt.Errorf("seal %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("seal %s: not a regular file", path)
	}
	fd, err := unix.MemfdCreate(filepath.Base(path), unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("seal %s: memfd_create: %w", path, err)
	}
	dst := os.NewFile(uintptr(fd), "sealed:"+filepath.Base(path))
	if err := copyAll(fd, int(src.Fd()), fi.Size()); err != nil {
		dst.Close()
		return nil, fmt.Errorf("seal %s: copy: %w", path, err)
	}
	if err := unix.Fchmod(fd, 0o555); err != nil {
		dst.Close()
		return nil, fmt.Errorf("seal %s: chmod: %w", path, err)
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
		dst.Close()
		return nil, fmt.Errorf("seal %s: add seals: %w", path, err)
	}
	return dst, nil
}

func copyAll(dst, src int, size int64) error {
	for size > 0 {
		n, err := unix.Sendfile(dst, src, nil, int(min(size, 1<<30)))
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return errors.New("short read")
		}
		size -= int64(n)
	}
	return nil
}

// IsSealed reports whether fd is a memfd that can no longer be written.
func IsSealed(fd int) bool {
	seals, err := unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0)
	if err != nil {
		return false
	}
	return seals&unix.F_SEAL_WRITE != 0
}
